"""The interactive prompt of ``changelake sql``: line editing and history by prompt_toolkit."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from changelake.ask.output_formats import CSV, JSON, TEXT, format_name
from changelake.ask.query_runner import run_sql
from changelake.config import ENV_SQL_HISTORY
from changelake.schemas.exceptions import ChangelakeError

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection
    from prompt_toolkit import PromptSession

HELP = """\
End a statement with ';' (it may span lines). Commands:
  .tables          views, tables and macros you can query
  .schema [NAME]   the columns of a view or table (of all of them without NAME)
  .output FORMAT   text, csv or json for the next results
  .help            this text
  .quit            leave (or Ctrl-D)
.tables, .schema and .help also work as the QUERY of one command: changelake sql .tables
Views: changes, change_rows, latest; macros: history('<table>', '<item_key>'),
as_of(TIMESTAMPTZ '2026-11-20 12:00:00').
Image columns are JSON: new_image->>'title'. The archive is read-only here."""

TABLES_SQL = """
SELECT view_name AS name, 'view' AS kind FROM duckdb_views() WHERE NOT internal
UNION ALL SELECT table_name, 'table' FROM duckdb_tables()
UNION ALL SELECT DISTINCT function_name, 'macro' FROM duckdb_functions()
    WHERE function_type = 'table_macro' AND NOT internal
ORDER BY kind DESC, name
"""

ALL_COLUMNS_SQL = """
SELECT table_name AS name, column_name AS column, data_type AS type FROM duckdb_columns()
WHERE NOT internal ORDER BY table_name, column_index
"""

# Formats ``.output`` switches between (Parquet needs a file: --output parquet --out FILE).
PROMPT_FORMATS = (TEXT, CSV, JSON)


def is_complete(text: str) -> bool:
    """True when the input is ready to run: a dot command, or SQL ending with ';'."""
    stripped = text.strip()
    return not stripped or stripped.startswith(".") or stripped.endswith(";")


def dot_command_to_sql(command: str) -> str | None:
    """The SQL behind ``.tables`` and ``.schema [NAME]``; None for other commands."""
    name, _, argument = command.strip().partition(" ")
    if name == ".tables":
        return TABLES_SQL
    if name == ".schema":
        return f"DESCRIBE {argument.strip()}" if argument.strip() else ALL_COLUMNS_SQL
    return None


def history_path() -> Path:
    """The prompt's history file: ``$CHANGELAKE_SQL_HISTORY``, else ~/.changelake_sql_history."""
    return Path(os.environ.get(ENV_SQL_HISTORY) or Path.home() / ".changelake_sql_history")


def make_session() -> PromptSession[str]:
    """A prompt session with file history; Enter runs a complete statement, else adds a line."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    return PromptSession(history=FileHistory(str(history_path())), **session_options())


def session_options() -> dict[str, Any]:
    """Options for a PromptSession: multi-line input that Enter submits when complete."""
    from prompt_toolkit.key_binding import KeyBindings

    bindings = KeyBindings()

    @bindings.add("enter")
    def _enter(event: Any) -> None:
        buffer = event.current_buffer
        if is_complete(buffer.text):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")

    return {"multiline": True, "key_bindings": bindings, "prompt_continuation": "   ...> "}


def run_prompt(
    connection: DuckDBPyConnection, output: str, session: PromptSession[str] | None = None
) -> None:
    """Read statements until .quit or end of input; errors are shown and the prompt goes on."""
    session = session or make_session()
    stdout = sys.stdout.buffer
    click.echo("changelake sql: read-only SQL over the archive. Type .help for help.", err=True)
    while True:
        try:
            text = session.prompt("changelake> ").strip()
        except KeyboardInterrupt:
            continue
        except EOFError:
            return
        if not text:
            continue
        if text in {".quit", ".exit"}:
            return
        if text == ".help":
            click.echo(HELP)
            continue
        if text.startswith(".output"):
            output = _new_output(text, output)
            continue
        sql = dot_command_to_sql(text) if text.startswith(".") else text
        if sql is None:
            click.echo(f"unknown command {text!r}; type .help", err=True)
            continue
        try:
            run_sql(connection, sql, output, stdout)
        except ChangelakeError as error:
            click.echo(f"Error: {error}", err=True)
        stdout.flush()


def _new_output(command: str, current: str) -> str:
    _, _, wanted = command.partition(" ")
    chosen = format_name(wanted.strip())
    if chosen in PROMPT_FORMATS:
        return chosen
    click.echo(f"output is {current}; choose {', '.join(PROMPT_FORMATS)}", err=True)
    return current
