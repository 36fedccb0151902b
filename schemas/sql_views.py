"""SQL text for the views over an archive. Pure strings: the connection is made elsewhere."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from changelake.schemas.change_record import CHANGE_RECORD_SCHEMA

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
    ``source_file`` and ``source_row`` say where a row is stored: a sync picks the latest
    records by them before it reads any image. With no glob (an empty archive) the relation is
    empty but typed.
    """
    # No union_by_name: it makes DuckDB open every file's footer before filtering, which defeats
    # partition pruning (one request per file per query on S3). Every file is schema version 1;
    # a later version that adds columns must read each version's files with its own schema.
    if not isinstance(parquet_glob, str) and parquet_glob is not None:
        parquet_glob = list(parquet_glob) or None
    if parquet_glob is None:
        columns = ", ".join(
            f"CAST(NULL AS {duckdb_type(f.type)}) AS {f.name}" for f in CHANGE_RECORD_SCHEMA
        )
        return (
            f"SELECT {columns}, CAST(NULL AS DATE) AS dt, CAST(NULL AS VARCHAR) AS source_file, "
            "CAST(NULL AS BIGINT) AS source_row WHERE false"
        )
    files = (
        quote_literal(parquet_glob)
        if isinstance(parquet_glob, str)
        else "[" + ", ".join(quote_literal(name) for name in parquet_glob) + "]"
    )
    return (
        'SELECT * EXCLUDE ("table") REPLACE (CAST(dt AS DATE) AS dt), '
        f"filename AS source_file, file_row_number AS source_row FROM read_parquet({files}, "
        "hive_partitioning = true)"
    )


def create_changes_view_sql(parquet_glob: str | Sequence[str] | None) -> str:
    """``CREATE VIEW changes`` over the archive."""
    return f"CREATE OR REPLACE VIEW changes AS {changes_source_sql(parquet_glob)}"


# External versions: the change's second in the high bits, its ordinal among the item's changes in
# that second in the low 20 bits. DynamoDB caps one item at far fewer than 2**20 writes a second,
# and 2**43 seconds reach beyond year 200000, so the version always fits a signed 64-bit integer.
VERSION_ORDINAL_BITS = 20

_CHANGE_SECOND = "epoch_ms(approximate_creation_time) // 1000"

# The order of an item's records within one second: SNAPSHOT rows first (a stream record in the
# same second as a snapshot wins), then the creation time at the precision its source gives
# (Kinesis records carry milliseconds or microseconds and no sequence number), then the numeric
# sequence number (zero-padded text), then the event id.
ORDER_IN_SECOND = (
    "event_name <> 'SNAPSHOT', approximate_creation_time, coalesce(sequence_order, ''), event_id"
)

# Stream view types whose records never carry the item after the change: KEYS_ONLY streams carry
# keys only, OLD_IMAGE streams the item before the change.
NO_NEW_IMAGE_VIEW_TYPES = ("KEYS_ONLY", "OLD_IMAGE")


def _last_version_sql(second: str, events_in_second: str) -> str:
    """``second << 20 | ordinal`` of the last of a second's ``events_in_second`` distinct events."""
    return f"({second} << {VERSION_ORDINAL_BITS}) + {events_in_second} - 1"


LATEST_RECORD_COLUMNS = (
    "event_id",
    "event_name",
    "keys",
    "new_image",
    "approximate_creation_time",
)


