"""The latest record of every item, selected from the archive with DuckDB.

The selection itself is ``changelake.schemas.sql_views.latest_records_sql``, the one definition
of "latest" and of the external version. This module narrows it (one table, as of an instant,
only the items changed since a watermark), materializes it in a DuckDB temporary table, counts it
for the plan, and streams it out with the images (``LATEST_IMAGES``) in Arrow batches. How
depends on how much of the archive is wanted, and which images:

* every item, plain images only (a rebuild with a transform, verify): one pass reads each
  column once, images included;
* otherwise, by position: the latest records are picked from the narrow columns alone, keeping
  where each is stored (``source_file``, ``source_row``), and the images are then read from the
  rows they point at. A sync (the items changed since a watermark) reads only the files that
  hold one, usually the newest few; a type census reads each image's shape once (the typed
  image from a file written before schema version 2), into a table of its own, and the load
  then reads the plain images as it sends them.

A rebuild computes it on a worker thread (``latest_in_background``) while the search engine is
being set up.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from changelake.rebuild.document_ids import CANONICAL_ID, document_id_sql
from changelake.schemas.archive_layout import COMPACTED_PREFIX
from changelake.schemas.change_record import IMAGE_SHAPE_COLUMN
from changelake.schemas.exceptions import RebuildError
from changelake.schemas.sql_views import (
    CHANGE_ROWS,
    FIRST_DELIVERY,
    RECORD_IDENTITY,
    TTL_DELETE_SQL,
    has_stream_without_images_sql,
    images_not_in_stream_sql,
    latest_records_sql,
    quote_literal,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from concurrent.futures import Future
    from datetime import datetime

    import pyarrow as pa
    from duckdb import DuckDBPyConnection

LATEST_TABLE = "changelake_latest"
# The latest records with their images: LATEST_TABLE itself, or joined to the rows it points at.
LATEST_IMAGES = "changelake_latest_images"
# The latest upserts' image shapes (or typed images), for the type census.
CENSUS_IMAGES = "changelake_census_images"
BATCH_ROWS = 20_000
_POSITION_COLUMNS = ("event_name", "source_file", "source_row")
CHANGED_ROWS = "changelake_changed_rows"
# What ``latest_records_sql`` reads of a row: identity, order, first delivery, and the position.
_CHANGED_ROW_COLUMNS = (
    *RECORD_IDENTITY,
    "event_name",
    "sequence_order",
    "approximate_creation_time",
    *FIRST_DELIVERY,
)
# Changed items looked up one by one (``stage_changed_rows``); more are read in one scan.
KEY_LOOKUP_LIMIT = 32

# The default document _id (``document_ids.CANONICAL_ID``): the item key, hashed over 512 bytes.
# Item keys always contain '=', so a hashed form never equals one.
DOCUMENT_ID_SQL = document_id_sql(CANONICAL_ID)

# One bulk entry per item, built by DuckDB as text: the action line, then the document line for an
# upsert (null when the record has no image). The image is the archive's JSON text, never parsed.
_ACTION_SQL = (
    "'\"_id\":' || to_json(document_id) || ',\"version\":' || version || "
    '\',"version_type":"external"}}\' || chr(10)'
)
ENTRY_SQL = (
    "CASE WHEN event_name = 'REMOVE' THEN '{\"delete\":{' || "
    + _ACTION_SQL
    + " ELSE '{\"index\":{' || "
    + _ACTION_SQL
    + " || new_image || chr(10) END"
)


TTL_POLICIES = ("delete", "keep")


@dataclass(frozen=True)
class Selection:
    """Which records count, and how their documents are named.

    One table, up to ``as_of``, only items changed after ``since``; with ``ttl_deletes`` "keep",
    REMOVEs made by TTL expiry do not count, so an expired item keeps its last image. ``id_rule``
    names the documents (``document_ids.document_id_sql``).
    """

    table_name: str
    as_of: datetime | None = None
    since: datetime | None = None
    ttl_deletes: str = "delete"
    id_rule: str = CANONICAL_ID

    def where_sql(self) -> str:
        """The ``WHERE`` condition over ``change_rows`` for this selection, ``since`` aside.

        Which items changed since ``since`` is :func:`stage_changed_rows`'s question.
        """
        conditions = [f"table_name = {quote_literal(self.table_name)}"]
        if self.ttl_deletes == "keep":
            conditions.append(f"NOT {TTL_DELETE_SQL}")
        if self.as_of is not None:
            conditions.append(f"approximate_creation_time <= {_timestamp_sql(self.as_of)}")
        return " AND ".join(conditions)


@dataclass(frozen=True)
class LatestCounts:
    """What the latest records are: upserts (a few may lack an image) and removed items."""

    upserts: int
    removes: int


def _timestamp_sql(moment: datetime) -> str:
    return f"TIMESTAMPTZ {quote_literal(moment.isoformat())}"


def load_high_watermark(
    connection: DuckDBPyConnection, table_name: str, since: datetime | None = None
) -> datetime | None:
    """The newest ``archived_at`` of the table (after ``since``): everything up to it is read.

    Rows archived after ``since`` only: the files' statistics skip every older row group.
    """
    after = "" if since is None else f" AND archived_at > {_timestamp_sql(since)}"
    row = connection.execute(
        f"SELECT max(archived_at) FROM {CHANGE_ROWS} WHERE table_name = ?{after}", [table_name]
    ).fetchone()
    return row[0] if row else None


def stage_changed_rows(connection: DuckDBPyConnection, selection: Selection) -> str:
    """Copy every row of the items archived after ``selection.since`` into a temporary table.

    Returns its name, a source for ``latest_records_sql``. The items are found by
    ``archived_at``, whose statistics skip every older row group. Each item's whole history is
    copied, because its version counts every record of its newest second. A compacted file holds
    its rows sorted by item key, so one lookup per item reads only the row groups that can hold
    that key (DuckDB skips none for a list of keys); the other files, usually the newest few,
    are read once for all the items. Past ``KEY_LOOKUP_LIMIT`` items, one read of the whole
    table costs less than the lookups.
    """
    if selection.since is None:
        raise ValueError("stage_changed_rows needs a selection with since")
    table = quote_literal(selection.table_name)
    changed = (
        f"SELECT DISTINCT item_key FROM {CHANGE_ROWS} WHERE table_name = {table} "
        f"AND archived_at > {_timestamp_sql(selection.since)}"
    )
    keys = [
        key for (key,) in connection.execute(f"{changed} LIMIT {KEY_LOOKUP_LIMIT + 1}").fetchall()
    ]
    rows = (
        f"SELECT {', '.join(_CHANGED_ROW_COLUMNS)} FROM {CHANGE_ROWS} WHERE {selection.where_sql()}"
    )
    if len(keys) > KEY_LOOKUP_LIMIT:
        query = f"{rows} AND item_key IN ({changed})"
    else:
        compacted = f"starts_with(parse_filename(source_file), {quote_literal(COMPACTED_PREFIX)})"
        lookups = [f"{rows} AND {compacted} AND item_key = {quote_literal(key)}" for key in keys]
        listed = ", ".join(map(quote_literal, keys)) or "NULL"
        query = " UNION ALL ".join(
            [*lookups, f"{rows} AND NOT {compacted} AND item_key IN ({listed})"]
        )
    connection.execute(f"CREATE OR REPLACE TEMP TABLE {CHANGED_ROWS} AS {query}")
    return CHANGED_ROWS


def _joined_to_rows_sql(files: list[str]) -> str:
    """``LATEST_TABLE`` (``l``) left-joined to the rows it points at in ``files`` (``r``)."""
    listed = ", ".join(quote_literal(name) for name in files)
    return (
        f"{LATEST_TABLE} l LEFT JOIN read_parquet([{listed}], filename = true, "
        "file_row_number = true) r "
        "ON r.filename = l.source_file AND r.file_row_number = l.source_row"
    )


def latest_images_sql(files: list[str]) -> str:
    """``LATEST_TABLE``'s records with the image each points at, read from ``files`` (those that
    hold an upsert's row) in order."""
    if not files:
        # Typed NULLs: with no file to join, the records alone give the column its type.
        return (
            "SELECT document_id, item_key, event_name, version, NULL::VARCHAR AS new_image "
            f"FROM {LATEST_TABLE}"
        )
    # A REMOVE carries no image, whatever its stored row holds.
    return (
        "SELECT l.document_id, l.item_key, l.event_name, l.version, "
        "CASE WHEN l.event_name <> 'REMOVE' THEN r.new_image END AS new_image "
        f"FROM {_joined_to_rows_sql(files)}"
    )


