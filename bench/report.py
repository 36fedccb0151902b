"""``changelake report`` over the synthetic 5M-change archive: its time and its file's size.

Runs alternate so that load on the machine hits every side alike:

* the command, as a process (``changelake report --archive ... --table posts``): what a user
  waits for, start-up, SQL, page and write included;
* the report's SQL alone (``archive_to_report`` on an open connection), in this process;
* the baseline: the least any such report reads, a hand-written bare DuckDB query over
  ``read_parquet`` counting changes per day and event and the distinct items.

One untimed run first builds the chart script into the user's cache, as a first report on a
machine does (its time is printed too). Prints medians of wall-clock and CPU seconds (CPU time
is what load from other processes does not inflate), ratios to the baseline, and the page's size
against the targets (<= 15 s, < 5 MB).

    python -m bench.report [--changes 5000000 --items 500000 --runs 3]
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from bench.synthetic_archive import archive_bench_parser, synthetic_archive
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


def command_seconds(archive: Path, output: Path) -> tuple[float, float]:
    """Time ``changelake report`` as a process; wall-clock and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run(
        [str(CHANGELAKE), "report", "--archive", str(archive), "--table", "posts",
         "--out", str(output)],
        capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"changelake report failed: {completed.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def sql_seconds(archive: Path) -> tuple[float, float, int]:
    """Time the report's SQL alone on a fresh connection: wall, CPU seconds and the changes."""
    location = parse_archive_uri(str(archive))
    cpu = time.process_time()
    started = time.perf_counter()
    connection = open_archive(location, "posts")
    report = archive_to_report(
        connection, "posts", parquet_glob(location, "posts"), now=datetime.now(UTC)
    )
    seconds = time.perf_counter() - started
    connection.close()
    return seconds, time.process_time() - cpu, report.changes


def bare_seconds(archive: Path) -> tuple[float, float, int]:
    """Time the hand-written baseline: wall, CPU seconds and the changes it counted."""
    glob = quote_literal(str(archive / "table=posts" / "dt=*" / "*.parquet"))
    cpu = time.process_time()
    started = time.perf_counter()
    connection = duckdb.connect()
    rows = connection.execute(_BARE.format(glob=glob)).fetchall()
    seconds = time.perf_counter() - started
    connection.close()
    return seconds, time.process_time() - cpu, sum(row[3] for row in rows)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; print medians, ratios and the page's size."""
    args = archive_bench_parser(__doc__).parse_args(argv)
    archive = synthetic_archive(args.changes, args.items)
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "report.html"
        first, _ = command_seconds(archive, output)
        print(f"untimed first run (builds the chart script if not cached): {first:.2f} s")
        wall: dict[str, list[float]] = {"report": [], "sql": [], "bare": []}
        cpu: dict[str, list[float]] = {"report": [], "sql": [], "bare": []}
        for run in range(args.runs):
            measured = {"report": command_seconds(archive, output)}
            sql_wall, sql_cpu, counted = sql_seconds(archive)
            bare_wall, bare_cpu, bare_counted = bare_seconds(archive)
            measured |= {"sql": (sql_wall, sql_cpu), "bare": (bare_wall, bare_cpu)}
            if counted != bare_counted:
                raise SystemExit(f"the counts differ: report {counted}, baseline {bare_counted}")
            for side, (seconds, used) in measured.items():
                wall[side].append(seconds)
                cpu[side].append(used)
            print(
                f"run {run + 1}: "
                + ", ".join(
                    f"{side} {s:.2f} s ({c:.2f} s CPU)" for side, (s, c) in measured.items()
                ),
                flush=True,
            )
        size = output.stat().st_size
    median = {side: statistics.median(times) for side, times in wall.items()}
    median_cpu = {side: statistics.median(times) for side, times in cpu.items()}
    print(f"{args.changes:,} changes over {args.items:,} items")
    for side, label in (
        ("report", "changelake report (process)"),
        ("sql", "report SQL alone"),
        ("bare", "bare per-day count and distinct items"),
    ):
        print(f"{label}: median {median[side]:.2f} s, {median_cpu[side]:.2f} s CPU")
    print(
        f"ratios to the bare query: report {median['report'] / median['bare']:.2f}x wall, "
        f"{median_cpu['report'] / median_cpu['bare']:.2f}x CPU; "
        f"SQL {median['sql'] / median['bare']:.2f}x wall"
    )
    seconds_verdict = "within" if median["report"] <= TARGET_SECONDS else "above"
    size_verdict = "within" if size < TARGET_BYTES else "above"
    print(
        f"report time {median['report']:.2f} s: {seconds_verdict} the {TARGET_SECONDS:.0f} s target"
    )
    print(f"page size {size / 1e6:.2f} MB: {size_verdict} the {TARGET_BYTES / 1e6:.0f} MB target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
