"""``changelake sql``: ad-hoc, read-only SQL over the change log."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

import click
import duckdb

from changelake import api
from changelake.ask.output_formats import PARQUET
from changelake.ask.query_runner import run_sql
from changelake.options import archive_option, result_output_option, skip_corrupt_option
from changelake.schemas.archive_layout import ArchiveLocation, parse_archive_uri
from changelake.schemas.exceptions import QueryError, ReadOnlyError
from changelake.unreadable_files import (
    explain_read_error,
    list_archive_files,
    warn_skipped,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from duckdb import DuckDBPyConnection


@click.command()
@archive_option
@click.argument("query", required=False)
@click.option(
    "-f",
    "--file",
    "sql_file",
    type=click.File("r"),
    help="Read the SQL from FILE ('-' for stdin) instead of the QUERY argument.",
)
@result_output_option(
    "Result format: an aligned table (text), CSV, JSON Lines (one object per row, images "
    "nested) or Parquet."
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    help="Write the result to this local file instead of stdout (required for parquet).",
)
@skip_corrupt_option
def sql(
    archive: str,
    query: str | None,
    sql_file: IO[str] | None,
    output: str,
    out_path: str | None,
    skip_corrupt: bool,
) -> None:
    """Run SQL over the archive, read-only; with no QUERY on a terminal, an interactive prompt.

    QUERY may also be .tables, .schema [NAME] or .help, as at the prompt.

    \b
    Views and macros:
      changes      every change record, once; filter on dt (a DATE) to read only those days
      change_rows  every stored row, redeliveries included
      latest       the latest live image of every item (what a rebuild indexes)
      history(table, key)  one item's changes, oldest first, with versions and who made them
      as_of(ts)    every item as it was at ts (TIMESTAMPTZ), removed items absent
      as_of(ts, key)  one item as it was at ts (reads only what can hold it)
    Image columns are JSON: new_image->>'title', new_image->>'$.author.name'.
    """
    if query is not None and sql_file is not None:
        raise click.UsageError("give either QUERY or -f FILE, not both")
    if output == PARQUET and out_path is None:
        raise click.UsageError("--output parquet needs --out FILE")
    location = parse_archive_uri(archive)
    out_file = None if out_path is None else _check_out_path(out_path, location)
    opened = api.open_archive(archive, skip_corrupt=skip_corrupt, read_only=True)
    warn_skipped(opened.skipped_files)
    connection = opened.connection
    if query is None and sql_file is None and sys.stdin.isatty():
        from changelake.sql_prompt import run_prompt

        run_prompt(connection, output)
        return
    text = query if query is not None else (sql_file or sys.stdin).read()
    if text.strip().startswith("."):
        text = _dot_command(text)
    with _naming_unreadable_files(connection, location):
        if out_file is None:
            run_sql(connection, text, output, sys.stdout.buffer)
            return
        partial = out_file.with_name(out_file.name + ".partial")
        try:
            with partial.open("wb") as out:
                run_sql(connection, text, output, out)
            partial.replace(out_file)
        finally:
            partial.unlink(missing_ok=True)


def _dot_command(command: str) -> str:
    """The SQL of a one-shot ``.tables`` or ``.schema``; ``.help`` prints the prompt's help."""
    from changelake.sql_prompt import HELP, dot_command_to_sql

    if command.strip() == ".help":
        click.echo(HELP)
        raise click.exceptions.Exit(0)
    sql = dot_command_to_sql(command)
    if sql is None:
        raise click.UsageError(
            f"unknown command {command.strip()!r}; as QUERY, use .tables, .schema [NAME] or .help"
        )
    return sql


@contextmanager
def _naming_unreadable_files(
    connection: DuckDBPyConnection, location: ArchiveLocation
) -> Iterator[None]:
    """A query that fails on a file it cannot read names that file (and --skip-corrupt)."""
    try:
        yield
    except QueryError as error:
        cause = error.__cause__
        if isinstance(cause, duckdb.Error):
            urls = list_archive_files(connection, location, None)
            explained = explain_read_error(connection, urls, cause)
            if explained is not cause:
                raise explained from error
        raise


def _check_out_path(out_path: str, location: ArchiveLocation) -> Path:
    if "://" in out_path:
        raise click.UsageError(f"--out {out_path} is not a local file path")
    path = Path(out_path).expanduser()
    if not location.is_s3 and path.resolve().is_relative_to(location.prefix):
        raise ReadOnlyError(
            f"--out {out_path} is inside the archive {location.uri}; the archive cannot be "
            "changed through sql: write the result elsewhere"
        )
    return path