def census_images_sql(files: list[str], shaped: set[str]) -> str:
    """The item key and image shape of each of ``LATEST_TABLE``'s upserts that has an image,
    read from ``files`` (those that hold an upsert's row); the typed image itself from a file
    not in ``shaped`` (written before schema version 2). Either has the same census."""
    selects = [
        f"SELECT l.item_key, r.{column} AS new_image_ddb FROM {_joined_to_rows_sql(group)} "
        f"WHERE l.event_name <> 'REMOVE' AND r.{column} IS NOT NULL"
        for group, column in (
            ([name for name in files if name in shaped], IMAGE_SHAPE_COLUMN),
            ([name for name in files if name not in shaped], "new_image_ddb"),
        )
        if group
    ]
    return " UNION ALL ".join(selects) or (
        "SELECT NULL::VARCHAR AS item_key, NULL::VARCHAR AS new_image_ddb WHERE false"
    )


def files_with_shapes(connection: DuckDBPyConnection, files: list[str]) -> set[str]:
    """Those of ``files`` that have the image shape column (schema version 2 on)."""
    if not files:
        return set()
    listed = ", ".join(quote_literal(name) for name in files)
    rows = connection.execute(
        f"SELECT DISTINCT file_name FROM parquet_schema([{listed}]) "
        f"WHERE name = {quote_literal(IMAGE_SHAPE_COLUMN)}"
    ).fetchall()
    return {name for (name,) in rows}