def latest_records_sql(
    source: str = "changes",
    where: str = "true",
    *,
    grouped: bool = False,
    columns: Sequence[str] = LATEST_RECORD_COLUMNS,
) -> str:
    """The newest record of every item of every table, removed items included, with its version.

    Columns: ``table_name``, ``item_key``, the record's ``columns`` and ``version``.
    Order within an item: the change's second, then ``ORDER_IN_SECOND`` (SNAPSHOT rows before
    stream rows, then the numeric sequence number). Duplicate deliveries of one ``event_id``
    count once. ``version`` = second << 20 | ordinal in that second, so it grows strictly with
    each record and is the same whenever it is computed: ``history_sql`` gives the same value.

    One grouping keeps a single number per item, its newest second, and only the records of that
    second (about one per item, a redelivery included) go on, so memory grows with the items,
    never with the changes. Two forms then pick the second's last record and count its events:

    * ranked (the default: rebuild and verify, images included): a window over the item's
      records of the second, which holds each record once;
    * ``grouped`` (the ``latest`` view, and sync's narrow first step): ``arg_max`` aggregates,
      which DuckDB drops when a query does not use them, so ``count(*)`` or a filter reads only
      its own columns; an image it returns is held once more in the aggregate state.
    """
    in_newest_second = f"""
WITH records AS NOT MATERIALIZED (
    SELECT *, {_CHANGE_SECOND} AS change_second FROM {source} WHERE {where}
), newest_seconds AS (
    SELECT table_name, item_key, max(change_second) AS change_second
    FROM records GROUP BY table_name, item_key
), in_newest_second AS NOT MATERIALIZED (
    SELECT r.* FROM records r SEMI JOIN newest_seconds n
        ON r.table_name = n.table_name AND r.item_key = n.item_key
        AND r.change_second = n.change_second
)""".strip()
    if grouped:
        # The REMOVE filter reads the event name alone. The other columns come in one arg_max,
        # which holds the order key once per item and which a query using none of them skips.
        # arg_max_null: a REMOVE's missing image must win over an earlier image in its second.
        newest = f"({ORDER_IN_SECOND})"
        record = ", ".join(f"'{c}': {c}" for c in columns if c != "event_name")
        selected = ", ".join(c if c == "event_name" else f"picked.{c} AS {c}" for c in columns)
        version = _last_version_sql("any_value(change_second)", "count(DISTINCT event_id)")
        return f"""
{in_newest_second}
SELECT table_name, item_key, {selected}, version FROM (
    SELECT table_name, item_key, arg_max_null(event_name, {newest}) AS event_name,
           arg_max_null({{{record}}}, {newest}) AS picked, {version} AS version
    FROM in_newest_second GROUP BY table_name, item_key
)
""".strip()
    whole_second = "newest_first ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING"
    version = _last_version_sql("change_second", f"count(DISTINCT event_id) OVER ({whole_second})")
    return f"""
{in_newest_second}
SELECT table_name, item_key, {", ".join(columns)}, {version} AS version
FROM in_newest_second
WINDOW newest_first AS (PARTITION BY table_name, item_key ORDER BY ({ORDER_IN_SECOND}) DESC)
QUALIFY row_number() OVER newest_first = 1
""".strip()


def latest_sql(source: str = "changes", where: str = "true") -> str:
    """The latest live image of every item: items whose newest record is a REMOVE are absent.

    The grouped form of ``latest_records_sql``: a question that needs few columns reads only them.
    """
    records = latest_records_sql(source, where, grouped=True)
    return f"SELECT * FROM ({records}) WHERE event_name <> 'REMOVE'"


# --- The views and macros of `changelake sql` -------------------------------------------------

TTL_PRINCIPAL = "dynamodb.amazonaws.com"

# A TTL delete: DynamoDB names no user in stream records; TTL expiries are REMOVEs with a Service
# identity (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/time-to-live-ttl-streams.html).
# Any other record with that identity is named by its principal, not called a TTL delete.
TTL_DELETE_SQL = (
    "coalesce(event_name = 'REMOVE' AND user_identity.type = 'Service' AND "
    f"user_identity.principal_id = '{TTL_PRINCIPAL}', false)"
)

# Who made a change.
WHO_SQL = (
    f"CASE WHEN {TTL_DELETE_SQL} THEN 'TTL' ELSE coalesce(user_identity.principal_id, 'user') END"
)


def create_latest_view_sql() -> str:
    """``CREATE VIEW latest``: the latest live image per item, the rebuild's own definition."""
    return f"CREATE OR REPLACE VIEW latest AS {latest_sql()}"


