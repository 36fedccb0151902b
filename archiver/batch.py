"""Archive a batch of stream records: decode, quarantine the bad ones, write one file per day."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from archiver.parquet_files import rows_to_table, table_to_parquet_bytes
from archiver.partitioning import part_key, split_by_day
from archiver.stream_records import RejectedRecord, item_to_snapshot_row, record_to_row
from schemas.archive_layout import check_table_name, quarantine_key
from schemas.exceptions import TerminalError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from archiver.object_store import ObjectStore

# A table's rows are written out once their JSON text reaches this size, so a batch of large items
# (up to 400 KB each) holds a bounded amount of converted data and no text column of a file
# reaches Arrow's 2 GiB limit. The cut points depend only on the records, so names stay
# deterministic.
MAX_FILE_BYTES = 128 * 2**20

_JSON_COLUMNS = ("keys", "keys_ddb", "new_image", "old_image", "new_image_ddb", "old_image_ddb")

# Event ids are hex strings; anything else is hashed before it becomes part of a key.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")


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

    def add(self, other: BatchResult) -> None:
        """Add another batch's counts, files and quarantined records to this one."""
        self.records += other.records
        self.archived += other.archived
        self.files += other.files
        self.quarantined += other.quarantined

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "records": self.records,
            "archived": self.archived,
            "files": self.files,
            "quarantined": [asdict(q) for q in self.quarantined],
        }


@dataclass(kw_only=True)
class ArchivedTotals:
    """Rows archived, files written and quarantined keys, summed over the batches of one run."""

    archived: int = 0
    files: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)

    def add_batch(self, batch: BatchResult) -> int:
        """Add a batch's rows, files and quarantined keys; the number of records it read."""
        self.archived += batch.archived
        self.files += batch.files
        self.quarantined += [item.key for item in batch.quarantined]
        return batch.records


def archive_records(
    records: Iterable[Mapping[str, Any]],
    store: ObjectStore,
    *,
    table_name: str | None = None,
    shard_id: str | None = None,
    archived_at: datetime | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> BatchResult:
    """Write a batch of Lambda-shaped stream records to the archive.

    Records that cannot be decoded are written raw, with the error, under ``_quarantine/`` and the
    rest of the batch goes on. A storage failure raises :class:`StorageError` so the caller fails
    the batch and retries it; files already written are whole and carry deterministic names, so the
    retry overwrites them.
    """
    if table_name is not None:
        check_table_name(table_name)
    archived_at = archived_at or datetime.now(UTC)

    def to_row(record: Mapping[str, Any]) -> dict[str, Any]:
        return record_to_row(
            record, archived_at=archived_at, table_name=table_name, shard_id=shard_id
        )

    return _archive(records, to_row, store, archived_at, table_name, max_file_bytes)


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
    check_table_name(table_name)
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

    return _archive(items, to_row, store, archived_at, table_name, MAX_FILE_BYTES)


def _archive(
    records: Iterable[Mapping[str, Any]],
    to_row: Callable[[Mapping[str, Any]], dict[str, Any]],
    store: ObjectStore,
    archived_at: datetime,
    table_name: str | None,
    max_file_bytes: int,
) -> BatchResult:
    """Convert, quarantine, and write each table's rows in files of at most ``max_file_bytes``."""
    result = BatchResult()
    pending: dict[str, list[dict[str, Any]]] = {}
    pending_bytes: dict[str, int] = {}
    for record in records:
        result.records += 1
        try:
            row = to_row(record)
        except TerminalError as error:
            rejected = RejectedRecord(record, error)
            result.quarantined.append(quarantine_record(rejected, store, archived_at, table_name))
            continue
        name = row["table_name"]
        rows = pending.setdefault(name, [])
        rows.append(row)
        size = pending_bytes.get(name, 0) + sum(len(row[c] or b"") for c in _JSON_COLUMNS)
        if size >= max_file_bytes:
            _write_rows(name, rows, store, result)
            del pending[name]
            size = 0
        pending_bytes[name] = size
    for name, rows in pending.items():
        _write_rows(name, rows, store, result)
    return result


def _write_rows(
    table_name: str, rows: list[dict[str, Any]], store: ObjectStore, result: BatchResult
) -> None:
    """Write one file per UTC day of the rows."""
    for day, part in split_by_day(rows_to_table(rows)):
        key = part_key(table_name, day, part)
        store.put_bytes(key, table_to_parquet_bytes(part))
        result.files.append(key)
        result.archived += part.num_rows


def quarantine_record(
    rejected: RejectedRecord,
    store: ObjectStore,
    archived_at: datetime,
    table_name: str | None = None,
) -> QuarantinedRecord:
    """Keep a rejected record raw, with its error, so that nothing is lost.

    The object is named by the record's eventID (or a hash of the record), so a retried batch
    rewrites it instead of adding a copy.
    """
    event_id = rejected.event_id
    if event_id is not None and _SAFE_NAME.fullmatch(event_id):
        name = event_id
    else:
        identity = event_id or json.dumps(rejected.record, default=_raw_value, sort_keys=True)
        name = "sha256-" + hashlib.sha256(identity.encode()).hexdigest()[:32]
    key = quarantine_key(table_name or rejected.table_name, archived_at.date(), name)
    document = {
        "error": str(rejected.error),
        "quarantined_at": archived_at.isoformat(),
        "record": rejected.record,
    }
    # The stdlib encoder, unlike orjson, escapes lone surrogates: the raw record is always kept.
    store.put_bytes(key, json.dumps(document, default=_raw_value, indent=2).encode())
    return QuarantinedRecord(
        event_id=event_id,
        sequence_number=rejected.sequence_number,
        key=key,
        error=f"{rejected.error}; the record was kept in {store.location.url(key)}",
    )


def _raw_value(value: Any) -> Any:
    """Lambda's own spelling of what boto3 hands over: base64 for bytes, epoch seconds for times."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return repr(value)
