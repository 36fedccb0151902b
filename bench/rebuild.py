"""Rebuild benchmarks, each against a baseline measured in the same run (``make bench-rebuild``).

1. Latest-image stage (``materialize_latest``: the latest record and external version of every
   item) vs a bare DuckDB ``arg_max(new_image, sequence_order)`` per item, over a synthetic
   archive of 5M changes / 500k items, both written to a temporary table. Target <= 1.5x.
2. ``changelake rebuild`` end to end (DuckDB, documents, bulk, alias move) vs a raw ``_bulk``
   loader (``bench/raw_bulk_loader.py``) sending the same documents, serialized beforehand, in
   requests of the same size, as many in flight (``--in-flight``, default the rebuild's), into an
   index with the same settings. Both are processes of their own, timed from exec to exit.
   Target >= 0.9x the raw loader's throughput. Printed with it, the bound: the raw loader
   after it has picked each item's latest record, reading their images while it sends. No
   rebuild can send its first document sooner, nor send faster than pre-built requests.
3. Peak RSS of ``changelake rebuild`` over the 5M-change archive. Target < 1 GB.
4. DuckDB's memory limit: peak RSS and time of ``changelake rebuild`` over 20M changes / 2M
   items with the default ``--memory-limit`` against the same rebuild with DuckDB's own default
   (80% of the machine's memory, no spilling). Targets: <= 1 GB, <= 1.3x the time.
5. The type census: ``changelake rebuild`` with its default mapping, inferred from the
   archive's types, vs the same rebuild given that mapping as a file and no census
   (``bench/rebuild_without_census.py``), over the 5M-change archive on OpenSearch, both
   processes of their own. Target <= 1.15x. Printed with it: ``rebuild --mapping FILE`` (which
   takes the census too, to check the file against the archive), and in this process the census
   alone against the latest-record stage it follows.

Benchmark 2 runs on each engine (``--engine``, default both): the local Elasticsearch-API server
and the real OpenSearch node, each started and stopped by PID here; the raw loader runs on the
same engine as the rebuild it is compared with. Benchmark 3 runs on the first engine, 4 on
OpenSearch when it runs.
``--stage-only`` runs benchmark 1 alone (no search engine started), ``--census-only`` benchmark
5 alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.synthetic_archive import synthetic_archive
from changelake.clients import make_search_sink, open_archive
from changelake.memory_limit import default_memory_limit, physical_memory
from changelake.rebuild.bulk import (
    DEFAULT_IN_FLIGHT,
    DEFAULT_MAX_BYTES,
    arrow_to_block,
    iter_chunks,
)
from changelake.rebuild.latest_images import (
    Selection,
    drop_latest,
    iter_latest_batches,
    materialize_latest,
)
from changelake.rebuild.mapping_plan import infer_table_mapping, load_type_census
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.byte_sizes import MIB
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
RAW_LOADER = [sys.executable, "-m", "bench.raw_bulk_loader"]
WITHOUT_CENSUS = [sys.executable, "-m", "bench.rebuild_without_census"]


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
    archive: Path,
    url: str,
    alias: str,
    in_flight: int,
    *,
    peak_rss: bool = False,
    extra: tuple[str, ...] = (),
    command: list[str] | None = None,
) -> tuple[float, int, int]:
    """Seconds, documents and (with ``peak_rss``) peak RSS in bytes of a ``changelake rebuild``.

    ``extra`` options go to the command; ``command`` replaces it (a JSON summary on stdout).
    """
    command = command or [
        CHANGELAKE, "rebuild", "--archive", str(archive), "--table", "posts", "--es-url", url,
        "--alias", alias, "--keep", "0", "--bulk-in-flight", str(in_flight), "--output", "json",
        "-s", *extra,
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


def write_requests(archive: Path, directory: Path) -> int:
    """The same documents as rebuild sends, cut into requests of the same size, one file each."""
    connection = open_archive(parse_archive_uri(str(archive)), "posts")
    materialize_latest(connection, Selection("posts"))
    blocks = (
        arrow_to_block(batch.column(0))
        for batch in iter_latest_batches(connection, with_removes=False, entries=True)
    )
    requests = 0
    for requests, chunk in enumerate(iter_chunks(blocks, DEFAULT_MAX_BYTES), start=1):
        (directory / f"{requests:06d}.ndjson").write_bytes(chunk.body)
    return requests


def raw_bulk_load(
    url: str, index: str, requests: Path, in_flight: int, latest_from: Path | None = None
) -> tuple[float, int]:
    """Seconds and documents of ``bench/raw_bulk_loader.py``: create, send, refresh and count.

    With ``latest_from``, it first picks the latest records of that archive and reads their
    images while it sends: the least a rebuild must do (see the loader).
    """
    started = time.perf_counter()
    archive = [str(latest_from)] if latest_from else []
    completed = subprocess.run(
        [*RAW_LOADER, url, index, str(requests), str(in_flight), *archive],
        stdout=subprocess.PIPE,
        check=True,
    )
    seconds = time.perf_counter() - started
    make_search_sink(url).delete_index(index)
    return seconds, int(completed.stdout)


def drop_alias_indexes(url: str, alias: str) -> None:
    """Delete what a benchmark rebuild left behind."""
    sink = make_search_sink(url)
    for index in sink.alias_targets(alias):
        sink.delete_index(index)


def bench_end_to_end(
    url: str, engine: str, archive: Path, requests: Path, count: int, repeats: int, in_flight: int
) -> None:
    """Print the medians of changelake rebuild, the raw loader and its bound, on one engine."""
    raw, bound, rebuilt, documents = [], [], [], 0
    # One untimed round first: a freshly started engine compiles its hot paths during its first
    # loads, on the same two cores, which would charge whichever side ran then.
    drop_alias_indexes(url, "bench")
    raw_bulk_load(url, "raw-warm-up", requests, in_flight)
    run_rebuild(archive, url, "bench", in_flight)
    for repeat in range(repeats):
        # Each side starts right after the other's index was deleted, outside both timers.
        drop_alias_indexes(url, "bench")
        seconds, raw_documents = raw_bulk_load(url, f"raw-{repeat}", requests, in_flight)
        raw.append(seconds)
        seconds, _ = raw_bulk_load(url, f"bound-{repeat}", requests, in_flight, archive)
        bound.append(seconds)
        seconds, documents, _ = run_rebuild(archive, url, "bench", in_flight)
        rebuilt.append(seconds)
        if raw_documents != documents:
            raise RuntimeError(f"the raw loader indexed {raw_documents}, the rebuild {documents}")
    drop_alias_indexes(url, "bench")
    raw_median, rebuild_median = statistics.median(raw), statistics.median(rebuilt)
    print(
        f"rebuild end to end on {engine}, {documents:,} documents, {count} requests, "
        f"{in_flight} in flight:"
    )
    print(f"  raw _bulk loader  {raw_median:7.2f} s  {documents / raw_median:9,.0f} docs/s")
    print(f"  changelake        {rebuild_median:7.2f} s  {documents / rebuild_median:9,.0f} docs/s")
    print(f"  ratio             {raw_median / rebuild_median:7.2f}x   (target >= 0.9x)")
    bound_median = statistics.median(bound)
    print(
        f"  bound             {raw_median / bound_median:7.2f}x   (the raw loader after picking "
        f"the latest records, reading their images meanwhile: {bound_median:.2f} s)",
        flush=True,
    )


def bench_peak_rss(url: str, archive: Path, changes: int, in_flight: int) -> None:
    """Print the peak RSS of one changelake rebuild of ``archive``."""
    print(f"peak RSS of changelake rebuild, {changes:,} changes:", flush=True)
    seconds, documents, rss = run_rebuild(archive, url, "bench-big", in_flight, peak_rss=True)
    drop_alias_indexes(url, "bench-big")
    print(
        f"  {rss / 2**20:7.0f} MB   (target < 1024 MB; {documents:,} documents in {seconds:.1f} s)"
    )


def bench_memory_limit(url: str, archive: Path, changes: int, in_flight: int) -> None:
    """Print peak RSS and time of a rebuild with the default memory limit and with DuckDB's."""
    unbounded = f"{physical_memory() * 8 // 10 // MIB}MiB"  # DuckDB's own default
    print(
        f"DuckDB memory limit, changelake rebuild of {changes:,} changes "
        f"(default limit {default_memory_limit() // MIB} MiB):",
        flush=True,
    )
    results = {}
    for label, options in (("unbounded", ("--memory-limit", unbounded)), ("default", ())):
        seconds, documents, rss = run_rebuild(
            archive, url, "bench-memory", in_flight, peak_rss=True, extra=options
        )
        drop_alias_indexes(url, "bench-memory")
        results[label] = (seconds, rss)
        print(f"  {label:<9} {rss / MIB:7.0f} MB peak RSS  {seconds:7.1f} s  ({documents:,} docs)")
    ratio = results["default"][0] / results["unbounded"][0]
    print(f"  time ratio        {ratio:7.2f}x   (target <= 1.3x; peak RSS target <= 1024 MB)")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """CPU seconds used by the finished children of this process."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_census_stage(archive: Path, repeats: int) -> dict[str, float]:
    """Median seconds of the latest-record stage, with typed images, and of the type census."""
    connection = open_archive(parse_archive_uri(str(archive)), "posts")
    runs: dict[str, list[float]] = {"stage": [], "typed stage": [], "census": []}
    for _ in range(repeats):
        for typed in (False, True):
            started = time.perf_counter()
            materialize_latest(connection, Selection("posts"), typed_images=typed)
            runs["typed stage" if typed else "stage"].append(time.perf_counter() - started)
            if typed:
                started = time.perf_counter()
                load_type_census(connection, "posts")
                runs["census"].append(time.perf_counter() - started)
            drop_latest(connection)
    return {name: statistics.median(seconds) for name, seconds in runs.items()}


def bench_census(
    url: str, engine_pid: int, archive: Path, changes: int, repeats: int, in_flight: int
) -> None:
    """Print the medians of a default rebuild and of the same mapping as a file, no census.

    Wall time, and CPU time (the rebuild's process and the engine's): on a shared machine the
    CPU a run costs moves less than its wall time.
    """
    plan = infer_table_mapping(open_archive(parse_archive_uri(str(archive)), "posts"), "posts")
    names = ("default (census included)", "mapping as a file, no census", "--mapping FILE")
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.NamedTemporaryFile("w", suffix=".json") as body:
        json.dump(plan.body, body)
        body.flush()
        plain = [
            *WITHOUT_CENSUS, str(archive), "posts", url, "bench-census",
            body.name, str(in_flight),
        ]  # fmt: skip
        variants: dict[str, dict[str, Any]] = {
            names[0]: {},
            names[1]: {"command": plain},
            names[2]: {"extra": ("--mapping", body.name)},
        }
        documents = 0
        drop_alias_indexes(url, "bench-census")
        run_rebuild(archive, url, "bench-census", in_flight)  # untimed: the engine warms up
        for _ in range(repeats):
            for name, kwargs in variants.items():
                drop_alias_indexes(url, "bench-census")
                before = children_cpu() + process_cpu(engine_pid)
                seconds, documents, _ = run_rebuild(
                    archive, url, "bench-census", in_flight, **kwargs
                )
                cpu[name].append(children_cpu() + process_cpu(engine_pid) - before)
                wall[name].append(seconds)
        drop_alias_indexes(url, "bench-census")
    stage = bench_census_stage(archive, repeats)
    base = names[1]
    print(f"type census, {changes:,} changes, {documents:,} documents (medians of {repeats}):")
    print(f"  {'':30} {'wall':>8} {'ratio':>7} {'CPU':>8} {'ratio':>7}   (rebuild + engine CPU)")
    for name in (base, names[0], names[2]):
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        ratio_w, ratio_c = w / statistics.median(wall[base]), c / statistics.median(cpu[base])
        print(f"  {name:30} {w:7.2f}s {ratio_w:6.2f}x {c:7.2f}s {ratio_c:6.2f}x")
    print("  target: default <= 1.15x the mapping as a file")
    print(
        f"  in process: latest-record stage {stage['stage']:.2f} s in one pass, by position "
        f"with the typed images {stage['typed stage']:.2f} s, then the census "
        f"{stage['census']:.2f} s",
        flush=True,
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
        "--in-flight",
        type=int,
        default=DEFAULT_IN_FLIGHT,
        help="bulk requests at once, for the rebuild and the raw loader alike",
    )
    parser.add_argument(
        "--end-to-end-only", action="store_true", help="only benchmark 2 (no stage, no RSS)"
    )
    parser.add_argument(
        "--stage-only", action="store_true", help="only benchmark 1 (the latest-image stage)"
    )
    parser.add_argument("--memory-changes", type=int, default=20_000_000)
    parser.add_argument("--memory-items", type=int, default=2_000_000)
    parser.add_argument(
        "--memory-only", action="store_true", help="only benchmark 4 (DuckDB's memory limit)"
    )
    parser.add_argument(
        "--census-only", action="store_true", help="only benchmark 5 (the type census)"
    )
    args = parser.parse_args(argv)
    if args.memory_only:
        huge = synthetic_archive(changes=args.memory_changes, items=args.memory_items)
        with tempfile.TemporaryDirectory(prefix="bench-rebuild-") as workdir:
            service = ENGINES["opensearch"](Path(workdir))
            try:
                bench_memory_limit(service.url, huge, args.memory_changes, args.in_flight)
            finally:
                stop(service)
        return 0

    big = synthetic_archive(changes=args.changes, items=args.items)
    if args.census_only:
        engine = "opensearch" if args.engine == "both" else args.engine
        with tempfile.TemporaryDirectory(prefix="bench-census-") as workdir:
            service = ENGINES[engine](Path(workdir))
            try:
                bench_census(
                    service.url, service.pid, big, args.changes, args.repeats, args.in_flight
                )
            finally:
                stop(service)
        return 0
    if not args.end_to_end_only:
        bare, ours = bench_latest_stage(big, args.repeats)
        print(f"latest-image stage, {args.changes:,} changes / {args.items:,} items:")
        print(f"  bare arg_max      {bare:7.2f} s (median of {args.repeats})")
        print(f"  latest records    {ours:7.2f} s")
        print(f"  ratio             {ours / bare:7.2f}x   (target <= 1.5x)", flush=True)
    if args.stage_only:
        return 0

    small = synthetic_archive(changes=args.e2e_changes, items=args.e2e_items)
    engines = list(ENGINES) if args.engine == "both" else [args.engine]
    # The census weighs least against the emulator's slow indexing: measured on the real engine.
    census_engine = "opensearch" if "opensearch" in engines else engines[0]
    with tempfile.TemporaryDirectory(prefix="bench-requests-") as requests:
        count = write_requests(small, Path(requests))
        for engine in engines:
            with tempfile.TemporaryDirectory(prefix="bench-rebuild-") as workdir:
                service = ENGINES[engine](Path(workdir))
                try:
                    bench_end_to_end(
                        service.url,
                        engine,
                        small,
                        Path(requests),
                        count,
                        args.repeats,
                        args.in_flight,
                    )
                    if engine == engines[0] and not args.end_to_end_only:
                        bench_peak_rss(service.url, big, args.changes, args.in_flight)
                    if engine == "opensearch" and not args.end_to_end_only:
                        huge = synthetic_archive(args.memory_changes, args.memory_items)
                        bench_memory_limit(service.url, huge, args.memory_changes, args.in_flight)
                    if engine == census_engine and not args.end_to_end_only:
                        bench_census(
                            service.url,
                            service.pid,
                            big,
                            args.changes,
                            args.repeats,
                            args.in_flight,
                        )
                finally:
                    stop(service)
    return 0


if __name__ == "__main__":
    sys.exit(main())
