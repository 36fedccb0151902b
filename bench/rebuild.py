"""Rebuild benchmarks, each against a baseline measured in the same run (``make bench-rebuild``).

1. Latest-image stage (``materialize_latest``: the latest record and external version of every
   item) vs a bare DuckDB ``arg_max(new_image, sequence_order)`` per item, over a synthetic
   archive of 5M changes / 500k items, both written to a temporary table. Target <= 1.5x.
2. ``changelake rebuild`` end to end (a subprocess: DuckDB, documents, bulk, alias move) vs a raw
   ``_bulk`` loader sending the same documents, serialized beforehand, in requests of the same
   size, into an index with the same settings. Target >= 0.9x the raw loader's throughput.
3. Peak RSS of ``changelake rebuild`` over the 5M-change archive. Target < 1 GB.

Benchmark 2 runs on each engine (``--engine``, default both): the local Elasticsearch-API server
and the real OpenSearch node, each started and stopped by PID here; the raw loader runs on the
same engine as the rebuild it is compared with. Benchmark 3 runs on the first engine.
``--stage-only`` runs benchmark 1 alone (no search engine started).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

# This file's folder comes first on sys.path, and its name would shadow the rebuild package.
sys.path.remove(str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synthetic_archive import synthetic_archive
from changelake.clients import make_search_sink, open_archive
from rebuild.bulk import DEFAULT_MAX_BYTES, arrow_to_block, iter_chunks
from rebuild.latest_images import Selection, iter_latest_batches, materialize_latest
from schemas.archive_layout import parse_archive_uri
from scripts.services import start_elasticsearch_api, start_opensearch, stop

if TYPE_CHECKING:
    from collections.abc import Callable

    from scripts.services import Service

ENGINES: dict[str, Callable[[Path], Service]] = {
    "elasticsearch": start_elasticsearch_api,
    "opensearch": lambda workdir: start_opensearch(workdir, quick_start=False),
}

BARE_SQL = (
    "CREATE OR REPLACE TEMP TABLE bare_latest AS "
    "SELECT item_key, arg_max(new_image, sequence_order) AS new_image "
    "FROM changes GROUP BY item_key"
)
CHANGELAKE = str(Path(sys.executable).parent / "changelake")


def bench_latest_stage(archive: Path, repeats: int) -> tuple[float, float]:
    """Median seconds of the bare arg_max and of the latest-image stage."""
    connection = open_archive(parse_archive_uri(str(archive)), "posts")
    bare, ours = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        connection.execute(BARE_SQL)
        bare.append(time.perf_counter() - started)
        started = time.perf_counter()
        materialize_latest(connection, Selection("posts"))
        ours.append(time.perf_counter() - started)
    return statistics.median(bare), statistics.median(ours)


# A child's ru_maxrss also counts the memory of the process that spawned it, up to its exec (Linux
# keeps the larger high-water mark across exec), and this process holds gigabytes after the stage
# benchmark. To measure the rebuild alone, a small Python process forks it and reports its peak.
PEAK_RSS_PARENT = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss * 1024))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_rebuild(
    archive: Path, url: str, alias: str, *, peak_rss: bool = False
) -> tuple[float, int, int]:
    """Seconds, documents and (with ``peak_rss``) peak RSS in bytes of a ``changelake rebuild``."""
    command = [
        CHANGELAKE, "rebuild", "--archive", str(archive), "--table", "posts", "--es-url", url,
        "--alias", alias, "--keep", "0", "--output", "json", "-s",
    ]  # fmt: skip
    with tempfile.NamedTemporaryFile("r") as rss_file:
        if peak_rss:
            command = [sys.executable, "-c", PEAK_RSS_PARENT, rss_file.name, *command]
        started = time.perf_counter()
        completed = subprocess.run(command, stdout=subprocess.PIPE, check=False)
        seconds = time.perf_counter() - started
        if completed.returncode != 0:
            raise RuntimeError(
                f"changelake rebuild failed ({completed.returncode}): {completed.stdout.decode()}"
            )
        rss = int(rss_file.read()) if peak_rss else 0
    summary = json.loads(completed.stdout)
    return seconds, int(summary["documents"]), rss


def serialized_requests(archive: Path) -> list[bytes]:
    """The same documents as rebuild sends, cut into requests of the same size, in memory."""
    connection = open_archive(parse_archive_uri(str(archive)), "posts")
    materialize_latest(connection, Selection("posts"))
    blocks = (
        arrow_to_block(batch.column(0))
        for batch in iter_latest_batches(connection, with_removes=False, entries=True)
    )
    return [chunk.body for chunk in iter_chunks(blocks, DEFAULT_MAX_BYTES)]


def raw_bulk_load(url: str, index: str, requests: list[bytes]) -> float:
    """Seconds to create an index like rebuild does, send every request, refresh and count."""
    sink = make_search_sink(url)
    parsed = urlparse(url)
    started = time.perf_counter()
    sink.create_index(
        index,
        {"settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0,
                                "refresh_interval": "-1"}}},
    )  # fmt: skip
    connection = http.client.HTTPConnection(parsed.hostname or "", parsed.port, timeout=300)
    for body in requests:
        connection.request(
            "POST", f"/{index}/_bulk", body=body, headers={"Content-Type": "application/x-ndjson"}
        )
        response = connection.getresponse()
        payload = response.read()
        if response.status != 200 or b'"errors":true' in payload[:200]:
            raise RuntimeError(f"raw bulk failed: {response.status} {payload[:300]!r}")
    connection.close()
    sink.put_settings(index, {"index": {"refresh_interval": None, "number_of_replicas": None}})
    sink.refresh(index)
    sink.count(index)
    seconds = time.perf_counter() - started
    sink.delete_index(index)
    return seconds


def drop_alias_indexes(url: str, alias: str) -> None:
    """Delete what a benchmark rebuild left behind."""
    sink = make_search_sink(url)
    for index in sink.alias_targets(alias):
        sink.delete_index(index)


def bench_end_to_end(
    url: str, engine: str, archive: Path, requests: list[bytes], repeats: int
) -> None:
    """Print the medians of changelake rebuild and of the raw loader on one engine."""
    raw, rebuilt, documents = [], [], 0
    for repeat in range(repeats):
        raw.append(raw_bulk_load(url, f"raw-{repeat}", requests))
        # Each side starts with no index of its own and deletes nothing inside its timer.
        drop_alias_indexes(url, "bench")
        seconds, documents, _ = run_rebuild(archive, url, "bench")
        rebuilt.append(seconds)
    drop_alias_indexes(url, "bench")
    raw_median, rebuild_median = statistics.median(raw), statistics.median(rebuilt)
    print(f"rebuild end to end on {engine}, {documents:,} documents, {len(requests)} requests:")
    print(f"  raw _bulk loader  {raw_median:7.2f} s  {documents / raw_median:9,.0f} docs/s")
    print(f"  changelake        {rebuild_median:7.2f} s  {documents / rebuild_median:9,.0f} docs/s")
    print(f"  ratio             {raw_median / rebuild_median:7.2f}x   (target >= 0.9x)", flush=True)


def bench_peak_rss(url: str, archive: Path, changes: int) -> None:
    """Print the peak RSS of one changelake rebuild of ``archive``."""
    print(f"peak RSS of changelake rebuild, {changes:,} changes:", flush=True)
    seconds, documents, rss = run_rebuild(archive, url, "bench-big", peak_rss=True)
    drop_alias_indexes(url, "bench-big")
    print(
        f"  {rss / 2**20:7.0f} MB   (target < 1024 MB; {documents:,} documents in {seconds:.1f} s)"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the three benchmarks and print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=5_000_000)
    parser.add_argument("--items", type=int, default=500_000)
    parser.add_argument("--e2e-changes", type=int, default=1_000_000)
    parser.add_argument("--e2e-items", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engine", choices=[*ENGINES, "both"], default="both")
    parser.add_argument(
        "--end-to-end-only", action="store_true", help="only benchmark 2 (no stage, no RSS)"
    )
    parser.add_argument(
        "--stage-only", action="store_true", help="only benchmark 1 (the latest-image stage)"
    )
    args = parser.parse_args(argv)

    big = synthetic_archive(changes=args.changes, items=args.items)
    if not args.end_to_end_only:
        bare, ours = bench_latest_stage(big, args.repeats)
        print(f"latest-image stage, {args.changes:,} changes / {args.items:,} items:")
        print(f"  bare arg_max      {bare:7.2f} s (median of {args.repeats})")
        print(f"  latest records    {ours:7.2f} s")
        print(f"  ratio             {ours / bare:7.2f}x   (target <= 1.5x)", flush=True)
    if args.stage_only:
        return 0

    small = synthetic_archive(changes=args.e2e_changes, items=args.e2e_items)
    requests = serialized_requests(small)
    engines = list(ENGINES) if args.engine == "both" else [args.engine]
    for engine in engines:
        with tempfile.TemporaryDirectory(prefix="bench-rebuild-") as workdir:
            service = ENGINES[engine](Path(workdir))
            try:
                bench_end_to_end(service.url, engine, small, requests, args.repeats)
                if engine == engines[0] and not args.end_to_end_only:
                    bench_peak_rss(service.url, big, args.changes)
            finally:
                stop(service)
    return 0


if __name__ == "__main__":
    sys.exit(main())