def materialize_latest(
    connection: DuckDBPyConnection,
    selection: Selection,
    *,
    by_position: bool | None = None,
    typed_images: bool = False,
) -> LatestCounts:
    """Pick the latest record of every selected item into a temporary table; count them.

    The view ``LATEST_IMAGES`` then gives each record with its image. With ``typed_images``,
    the table ``CENSUS_IMAGES`` holds the shape of each upsert's image, for the type census.
    ``by_position`` picks from the narrow columns alone and reads the images afterwards, from
    the rows the picks point at: a sync does, and so does a census, which then reads each
    image's shape once and never carries it through a sort beside the plain image.
    """
    # The command shows its own progress (or none with --silent); DuckDB's bar would interleave.
    connection.execute("SET enable_progress_bar = false")
    # The table's rows have no order to keep; DuckDB then writes it from every thread unordered.
    connection.execute("SET preserve_insertion_order = false")
    by_position = bool(by_position) or typed_images or selection.since is not None
    try:
        if by_position:
            # A sync's rows are staged already narrowed (``stage_changed_rows``).
            source, where = (
                (stage_changed_rows(connection, selection), "true")
                if selection.since is not None
                else (CHANGE_ROWS, selection.where_sql())
            )
            columns = ", source_file, source_row"
            records = latest_records_sql(source, where, grouped=False, columns=_POSITION_COLUMNS)
        else:
            columns = ", new_image"
            records = latest_records_sql(where=selection.where_sql())
        connection.execute(
            f"CREATE OR REPLACE TEMP TABLE {LATEST_TABLE} AS SELECT "
            f"{document_id_sql(selection.id_rule)} AS "
            f"document_id, item_key, event_name, version{columns} FROM ({records})"
        )
        images = f"SELECT * FROM {LATEST_TABLE}"
        if by_position:
            files = [
                name
                for (name,) in connection.execute(
                    f"SELECT DISTINCT source_file FROM {LATEST_TABLE} "
                    "WHERE event_name <> 'REMOVE' ORDER BY source_file DESC"
                ).fetchall()
            ]
            images = latest_images_sql(files)
            if typed_images:
                census = census_images_sql(files, files_with_shapes(connection, files))
                connection.execute(f"CREATE OR REPLACE TEMP TABLE {CENSUS_IMAGES} AS {census}")
    finally:
        connection.execute("RESET preserve_insertion_order")
    connection.execute(f"CREATE OR REPLACE TEMP VIEW {LATEST_IMAGES} AS {images}")
    upserts, removes = aggregate_row(
        connection,
        "SELECT count(*) FILTER (WHERE event_name <> 'REMOVE'), "
        f"count(*) FILTER (WHERE event_name = 'REMOVE') FROM {LATEST_TABLE}",
    )
    return LatestCounts(upserts=upserts, removes=removes)


def check_images_in_stream(connection: DuckDBPyConnection, selection: Selection) -> None:
    """Refuse a selection whose latest records lack the item's image because of the stream.

    A KEYS_ONLY or OLD_IMAGE stream never carries the item after a change, so no index can be
    built from it. One narrow column is read first; the latest records only when it finds one.
    """
    where = selection.where_sql()
    (found,) = aggregate_row(connection, has_stream_without_images_sql(where=where))
    if not found:
        return
    missing = connection.execute(images_not_in_stream_sql(where=where)).fetchall()
    if missing:
        raise images_not_in_stream_error(selection.table_name, missing)


