"""SQL text for the views over an archive. Pure strings: the connection is made elsewhere."""

from __future__ import annotations

import pyarrow as pa

from schemas.change_record import CHANGE_RECORD_SCHEMA

_DUCKDB_TYPES = {
    pa.int16(): "SMALLINT",
    pa.int64(): "BIGINT",
    pa.string(): "VARCHAR",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
}


def quote_literal(text: str) -> str:
    """Quote a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def duckdb_type(data_type: pa.DataType) -> str:
    """The DuckDB type of a change-record column."""
    if pa.types.is_struct(data_type):
        fields = ", ".join(f"{f.name} {duckdb_type(f.type)}" for f in data_type)
        return f"STRUCT({fields})"
    return _DUCKDB_TYPES[data_type]


def changes_source_sql(parquet_glob: str | None) -> str:
    """A relation over every change row of the glob, with ``dt`` as a DATE.

    ``dt`` comes from the hive partition path, so ``WHERE dt = DATE '...'`` prunes files unopened.
    With no glob (an empty archive) the relation is empty but typed.
    """
    if parquet_glob is None:
        columns = ", ".join(
            f"CAST(NULL AS {duckdb_type(f.type)}) AS {f.name}" for f in CHANGE_RECORD_SCHEMA
        )
        return f"SELECT {columns}, CAST(NULL AS DATE) AS dt WHERE false"
    return (
        'SELECT * EXCLUDE ("table") REPLACE (CAST(dt AS DATE) AS dt) FROM read_parquet('
        f"{quote_literal(parquet_glob)}, hive_partitioning = true, union_by_name = true)"
    )


def create_changes_view_sql(parquet_glob: str | None) -> str:
    """``CREATE VIEW changes`` over the archive."""
    return f"CREATE OR REPLACE VIEW changes AS {changes_source_sql(parquet_glob)}"
