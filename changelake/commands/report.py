"""``changelake report``: one self-contained HTML page of pictures of a table's change log."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource

from changelake.archive_tables import require_archive
from changelake.ask.report_data import (
    DEFAULT_TIMELINE_CHANGES,
    DEFAULT_TOP_ITEMS,
    archive_to_report,
)
from changelake.ask.report_page import report_to_html
from changelake.clients import make_search_sink, make_store
from changelake.commands.rebuild import Timestamp
from changelake.config import ENV_ALIAS, ENV_ES_URL
from changelake.html_output import write_html
from changelake.options import (
    archive_option,
    required_table_option,
    search_options,
    skip_corrupt_option,
)
from changelake.report_sources import (
    load_index_watermark,
    load_stream_coverage,
)
from changelake.schemas.archive_layout import parquet_glob, parse_archive_uri
from changelake.unreadable_files import naming_archive_files, open_command_archive
from changelake.vega_bundle import vega_bundle

if TYPE_CHECKING:
    from changelake.search_options import SearchOptions


@click.command()
@archive_option
@required_table_option("DynamoDB table to picture.")
@click.option(
    "--since",
    type=Timestamp(),
    help="Only changes made from this ISO 8601 instant on (UTC when no zone is given).",
)
@click.option(
    "--out",
    "output_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default="report.html",
    help="Write the HTML page here.",
)
@click.option(
    "--top",
    type=click.IntRange(min=0),
    default=DEFAULT_TOP_ITEMS,
    help="How many of the most-changed items to list, each with its timeline.",
)
@click.option(
    "--timeline-changes",
    type=click.IntRange(min=1),
    default=DEFAULT_TIMELINE_CHANGES,
    help="The newest changes shown in each item's timeline.",
)
@click.option(
    "--es-url",
    envvar=ENV_ES_URL,
    help=f"Search engine URL: adds the index lag of --alias. Env: {ENV_ES_URL}.",
)
@click.option(
    "--alias",
    envvar=ENV_ALIAS,
    help=f"The alias whose index lag to show (with --es-url). Env: {ENV_ALIAS}.",
)
@search_options
@skip_corrupt_option
def report(
    archive: str,
    table_name: str,
    since: datetime | None,
    output_path: Path,
    top: int,
    timeline_changes: int,
    es_url: str | None,
    alias: str | None,
    search: SearchOptions,
    skip_corrupt: bool,
) -> None:
    """Write an HTML page of charts of one table's change log (no network needed to view it).

    Changes per day by event, TTL and user deletes, archive and index lag, files and bytes per
    day, stream coverage and gaps, and the most-changed items with their timelines.
    """
    now = datetime.now(UTC)
    given = click.get_current_context().get_parameter_source("es_url")
    if es_url and not alias and given is ParameterSource.COMMANDLINE:
        # From the environment alone (set for sync, say) it does not stop a report.
        raise click.UsageError("--es-url needs --alias: the alias whose index lag to show")
    bundle = vega_bundle()  # first: a missing report extra fails before any work
    location = parse_archive_uri(archive)
    require_archive(location, table_name)
    connection = open_command_archive(location, table_name, skip_corrupt=skip_corrupt)
    index = None
    if es_url and alias:
        index = load_index_watermark(make_search_sink(es_url, search), alias, table_name)
    with naming_archive_files(connection, location, table_name):
        data = archive_to_report(
            connection,
            table_name,
            parquet_glob(location, table_name),
            now=now,
            since=since,
            coverage=load_stream_coverage(make_store(location), table_name),
            index=index,
            top_items=top,
            timeline_changes=timeline_changes,
        )
    if data.changes == 0 and since is not None:
        raise click.BadParameter(
            f"table {table_name!r} has no changes from {since.isoformat()} on; leave --since "
            "out to see them all",
            param_hint="--since",
        )
    page = report_to_html(data, bundle, archive)
    what = f"{data.changes:,} changes of {data.items:,} items of {table_name}"
    click.echo(write_html(output_path, page, what))
