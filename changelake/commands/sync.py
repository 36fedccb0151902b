"""``changelake sync``: apply what was archived since the last sync to the live alias."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING

import click

from changelake.archiver.locks import held_lock
from changelake.clients import make_search_sink, make_store
from changelake.commands.rebuild import (
    bulk_bytes_option,
    bulk_in_flight_option,
    max_errors_option,
    replay_options,
    require_table,
    transform_option,
)
from changelake.options import (
    archive_to_alias_options,
    output_option,
    silent_option,
    skip_corrupt_option,
)
from changelake.progress import progress
from changelake.rebuild.sync import sync_alias
from changelake.rebuild.watermark import DEFAULT_OVERLAP
from changelake.schemas.archive_layout import lock_key, parse_archive_uri
from changelake.unreadable_files import naming_archive_files, open_command_archive

if TYPE_CHECKING:
    from changelake.search_options import SearchOptions


@click.command()
@archive_to_alias_options
@transform_option
@click.option(
    "--overlap",
    type=click.IntRange(min=0),
    default=int(DEFAULT_OVERLAP.total_seconds()),
    show_default=True,
    help="Seconds before the watermark to read again (late files, clock skew); "
    "replays are harmless.",
)
@max_errors_option
@bulk_bytes_option
@bulk_in_flight_option
@skip_corrupt_option
@output_option
@silent_option
def sync(
    archive: str,
    table_name: str | None,
    es_url: str,
    search: SearchOptions,
    alias: str,
    transform: str | None,
    overlap: int,
    max_errors: int,
    bulk_bytes: int,
    bulk_in_flight: int,
    skip_corrupt: bool,
    output: str,
    silent: bool,
) -> None:
    """Index and delete, with external versions, what changed since the alias's watermark."""
    table = require_table(table_name)
    options = replay_options(transform, max_errors, bulk_bytes, bulk_in_flight)
    location = parse_archive_uri(archive)
    sink = make_search_sink(es_url, search)
    # One sync per alias at a time, reading the archive only once it holds the lock: a sync that
    # read an older archive could otherwise send an item's older version after another sync
    # deleted it, and only a real engine's delete tombstone (kept for index.gc_deletes, 60 s)
    # would refuse that write. See "Deletes and tombstones" in the README.
    with held_lock(make_store(location), lock_key(table, f"sync-{alias}")) as lease:
        connection = open_command_archive(location, table, skip_corrupt=skip_corrupt)
        with (
            naming_archive_files(connection, location, table),
            progress(f"Syncing {alias}", silent) as bar,
        ):

            def on_progress(actions: int) -> None:
                lease.renew_if_due()
                bar.advance(actions)

            summary = sync_alias(
                connection,
                sink,
                table_name=table,
                alias=alias,
                overlap=timedelta(seconds=overlap),
                options=options,
                on_start=bar.start,
                on_progress=on_progress,
            )
    if output == "json":
        click.echo(json.dumps(summary.to_dict(), indent=2))
        return
    click.echo(
        f"Synced {summary.items} changed items into {summary.index} (alias {alias}): "
        f"{summary.indexed} indexed, {summary.deleted} deleted, "
        f"{summary.version_conflicts} stale writes rejected, {summary.skipped} skipped"
        + (f", {len(summary.held_back)} held back" if summary.held_back else "")
        + "; "
        f"watermark {summary.watermark_from or 'start'} -> {summary.watermark_to}"
    )
    for warning in summary.warnings:
        click.echo(f"Warning: {warning}", err=True)
