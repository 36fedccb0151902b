"""``changelake compact``: rewrite a table's small files into a few large, sorted ones."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import click

from changelake.archive_tables import require_archive
from changelake.archiver.compaction import DEFAULT_TARGET_SIZE, compact_partition, plan_compaction
from changelake.archiver.locks import held_lock
from changelake.clients import connect_duckdb, make_store
from changelake.index_options import memory_limit_option
from changelake.options import (
    ByteSize,
    archive_option,
    output_option,
    required_table_option,
    silent_option,
)
from changelake.progress import progress
from changelake.schemas.archive_layout import check_table_name, lock_key, parse_archive_uri
from changelake.schemas.byte_sizes import bytes_to_text
from changelake.summary_output import echo_summary
from changelake.unreadable_files import list_archive_files, naming_unreadable_files

if TYPE_CHECKING:
    from datetime import datetime

    from changelake.archiver.compaction import PartitionPlan, PartitionResult

_DAY = click.DateTime(["%Y-%m-%d"])


@click.command()
@archive_option
@required_table_option("DynamoDB table whose change log to compact.")
@click.option("--date", "day", type=_DAY, help="Compact only this UTC day (YYYY-MM-DD).")
@click.option("--before", type=_DAY, help="Compact only the days before this one (YYYY-MM-DD).")
@click.option(
    "--target-size",
    type=ByteSize(minimum=1024),
    default=DEFAULT_TARGET_SIZE,
    show_default=bytes_to_text(DEFAULT_TARGET_SIZE),
    help="Size of each output file, e.g. 128MiB or 1GiB.",
)
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@memory_limit_option
@output_option
@silent_option
def compact(
    archive: str,
    table_name: str,
    day: datetime | None,
    before: datetime | None,
    target_size: int,
    dry_run: bool,
    memory_limit: int | None,
    output: str,
    silent: bool,
) -> None:
    """Rewrite a table's small files into a few large ones, sorted by item and stream order.

    Safe while others read: new files are written whole before the old ones are deleted, and
    readers count each event once. Running it again changes nothing. A lock object under _locks/
    keeps two compactions of one table from running at once.
    """
    if day is not None and before is not None:
        raise click.UsageError("use --date or --before, not both")
    location = parse_archive_uri(archive)
    require_archive(location, check_table_name(table_name))
    store = make_store(location)
    connection = connect_duckdb(location, memory_limit)
    plan_table = partial(
        plan_compaction,
        store,
        connection,
        table_name,
        day=day.date() if day else None,
        before=before.date() if before else None,
        target_size=target_size,
    )

    # Compaction never reads around a file it cannot read: it would delete it with the others.
    def list_files() -> list[str]:
        return list_archive_files(connection, location, table_name)

    if dry_run:
        with naming_unreadable_files(connection, list_files, can_skip=False):
            _print_plans(plan_table(), output, archive)
        return
    # One compaction per table at a time: two would each delete the other's inputs.
    with (
        held_lock(store, lock_key(table_name, "compaction")) as lease,
        naming_unreadable_files(connection, list_files, can_skip=False),
    ):
        plans = plan_table()
        results = []
        with progress("Compacting", silent or not plans, unit="rows") as bar:
            bar.start(sum(plan.input_rows for plan in plans))

            def on_rows(rows: int) -> None:
                lease.renew_if_due()
                bar.advance(rows)

            for plan in plans:
                lease.renew_if_due()
                results.append(compact_partition(plan, store, connection, on_rows=on_rows))
    _print_results(results, output, archive, table_name)


def _print_plans(plans: list[PartitionPlan], output: str, archive: str) -> None:
    lines = [
        f"Would compact {len(plan.inputs)} files ({bytes_to_text(plan.input_bytes)}, "
        f"{plan.input_rows} rows) in {plan.directory} into about {plan.estimated_outputs} "
        f"file(s) named {plan.output_key(0).rpartition('/')[2]} and on"
        for plan in plans
    ]
    document = {"dry_run": True, "partitions": [_plan_dict(p) for p in plans]}
    echo_summary(output, document, lines or [f"Nothing to compact under {archive}"])


def _plan_dict(plan: PartitionPlan) -> dict[str, Any]:
    return {
        "partition": plan.directory,
        "inputs": [source.key for source in plan.inputs],
        "input_bytes": plan.input_bytes,
        "input_rows": plan.input_rows,
        "estimated_outputs": plan.estimated_outputs,
        "first_output": plan.output_key(0),
    }


def _print_results(
    results: list[PartitionResult], output: str, archive: str, table_name: str
) -> None:
    partitions = [{**r.__dict__, "duplicates_dropped": r.duplicates_dropped} for r in results]
    lines = [
        f"Compacted {r.directory}: {r.inputs} files, {r.rows_read} rows -> "
        f"{len(r.outputs)} file(s), {r.rows_written} rows "
        f"({r.duplicates_dropped} duplicate deliveries dropped)"
        for r in results
    ]
    echo_summary(
        output,
        {"dry_run": False, "partitions": partitions},
        lines or [f"Nothing to compact: every partition of {table_name} is already compacted"],
    )
