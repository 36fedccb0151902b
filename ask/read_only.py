"""Which SQL statements ``changelake sql`` runs: reads only, checked by DuckDB's own parser.

The connection is also locked (no files outside the archive, no extensions, no SET); this check
is what keeps writes away from the archive itself, where reading must stay allowed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from changelake.schemas.exceptions import QueryError, ReadOnlyError

if TYPE_CHECKING:
    from collections.abc import Sequence

# In-memory objects of the session (CREATE TEMP TABLE, a view, a macro) never touch the archive.
ALLOWED_STATEMENTS = frozenset({"SELECT", "EXPLAIN", "CREATE", "CREATE_FUNC", "DROP"})

_WHAT = {
    "COPY": "COPY writes files",
    "EXPORT": "EXPORT DATABASE writes files",
    "COPY_DATABASE": "COPY FROM DATABASE writes a database",
    "INSERT": "INSERT changes data",
    "UPDATE": "UPDATE changes data",
    "DELETE": "DELETE removes data",
    "MERGE_INTO": "MERGE changes data",
    "ATTACH": "ATTACH opens a database for writing",
    "DETACH": "DETACH changes attached databases",
    "LOAD": "LOAD and INSTALL add extensions",
    "SET": "SET changes the session's locked settings",
    "VARIABLE_SET": "SET changes the session's locked settings",
    "ALTER": "ALTER changes objects",
}

_EXPLAIN_PREFIX = re.compile(r"^\s*EXPLAIN(\s+ANALY[SZ]E)?\s+", re.IGNORECASE)


def split_statements(connection: Any, sql: str) -> Sequence[Any]:
    """Parse ``sql`` with DuckDB into statements, refusing any that could write.

    Raises :class:`ReadOnlyError` naming the statement, :class:`QueryError` if it does not parse.
    """
    statements = _parse(connection, sql)
    for statement in statements:
        check_statement(connection, statement)
    return statements


def check_statement(connection: Any, statement: Any) -> None:
    """Raise :class:`ReadOnlyError` unless the parsed statement only reads."""
    kind = statement.type.name
    if kind not in ALLOWED_STATEMENTS:
        raise ReadOnlyError(
            f"changelake sql is read-only: {_WHAT.get(kind, kind + ' statements are refused')} "
            f"({_preview(statement.query)}). The archive cannot be changed through sql; to save "
            "a result, use --output csv|json|parquet --out FILE"
        )
    if kind == "EXPLAIN":
        # EXPLAIN ANALYZE runs its statement: check that one too.
        inner = _EXPLAIN_PREFIX.sub("", statement.query, count=1)
        for explained in _parse(connection, inner):
            check_statement(connection, explained)


def _parse(connection: Any, sql: str) -> Sequence[Any]:
    import duckdb

    try:
        statements: Sequence[Any] = connection.extract_statements(sql)
    except duckdb.Error as error:
        raise QueryError(" ".join(str(error).split())) from None
    return statements


def _preview(query: str) -> str:
    text = " ".join(query.split())
    return text if len(text) <= 80 else text[:77] + "..."
