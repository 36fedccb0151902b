"""``changelake snapshot``: the items already in a table, as SNAPSHOT rows of the change log."""

from __future__ import annotations

import click

from changelake.archiver.table_snapshot import snapshot_table
from changelake.aws_errors import explained_aws_errors
from changelake.clients import dynamodb_client, make_store, open_archive
from changelake.options import archive_option, output_option, required_table_option, silent_option
from changelake.progress import progress
from changelake.schemas.archive_layout import check_table_name, parse_archive_uri
from changelake.schemas.exceptions import StreamGapError
from changelake.summary_output import echo_initial_load


@click.command()
@required_table_option("DynamoDB table to scan.")
@archive_option
@click.option(
    "--segments",
    type=click.IntRange(1, 1000),
    default=4,
    help="Parallel Scan segments (threads); an unfinished snapshot resumes with its own count.",
)
@output_option
@silent_option
def snapshot(table_name: str, archive: str, segments: int, output: str, silent: bool) -> None:
    """Scan a table into SNAPSHOT rows (initial load), resuming an unfinished snapshot."""
    client = dynamodb_client()
    table_name = check_table_name(table_name)
    location = parse_archive_uri(archive)
    store = make_store(location)
    with explained_aws_errors(f"cannot describe table {table_name}"):
        # ItemCount is refreshed about every six hours: a hint for the bar, not a promise.
        estimate = client.describe_table(TableName=table_name)["Table"].get("ItemCount") or None
    with progress(f"Scanning {table_name}", silent, unit="items") as bar:
        bar.start(estimate)
        with explained_aws_errors(f"cannot scan table {table_name}"):
            result = snapshot_table(
                client,
                store,
                table_name,
                segments=segments,
                connect_archive=lambda: open_archive(location, table_name),
                progress=bar.advance,
            )
    verb = "Resumed" if result.resumed else "Took"
    load = f"snapshot {result.plan.snapshot_id}"
    headline = f"{verb} {load} of {table_name}"
    echo_initial_load(output, result, headline, result.plan.snapshot_at, archive, "table")
    if result.open_gap is not None:
        raise StreamGapError(result.open_gap.still_open_after(load, result.plan.started_at))
