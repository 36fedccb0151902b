"""``changelake sql "select count(*) from latest"`` against the same question asked by hand.

Both run over the synthetic 5M-change archive (bench/synthetic_archive.py, cached in .cache/):

* the command, in-process through click: open the archive read-only (views, macros, locked
  settings), parse and check the statement, run it, stream the result as CSV;
* the baseline: a bare DuckDB connection and the latest-per-item count written by hand against
  ``read_parquet`` (one ``arg_max`` per item, no versions, no read-only checks).

Runs alternate so load on the machine hits both alike; prints the medians and their ratio
(target: at most 1.2x).

    python -m bench.sql [--changes 5000000 --items 500000 --runs 3]
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import TYPE_CHECKING

import duckdb
from click.testing import CliRunner

from bench.synthetic_archive import archive_bench_parser, synthetic_archive
from changelake.cli import cli
from changelake.schemas.sql_views import quote_literal

if TYPE_CHECKING:
    from pathlib import Path

QUERY = "select count(*) from latest"
TARGET_RATIO = 1.2

_BY_HAND = """
SELECT count(*) FROM (
    SELECT arg_max(event_name, (approximate_creation_time, event_name <> 'SNAPSHOT',
                                sequence_order, event_id)) AS last_event
    FROM read_parquet({glob}) GROUP BY table_name, item_key
) WHERE last_event <> 'REMOVE'
"""


def command_seconds(archive: Path) -> tuple[float, int]:
    """Time ``changelake sql --output csv QUERY``; returns seconds and the count printed."""
    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["sql", "--archive", str(archive), "--output", "csv", QUERY])
    seconds = time.perf_counter() - started
    if result.exit_code != 0:
        raise SystemExit(f"changelake sql failed: {result.output}")
    return seconds, int(result.output.splitlines()[1])


def by_hand_seconds(archive: Path) -> tuple[float, int]:
    """Time the hand-written query on a fresh connection; returns seconds and the count."""
    started = time.perf_counter()
    connection = duckdb.connect()
    glob = quote_literal(str(archive / "table=*" / "dt=*" / "*.parquet"))
    row = connection.execute(_BY_HAND.format(glob=glob)).fetchone()
    seconds = time.perf_counter() - started
    connection.close()
    assert row is not None
    return seconds, int(row[0])


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print medians and the ratio."""
    args = archive_bench_parser(__doc__).parse_args(argv)
    archive = synthetic_archive(args.changes, args.items)
    command, by_hand = [], []
    for run in range(args.runs):
        seconds, counted = command_seconds(archive)
        command.append(seconds)
        hand_seconds, hand_counted = by_hand_seconds(archive)
        by_hand.append(hand_seconds)
        if counted != hand_counted:
            raise SystemExit(f"the counts differ: sql {counted}, by hand {hand_counted}")
        print(f"run {run + 1}: sql {seconds:.2f} s, by hand {hand_seconds:.2f} s", flush=True)
    ratio = statistics.median(command) / statistics.median(by_hand)
    print(f"{args.changes:,} changes over {args.items:,} items, {counted:,} live items")
    print(f"changelake sql {QUERY!r}: median {statistics.median(command):.2f} s")
    print(f"hand-written read_parquet query: median {statistics.median(by_hand):.2f} s")
    verdict = "within" if ratio <= TARGET_RATIO else "above"
    print(f"ratio {ratio:.2f}x ({verdict} the {TARGET_RATIO}x target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
