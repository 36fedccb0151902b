"""``changelake report`` over the synthetic 5M-change archive: its time and its file's size.

Runs alternate so that load on the machine hits every side alike:

* the command, as a process (``changelake report --archive ... --table posts``): what a user
  waits for, start-up, SQL, page and write included;
* the report's SQL alone (``archive_to_report`` on an open connection), in this process;
* the baseline: the least any such report reads, a hand-written bare DuckDB query over
  ``read_parquet`` counting changes per day and event and the distinct items.

One untimed run first builds the chart script into the user's cache, as a first report on a
machine does (its time is printed too). Prints medians, ratios to the baseline, and the page's
size against the targets (<= 15 s, < 5 MB).

    python bench/report.py [--changes 5000000 --items 500000 --runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

# This file's folder comes first on sys.path, where bench/rebuild.py would shadow the rebuild
# package that the CLI imports.
sys.path.remove(str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb

from bench.synthetic_archive import synthetic_archive
from changelake.ask.report_data import archive_to_report
from changelake.clients import open_archive
from changelake.schemas.archive_layout import parquet_glob, parse_archive_uri
from changelake.schemas.sql_views import quote_literal

TARGET_SECONDS = 15.0
TARGET_BYTES = 5_000_000
CHANGELAKE = Path(sys.executable).parent / "changelake"

_BARE = """
SELECT (SELECT count(DISTINCT item_key) FROM read_parquet({glob})) AS items, * FROM (
    SELECT dt, event_name, count(*) AS changes
    FROM read_parquet({glob}, hive_partitioning = true) GROUP BY ALL
)
"""


def command_seconds(archive: Path, output: Path) -> float:
    """Time ``changelake report`` as a process."""
    started = time.perf_counter()
    completed = subprocess.run(
        [str(CHANGELAKE), "report", "--archive", str(archive), "--table", "posts",
         "--output", str(output)],
        capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"changelake report failed: {completed.stderr}")
    return seconds


def sql_seconds(archive: Path) -> tuple[float, int]:
    """Time the report's SQL alone on a fresh connection; returns seconds and the changes."""
    location = parse_archive_uri(str(archive))
    started = time.perf_counter()
    connection = open_archive(location, "posts")
    report = archive_to_report(
        connection, "posts", parquet_glob(location, "posts"), now=datetime.now(UTC)
    )
    seconds = time.perf_counter() - started
    connection.close()
    return seconds, report.changes


def bare_seconds(archive: Path) -> tuple[float, int]:
    """Time the hand-written baseline; returns seconds and the changes it counted."""
    glob = quote_literal(str(archive / "table=posts" / "dt=*" / "*.parquet"))
    started = time.perf_counter()
    connection = duckdb.connect()
    rows = connection.execute(_BARE.format(glob=glob)).fetchall()
    seconds = time.perf_counter() - started
    connection.close()
    return seconds, sum(row[3] for row in rows)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; print medians, ratios and the page's size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=5_000_000)
    parser.add_argument("--items", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    archive = synthetic_archive(args.changes, args.items)
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "report.html"
        first = command_seconds(archive, output)
        print(f"untimed first run (builds the chart script if not cached): {first:.2f} s")
        command, sql, bare = [], [], []
        for run in range(args.runs):
            command.append(command_seconds(archive, output))
            seconds, counted = sql_seconds(archive)
            sql.append(seconds)
            bare_time, bare_counted = bare_seconds(archive)
            bare.append(bare_time)
            if counted != bare_counted:
                raise SystemExit(f"the counts differ: report {counted}, baseline {bare_counted}")
            print(
                f"run {run + 1}: report {command[-1]:.2f} s, its SQL {seconds:.2f} s, "
                f"bare query {bare_time:.2f} s",
                flush=True,
            )
        size = output.stat().st_size
    report, data, baseline = (statistics.median(times) for times in (command, sql, bare))
    print(f"{args.changes:,} changes over {args.items:,} items")
    print(f"changelake report (process): median {report:.2f} s (target <= {TARGET_SECONDS:.0f} s)")
    print(f"report SQL alone: median {data:.2f} s")
    print(f"bare per-day count and distinct items: median {baseline:.2f} s")
    print(f"ratios to the bare query: report {report / baseline:.2f}x, SQL {data / baseline:.2f}x")
    verdict = "within" if report <= TARGET_SECONDS and size < TARGET_BYTES else "outside"
    print(
        f"page size {size / 1e6:.2f} MB (target < {TARGET_BYTES / 1e6:.0f} MB); "
        f"{verdict} both targets"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
