"""``changelake history``: one item's timeline, with what each change did."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from changelake.ask.item_keys import (
    KeyQuery,
    merge_key_query,
    option_to_pair,
    resolve_item_key,
    text_to_key_query,
)
from changelake.ask.timeline import load_timeline, timeline_to_lines
from changelake.html_output import write_timeline_page
from changelake.options import (
    archive_option,
    output_option,
    required_table_option,
    skip_corrupt_option,
)
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.summary_output import echo_summary
from changelake.unreadable_files import naming_archive_files, open_command_archive


class ItemKey(click.ParamType):  # type: ignore[type-arg]
    """An item key: ``name=value`` pairs joined with ``&`` in any order, or one bare value."""

    name = "key"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """``seriesId=series-7&postId=post#0001`` or ``post#0001`` -> a :class:`KeyQuery`."""
        if isinstance(value, KeyQuery):
            return value
        try:
            return text_to_key_query(value)
        except ValueError as error:
            self.fail(f"{value!r}: {error}; an item key looks like 'id=post-1'", param, ctx)


class KeyAttribute(click.ParamType):  # type: ignore[type-arg]
    """One key attribute, ``NAME=VALUE``, the value taken as typed."""

    name = "name=value"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """``postId=post#0001`` -> ``("postId", "post#0001")``."""
        if isinstance(value, tuple):
            return value
        try:
            return option_to_pair(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)


@click.command()
@archive_option
@required_table_option("DynamoDB table of the item.")
@click.option(
    "--key",
    "attributes",
    type=KeyAttribute(),
    multiple=True,
    help="A key attribute as NAME=VALUE, the value as typed (repeat for each key attribute; "
    "part of a key picks the one item it matches).",
)
@output_option
@skip_corrupt_option
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the timeline as a self-contained HTML page here (with a chart) instead.",
)
@click.argument("key", type=ItemKey(), required=False)
def history(
    archive: str,
    table_name: str,
    attributes: tuple[tuple[str, str], ...],
    output: str,
    skip_corrupt: bool,
    html_path: Path | None,
    key: KeyQuery | None,
) -> None:
    """Show every change of one item, oldest first, with a diff of its attributes.

    KEY is the item key, 'name=value' pairs joined with '&' in any order (e.g.
    'postId=post#0001&seriesId=series-7'), or the value of one key attribute ('post#0001');
    or give key attributes with --key. Part of a key names the one item of --table it
    matches; when several match, they are listed.
    """
    if key is None and not attributes:
        raise click.UsageError("give the item's KEY, or --key NAME=VALUE for its key attributes")
    try:
        query = merge_key_query(key or KeyQuery(), attributes)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    location = parse_archive_uri(archive)
    connection = open_command_archive(location, table_name, skip_corrupt=skip_corrupt)
    with naming_archive_files(connection, location, table_name):
        item_key = resolve_item_key(connection, table_name, query)
        entries = load_timeline(connection, table_name, item_key)
    if html_path is not None:
        click.echo(write_timeline_page(html_path, table_name, item_key, entries, archive))
        return
    document = {
        "table": table_name,
        "item_key": item_key,
        "changes": [e.to_dict() for e in entries],
    }
    header = f"{table_name} {item_key}: {len(entries)} change{'s' if len(entries) != 1 else ''}"
    echo_summary(output, document, [header, *timeline_to_lines(entries)])
