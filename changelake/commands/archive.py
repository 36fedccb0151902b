"""``changelake archive``: archive saved Lambda events, Pipes batches and quarantine documents."""

from __future__ import annotations

import contextlib
import sys
from typing import IO, Any

import click

from changelake.archiver.batch import BatchResult, archive_records
from changelake.archiver.stream_events import event_to_records, load_json
from changelake.archiver.stream_records import table_name_from_arn
from changelake.clients import make_store
from changelake.options import archive_option, output_option, table_option
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.exceptions import MalformedRecordError, NothingArchivedError, StorageError
from changelake.summary_output import echo_summary


@click.command()
@archive_option
@table_option
@click.option(
    "--rename-table",
    is_flag=True,
    help="File the records under --table even where their eventSourceARN names another table.",
)
@output_option
@click.argument("files", nargs=-1, type=click.File("rb"))
def archive(
    archive: str,
    table_name: str | None,
    rename_table: bool,
    output: str,
    files: tuple[IO[bytes], ...],
) -> None:
    """Archive event files; '-' or none reads stdin.

    A file holds a Lambda event ({"Records": [...]}) of DynamoDB Streams or Kinesis records, an
    EventBridge Pipes batch ([...]), or a quarantine document fixed and fed back. Records that
    cannot be decoded are kept under _quarantine/ and reported on stderr; if none could be
    archived, the command fails.
    """
    store = make_store(parse_archive_uri(archive))
    total = BatchResult()
    inputs: tuple[IO[bytes], ...] = files or (sys.stdin.buffer,)
    for file in inputs:
        name = getattr(file, "name", "<stdin>")
        try:
            event = load_json(file.read())
        except ValueError as error:
            raise MalformedRecordError(f"{name} is not JSON: {error}") from None
        try:
            records = event_to_records(event)
        except MalformedRecordError as error:
            raise MalformedRecordError(f"{name}: {error}") from None
        if table_name is not None and not rename_table:
            _check_arn_tables(records, table_name, name)
        total.add(archive_records(records, store, table_name=table_name))
        if total.failed:
            break
    echo_summary(
        output,
        total.to_dict(),
        f"Archived {total.archived} of {total.records} records into {len(total.files)} files "
        f"under {archive}",
    )
    for item in total.quarantined:
        click.echo(
            f"Quarantined {item.event_id or 'a record'} in {item.key}: {item.error}", err=True
        )
    for table, view_type in sorted(total.without_new_images.items()):
        click.echo(
            f"Warning: the stream of table {table} is {view_type}: its records carry no new "
            "image, so rebuild cannot index them; set the stream to NEW_IMAGE or "
            "NEW_AND_OLD_IMAGES",
            err=True,
        )
    if total.failed:
        failed = total.failed[0]
        raise StorageError(
            f"could not keep record {failed.event_id or failed.sequence_number or '?'}: "
            f"{failed.error}; it and the records after it were not archived: run the command again"
        )
    if total.archived == 0:
        raise NothingArchivedError(
            f"none of the {total.records} records was archived: each was quarantined (see above)"
            if total.records
            else "the input holds no stream records"
        )


def _check_arn_tables(records: list[Any], table_name: str, source: str) -> None:
    """Refuse records whose eventSourceARN names another table than ``--table``."""
    named = set()
    for record in records:
        arn = record.get("eventSourceARN") if isinstance(record, dict) else None
        with contextlib.suppress(MalformedRecordError):
            named.add(table_name_from_arn(arn) if isinstance(arn, str) else table_name)
    others = sorted(named - {table_name})
    if others:
        raise click.UsageError(
            f"records in {source} come from table {', '.join(others)} (their eventSourceARN), "
            f"not --table {table_name}; leave --table out to file them under their own table, "
            f"or add --rename-table to file them under {table_name}"
        )
