"""``changelake sync``: apply what was archived since the last sync to the alias's index."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING

import click

from changelake.archive_tables import require_archive
from changelake.clients import make_search_sink
from changelake.index_options import (
    accept_transform_change_option,
    alias_lease,
    bulk_bytes_option,
    bulk_in_flight_option,
    id_option,
    max_errors_option,
    memory_limit_option,
    recipe_to_alias_options,
    replay_options,
    transform_option,
    ttl_deletes_option,
)
from changelake.options import output_option, silent_option, skip_corrupt_option
from changelake.progress import progress
from changelake.rebuild.guarded_sink import GuardedSink
from changelake.rebuild.recipe import RecipeFlags, follow_recipe, load_recipe_transform
from changelake.rebuild.sync import read_index_state, sync_alias
from changelake.rebuild.watermark import DEFAULT_OVERLAP
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.unreadable_files import naming_archive_files, open_command_archive

if TYPE_CHECKING:
    from changelake.search_options import SearchOptions


@click.command()
@recipe_to_alias_options
@transform_option
@id_option(None)
@ttl_deletes_option(None)
@accept_transform_change_option
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
@memory_limit_option
@output_option
@silent_option
def sync(
    archive: str | None,
    table_name: str | None,
    es_url: str,
    search: SearchOptions,
    alias: str,
    transform: str | None,
    id_rule: str | None,
    ttl_deletes: str | None,
    accept_transform_change: bool,
    overlap: int,
    max_errors: int,
    bulk_bytes: int,
    bulk_in_flight: int,
    skip_corrupt: bool,
    memory_limit: int | None,
    output: str,
    silent: bool,
) -> None:
    """Index and delete, with external versions, what changed since the alias's watermark.

    Follows the recipe the index was rebuilt by (table, archive, transform, --id,
    --ttl-deletes); a flag that contradicts it is refused.
    """
    if archive is not None:  # a mistyped --archive or --table is named before the engine
        require_archive(parse_archive_uri(archive), table_name)
    sink = make_search_sink(es_url, search)
    index, state = read_index_state(sink, alias, "sync")
    flags = RecipeFlags(table_name, archive, transform, id_rule, ttl_deletes)
    recipe = follow_recipe(state.recipe, flags, index)
    recipe, function = load_recipe_transform(recipe, index, accept_change=accept_transform_change)
    options = replay_options(function, max_errors, bulk_bytes, bulk_in_flight)
    location = parse_archive_uri(recipe.archive)
    require_archive(location, recipe.table_name)  # before the lock: a mistyped archive gets none
    # One writer per alias at a time (sync, rebuild, repair), reading the archive only once it
    # holds the lease: a sync that read an older archive could otherwise send an item's older
    # version after another writer deleted it. See docs/rebuild-sync-verify.md.
    with alias_lease(location, recipe.table_name, alias) as lease:
        connection = open_command_archive(
            location, recipe.table_name, skip_corrupt=skip_corrupt, memory_limit=memory_limit
        )
        with (
            naming_archive_files(connection, location, recipe.table_name),
            progress(f"Syncing {alias}", silent) as bar,
        ):
            summary = sync_alias(
                connection, GuardedSink(sink, lease), alias=alias, index=index, recipe=recipe,
                overlap=timedelta(seconds=overlap), options=options, on_start=bar.start,
                on_progress=bar.advance,
            )  # fmt: skip
    if output == "json":
        click.echo(json.dumps(summary.to_dict(), indent=2))
        return
    click.echo(
        f"Synced {summary.items} changed items into {summary.index} (alias {alias}): "
        f"{summary.indexed} indexed, {summary.deleted} deleted, "
        f"{summary.version_conflicts} stale writes rejected, {summary.skipped} skipped"
        + (f", {summary.failed} refused" if summary.failed else "")
        + (f", {len(summary.held_back)} held back" if summary.held_back else "")
        + f"; watermark {summary.watermark_from or 'start'} -> {summary.watermark_to}"
    )
    for warning in summary.warnings:
        click.echo(f"Warning: {warning}", err=True)
