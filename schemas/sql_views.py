"""SQL text for the views over an archive. Pure strings: the connection is made elsewhere."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from schemas.change_record import CHANGE_RECORD_SCHEMA

if TYPE_CHECKING:
    from collections.abc import Sequence

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


def changes_source_sql(parquet_glob: str | Sequence[str] | None) -> str:
    """A relation over every change row of the glob (or list of files), with ``dt`` as a DATE.

    ``dt`` comes from the hive partition path, so ``WHERE dt = DATE '...'`` prunes files unopened.
    With no glob (an empty archive) the relation is empty but typed.
    """
    if not isinstance(parquet_glob, str) and parquet_glob is not None:
        parquet_glob = list(parquet_glob) or None
    if parquet_glob is None:
        columns = ", ".join(
            f"CAST(NULL AS {duckdb_type(f.type)}) AS {f.name}" for f in CHANGE_RECORD_SCHEMA
        )
        return f"SELECT {columns}, CAST(NULL AS DATE) AS dt WHERE false"
    files = (
        quote_literal(parquet_glob)
        if isinstance(parquet_glob, str)
        else "[" + ", ".join(quote_literal(name) for name in parquet_glob) + "]"
    )
    return (
        'SELECT * EXCLUDE ("table") REPLACE (CAST(dt AS DATE) AS dt) FROM read_parquet('
        f"{files}, hive_partitioning = true, union_by_name = true)"
    )


def create_changes_view_sql(parquet_glob: str | Sequence[str] | None) -> str:
    """``CREATE VIEW changes`` over the archive."""
    return f"CREATE OR REPLACE VIEW changes AS {changes_source_sql(parquet_glob)}"


# External versions: the change's second in the high bits, its ordinal among the item's changes in
# that second in the low 20 bits. DynamoDB caps one item at far fewer than 2**20 writes a second,
# and 2**43 seconds reach beyond year 200000, so the version always fits a signed 64-bit integer.
VERSION_ORDINAL_BITS = 20

LATEST_RECORD_COLUMNS = (
    "event_id",
    "event_name",
    "keys",
    "new_image",
    "approximate_creation_time",
)


def latest_records_sql(source: str = "changes", where: str = "true") -> str:
    """The newest record of every item of every table, removed items included, with its version.

    Columns: ``table_name``, ``item_key``, the record's ``LATEST_RECORD_COLUMNS`` and ``version``.
    Order within an item: the change's second, then SNAPSHOT rows before stream rows (a stream
    record in the same second as a snapshot wins), then the numeric sequence number. Duplicate
    deliveries of one ``event_id`` count once. ``version`` = second << 20 | ordinal in that second,
    so it grows strictly with each record and is the same whenever it is computed.
    """
    record = ", ".join(f"'{c}': {c}" for c in LATEST_RECORD_COLUMNS)
    columns = ", ".join(f"newest.last.{c} AS {c}" for c in LATEST_RECORD_COLUMNS)
    return f"""
WITH records AS (
    SELECT *, epoch_ms(approximate_creation_time) // 1000 AS change_second
    FROM {source} WHERE {where}
), per_second AS (
    SELECT table_name, item_key, change_second,
           count(DISTINCT event_id) - 1 AS ordinal,
           arg_max({{{record}}},
                   (event_name <> 'SNAPSHOT', coalesce(sequence_order, ''), event_id)) AS last
    FROM records GROUP BY table_name, item_key, change_second
), per_item AS (
    SELECT table_name, item_key,
           arg_max({{'last': last, 'change_second': change_second, 'ordinal': ordinal}},
                   change_second) AS newest
    FROM per_second GROUP BY table_name, item_key
)
SELECT table_name, item_key, {columns},
       (newest.change_second << {VERSION_ORDINAL_BITS}) + newest.ordinal AS version
FROM per_item
""".strip()


def latest_sql(source: str = "changes", where: str = "true") -> str:
    """The latest live image of every item: items whose newest record is a REMOVE are absent."""
    return f"SELECT * FROM ({latest_records_sql(source, where)}) WHERE event_name <> 'REMOVE'"
