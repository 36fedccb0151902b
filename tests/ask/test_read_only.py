"""Statements are classified by DuckDB's parser: reads run, anything that writes is refused."""

from __future__ import annotations

import duckdb
import pytest

from changelake.ask.read_only import split_statements
from changelake.schemas.exceptions import QueryError, ReadOnlyError


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
