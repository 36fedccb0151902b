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


# Ordinals are counted from the TOP_IN_SECOND newest records of each item; only an item with at
# least that many records in its newest second is counted again from all its records.
TOP_IN_SECOND = 8


def latest_records_sql(source: str = "changes", where: str = "true") -> str:
    """The newest record of every item of every table, removed items included, with its version.

    Columns: ``table_name``, ``item_key``, the record's ``LATEST_RECORD_COLUMNS`` and ``version``.
    Order within an item: the change's second, then SNAPSHOT rows before stream rows (a stream
    record in the same second as a snapshot wins), then the numeric sequence number. Duplicate
    deliveries of one ``event_id`` count once. ``version`` = second << 20 | ordinal in that second,
    so it grows strictly with each record and is the same whenever it is computed.

    One pass over the changes, grouped by item only (as cheap as a bare ``arg_max``): stream
    records are ordered by sequence number alone, which agrees with time along an item's shard
    lineage (README, "Order and versions"); snapshots by second and event id. The ordinal comes
    from the item's newest (second, event) pairs, events told apart by their 64-bit hash.
    """
    record = ", ".join(f"'{c}': {c}" for c in LATEST_RECORD_COLUMNS)
    columns = ", ".join(f"newest.{c} AS {c}" for c in LATEST_RECORD_COLUMNS)
    stream_second = "epoch_ms(stream.approximate_creation_time) // 1000"
    snapshot_second = "epoch_ms(snapshot.approximate_creation_time) // 1000"
    top = TOP_IN_SECOND
    return f"""
WITH records AS NOT MATERIALIZED (
    SELECT *, epoch_ms(approximate_creation_time) // 1000 AS change_second
    FROM {source} WHERE {where}
), per_item AS (
    SELECT table_name, item_key,
           arg_max({{{record}}}, sequence_order) FILTER (event_name <> 'SNAPSHOT') AS stream,
           arg_max({{{record}}}, (change_second, event_id))
               FILTER (event_name = 'SNAPSHOT') AS snapshot,
           max((change_second::HUGEINT << 64) + hash(event_id), {top}) AS newest_events
    FROM records GROUP BY table_name, item_key
), counted AS (
    SELECT table_name, item_key,
           CASE WHEN snapshot IS NULL OR {stream_second} >= {snapshot_second}
                THEN stream ELSE snapshot END AS newest,
           (newest_events[1] >> 64)::BIGINT AS change_second,
           len(list_distinct(list_filter(newest_events, e -> e >> 64 = newest_events[1] >> 64)))
               AS in_second,
           len(newest_events) = {top} AND newest_events[{top}] >> 64 = newest_events[1] >> 64
               AS crowded
    FROM per_item
), recounted AS (
    SELECT r.table_name, r.item_key, count(DISTINCT r.event_id) AS in_second
    FROM records r SEMI JOIN (SELECT * FROM counted WHERE crowded) c
        ON r.table_name = c.table_name AND r.item_key = c.item_key
        AND r.change_second = c.change_second
    GROUP BY r.table_name, r.item_key
)
SELECT c.table_name, c.item_key, {columns.replace("newest.", "c.newest.")},
       (c.change_second << {VERSION_ORDINAL_BITS}) + coalesce(r.in_second, c.in_second) - 1
           AS version
FROM counted c LEFT JOIN recounted r ON c.table_name = r.table_name AND c.item_key = r.item_key
""".strip()


def latest_sql(source: str = "changes", where: str = "true") -> str:
    """The latest live image of every item: items whose newest record is a REMOVE are absent."""
    return f"SELECT * FROM ({latest_records_sql(source, where)}) WHERE event_name <> 'REMOVE'"
