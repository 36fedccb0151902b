"""SQL text for the views over an archive. Pure strings: the connection is made elsewhere."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from changelake.schemas.change_record import (
    CHANGE_RECORD_SCHEMA,
    RECORD_COLUMN_NAMES,
    SNAPSHOT_EVENT_ID_PREFIX,
)

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


def _struct(columns: Sequence[str]) -> str:
    return "{" + ", ".join(f"'{c}': {c}" for c in columns) + "}"


def changes_source_sql(parquet_glob: str | Sequence[str] | None) -> str:
    """A relation over every change row of the glob (or list of files), with ``dt`` as a DATE.

    ``dt`` comes from the hive partition path, so ``WHERE dt = DATE '...'`` prunes files unopened.
    ``source_file`` and ``source_row`` say where a row is stored: a sync picks the latest
    records by them before it reads any image. With no glob (an empty archive) the relation is
    empty but typed.
    """
    # No union_by_name: it makes DuckDB open every file's footer before filtering, which defeats
    # partition pruning (one request per file per query on S3). The columns are named instead:
    # those of version 1, which every file has (a later version's only add to them).
    if not isinstance(parquet_glob, str) and parquet_glob is not None:
        parquet_glob = list(parquet_glob) or None
    if parquet_glob is None:
        columns = ", ".join(
            f"CAST(NULL AS {duckdb_type(f.type)}) AS {f.name}" for f in _record_fields()
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
        f"SELECT {', '.join(RECORD_COLUMN_NAMES)}, CAST(dt AS DATE) AS dt, "
        f"filename AS source_file, file_row_number AS source_row FROM read_parquet({files}, "
        "hive_partitioning = true)"
    )


def _record_fields() -> list[pa.Field]:
    return [field for field in CHANGE_RECORD_SCHEMA if field.name in RECORD_COLUMN_NAMES]


# Every stored row, a record delivered twice as two rows; ``changes`` shows each record once.
CHANGE_ROWS = "change_rows"


def create_changes_view_sql(parquet_glob: str | Sequence[str] | None) -> str:
    """``CREATE VIEW change_rows`` over the archive, and ``changes`` over it (two statements)."""
    return f"CREATE OR REPLACE VIEW {CHANGE_ROWS} AS {changes_source_sql(parquet_glob)};\n" + (
        create_records_view_sql()
    )


def create_records_view_sql() -> str:
    """``CREATE VIEW changes``: each record of ``change_rows`` once, in the archive's columns."""
    columns = [*RECORD_COLUMN_NAMES, "dt", "source_file", "source_row"]
    return (
        f"CREATE OR REPLACE VIEW changes AS SELECT {', '.join(columns)} "
        f"FROM ({grouped_first_deliveries_sql(CHANGE_ROWS)})"
    )


# --- One identity, one order, one version -----------------------------------------------------

# A record's identity: rows that share it are one record delivered more than once (a Lambda
# retry, overlapping polls, a compaction's outputs beside its inputs); null sequence numbers are
# equal. The identity is (table, event id, sequence number): two records that share an eventID but
# not a sequence number are two records. A record's deliveries also share its item and its day, so
# ``item_key`` and ``dt`` add nothing to it; they are listed so that a filter on either (one item's
# history, one day's changes) is applied before the rule, and reads only its own rows and files.
RECORD_IDENTITY = ("dt", "table_name", "item_key", "event_id", "sequence_number")

# Of a record's deliveries the first stored is kept: the earliest archived, then by file and row.
FIRST_DELIVERY = ("archived_at", "source_file", "source_row")

# External versions: the change's second in the high bits, its ordinal among the item's records in
# that second in the low 20 bits. DynamoDB caps one item at far fewer than 2**20 writes a second,
# and 2**43 seconds reach beyond year 200000, so the version always fits a signed 64-bit integer.
VERSION_ORDINAL_BITS = 20

CHANGE_SECOND = "epoch_ms(approximate_creation_time) // 1000"


# Rows a snapshot wrote: its SNAPSHOT rows, and the REMOVE rows of a complete snapshot for the items
# it did not find (``absent_items_sql``). In their second they come before the stream's records.
FROM_SNAPSHOT = (
    f"(event_name = 'SNAPSHOT' OR starts_with(event_id, {quote_literal(SNAPSHOT_EVENT_ID_PREFIX)}))"
)

