"""Compaction benchmark: many small files -> a few sorted ones, and what it buys readers.

Prints medians over --runs fresh copies of a synthetic archive (small files, as a stream-triggered
archiver leaves them), against baselines measured in the same run:

* compaction (sort by item and stream order, dedupe on event_id, zstd) vs a plain DuckDB
  ``COPY`` of the same rows into one file (no sort, no dedupe): the price of the guarantees;
* the latest-record query over the archive after compaction vs before: what readers gain.

    python -m bench.compact --changes 400000 --items 40000 --rows-per-file 400
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.synthetic_archive import archive_bench_parser, synthetic_archive
from changelake.archiver.compaction import compact_partition, plan_compaction
from changelake.clients import connect_duckdb, make_store, open_archive
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.sql_views import latest_sql, quote_literal


def _latest_seconds(archive: Path) -> float:
    connection = open_archive(parse_archive_uri(str(archive)), "posts")
    started = time.perf_counter()
    connection.execute(f"SELECT count(*) FROM ({latest_sql()})").fetchone()
    return time.perf_counter() - started


def _copy_seconds(archive: Path, target: Path) -> float:
    location = parse_archive_uri(str(archive))
    connection = connect_duckdb(location)
    files = sorted(str(p) for p in archive.rglob("*.parquet"))
    listed = ", ".join(quote_literal(f) for f in files)
    started = time.perf_counter()
    connection.execute(
        f"COPY (SELECT * FROM read_parquet([{listed}], hive_partitioning = false)) "
        f"TO {quote_literal(str(target))} (FORMAT parquet, COMPRESSION zstd)"
    )
    return time.perf_counter() - started


def _compact_seconds(archive: Path) -> tuple[float, int, int]:
    location = parse_archive_uri(str(archive))
    store = make_store(location)
    connection = connect_duckdb(location)
    started = time.perf_counter()
    plans = plan_compaction(store, connection, "posts")
    results = [compact_partition(plan, store, connection) for plan in plans]
    seconds = time.perf_counter() - started
    return seconds, sum(r.inputs for r in results), sum(len(r.outputs) for r in results)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print medians and ratios."""
    parser = archive_bench_parser(__doc__, changes=400_000, items=40_000)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--rows-per-file", type=int, default=400)
    args = parser.parse_args(argv)
    source = synthetic_archive(
        args.changes, args.items, days=args.days, rows_per_file=args.rows_per_file
    )
    copy, compact, before, after = [], [], [], []
    files_in = files_out = 0
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="changelake-bench-") as workdir:
            archive = Path(workdir, "archive")
            shutil.copytree(source, archive)
            before.append(_latest_seconds(archive))
            copy.append(_copy_seconds(archive, Path(workdir, "copy.parquet")))
            seconds, files_in, files_out = _compact_seconds(archive)
            compact.append(seconds)
            after.append(_latest_seconds(archive))
    rows_per_second = args.changes / statistics.median(compact)
    print(
        f"{args.changes:,} changes over {args.items:,} items, {files_in} files -> {files_out} "
        f"files, {args.runs} runs (medians)"
    )
    print(f"  plain DuckDB COPY (baseline)   {statistics.median(copy):7.2f} s")
    print(
        f"  changelake compact             {statistics.median(compact):7.2f} s  "
        f"({statistics.median(compact) / statistics.median(copy):.2f}x the copy, "
        f"{rows_per_second:,.0f} rows/s)"
    )
    print(f"  latest-record query, before    {statistics.median(before):7.2f} s")
    print(
        f"  latest-record query, after     {statistics.median(after):7.2f} s  "
        f"({statistics.median(before) / statistics.median(after):.2f}x faster)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
