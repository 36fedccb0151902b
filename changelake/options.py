"""Options shared by several commands, declared once."""

from __future__ import annotations

import click

from changelake.config import ENV_ALIAS, ENV_ARCHIVE, ENV_ES_URL, ENV_TABLE
from schemas.archive_layout import DEFAULT_ARCHIVE

archive_option = click.option(
    "--archive",
    envvar=ENV_ARCHIVE,
    default=DEFAULT_ARCHIVE,
    show_default=True,
    help=f"Archive root: s3://bucket/prefix or a local directory. Env: {ENV_ARCHIVE}.",
)

table_option = click.option(
    "--table",
    "table_name",
    envvar=ENV_TABLE,
    default=None,
    help=f"DynamoDB table name (default: from each record's eventSourceARN). Env: {ENV_TABLE}.",
)

output_option = click.option(
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Print the summary as text or JSON.",
)

silent_option = click.option("-s", "--silent", is_flag=True, help="Hide progress bars.")

es_url_option = click.option(
    "--es-url",
    envvar=ENV_ES_URL,
    required=True,
    help=f"Search engine URL, e.g. http://127.0.0.1:9200. Env: {ENV_ES_URL}.",
)

alias_option = click.option(
    "--alias",
    envvar=ENV_ALIAS,
    required=True,
    help=f"The alias searches use; rebuilt indexes are <alias>-<UTC time>. Env: {ENV_ALIAS}.",
)

skip_corrupt_option = click.option(
    "--skip-corrupt",
    is_flag=True,
    help="Read around unreadable Parquet objects of the archive and report each one on stderr, "
    "instead of stopping at the first.",
)
