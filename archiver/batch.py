"""Archive a batch of stream records: decode, quarantine the bad ones, write one file per day."""

from __future__ import annotations

import base64
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from archiver.parquet_files import rows_to_table, table_to_parquet_bytes
from archiver.partitioning import part_key, split_by_day
from archiver.stream_records import RejectedRecord, item_to_snapshot_row, record_to_row
from schemas.archive_layout import quarantine_key
from schemas.exceptions import TerminalError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from archiver.object_store import ObjectStore


@dataclass(frozen=True)
class QuarantinedRecord:
    """A rejected record, where it was kept, and why."""

    event_id: str | None
    sequence_number: str | None
    key: str
    error: str


@dataclass
class BatchResult:
    """What archiving one batch did."""

    records: int = 0
    archived: int = 0
    files: list[str] = field(default_factory=list)
    quarantined: list[QuarantinedRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "records": self.records,
            "archived": self.archived,
            "files": self.files,
            "quarantined": [q.__dict__ for q in self.quarantined],
        }


def archive_records(
    records: Iterable[Mapping[str, Any]],
    store: ObjectStore,
    *,
    table_name: str | None = None,
    shard_id: str | None = None,
    archived_at: datetime | None = None,
) -> BatchResult:
    """Write a batch of Lambda-shaped stream records to the archive.

    Records that cannot be decoded are written raw, with the error, under ``_quarantine/`` and the
    rest of the batch goes on. A storage failure raises :class:`StorageError` so the caller fails
    the batch and retries it; files already written are whole and carry deterministic names, so the
    retry overwrites them.
    """
    archived_at = archived_at or datetime.now(UTC)

    def to_row(record: Mapping[str, Any]) -> dict[str, Any]:
        return record_to_row(
            record, archived_at=archived_at, table_name=table_name, shard_id=shard_id
        )

    return _archive(records, to_row, store, archived_at)


def archive_snapshot_items(
    items: Iterable[Mapping[str, Any]],
    store: ObjectStore,
    *,
    table_name: str,
    key_names: Sequence[str],
    snapshot_id: str,
    snapshot_at: datetime,
    archived_at: datetime | None = None,
) -> BatchResult:
    """Write a page of table items (a Scan page or export lines) as SNAPSHOT rows.

    Items that cannot be decoded are quarantined like stream records; the file names are
    deterministic, so archiving the same page again overwrites its own file.
    """
    archived_at = archived_at or datetime.now(UTC)

    def to_row(item: Mapping[str, Any]) -> dict[str, Any]:
        return item_to_snapshot_row(
            item,
            key_names=key_names,
            table_name=table_name,
            snapshot_id=snapshot_id,
            snapshot_at=snapshot_at,
            archived_at=archived_at,
        )

    return _archive(items, to_row, store, archived_at)


def _archive(
    records: Iterable[Mapping[str, Any]],
    to_row: Callable[[Mapping[str, Any]], dict[str, Any]],
    store: ObjectStore,
    archived_at: datetime,
) -> BatchResult:
    result = BatchResult()
    rows_by_table: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        result.records += 1
        try:
            row = to_row(record)
        except TerminalError as error:
            result.quarantined.append(
                quarantine_record(RejectedRecord(record, error), store, archived_at)
            )
            continue
        rows_by_table[row["table_name"]].append(row)
    for name, rows in rows_by_table.items():
        for day, part in split_by_day(rows_to_table(rows)):
            key = part_key(name, day, part)
            store.put_bytes(key, table_to_parquet_bytes(part))
            result.files.append(key)
            result.archived += part.num_rows
    return result


def quarantine_record(
    rejected: RejectedRecord, store: ObjectStore, archived_at: datetime
) -> QuarantinedRecord:
    """Keep a rejected record raw, with its error, so that nothing is lost."""
    raw = orjson.dumps(
        {"error": str(rejected.error), "quarantined_at": archived_at, "record": rejected.record},
        default=_raw_value,
        option=orjson.OPT_INDENT_2,
    )
    name = rejected.event_id or hashlib.sha256(raw).hexdigest()[:32]
    key = quarantine_key(rejected.table_name, archived_at.date(), name)
    store.put_bytes(key, raw)
    return QuarantinedRecord(
        event_id=rejected.event_id,
        sequence_number=rejected.sequence_number,
        key=key,
        error=str(rejected.error),
    )


def _raw_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    return repr(value)