# The order of an item's records within one second, after the second itself:
# * rows a snapshot wrote first, so that a stream record in the snapshot's second wins;
# * the creation time at full precision (Kinesis records carry milliseconds or microseconds;
#   DynamoDB Streams records are whole seconds, so for them this decides nothing);
# * the numeric sequence number (zero-padded text; a record without one comes first);
# * the position in the delivered batch: files are written one per batch and day, named by their
#   first sequence number, and compaction keeps each item's rows in this order;
# * the event id, which makes the order total.
# A record's position is its first delivery's (``first_deliveries_sql`` has kept only that one).
ORDER_IN_SECOND = (
    f"NOT {FROM_SNAPSHOT}, approximate_creation_time, coalesce(sequence_order, ''), "
    "source_file, source_row, event_id"
)

# The whole order of an item's records.
RECORD_ORDER = f"{CHANGE_SECOND}, {ORDER_IN_SECOND}"

# Stream view types whose records never carry the item after the change: KEYS_ONLY streams carry
# keys only, OLD_IMAGE streams the item before the change.
NO_NEW_IMAGE_VIEW_TYPES = ("KEYS_ONLY", "OLD_IMAGE")
# Never NULL: Kinesis, Pipes and snapshot rows carry no stream view type, and NOT (NULL) would
# drop them from every view that excludes these records.
_NO_NEW_IMAGE = (
    "coalesce(stream_view_type IN ("
    + ", ".join(map(quote_literal, NO_NEW_IMAGE_VIEW_TYPES))
    + "), false)"
)

# A record after which the item lives on, but whose image is not in the archive.
IMAGE_NOT_IN_STREAM = f"event_name IN ('INSERT', 'MODIFY') AND {_NO_NEW_IMAGE}"


def first_deliveries_sql(source: str, where: str = "true") -> str:
    """Each record of ``source`` once: its first delivery, every column of it, in their order.

    A window over ``RECORD_IDENTITY``; a filter on those columns goes below it.
    """
    return (
        f"SELECT * FROM {source} WHERE {where} QUALIFY row_number() OVER ("
        f"PARTITION BY {', '.join(RECORD_IDENTITY)} ORDER BY {', '.join(FIRST_DELIVERY)}) = 1"
    )


def grouped_first_deliveries_sql(source: str, columns: Sequence[str] | None = None) -> str:
    """``first_deliveries_sql`` as one grouping by ``RECORD_IDENTITY``: ``changes``, ``stats``.

    The identity's columns come first, then ``columns`` (default: every other column). A
    grouping needs no sort of the whole archive, and a column no query uses is never aggregated;
    a filter on the identity's columns (``dt`` prunes files) goes below it.
    """
    keys = ", ".join(RECORD_IDENTITY)
    first = _struct(FIRST_DELIVERY)
    picked = (
        f"arg_min(COLUMNS(* EXCLUDE ({keys})), {first})"
        if columns is None
        else ", ".join(f"arg_min({c}, {first}) AS {c}" for c in columns)
    )
    return f"SELECT {keys}, {picked} FROM {source} GROUP BY {keys}"


def _last_version_sql(second: str, records_in_second: str) -> str:
    """``second << 20 | ordinal`` of the last of a second's ``records_in_second`` records."""
    return f"({second} << {VERSION_ORDINAL_BITS}) + {records_in_second} - 1"


LATEST_RECORD_COLUMNS = (
    "event_id",
    "event_name",
    "keys",
    "new_image",
    "approximate_creation_time",
    "stream_view_type",
)

# Taken by an aggregate of their own in the grouped form, so that a filter on them (``latest``
# drops removed items and items whose image is not in the stream) reads no other column.
_NARROW_COLUMNS = ("event_name", "stream_view_type")


