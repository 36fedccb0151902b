"""The baseline of ``bench/rebuild.py``: a raw ``_bulk`` loader in a process of its own.

``python -m bench.raw_bulk_loader URL INDEX DIR [IN_FLIGHT [ARCHIVE]]`` creates INDEX with the
rebuild's load settings, sends every ``DIR/*.ndjson`` file (pre-serialized bulk request bodies, in
name order) over ``http.client`` connections, IN_FLIGHT requests at a time (default 1, each on a
connection of its own), restores the settings, refreshes and counts. Standard library only, so
the process starts as fast as Python can: timed from exec to exit, like ``changelake rebuild``.

With ARCHIVE it first does the least any rebuild must do before its first request, and no more:
pick every item's latest record from the narrow columns alone (as a sync does), then read their
images and build their bulk entries on a thread while the pre-built requests go out. Its time
bounds what a rebuild of that archive can reach here.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

LOAD_SETTINGS = {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "-1"}
RESTORED_SETTINGS = {"number_of_replicas": None, "refresh_interval": None}


def call(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes = b"",
    content_type: str = "application/json",
) -> bytes:
    """One request; its body, or an error naming the request."""
    connection.request(method, path, body=body, headers={"Content-Type": content_type})
    response = connection.getresponse()
    payload = response.read()
    if response.status != 200 or b'"errors":true' in payload[:200]:
        raise RuntimeError(f"{method} {path}: {response.status} {payload[:300]!r}")
    return payload


def read_latest_images_meanwhile(archive: str) -> threading.Thread:
    """Pick the latest record of every item, then build their bulk entries on a thread."""
    from changelake.clients import open_archive
    from changelake.rebuild.latest_images import Selection, iter_latest_batches, materialize_latest
    from changelake.schemas.archive_layout import parse_archive_uri

    connection = open_archive(parse_archive_uri(archive), "posts")
    materialize_latest(connection, Selection("posts"), by_position=True)

    def build_entries() -> None:
        for _ in iter_latest_batches(connection, with_removes=False, entries=True):
            pass

    reader = threading.Thread(target=build_entries)
    reader.start()
    return reader


def main(url: str, index: str, directory: str, in_flight: str = "1", archive: str = "") -> int:
    """Load ``directory``'s request bodies into a new ``index``; print the document count."""
    reader = read_latest_images_meanwhile(archive) if archive else None
    parsed = urlparse(url)

    def connect() -> http.client.HTTPConnection:
        return http.client.HTTPConnection(parsed.hostname or "", parsed.port, timeout=300)

    connection = connect()
    call(
        connection, "PUT", f"/{index}", json.dumps({"settings": {"index": LOAD_SETTINGS}}).encode()
    )
    own = threading.local()

    def send(path: Path) -> None:
        if not hasattr(own, "connection"):
            own.connection = connect()
        call(own.connection, "POST", f"/{index}/_bulk", path.read_bytes(), "application/x-ndjson")

    with ThreadPoolExecutor(max_workers=int(in_flight)) as pool:
        # Each worker reads the body it sends: at most IN_FLIGHT bodies in memory at once.
        list(pool.map(send, sorted(Path(directory).glob("*.ndjson"))))
    settings = json.dumps({"index": RESTORED_SETTINGS}).encode()
    call(connection, "PUT", f"/{index}/_settings", settings)
    call(connection, "POST", f"/{index}/_refresh")
    count = json.loads(call(connection, "GET", f"/{index}/_count"))["count"]
    connection.close()
    if reader is not None:
        reader.join()
    print(count)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
