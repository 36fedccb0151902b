"""``changelake sync`` of 10 changes over archives of 1M, 5M and 20M changes: the cost of a change.

Each archive is synthetic (bench/synthetic_archive.py, cached) and stored as ``changelake
compact`` leaves it: each day sorted by item key, in files of 800k rows (about 120 MB). Its days
are linked into a working archive, which is rebuilt into an alias on the OpenSearch node. Then,
for each run and each size in turn: ``changelake archive`` of one Lambda event of 10 MODIFY
records of 10 items spread over the key range (untimed), then ``changelake sync`` of that alias
(in-process through click, timed). ``--overlap 0`` makes each sync read exactly what was archived
since the one before: the 10 items.

Prints the median seconds per size and the ratio to the smallest archive (target: 5M at most
1.25x 1M).

    python -m bench.sync [--sizes 1000000,5000000,20000000 --runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from click.testing import CliRunner

from bench.synthetic_archive import STREAM_ARN, synthetic_archive
from changelake.api import rebuild_index
from changelake.cli import cli
from scripts.services import start_opensearch, stop

CHANGED_ITEMS = 10
TARGET_RATIO = 1.25
# Items per change, as the other benchmarks' archives (5M changes over 500k items).
CHANGES_PER_ITEM = 10
ROWS_PER_FILE = 800_000


def working_archive(changes: int, root: Path) -> Path:
    """A writable archive whose days are the cached synthetic archive's, linked, not copied."""
    cached = synthetic_archive(
        changes, changes // CHANGES_PER_ITEM, compacted=True, rows_per_file=ROWS_PER_FILE
    )
    archive = root / f"archive-{changes}"
    table = archive / "table=posts"
    table.mkdir(parents=True)
    for day in sorted((cached / "table=posts").iterdir()):
        (table / day.name).symlink_to(day, target_is_directory=True)
    return archive


def change_event(items: int, run: int) -> dict[str, object]:
    """A Lambda event of ``CHANGED_ITEMS`` MODIFY records, one per item, spread over the keys."""
    now = int(time.time())
    records = []
    for n in range(CHANGED_ITEMS):
        key = {"id": {"S": f"post-{(n * items // CHANGED_ITEMS + run) % items:08d}"}}
        image = {**key, "title": {"S": f"changed in run {run}"}, "views": {"N": str(n)}}
        records.append(
            {
                "eventID": f"bench-sync-{run}-{n}",
                "eventName": "MODIFY",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "eventSourceARN": STREAM_ARN.format(table="posts"),
                "dynamodb": {
                    "ApproximateCreationDateTime": now,
                    "Keys": key,
                    "NewImage": image,
                    "SequenceNumber": str(900_000_000_000_000_000_000 + run * 100 + n),
                    "SizeBytes": 100,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
            }
        )
    return {"Records": records}


def archive_changes(archive: Path, items: int, run: int) -> None:
    """``changelake archive`` of one event of changes into ``archive``."""
    event = archive.parent / f"event-{archive.name}-{run}.json"
    event.write_text(json.dumps(change_event(items, run)))
    result = CliRunner().invoke(cli, ["archive", "--archive", str(archive), str(event)])
    if result.exit_code != 0:
        raise SystemExit(f"changelake archive failed: {result.output}")


def sync_seconds(url: str, alias: str) -> float:
    """Time ``changelake sync`` of ``alias``; fails unless it indexed the changed items."""
    started = time.perf_counter()
    result = CliRunner().invoke(
        cli, ["sync", "--es-url", url, "--alias", alias, "--overlap", "0", "--output", "json"]
    )
    seconds = time.perf_counter() - started
    if result.exit_code != 0:
        raise SystemExit(f"changelake sync failed: {result.output}")
    summary = json.loads(result.stdout)
    if summary["items"] != CHANGED_ITEMS or summary["indexed"] != CHANGED_ITEMS:
        raise SystemExit(f"the sync did not index the {CHANGED_ITEMS} changed items: {summary}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,5000000,20000000")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="changelake-bench-sync-") as workdir:
        root = Path(workdir)
        archives = {size: working_archive(size, root) for size in sizes}
        service = start_opensearch(root / "opensearch", quick_start=False)
        try:
            for size, archive in archives.items():
                started = time.perf_counter()
                rebuild_index(str(archive), "posts", service.url, f"bench-{size}")
                print(
                    f"rebuilt {size:,} changes in {time.perf_counter() - started:.0f} s",
                    file=sys.stderr,
                )
            seconds: dict[int, list[float]] = {size: [] for size in sizes}
            # One untimed round first: the engine's and DuckDB's first requests warm up.
            for run in range(args.runs + 1):
                for size, archive in archives.items():
                    archive_changes(archive, size // CHANGES_PER_ITEM, run)
                    took = sync_seconds(service.url, f"bench-{size}")
                    if run:
                        seconds[size].append(took)
        finally:
            stop(service)
    base = statistics.median(seconds[sizes[0]])
    print(f"{CHANGED_ITEMS} changed items synced, medians of {args.runs} (OpenSearch node)")
    print(f"{'archive':>14} {'sync':>9} {'ratio':>7}")
    for size in sizes:
        median = statistics.median(seconds[size])
        print(f"{size:>14,} {median:>8.3f}s {median / base:>6.2f}x")
    if len(sizes) > 1:
        ratio = statistics.median(seconds[sizes[1]]) / base
        verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
        print(f"target: {sizes[1]:,} at most {TARGET_RATIO}x {sizes[0]:,}: {ratio:.2f}x, {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