def latest_records_sql(
    source: str = CHANGE_ROWS,
    where: str = "true",
    *,
    grouped: bool = False,
    columns: Sequence[str] = LATEST_RECORD_COLUMNS,
) -> str:
    """The newest record of every item of every table, removed items included, with its version.

    Columns: ``table_name``, ``item_key``, the record's ``columns`` and ``version``. ``source``
    holds stored rows (``change_rows``, with ``source_file`` and ``source_row``); each record
    counts once (``first_deliveries_sql``) and the newest is the last in ``RECORD_ORDER``.
    ``version`` = second << 20 | ordinal in that second, so it grows strictly with each record
    and is the same whenever it is computed: ``history_sql`` gives the same value.

    One grouping keeps a single number per item, its newest second, and only the rows of that
    second (about one per item, a redelivery included) go on, so memory grows with the items,
    never with the changes. Those rows are counted once each, then two forms pick the second's
    last record:

    * ranked (the default: rebuild, verify and sync's pick by position): a window over the
      item's records of the second, which spills to disk at any memory limit;
    * ``grouped`` (the ``latest`` view): ``arg_max`` aggregates, which DuckDB drops when a query
      does not use them, so ``count(*)`` or a filter reads only its own columns; an image it
      returns is held once more in the aggregate state, which cannot spill.
    """
    in_newest_second = f"""
WITH records AS NOT MATERIALIZED (
    SELECT *, {CHANGE_SECOND} AS change_second FROM {source} WHERE {where}
), newest_seconds AS (
    SELECT table_name, item_key, max(change_second) AS change_second
    FROM records GROUP BY table_name, item_key
), rows_in_newest_second AS NOT MATERIALIZED (
    SELECT r.* FROM records r SEMI JOIN newest_seconds n
        ON r.table_name = n.table_name AND r.item_key = n.item_key
        AND r.change_second = n.change_second
), in_newest_second AS NOT MATERIALIZED (
    {first_deliveries_sql("rows_in_newest_second")}
)""".strip()
    if grouped:
        # The narrow columns come in one arg_max, the others in another, which holds the order key
        # once per item and which a query using none of them skips. arg_max_null: a REMOVE's
        # missing image must win over an earlier image in its second.
        newest = f"({ORDER_IN_SECOND})"
        narrow = [c for c in columns if c in _NARROW_COLUMNS]
        wide = [c for c in columns if c not in _NARROW_COLUMNS]
        picked = [
            f"arg_max_null({_struct(names)}, {newest}) AS {name}"
            for name, names in (("narrow", narrow), ("wide", wide))
            if names
        ]
        selected = ", ".join(f"{'narrow' if c in narrow else 'wide'}.{c} AS {c}" for c in columns)
        version = _last_version_sql("any_value(change_second)", "count(*)")
        return f"""
{in_newest_second}
SELECT table_name, item_key, {selected}, version FROM (
    SELECT table_name, item_key, {", ".join(picked)}, {version} AS version
    FROM in_newest_second GROUP BY table_name, item_key
)
""".strip()
    whole_second = "newest_first ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING"
    version = _last_version_sql("change_second", f"count(*) OVER ({whole_second})")
    return f"""
{in_newest_second}
SELECT table_name, item_key, {", ".join(columns)}, {version} AS version
FROM in_newest_second
WINDOW newest_first AS (PARTITION BY table_name, item_key ORDER BY ({ORDER_IN_SECOND}) DESC)
QUALIFY row_number() OVER newest_first = 1
""".strip()


def latest_sql(source: str = CHANGE_ROWS, where: str = "true") -> str:
    """The latest live image of every item.

    Absent: items whose newest record is a REMOVE, and items whose newest record is from a stream
    that does not carry new images (KEYS_ONLY, OLD_IMAGE): the archive does not hold their image.
    The grouped form of ``latest_records_sql``: a question that needs few columns reads only them.
    """
    records = latest_records_sql(source, where, grouped=True)
    return f"SELECT * FROM ({records}) WHERE event_name <> 'REMOVE' AND NOT ({IMAGE_NOT_IN_STREAM})"


def has_stream_without_images_sql(source: str = CHANGE_ROWS, where: str = "true") -> str:
    """Whether any selected row comes from a stream without new images (one narrow column)."""
    return f"SELECT EXISTS (SELECT 1 FROM {source} WHERE ({where}) AND {_NO_NEW_IMAGE})"


def images_not_in_stream_sql(source: str = CHANGE_ROWS, where: str = "true") -> str:
    """Per stream view type, how many items' newest records lack the item's image."""
    columns = ("event_name", "stream_view_type")
    records = latest_records_sql(source, where, grouped=True, columns=columns)
    return (
        f"SELECT stream_view_type, count(*) AS items FROM ({records}) "
        f"WHERE {IMAGE_NOT_IN_STREAM} GROUP BY stream_view_type ORDER BY stream_view_type"
    )


