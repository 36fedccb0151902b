"""Items a complete snapshot did not find: one REMOVE row each, so every view drops them.

An item deleted while no stream was archived (streams disabled, records past the 24-hour trim
horizon) has no record of its deletion: its last INSERT or MODIFY would stay its latest record,
and rebuild, sync and verify would bring it back. A complete snapshot (a whole scan, or a full
export) is the table as it was when it was taken, so an item the archive holds as live from
before then, which the snapshot did not find, was deleted. Its REMOVE row:

* is stamped with the second the scan started (the export's time), after every record from
  before it, also on a stream stamped to the minute, where the snapshot's own rows carry the
  minute (``changelake.archiver.table_snapshot.snapshot_time``);
* is ordered like the snapshot's rows (its event id is the snapshot's, ``snapshot:<id>:<key>``),
  so a stream record in the same second wins, as it does over a SNAPSHOT row;
* is an ordinary REMOVE, so ``latest``, rebuild, sync and verify need no special case.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from changelake.archiver.batch import BatchResult, archive_rows
from changelake.schemas.change_record import COLUMN_NAMES, SCHEMA_VERSION, snapshot_event_id
from changelake.schemas.sql_views import CHANGE_ROWS, latest_records_sql, quote_literal

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

    from changelake.archiver.object_store import ObjectStore

# Absent items per file: the rows are small (keys only), and memory holds one file's worth.
ITEMS_PER_FILE = 100_000


def absence_time(taken_at: datetime) -> datetime:
    """When an absent item's REMOVE is stamped: the second the snapshot was taken."""
    return taken_at.astimezone(UTC).replace(microsecond=0)


def absent_item_row(
    found: dict[str, Any],
    *,
    table_name: str,
    snapshot_id: str,
    taken_at: datetime,
    archived_at: datetime,
) -> dict[str, Any]:
    """The REMOVE row of one item (``item_key``, ``keys``, ``keys_ddb``) a snapshot did not find."""
    row: dict[str, Any] = dict.fromkeys(COLUMN_NAMES)
    row.update(
        schema_version=SCHEMA_VERSION,
        table_name=table_name,
        event_id=snapshot_event_id(snapshot_id, found["item_key"]),
        event_name="REMOVE",
        item_key=found["item_key"],
        keys=found["keys"],
        keys_ddb=found["keys_ddb"],
        approximate_creation_time=absence_time(taken_at),
        archived_at=archived_at,
    )
    return row


def absent_items_sql(
    table_name: str, snapshot_id: str, snapshot_at: datetime, taken_at: datetime
) -> str:
    """Items live in the archive before a complete snapshot that the snapshot did not find.

    ``taken_at`` is when the scan started (or the export's time), ``snapshot_at`` the time its
    rows carry. An item counts when its newest record is a live one from before the scan: created
    before ``snapshot_at``, or archived before ``taken_at`` (a stream stamped to the minute, as
    DynamoDB Local's is, stamps records from before the scan at ``snapshot_at`` too). An item
    changed since is left to its newer records, which win anyway. Columns: ``item_key``,
    ``keys``, ``keys_ddb``.
    """
    table = quote_literal(table_name)
    columns = ("event_name", "keys", "keys_ddb", "approximate_creation_time", "archived_at")
    records = latest_records_sql(where=f"table_name = {table}", grouped=True, columns=columns)
    own = quote_literal(snapshot_event_id(snapshot_id, ""))
    before = (
        f"approximate_creation_time < {_timestamp(snapshot_at)} "
        f"OR archived_at < {_timestamp(taken_at)}"
    )
    return f"""
SELECT item_key, keys, keys_ddb FROM ({records})
ANTI JOIN (
    SELECT DISTINCT item_key FROM {CHANGE_ROWS}
    WHERE table_name = {table} AND starts_with(event_id, {own})
) USING (item_key)
WHERE event_name <> 'REMOVE' AND ({before})
ORDER BY item_key
""".strip()


def _timestamp(moment: datetime) -> str:
    return f"TIMESTAMPTZ {quote_literal(moment.isoformat())}"


def archive_absent_items(
    connection: DuckDBPyConnection,
    store: ObjectStore,
    *,
    table_name: str,
    snapshot_id: str,
    snapshot_at: datetime,
    taken_at: datetime,
    archived_at: datetime | None = None,
) -> BatchResult:
    """Archive a REMOVE row for every item the finished snapshot did not find.

    ``connection`` has ``change_rows`` over the table, the snapshot's own rows included. Written
    again (a resumed snapshot), the same items give the same files.
    """
    archived_at = archived_at or datetime.now(UTC)
    result = connection.execute(absent_items_sql(table_name, snapshot_id, snapshot_at, taken_at))
    names = [column[0] for column in result.description]
    written = BatchResult()
    while chunk := result.fetchmany(ITEMS_PER_FILE):
        rows = [
            absent_item_row(
                dict(zip(names, found, strict=True)),
                table_name=table_name,
                snapshot_id=snapshot_id,
                taken_at=taken_at,
                archived_at=archived_at,
            )
            for found in chunk
        ]
        written.add(archive_rows(rows, store, table_name=table_name, archived_at=archived_at))
    return written
