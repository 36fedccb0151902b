"""Run the statements of ``changelake sql`` on a read-only connection and stream the result."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

from changelake.ask.output_formats import CSV, JSON, PARQUET, format_name
from changelake.ask.read_only import split_statements
from changelake.ask.result_output import write_csv, write_json_lines, write_parquet, write_table
from changelake.schemas.exceptions import QueryError, ReadOnlyError

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator

    from duckdb import DuckDBPyConnection

# Rows per Arrow batch: big enough to amortize the per-batch work, small enough that a wide
# result (images of ~1 KB) stays at a few MB in memory.
BATCH_ROWS = 8_192


def run_sql(
    connection: DuckDBPyConnection, sql: str, output: str, out: IO[bytes] | None = None
) -> None:
    """Run every statement of ``sql`` and write the last one's result in ``output`` format.

    Statements before the last one (a ``CREATE TEMP TABLE``, say) run for their effect.
    """
    statements = split_statements(connection, sql)
    if not statements:
        raise QueryError("no SQL statement given; try: select count(*) from latest")
    *setup, last = statements
    with _duckdb_errors():
        for statement in setup:
            connection.execute(statement)
        result = connection.execute(last)
        if result.description is None or last.type.name not in {"SELECT", "EXPLAIN"}:
            return
        # DuckDB hands JSON to Arrow as plain strings: its own type says which they are.
        json_typed = [name for name, kind, *_ in result.description if str(kind) == "JSON"]
        reader = result.to_arrow_reader(BATCH_ROWS)
        write_result(reader, output, out or sys.stdout.buffer, json_typed)


def write_result(
    reader: Any, output: str, out: IO[bytes], json_typed: Collection[str] = ()
) -> None:
    """Write a record-batch reader to ``out`` as text (a table), csv, json (lines) or parquet.

    ``json_typed`` are the columns of DuckDB's JSON type, which JSON output nests.
    """
    batches = _checked(reader)
    output = format_name(output)
    if output == CSV:
        write_csv(reader.schema, batches, out)
    elif output == JSON:
        write_json_lines(batches, out, json_typed)
    elif output == PARQUET:
        write_parquet(reader.schema, batches, out)
    else:
        write_table(list(reader.schema.names), batches, out)


def _checked(reader: Any) -> Iterator[Any]:
    with _duckdb_errors():
        yield from reader


@contextmanager
def _duckdb_errors() -> Iterator[None]:
    import duckdb

    try:
        yield
    except duckdb.PermissionException as error:
        raise ReadOnlyError(
            f"changelake sql reads the archive and nothing else: {_first_line(error)}"
        ) from None
    except duckdb.Error as error:
        # Chained, so that the CLI can tell a file it cannot read from a mistake in the query.
        raise QueryError(_first_line(error)) from error


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0]
