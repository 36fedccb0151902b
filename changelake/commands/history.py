"""``changelake history``: one item's timeline, with what each change did."""

from __future__ import annotations

import json
from pathlib import Path

import click

from changelake.ask.timeline import TIMELINE_COLUMNS, rows_to_timeline, timeline_to_lines
from changelake.html_output import write_timeline_page
from changelake.options import (
    archive_option,
    output_option,
    required_table_option,
    skip_corrupt_option,
)
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.exceptions import QueryError
from changelake.schemas.sql_views import history_sql
from changelake.unreadable_files import naming_archive_files, open_command_archive


@click.command()
@archive_option
@required_table_option("DynamoDB table of the item.")
@output_option
@skip_corrupt_option
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the timeline as a self-contained HTML page here (with a chart) instead.",
)
@click.argument("key")
def history(
    archive: str,
    table_name: str,
    output: str,
    skip_corrupt: bool,
    html_path: Path | None,
    key: str,
) -> None:
    """Show every change of the item KEY, oldest first, with a diff of its attributes.

    KEY is the item key as the archive writes it: key attributes sorted by name,
    'name=value' joined with '&' (e.g. 'postId=post#0001&seriesId=series-7').
    """
    location = parse_archive_uri(archive)
    connection = open_command_archive(location, table_name, skip_corrupt=skip_corrupt)
    sql = history_sql(where="item_key = $key")
    with naming_archive_files(connection, location, table_name):
        result = connection.execute(
            f"SELECT {', '.join(TIMELINE_COLUMNS)} FROM ({sql})", {"key": key}
        )
        names = [column[0] for column in result.description]
        rows = result.fetchall()
    entries = rows_to_timeline(dict(zip(names, row, strict=True)) for row in rows)
    if not entries:
        raise QueryError(
            f"no changes of item {key!r} in table {table_name!r} under {archive}; item keys "
            "look like 'id=post-1' (list some: changelake sql \"select distinct item_key from "
            'changes limit 5")'
        )
    if html_path is not None:
        click.echo(write_timeline_page(html_path, table_name, key, entries, archive))
        return
    if output == "json":
        click.echo(
            json.dumps(
                {"table": table_name, "item_key": key, "changes": [e.to_dict() for e in entries]},
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    click.echo(f"{table_name} {key}: {len(entries)} change{'s' if len(entries) != 1 else ''}")
    for line in timeline_to_lines(entries):
        click.echo(line)