def create_as_of_macro_sql() -> str:
    """``as_of(ts)``: every item as it was at ``ts`` (items removed by then are absent)."""
    where = (
        "approximate_creation_time <= CAST(ts AS TIMESTAMPTZ) "
        "AND dt <= CAST(CAST(ts AS TIMESTAMPTZ) AS DATE)"
    )
    return f"CREATE OR REPLACE MACRO as_of(ts) AS TABLE {latest_sql(where=where)}"


def history_sql(source: str = "changes", where: str = "true") -> str:
    """Every change of the selected rows in item order, redeliveries once, with its version.

    The order and the versions are those of ``latest_records_sql``: the last row of an item has
    the version its latest record has there.
    """
    return f"""
SELECT table_name, item_key, approximate_creation_time, event_name, {WHO_SQL} AS who,
       ({_CHANGE_SECOND} << {VERSION_ORDINAL_BITS})
       + dense_rank() OVER (
           PARTITION BY table_name, item_key, {_CHANGE_SECOND}
           ORDER BY {ORDER_IN_SECOND}) - 1
       AS version,
       event_id, sequence_number, old_image, new_image, dt
FROM {source} WHERE {where}
QUALIFY row_number() OVER (PARTITION BY table_name, event_id ORDER BY archived_at) = 1
ORDER BY table_name, item_key, version
""".strip()


def create_history_macro_sql() -> str:
    """``history(key)``: the timeline of one item (every table), oldest change first."""
    return f"CREATE OR REPLACE MACRO history(key) AS TABLE {history_sql(where='item_key = key')}"


def archive_views_sql() -> list[str]:
    """The statements that set up ``latest``, ``history(key)`` and ``as_of(ts)``."""
    return [create_latest_view_sql(), create_history_macro_sql(), create_as_of_macro_sql()]


def read_only_settings_sql(readable: list[str]) -> list[str]:
    """Settings that leave a connection able to read only ``readable`` (directories, prefixes).

    DuckDB then refuses every file or URL outside them, loading extensions, persistent secrets
    and unredacted secrets, and ``lock_configuration`` refuses any SET that would undo this.
    """
    allowed = "[" + ", ".join(quote_literal(path) for path in readable) + "]"
    return [
        "SET autoload_known_extensions = false",
        "SET autoinstall_known_extensions = false",
        "SET allow_community_extensions = false",
        "SET allow_unredacted_secrets = false",
        f"SET allowed_directories = {allowed}",
        "SET enable_external_access = false",
        "SET lock_configuration = true",
    ]


# httpfs copies AWS_* environment variables into these settings when it loads, where
# duckdb_settings() would show them; the session's scoped secret is what reads S3.
S3_CREDENTIAL_SETTINGS = ("s3_access_key_id", "s3_secret_access_key", "s3_session_token")


def clear_s3_credential_settings_sql() -> list[str]:
    """Empty the legacy S3 credential settings (httpfs must be loaded)."""
    return [f"SET {name} = ''" for name in S3_CREDENTIAL_SETTINGS]


def partition_stats_sql(parquet_glob: str) -> str:
    """Per table, day and file: records by event, oldest and newest record, and the file size.

    File sizes come from ``read_blob`` without reading the contents; the rows need only the
    ``event_name`` and ``approximate_creation_time`` columns.
    """
    glob = quote_literal(parquet_glob)
    return f"""
WITH sizes AS (SELECT filename, size FROM read_blob({glob})),
rows AS (
    SELECT filename, "table" AS table_name, CAST(dt AS DATE) AS dt,
           count(*) AS records,
           count(*) FILTER (event_name = 'INSERT') AS inserts,
           count(*) FILTER (event_name = 'MODIFY') AS modifies,
           count(*) FILTER (event_name = 'REMOVE') AS removes,
           count(*) FILTER (event_name = 'SNAPSHOT') AS snapshots,
           min(approximate_creation_time) AS oldest,
           max(approximate_creation_time) AS newest
    FROM read_parquet({glob}, hive_partitioning = true, union_by_name = true, filename = true)
    GROUP BY ALL
)
SELECT rows.*, sizes.size AS bytes FROM rows JOIN sizes USING (filename)
ORDER BY table_name, dt, filename
""".strip()
