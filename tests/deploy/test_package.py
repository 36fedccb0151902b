"""The archive Lambda package, built from PyPI wheels, runs the handler with itself and boto3."""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from changelake.clients import open_archive
from changelake.schemas.archive_layout import parse_archive_uri
from deploy.package import (
    LAMBDA_UNZIPPED_LIMIT,
    PackageReport,
    build_package,
    check_third_party_imports,
    link_runtime_packages,
    zip_directory,
)
from tests.helpers import EVENTS

HOST_ARCH = {"x86_64": "x86_64", "aarch64": "arm64"}[platform.machine()]

# Runs in a fresh interpreter started with -I -S: no site-packages, no PYTHONPATH, so every
# import resolves from the package, the linked runtime packages, or the standard library.
HANDLER_RUN = """
import json, sys, time
package, runtime, event_path = sys.argv[1:4]
sys.path[:0] = [package, runtime]
started = time.perf_counter()
import changelake.lambda_handler as handler
import_seconds = time.perf_counter() - started
with open(event_path) as file:
    response = handler.archive(json.load(file), None)
from changelake.archiver import change_tables
compiled = change_tables._native_stream_columns is not None
outside = sorted(
    name for name, module in sys.modules.items()
    if getattr(module, "__file__", None)
    and not module.__file__.startswith((package, runtime, sys.base_prefix))
)
print(json.dumps({
    "response": response, "import_seconds": import_seconds, "outside": outside,
    "compiled": compiled,
}))
"""


@pytest.fixture(scope="session")
def host_package(tmp_path_factory: pytest.TempPathFactory) -> PackageReport:
    """The archive package for this machine's architecture and Python, built once per session."""
    return build_package(HOST_ARCH, build_dir=tmp_path_factory.mktemp("lambda-build"))


@pytest.fixture(scope="session")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """boto3 and its dependencies, as the Lambda runtime provides them."""
    return link_runtime_packages(tmp_path_factory.mktemp("lambda-runtime"))


def test_package_carries_no_duckdb_no_search_client_and_no_boto3(
    host_package: PackageReport,
) -> None:
    with zipfile.ZipFile(host_package.zip_path) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
    packages = {top for top in tops if not top.endswith(".dist-info")}
    bundled = {"pyarrow", "orjson", "changelake_native"}
    assert packages == {"changelake", *bundled}
    assert host_package.compiled
    assert host_package.unzipped_bytes < 150 * 2**20 < LAMBDA_UNZIPPED_LIMIT
    assert host_package.files == sum(1 for p in host_package.package_dir.rglob("*") if p.is_file())


def test_package_build_refuses_a_handler_that_imports_duckdb() -> None:
    import duckdb

    with pytest.raises(SystemExit, match=r"imports \['duckdb'\]"):
        check_third_party_imports([Path(duckdb.__file__)])


def test_package_zip_is_reproducible(host_package: PackageReport, tmp_path: Path) -> None:
    again = tmp_path / "again.zip"
    zip_directory(host_package.package_dir, again)
    assert again.read_bytes() == host_package.zip_path.read_bytes()
    with zipfile.ZipFile(again) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_package_archives_the_sample_event_with_only_itself_and_boto3(
    host_package: PackageReport,
    runtime_dir: Path,
    archive_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHANGELAKE_ARCHIVE", archive_uri)
    completed = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            HANDLER_RUN,
            str(host_package.package_dir),
            str(runtime_dir),
            str(EVENTS / "lambda-event-posts.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.splitlines()[-1])
    emf = json.loads(completed.stdout.splitlines()[0])
    assert result["response"] == {"batchItemFailures": []}
    assert result["outside"] == []
    assert result["compiled"]  # the package's compiled path loads on this machine
    assert emf["ArchivedRecords"] == 5
    rows = (
        open_archive(parse_archive_uri(archive_uri))
        .execute("SELECT event_name FROM changes ORDER BY sequence_order")
        .fetchall()
    )
    assert [row[0] for row in rows] == ["INSERT", "MODIFY", "INSERT", "REMOVE", "REMOVE"]


def test_the_docs_state_the_package_size_that_is_built(host_package: PackageReport) -> None:
    page = (EVENTS.parent.parent / "docs" / "operations.md").read_text()
    row = re.search(rf"^\| {HOST_ARCH} \| (\d+) MB \| (\d+) MB \|$", page, re.MULTILINE)
    assert row, f"docs/operations.md has no package size row for {HOST_ARCH}"
    zipped, unzipped = (int(value) * 2**20 for value in row.groups())
    assert abs(unzipped - host_package.unzipped_bytes) < 0.1 * host_package.unzipped_bytes
    assert abs(zipped - host_package.zip_bytes) < 0.1 * host_package.zip_bytes
