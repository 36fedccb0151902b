"""Stored change rows in an in-memory DuckDB table, and the rule they must follow, in Python.

``connect_rows`` puts rows in a ``change_rows`` table (the columns the archive's view has) with
the ``changes`` view over it, so the SQL of ``changelake.schemas.sql_views`` runs unchanged.
``reference_history`` states the identity, order and version rule in plain Python: the tests hold
every view to it on generated histories.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from changelake.schemas.change_record import SEQUENCE_ORDER_WIDTH, SNAPSHOT_EVENT_ID_PREFIX
from changelake.schemas.sql_views import (
    VERSION_ORDINAL_BITS,
    changes_source_sql,
    create_records_view_sql,
)

T0 = datetime(2026, 11, 20, 9, 0, 0, tzinfo=UTC)
_NO_NEW_IMAGES = ("KEYS_ONLY", "OLD_IMAGE")
SECOND = int(T0.timestamp())


@dataclass(frozen=True)
class Row:
    """One stored row: a delivery of a record, where it is stored and when it was archived."""

    event_id: str
    event_name: str
    item_key: str = "a"
    sequence: int | None = None
    offset: float = 0.0  # seconds after T0, fractions for Kinesis-like records
    table_name: str = "posts"
    source_file: str = "file-0000"
    source_row: int = 0
    archived: int = 0  # seconds after T0
    stream_view_type: str | None = "NEW_AND_OLD_IMAGES"
    image: str | None = field(default=None)

    @property
    def time(self) -> datetime:
        """Its approximate_creation_time."""
        return T0 + timedelta(seconds=self.offset)

    def redelivered(self, source_file: str, source_row: int, archived: int) -> Row:
        """The same record stored again elsewhere, later."""
        return replace(self, source_file=source_file, source_row=source_row, archived=archived)


def row_to_dict(row: Row) -> dict[str, Any]:
    """The columns of ``change_rows`` for one row."""
    image = row.image if row.image is not None else f'{{"from":"{row.event_id}"}}'
    has_image = row.event_name != "REMOVE" and row.stream_view_type not in _NO_NEW_IMAGES
    return {
        "schema_version": 1,
        "table_name": row.table_name,
        "event_id": row.event_id,
        "event_name": row.event_name,
        "item_key": row.item_key,
        "keys": "{}",
        "keys_ddb": "{}",
        "sequence_number": None if row.sequence is None else str(row.sequence),
        "sequence_order": None
        if row.sequence is None
        else str(row.sequence).zfill(SEQUENCE_ORDER_WIDTH),
        "approximate_creation_time": row.time,
        "stream_view_type": row.stream_view_type,
        "new_image": image if has_image else None,
        "archived_at": T0 + timedelta(seconds=row.archived),
        "dt": row.time.date(),
        "source_file": row.source_file,
        "source_row": row.source_row,
    }


def connect_rows(rows: list[Row]) -> duckdb.DuckDBPyConnection:
    """A connection with ``change_rows`` holding these rows and ``changes`` over it."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(f"CREATE TABLE change_rows AS {changes_source_sql(None)}")
    if rows:
        data = pa.Table.from_pylist([row_to_dict(row) for row in rows])
        connection.register("new_rows", data)
        connection.execute("INSERT INTO change_rows BY NAME SELECT * FROM new_rows")
        connection.unregister("new_rows")
    connection.execute(create_records_view_sql())
    return connection


def from_snapshot(row: Row) -> bool:
    """Written by a snapshot: a SNAPSHOT row, or a REMOVE for an item a snapshot did not find."""
    return row.event_name == "SNAPSHOT" or row.event_id.startswith(SNAPSHOT_EVENT_ID_PREFIX)


def first_deliveries(rows: list[Row]) -> list[Row]:
    """Each record once: of rows sharing (table, event id, sequence number), the first stored."""
    first: dict[tuple[str, str, int | None], Row] = {}
    for row in rows:
        identity = (row.table_name, row.event_id, row.sequence)
        kept = first.get(identity)
        if kept is None or _position(row) < _position(kept):
            first[identity] = row
    return list(first.values())


def _position(row: Row) -> tuple[int, str, int]:
    return row.archived, row.source_file, row.source_row


def _order(row: Row) -> tuple[Any, ...]:
    micros = round(row.offset * 1_000_000)
    sequence = "" if row.sequence is None else str(row.sequence).zfill(SEQUENCE_ORDER_WIDTH)
    return (
        micros // 1_000_000,
        not from_snapshot(row),
        micros,
        sequence,
        row.source_file,
        row.source_row,
        row.event_id,
    )


def ordered_records(rows: list[Row]) -> dict[tuple[str, str], list[tuple[Row, int]]]:
    """Per (table, item): its records in order, each with its version."""
    by_item: dict[tuple[str, str], list[Row]] = {}
    for row in first_deliveries(rows):
        by_item.setdefault((row.table_name, row.item_key), []).append(row)
    ordered: dict[tuple[str, str], list[tuple[Row, int]]] = {}
    for item, records in by_item.items():
        ordinal, previous_second, entries = 0, None, []
        for record in sorted(records, key=_order):
            second = SECOND + _order(record)[0]
            ordinal = ordinal + 1 if second == previous_second else 0
            previous_second = second
            entries.append((record, (second << VERSION_ORDINAL_BITS) + ordinal))
        ordered[item] = entries
    return ordered


def reference_history(rows: list[Row]) -> dict[tuple[str, str], list[tuple[str, int]]]:
    """Per (table, item): its records in order, each as (event id, version)."""
    return {
        item: [(record.event_id, version) for record, version in entries]
        for item, entries in ordered_records(rows).items()
    }


def has_live_image(row: Row) -> bool:
    """The item lives after this record and the record holds its image."""
    return row.event_name != "REMOVE" and not (
        row.event_name in ("INSERT", "MODIFY") and row.stream_view_type in _NO_NEW_IMAGES
    )
