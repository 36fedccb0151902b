"""``changelake sync``: apply what was archived since the last sync to the alias's index."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import click

from changelake import api
from changelake.index_options import (
    bulk_bytes_option,
    bulk_in_flight_option,
    max_errors_option,
    memory_limit_option,
    recipe_options,
)
from changelake.options import output_option, silent_option, skip_corrupt_option
from changelake.progress import progress
from changelake.rebuild.watermark import DEFAULT_OVERLAP
from changelake.summary_output import echo_summary, echo_warning

if TYPE_CHECKING:
    from changelake.api import RecipeChoices
    from changelake.search_options import SearchOptions


@click.command()
@recipe_options
@click.option(
    "--overlap",
    type=click.IntRange(min=0),
    default=int(DEFAULT_OVERLAP.total_seconds()),
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
    es_url: str,
    search: SearchOptions,
    alias: str,
    choices: RecipeChoices,
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
    with progress(f"Syncing {alias}", silent) as bar:
        summary = api.sync_index(
            es_url, alias, search=search, overlap=timedelta(seconds=overlap),
            max_errors=max_errors, bulk_bytes=bulk_bytes, bulk_in_flight=bulk_in_flight,
            skip_corrupt=skip_corrupt, memory_limit=memory_limit, on_start=bar.start,
            on_progress=bar.advance, on_warning=echo_warning, **choices,
        )  # fmt: skip
    text = (
        f"Synced {summary.items} changed items into {summary.index} (alias {alias}): "
        f"{summary.indexed} indexed, {summary.deleted} deleted, "
        f"{summary.version_conflicts} stale writes rejected, {summary.skipped} skipped"
        + (f", {summary.failed} refused" if summary.failed else "")
        + (f", {len(summary.held_back)} held back" if summary.held_back else "")
        + f"; watermark {summary.watermark_from or 'start'} -> {summary.watermark_to}"
    )
    echo_summary(output, summary.to_dict(), text, summary.warnings)
