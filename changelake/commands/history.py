"""``changelake history``: one item's timeline, with what each change did."""

from __future__ import annotations

from pathlib import Path

import click

from changelake import api
from changelake.ask.item_keys import (
    KeyQuery,
    merge_key_query,
    option_to_pair,
    text_to_key_query,
)
from changelake.ask.timeline import timeline_to_lines
from changelake.html_output import write_timeline_page
from changelake.options import (
    TextParamType,
    archive_option,
    output_option,
    required_table_option,
    skip_corrupt_option,
)
from changelake.summary_output import echo_summary
from changelake.unreadable_files import warn_skipped


class ItemKey(TextParamType):
    """An item key: ``name=value`` pairs joined with ``&`` in any order, or one bare value."""

    name = "key"

    def parse(self, text: str) -> KeyQuery:
        """``seriesId=series-7&postId=post#0001`` or ``post#0001`` -> a :class:`KeyQuery`."""
        try:
            return text_to_key_query(text)
        except ValueError as error:
            raise ValueError(f"{text!r}: {error}; an item key looks like 'id=post-1'") from None


class KeyAttribute(TextParamType):
    """One key attribute, ``NAME=VALUE``, the value taken as typed."""

    name = "name=value"

    def parse(self, text: str) -> tuple[str, str]:
        """``postId=post#0001`` -> ``("postId", "post#0001")``."""
        return option_to_pair(text)


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
    with api.open_archive(archive, table=table_name, skip_corrupt=skip_corrupt) as opened:
        warn_skipped(opened.skipped_files)
        item = opened.history(table_name, query)
    if html_path is not None:
        page = write_timeline_page(html_path, table_name, item.item_key, item.changes, archive)
        click.echo(page)
        return
    count = len(item.changes)
    header = f"{table_name} {item.item_key}: {count} change{'s' if count != 1 else ''}"
    echo_summary(output, item.to_dict(), [header, *timeline_to_lines(item.changes)])