def images_not_in_stream_error(table_name: str, missing: list[tuple[str, int]]) -> RebuildError:
    """The refusal of a table whose items' newest records lack images: (view type, items)."""
    counts = ", ".join(f"{items} from a {view_type} stream" for view_type, items in missing)
    return RebuildError(
        f"table {table_name}: the newest records of {sum(n for _, n in missing)} "
        f"items carry no image ({counts}), so there is nothing to index for them; set the "
        "table's stream to NEW_IMAGE or NEW_AND_OLD_IMAGES, take a snapshot (changelake "
        "snapshot), poll, then rebuild"
    )


def count_without_image(connection: DuckDBPyConnection) -> int:
    """Latest upserts that have no image (reads the images: for a plan, not a load)."""
    (count,) = aggregate_row(
        connection,
        f"SELECT count(*) FROM {LATEST_IMAGES} WHERE event_name <> 'REMOVE' AND new_image IS NULL",
    )
    return int(count)


@dataclass(frozen=True)
class PendingLatest:
    """The table's high watermark and its materialized latest records, being computed."""

    watermark: Future[datetime | None]
    counts: Future[LatestCounts]


@contextmanager
def latest_in_background(
    connection: DuckDBPyConnection, selection: Selection, *, typed_images: bool = False
) -> Iterator[PendingLatest]:
    """Run ``load_high_watermark`` and ``materialize_latest`` on worker threads.

    DuckDB releases the GIL while a query runs, so whatever the caller does meanwhile (import
    the search client, ask the engine about the alias, create the index) costs no extra time.
    The watermark, which the new index needs first, comes from a second connection to the same
    database, so it does not wait for the latest records. The caller must not use ``connection``
    before ``counts`` is done. Leaving the block early interrupts the queries and waits for them.
    """
    with (
        closing(connection.cursor()) as cursor,
        ThreadPoolExecutor(max_workers=2, thread_name_prefix="latest") as pool,
    ):
        pending = PendingLatest(
            pool.submit(load_high_watermark, cursor, selection.table_name),
            pool.submit(materialize_latest, connection, selection, typed_images=typed_images),
        )
        try:
            yield pending
        finally:
            for future, running in ((pending.watermark, cursor), (pending.counts, connection)):
                if not future.done():
                    future.cancel()
                    running.interrupt()


def iter_latest_batches(
    connection: DuckDBPyConnection,
    *,
    with_removes: bool,
    entries: bool,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[pa.RecordBatch]:
    """Stream the materialized latest records with their images in Arrow batches, in no order.

    With ``entries`` a batch has one column, ``entry``: the ready NDJSON bulk entry of each item,
    null for an upsert without an image. Without, it has ``document_id``, ``item_key``,
    ``event_name``, ``version`` and ``new_image`` for a transform to work on.
    """
    where = "true" if with_removes else "event_name <> 'REMOVE'"
    columns = (
        f"{ENTRY_SQL} AS entry"
        if entries
        else "document_id, item_key, event_name, version, new_image"
    )
    # Unordered, DuckDB hands over each batch as soon as any thread has it. The setting is put
    # back only at the end: any statement on the connection would end the stream.
    connection.execute("SET preserve_insertion_order = false")
    try:
        yield from connection.execute(
            f"SELECT {columns} FROM {LATEST_IMAGES} WHERE {where}"
        ).to_arrow_reader(batch_rows)
    finally:
        connection.execute("RESET preserve_insertion_order")


def leave_out_items(connection: DuckDBPyConnection, item_keys: list[str]) -> None:
    """Take these items out of the materialized latest records and their census images."""
    listed = ", ".join(quote_literal(key) for key in item_keys) or "NULL"
    for table in (LATEST_TABLE, CENSUS_IMAGES):
        connection.execute(f"DELETE FROM {table} WHERE item_key IN ({listed})")


def drop_latest(connection: DuckDBPyConnection) -> None:
    """Free the temporary table and its view."""
    connection.execute(f"DROP VIEW IF EXISTS {LATEST_IMAGES}")
    connection.execute(f"DROP TABLE IF EXISTS {LATEST_TABLE}")
    connection.execute(f"DROP TABLE IF EXISTS {CHANGED_ROWS}")
    connection.execute(f"DROP TABLE IF EXISTS {CENSUS_IMAGES}")


def aggregate_row(connection: DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    """The one row of an aggregate query without ``GROUP BY`` (DuckDB always returns it)."""
    row = connection.execute(sql).fetchone()
    if row is None:
        raise RebuildError(f"DuckDB returned no row for an aggregate query: {sql[:120]}")
    return row