# --- The views and macros of `changelake sql` -------------------------------------------------

TTL_PRINCIPAL = "dynamodb.amazonaws.com"

# A TTL delete: DynamoDB names no user in stream records; TTL expiries are REMOVEs with a Service
# identity (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/time-to-live-ttl-streams.html).
# Any other record with that identity is named by its principal, not called a TTL delete.
TTL_DELETE_SQL = (
    "coalesce(event_name = 'REMOVE' AND user_identity.type = 'Service' AND "
    f"user_identity.principal_id = '{TTL_PRINCIPAL}', false)"
)

# Who made a change; a snapshot's rows are the snapshot's.
WHO_SQL = (
    f"CASE WHEN {FROM_SNAPSHOT} THEN 'snapshot' WHEN {TTL_DELETE_SQL} THEN 'TTL' "
    "ELSE coalesce(user_identity.principal_id, 'user') END"
)


def create_latest_view_sql() -> str:
    """``CREATE VIEW latest``: the latest live image per item, the rebuild's own definition."""
    return f"CREATE OR REPLACE VIEW latest AS {latest_sql()}"


def create_as_of_macro_sql() -> str:
    """``as_of(ts)``: every item as it was at ``ts`` (items removed by then are absent).

    ``as_of(ts, key)``: that item alone. The key is a filter on every file read, so compacted
    files (sorted by item key) are read only where they can hold it; a ``WHERE item_key = ...``
    around ``as_of(ts)`` is applied after the whole table's latest records are computed.
    """
    where = (
        "approximate_creation_time <= CAST(ts AS TIMESTAMPTZ) "
        "AND dt <= CAST(CAST(ts AS TIMESTAMPTZ) AS DATE)"
    )
    one_item = f"{where} AND item_key = key"
    return (
        f"CREATE OR REPLACE MACRO as_of(ts) AS TABLE ({latest_sql(where=where)}), "
        f"(ts, key) AS TABLE ({latest_sql(where=one_item)})"
    )


HISTORY_COLUMNS = (
    "table_name",
    "item_key",
    "approximate_creation_time",
    "event_name",
    "who",
    "version",
    "event_id",
    "sequence_number",
    "stream_view_type",
    "old_image",
    "new_image",
    "dt",
)


def history_sql(source: str = CHANGE_ROWS, where: str = "true") -> str:
    """Every record of the selected rows once, in ``RECORD_ORDER`` per item, with its version.

    The last row of an item is its latest record (``latest_records_sql``), with the same version.
    """
    return f"""
SELECT table_name, item_key, approximate_creation_time, event_name, {WHO_SQL} AS who,
       ({CHANGE_SECOND} << {VERSION_ORDINAL_BITS})
       + row_number() OVER (
           PARTITION BY table_name, item_key, {CHANGE_SECOND} ORDER BY {ORDER_IN_SECOND}) - 1
       AS version,
       {", ".join(HISTORY_COLUMNS[6:])}
FROM ({first_deliveries_sql(source, where)})
ORDER BY table_name, item_key, version
""".strip()


def create_history_macro_sql() -> str:
    """``history(table, key)``: one item's timeline; ``history(key)`` when one table has the key.

    ``history(key)`` stops with an error naming the tables when several have an item of that key,
    rather than list their timelines together.
    """
    in_table = history_sql(where="table_name = in_table AND item_key = key")
    tables = (
        f"SELECT list(DISTINCT table_name ORDER BY table_name) AS names FROM {CHANGE_ROWS} "
        "WHERE item_key = key"
    )
    ambiguous = (
        "error(format('item key {} is in tables {}: name one, as in history(''{}'', key)', "
        "key, array_to_string(names, ', '), names[1]))"
    )
    any_table = f"""
SELECT h.* FROM ({history_sql(where="item_key = key")}) h, ({tables}) t
WHERE CASE WHEN len(t.names) > 1 THEN {ambiguous} ELSE true END
""".strip()
    return (
        f"CREATE OR REPLACE MACRO history(key) AS TABLE ({any_table}), "
        f"(in_table, key) AS TABLE ({in_table})"
    )


def archive_views_sql() -> list[str]:
    """The statements that set up ``latest``, ``history`` and ``as_of(ts)`` over ``change_rows``."""
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
