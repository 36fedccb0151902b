"""Which SQL statements ``changelake sql`` runs: reads only, checked by DuckDB's own parser.

The connection is also locked (no files outside the archive, no extensions, no SET); this check
is what keeps writes away from the archive itself, where reading must stay allowed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from changelake.schemas.exceptions import QueryError, ReadOnlyError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from duckdb import DuckDBPyConnection

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


def split_statements(connection: DuckDBPyConnection, sql: str) -> Sequence[Any]:
    """Parse ``sql`` with DuckDB into statements, refusing any that could write.

    Raises :class:`ReadOnlyError` naming the statement, :class:`QueryError` if it does not parse.
    """
    statements = _parse(connection, sql)
    for statement in statements:
        check_statement(connection, statement)
    return statements


def check_statement(connection: DuckDBPyConnection, statement: Any) -> None:
    """Raise :class:`ReadOnlyError` unless the parsed statement only reads."""
    kind = statement.type.name
    if kind not in ALLOWED_STATEMENTS:
        raise ReadOnlyError(
            f"changelake sql is read-only: {_WHAT.get(kind, kind + ' statements are refused')} "
            f"({_preview(statement.query)}). The archive cannot be changed through sql; to save "
            "a result, use --output csv|json|parquet --out FILE"
        )
    if kind == "EXPLAIN":
        # EXPLAIN ANALYZE runs its statement: check that one too. It is strictly shorter than
        # the EXPLAIN, so the check ends.
        for explained in _parse(connection, explained_statement(statement.query)):
            check_statement(connection, explained)


def explained_statement(query: str) -> str:
    """The statement an EXPLAIN plans (or runs): what follows EXPLAIN, ANALYZE and (options).

    Read with DuckDB's own tokenizer, which knows comments and strings (a comment before
    EXPLAIN, or a ')' inside an option's string, is not mistaken for syntax).
    """
    import duckdb

    data = query.encode()
    # Token offsets count bytes of the UTF-8 text.
    tokens = [offset for offset, _ in duckdb.tokenize(query)]

    def word(index: int) -> str:
        """The keyword at token ``index`` in capitals, or its first character (``(``)."""
        start = tokens[index]
        match = _WORD.match(data, start)
        return match.group().decode().upper() if match else data[start : start + 1].decode()

    if not tokens or word(0) != "EXPLAIN":
        raise ReadOnlyError(
            f"changelake sql cannot tell which statement this EXPLAIN plans ({_preview(query)}); "
            "write EXPLAIN [ANALYZE] followed by the query"
        )
    index = 1
    while index < len(tokens):
        if word(index) in {"ANALYZE", "ANALYSE"}:
            index += 1
        elif word(index) == "(":
            index = _after_parentheses(tokens, word, index)
        else:
            return data[tokens[index] :].decode()
    raise QueryError(f"EXPLAIN of no statement ({_preview(query)}); try: EXPLAIN SELECT 1")


def _after_parentheses(tokens: Sequence[int], word: Callable[[int], str], index: int) -> int:
    """The index of the first token after the parenthesized group that starts at ``index``."""
    depth = 0
    while index < len(tokens):
        depth += {"(": 1, ")": -1}.get(word(index), 0)
        index += 1
        if depth == 0:
            return index
    return index


_WORD = re.compile(rb"[A-Za-z_]+")


def _parse(connection: DuckDBPyConnection, sql: str) -> Sequence[Any]:
    import duckdb

    try:
        statements: Sequence[Any] = connection.extract_statements(sql)
    except duckdb.Error as error:
        raise QueryError(" ".join(str(error).split())) from None
    return statements


def _preview(query: str) -> str:
    text = " ".join(query.split())
    return text if len(text) <= 80 else text[:77] + "..."
