"""Archive a batch of stream records: decode, quarantine the bad ones, write one file per day."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from changelake.archiver.change_tables import iter_row_tables, iter_stream_tables, table_json_bytes
from changelake.archiver.parquet_files import table_to_parquet_bytes
from changelake.archiver.partitioning import part_key, split_by_day
from changelake.archiver.stream_records import RejectedRecord, item_to_snapshot_row
from changelake.schemas.archive_layout import check_table_name, quarantine_key

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from changelake.archiver.object_store import ObjectStore

# A table's rows are written out once their JSON text reaches this size, so a batch of large items
# (up to 400 KB each) holds a bounded amount of converted data and no text column of a file
# reaches Arrow's 2 GiB limit. The cut points depend only on the records, so names stay
# deterministic.
MAX_FILE_BYTES = 128 * 2**20


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
    tables = iter_stream_tables(
        records,
        archived_at=archived_at,
        table_name=table_name,
        shard_id=shard_id,
        max_bytes=max_file_bytes,
    )
    return _archive(tables, store, archived_at, table_name, max_file_bytes)


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

    tables = iter_row_tables(items, to_row, max_bytes=MAX_FILE_BYTES)
    return _archive(tables, store, archived_at, table_name, MAX_FILE_BYTES)


def archive_rows(
    rows: Iterable[Mapping[str, Any]],
    store: ObjectStore,
    *,
    table_name: str,
    archived_at: datetime,
) -> BatchResult:
    """Write change rows made elsewhere (a snapshot's absent items) as a batch's are written."""
    tables = iter_row_tables(rows, dict, max_bytes=MAX_FILE_BYTES)
    return _archive(tables, store, archived_at, table_name, MAX_FILE_BYTES)


def _archive(
    converted: Iterable[pa.Table | RejectedRecord],
    store: ObjectStore,
    archived_at: datetime,
    table_name: str | None,
    max_file_bytes: int,
) -> BatchResult:
    """Quarantine the rejected records and write the tables in files of about ``max_file_bytes``."""
    result = BatchResult()
    pending: list[pa.Table] = []
    pending_bytes = 0
    for item in converted:
        if isinstance(item, RejectedRecord):
            result.records += 1
            result.quarantined.append(quarantine_record(item, store, archived_at, table_name))
            continue
        result.records += item.num_rows
        pending.append(item)
        pending_bytes += table_json_bytes(item)
        if pending_bytes >= max_file_bytes:
            _write_tables(pending, store, result)
            pending, pending_bytes = [], 0
    if pending:
        _write_tables(pending, store, result)
    return result


def _write_tables(tables: list[pa.Table], store: ObjectStore, result: BatchResult) -> None:
    """Write one file per table name and UTC day of the rows."""
    rows = pa.concat_tables(tables)
    names = sorted(pc.unique(rows["table_name"]).to_pylist())
    for name in names:
        of_table = rows if len(names) == 1 else rows.filter(pc.equal(rows["table_name"], name))
        for day, part_of_day in split_by_day(of_table):
            key = part_key(name, day, part_of_day)
            store.put_bytes(key, table_to_parquet_bytes(part_of_day))
            result.files.append(key)
            result.archived += part_of_day.num_rows


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
