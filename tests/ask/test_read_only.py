"""Statements are classified by DuckDB's parser: reads run, anything that writes is refused."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from changelake.ask.read_only import split_statements
from changelake.schemas.exceptions import ChangelakeError, QueryError, ReadOnlyError


@pytest.mark.parametrize(
    "sql",
    [
        "select 1",
        "from changes limit 1",
        "with a as (select 1) select * from a",
        "describe changes; show tables; summarize select 1",
        "explain select 1",
        "explain analyze select 1",
        "pragma version",
        "create temp table t as select 1; drop table t",
        "create macro m(x) as x + 1",
    ],
)
def test_reads_are_allowed(sql: str) -> None:
    assert split_statements(duckdb.connect(), sql)


@pytest.mark.parametrize(
    "sql",
    [
        "copy (select 1) to 'x.csv'",
        "COPY (select 1) TO 'x.csv'; select 1",
        "select 1; copy (select 1) to 'x.csv'",
        "explain analyze copy (select 1) to 'x.csv'",
        "EXPLAIN   ANALYSE copy (select 1) to 'x.csv'",
        "export database 'x'",
        "attach 'x.duckdb'",
        "detach x",
        "insert into t values (1)",
        "update t set a = 1",
        "delete from t",
        "load httpfs",
        "install httpfs",
        "set enable_external_access = true",
        "reset lock_configuration",
        "set variable x = 1",
        "call checkpoint()",
        "vacuum",
    ],
)
def test_writes_and_setting_changes_are_refused(sql: str) -> None:
    with pytest.raises(ReadOnlyError, match="changelake sql is read-only: "):
        split_statements(duckdb.connect(), sql)


def test_a_syntax_error_is_a_query_error_on_one_line() -> None:
    with pytest.raises(QueryError) as raised:
        split_statements(duckdb.connect(), "selec 1")
    assert "\n" not in str(raised.value)
    assert "syntax error" in str(raised.value)


@pytest.mark.parametrize(
    "sql",
    [
        "/* c */ EXPLAIN SELECT 1",
        "-- why\nexplain analyze select 1",
        "EXPLAIN /* a /* nested */ comment */ ANALYZE SELECT 1",
        "EXPLAIN (FORMAT json) SELECT 1",
        "EXPLAIN (ANALYZE, FORMAT json) SELECT 'explain analyze copy'",
    ],
)
def test_explain_after_comments_and_with_options_is_a_read(sql: str) -> None:
    (statement,) = split_statements(duckdb.connect(), sql)
    assert statement.type.name == "EXPLAIN"


@pytest.mark.parametrize(
    "sql",
    [
        "/* c */ EXPLAIN ANALYZE COPY (SELECT 1) TO 'x.csv'",
        "EXPLAIN (ANALYZE, FORMAT json) COPY (SELECT 1) TO 'x.csv'",
        "EXPLAIN ( /* ) */ FORMAT 'json') COPY (SELECT ')') TO 'x.csv'",
        "-- explain select 1\nEXPLAIN ANALYZE INSERT INTO t VALUES (1)",
    ],
)
def test_a_write_behind_explain_and_comments_is_refused(sql: str) -> None:
    connection = duckdb.connect()
    connection.execute("create table t (a int)")
    with pytest.raises(ReadOnlyError, match="read-only"):
        split_statements(connection, sql)


# Generated statements: comments (nested, line and block) and whitespace between every word,
# strings that hold SQL words and comment marks, parenthesized nesting, EXPLAIN forms.
_TEXT = st.text(alphabet=st.sampled_from("ab; ()'*/-\nEXPLAIN"), max_size=12)
_COMMENT = st.one_of(
    _TEXT.map(lambda t: "/* " + t.replace("*/", "").replace("/*", "") + " */"),
    _TEXT.map(lambda t: "-- " + t.replace("\n", " ") + "\n"),
    st.just("/* outer /* inner */ still outer */"),
)
_GAP = st.lists(st.one_of(st.sampled_from([" ", "\n", "\t"]), _COMMENT), min_size=1, max_size=3)
_STRING = _TEXT.map(lambda t: "'" + t.replace("'", "''") + "'")


@st.composite
def _statement(draw: st.DrawFn) -> tuple[str, bool]:
    """A statement with comments everywhere, and whether it only reads."""

    def gap() -> str:
        return "".join(draw(_GAP))

    depth = draw(st.integers(min_value=0, max_value=4))
    value = draw(_STRING)
    for _ in range(depth):
        value = f"({gap()}SELECT{gap()}{value})"
    read = f"SELECT{gap()}{value}{gap()}AS{gap()}a"
    write = draw(
        st.sampled_from(
            [
                f"COPY{gap()}({read}){gap()}TO{gap()}'x.csv'",
                f"INSERT{gap()}INTO{gap()}t{gap()}{read}",
            ]
        )
    )
    reads = draw(st.booleans())
    core = read if reads else write
    wrapper = draw(
        st.sampled_from(
            ["", "EXPLAIN ", "EXPLAIN ANALYZE ", "EXPLAIN (FORMAT json) ", "EXPLAIN (ANALYZE) "]
        )
    )
    words = wrapper.split()
    return gap() + "".join(word + gap() for word in words) + core, reads


# One connection for every generated example: the checks never change it, and reads do not.
_FUZZED = duckdb.connect()
_FUZZED.execute("create table t (a varchar)")


@settings(max_examples=300, deadline=None)
@given(_statement())
def test_generated_statements_are_read_or_refused_never_anything_else(
    generated: tuple[str, bool],
) -> None:
    sql, reads = generated
    connection = _FUZZED
    if reads:
        (statement,) = split_statements(connection, sql)
        connection.execute(statement)
    else:
        with pytest.raises(ReadOnlyError, match="read-only"):
            split_statements(connection, sql)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("EXPLAIN ANALYZE SELECT COPY ()'/*-;\n1"), max_size=60))
def test_any_text_gets_statements_or_a_one_line_error(sql: str) -> None:
    try:
        split_statements(_FUZZED, sql)
    except ChangelakeError as error:
        assert "\n" not in str(error)
