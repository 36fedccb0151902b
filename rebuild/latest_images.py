"""The latest record of every item, selected from the archive with DuckDB.

The selection itself is ``schemas.sql_views.latest_records_sql``, the one definition of "latest"
and of the external version. This module narrows it (one table, as of an instant, only the items
changed since a watermark), materializes it once in a DuckDB temporary table, counts it for the
plan, and streams it out in Arrow batches. A rebuild computes it on a worker thread
(``latest_in_background``) while the search engine is being set up.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rebuild.search_sink import MAX_ID_BYTES
from schemas.sql_views import latest_records_sql, quote_literal

if TYPE_CHECKING:
    from collections.abc import Iterator
    from concurrent.futures import Future
    from datetime import datetime

    import pyarrow as pa

LATEST_TABLE = "changelake_latest"
BATCH_ROWS = 20_000

# The document _id: the item key, or for a key over the engine's 512-byte limit, ``sha256:`` and
# the key's SHA-256 in hex. Item keys always contain '=', so a hashed form never equals one.
DOCUMENT_ID_SQL = (
    f"CASE WHEN strlen(item_key) > {MAX_ID_BYTES} THEN 'sha256:' || sha256(item_key) "
    "ELSE item_key END"
)

# One bulk entry per item, built by DuckDB as text: the action line, then the document line for an
# upsert. The image is the archive's JSON text, never parsed.
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


@dataclass(frozen=True)
class Selection:
    """Which records count: one table, up to ``as_of``, and only items changed after ``since``."""

    table_name: str
    as_of: datetime | None = None
    since: datetime | None = None

    def where_sql(self) -> str:
        """The ``WHERE`` condition over ``changes`` for this selection."""
        conditions = [f"table_name = {quote_literal(self.table_name)}"]
        if self.as_of is not None:
            conditions.append(f"approximate_creation_time <= {_timestamp_sql(self.as_of)}")
        if self.since is not None:
            # The item's whole history stays in: its version counts every record of its second.
            conditions.append(
                "item_key IN (SELECT item_key FROM changes WHERE table_name = "
                f"{quote_literal(self.table_name)} AND archived_at > {_timestamp_sql(self.since)})"
            )
        return " AND ".join(conditions)


@dataclass(frozen=True)
class LatestCounts:
    """What the latest records hold: live documents, removed items, images missing."""

    upserts: int
    removes: int
    without_image: int


def _timestamp_sql(moment: datetime) -> str:
    return f"TIMESTAMPTZ {quote_literal(moment.isoformat())}"


def load_high_watermark(connection: Any, table_name: str) -> datetime | None:
    """The newest ``archived_at`` of the table: everything up to it is read by this run."""
    row = connection.execute(
        "SELECT max(archived_at) FROM changes WHERE table_name = ?", [table_name]
    ).fetchone()
    return row[0] if row else None


def materialize_latest(connection: Any, selection: Selection) -> LatestCounts:
    """Compute the latest record of every selected item into a temporary table; count them."""
    # The command shows its own progress (or none with --silent); DuckDB's bar would interleave.
    connection.execute("SET enable_progress_bar = false")
    # The table's rows have no order to keep; DuckDB then writes it from every thread unordered.
    connection.execute("SET preserve_insertion_order = false")
    try:
        connection.execute(
            f"CREATE OR REPLACE TEMP TABLE {LATEST_TABLE} AS "
            f"SELECT {DOCUMENT_ID_SQL} AS document_id, item_key, event_name, version, new_image "
            f"FROM ({latest_records_sql('changes', selection.where_sql())})"
        )
    finally:
        connection.execute("RESET preserve_insertion_order")
    row = connection.execute(
        "SELECT count(*) FILTER (WHERE event_name <> 'REMOVE' AND new_image IS NOT NULL), "
        "count(*) FILTER (WHERE event_name = 'REMOVE'), "
        f"count(*) FILTER (WHERE event_name <> 'REMOVE' AND new_image IS NULL) FROM {LATEST_TABLE}"
    ).fetchone()
    return LatestCounts(upserts=row[0], removes=row[1], without_image=row[2])


@dataclass(frozen=True)
class PendingLatest:
    """The table's high watermark, then its materialized latest records, being computed."""

    watermark: Future[datetime | None]
    counts: Future[LatestCounts]


@contextmanager
def latest_in_background(connection: Any, selection: Selection) -> Iterator[PendingLatest]:
    """Run ``load_high_watermark`` and ``materialize_latest`` on a worker thread.

    DuckDB releases the GIL while a query runs, so whatever the caller does meanwhile (import
    the search client, ask the engine about the alias, create the index) costs no extra time.
    The caller must not use ``connection`` before ``counts`` is done. Leaving the block early
    interrupts the query and waits for the thread.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="latest") as pool:
        pending = PendingLatest(
            pool.submit(load_high_watermark, connection, selection.table_name),
            pool.submit(materialize_latest, connection, selection),
        )
        try:
            yield pending
        finally:
            if not pending.counts.done():
                pending.counts.cancel()
                connection.interrupt()


def iter_latest_batches(
    connection: Any, *, with_removes: bool, entries: bool, batch_rows: int = BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """Stream the materialized latest records in Arrow batches.

    With ``entries`` a batch has one column, ``entry``: the ready NDJSON bulk entry of each item.
    Without, it has ``document_id``, ``item_key``, ``event_name``, ``version`` and ``new_image``
    for a transform to work on. Items whose latest record has no new image are left out.
    """
    kinds = "event_name = 'REMOVE' OR " if with_removes else ""
    where = f"({kinds}(event_name <> 'REMOVE' AND new_image IS NOT NULL))"
    columns = f"{ENTRY_SQL} AS entry" if entries else "*"
    reader = connection.execute(
        f"SELECT {columns} FROM {LATEST_TABLE} WHERE {where}"
    ).to_arrow_reader(batch_rows)
    yield from reader


def drop_latest(connection: Any) -> None:
    """Free the temporary table."""
    connection.execute(f"DROP TABLE IF EXISTS {LATEST_TABLE}")
