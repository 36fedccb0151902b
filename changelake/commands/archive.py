"""``changelake archive``: archive saved Lambda events."""

from __future__ import annotations

import json
import sys
from typing import IO

import click

from changelake.archiver.batch import BatchResult, archive_records
from changelake.archiver.stream_records import event_to_records
from changelake.clients import make_store
from changelake.options import archive_option, output_option, table_option
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.exceptions import MalformedRecordError


@click.command()
@archive_option
@table_option
@output_option
@click.argument("files", nargs=-1, type=click.File("rb"))
def archive(
    archive: str, table_name: str | None, output: str, files: tuple[IO[bytes], ...]
) -> None:
    """Archive Lambda-format event files ({"Records": [...]}); '-' or none reads stdin.

    Records that cannot be decoded are kept under _quarantine/ and reported on stderr.
    """
    store = make_store(parse_archive_uri(archive))
    total = BatchResult()
    inputs: tuple[IO[bytes], ...] = files or (sys.stdin.buffer,)
    for file in inputs:
        name = getattr(file, "name", "<stdin>")
        try:
            event = json.loads(file.read())
        except ValueError as error:
            raise MalformedRecordError(f"{name} is not JSON: {error}") from None
        try:
            records = event_to_records(event)
        except MalformedRecordError as error:
            raise MalformedRecordError(f"{name}: {error}") from None
        total.add(archive_records(records, store, table_name=table_name))
    if output == "json":
        click.echo(json.dumps(total.to_dict(), indent=2))
    else:
        click.echo(
            f"Archived {total.archived} of {total.records} records into {len(total.files)} files "
            f"under {archive}"
        )
    for item in total.quarantined:
        click.echo(
            f"Quarantined {item.event_id or 'a record'} in {item.key}: {item.error}", err=True
        )
