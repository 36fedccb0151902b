"""``changelake sql "select count(*) from latest"`` against the same question asked by hand.

Both run over the synthetic 5M-change archive (bench/synthetic_archive.py, cached in .cache/):

* the command, in-process through click: open the archive read-only (views, macros, locked
  settings), parse and check the statement, run it, stream the result as CSV;
* the baseline: a bare DuckDB connection and the latest-per-item count written by hand against
  ``read_parquet`` (one ``arg_max`` per item, no versions, no read-only checks).

Runs alternate so load on the machine hits both alike; prints the medians and their ratio
(target: at most 1.2x).

Then one item's questions, over compacted synthetic archives of 1M, 5M and 20M changes (each
day sorted by item key, as ``changelake compact`` leaves it), against reading the ``item_key``
column of the whole archive on a bare connection, the floor of a lookup that reads no index:

* ``changelake sql "select count(*) from history('id=post-00000042')"``;
* ``changelake sql "select count(*) from as_of('2026-11-24', 'id=post-00000042')"``.

Target: each at most 1.5x the floor.

    python -m bench.sql [--changes 5000000 --items 500000 --runs 3]
        [--one-item-sizes 1000000,5000000,20000000]
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
ONE_ITEM_QUERIES = {
    "history(key)": "select count(*) from history('id=post-00000042')",
    "as_of(ts, key)": "select count(*) from as_of('2026-11-24', 'id=post-00000042')",
}
ONE_ITEM_TARGET = 1.5

_BY_HAND = """
SELECT count(*) FROM (
    SELECT arg_max(event_name, (approximate_creation_time, event_name <> 'SNAPSHOT',
                                sequence_order, event_id)) AS last_event
    FROM read_parquet({glob}) GROUP BY table_name, item_key
) WHERE last_event <> 'REMOVE'
"""


def command_seconds(archive: Path, query: str = QUERY) -> tuple[float, int]:
    """Time ``changelake sql --output csv query``; returns seconds and the count printed."""
    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["sql", "--archive", str(archive), "--output", "csv", query])
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


def item_key_seconds(archive: Path) -> float:
    """Time reading the ``item_key`` column of every file on a fresh connection."""
    started = time.perf_counter()
    connection = duckdb.connect()
    glob = quote_literal(str(archive / "table=*" / "dt=*" / "*.parquet"))
    connection.execute(f"SELECT count(item_key) FROM read_parquet({glob})").fetchone()
    connection.close()
    return time.perf_counter() - started


def one_item_table(sizes: list[int], runs: int) -> None:
    """Print one item's questions against the floor, per archive size."""
    print(f"\none item, compacted archives, medians of {runs} (target: at most {ONE_ITEM_TARGET}x)")
    print(
        f"{'changes':>12} {'item_key read':>14}"
        + "".join(f" {name:>22}" for name in ONE_ITEM_QUERIES)
    )
    for size in sizes:
        archive = synthetic_archive(size, size // 10, compacted=True, rows_per_file=800_000)
        floor: list[float] = []
        asked: dict[str, list[float]] = {name: [] for name in ONE_ITEM_QUERIES}
        for _ in range(runs):
            floor.append(item_key_seconds(archive))
            for name, query in ONE_ITEM_QUERIES.items():
                seconds, counted = command_seconds(archive, query)
                if counted == 0:
                    raise SystemExit(f"{query!r} found nothing in {archive}")
                asked[name].append(seconds)
        base = statistics.median(floor)
        cells = [
            f"{statistics.median(times):.3f} s ({statistics.median(times) / base:.2f}x)"
            for times in asked.values()
        ]
        print(f"{size:>12,} {base:>12.3f} s" + "".join(f" {cell:>22}" for cell in cells))


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print medians and the ratio."""
    parser = archive_bench_parser(__doc__)
    parser.add_argument("--one-item-sizes", default="1000000,5000000,20000000")
    args = parser.parse_args(argv)
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
    one_item_table([int(size) for size in args.one_item_sizes.split(",")], args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
