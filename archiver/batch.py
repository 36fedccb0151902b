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
from changelake.archiver.stream_events import DuplicateKeys
from changelake.archiver.stream_records import RejectedRecord, item_to_snapshot_row
from changelake.schemas.archive_layout import check_table_name, quarantine_key
from changelake.schemas.exceptions import StorageError
from changelake.schemas.sql_views import NO_NEW_IMAGE_VIEW_TYPES

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from changelake.archiver.object_store import ObjectStore

# A table's rows are written out once their JSON text reaches this size, so a batch of large items
# (up to 400 KB each) holds a bounded amount of converted data and no text column of a file
# reaches Arrow's 2 GiB limit. The cut points depend only on the records, so names stay
# deterministic.
MAX_FILE_BYTES = 128 * 2**20


# Event ids are hex strings or UUIDs; anything else is left out of a quarantine object's name.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")


@dataclass(frozen=True)
class QuarantinedRecord:
    """A rejected record, where it was kept, and why."""

    event_id: str | None
    sequence_number: str | None
    key: str
    error: str


@dataclass(frozen=True)
class FailedRecord:
    """A record that could not be kept at all (its quarantine write failed): retry from it."""

    event_id: str | None
    sequence_number: str | None
    error: str


@dataclass
class BatchResult:
    """What archiving one batch did.

    ``failed`` holds the record that could not be kept at all, if any: the batch stopped there,
    so it and every record after it must be delivered again. ``without_new_images`` maps a
    table to the view type of its stream when that stream sends no new images.
    """

    records: int = 0
    archived: int = 0
    files: list[str] = field(default_factory=list)
    quarantined: list[QuarantinedRecord] = field(default_factory=list)
    failed: list[FailedRecord] = field(default_factory=list)
    without_new_images: dict[str, str] = field(default_factory=dict)

    def add(self, other: BatchResult) -> None:
        """Add another batch's counts, files and quarantined records to this one."""
        self.records += other.records
        self.archived += other.archived
        self.files += other.files
        self.quarantined += other.quarantined
        self.failed += other.failed
        self.without_new_images.update(other.without_new_images)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "records": self.records,
            "archived": self.archived,
            "files": self.files,
            "quarantined": [asdict(q) for q in self.quarantined],
            "failed": [asdict(f) for f in self.failed],
            "without_new_images": self.without_new_images,
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
    """Write a batch of stream records (DynamoDB Streams or Kinesis) to the archive.

    Records that cannot be decoded are written raw, with the error, under ``_quarantine/`` and the
    rest of the batch goes on. If a quarantine write fails, the batch stops there: the records
    before it are archived, and ``failed`` names the record to deliver again from. Any other
    storage failure raises :class:`StorageError` so the caller fails the batch and retries it;
    files already written are whole and carry deterministic names, so the retry overwrites them.
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
            try:
                result.quarantined.append(quarantine_record(item, store, archived_at, table_name))
            except StorageError as error:
                result.failed.append(FailedRecord(item.event_id, item.sequence_number, str(error)))
                break
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
        for view_type in pc.unique(of_table["stream_view_type"]).to_pylist():
            if view_type in NO_NEW_IMAGE_VIEW_TYPES:
                result.without_new_images[name] = view_type
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

    The object is named by the record's eventID and a hash of the whole record, and dated by the
    record's own day (the archive day only when it has none): two different records that share an
    eventID get two objects, and a retry, even after midnight, rewrites the same one.
    """
    digest = hashlib.sha256(_raw_json(rejected.record).encode()).hexdigest()
    event_id = rejected.event_id
    if event_id is not None and _SAFE_NAME.fullmatch(event_id):
        name = f"{event_id}-{digest[:16]}"
    else:
        name = f"sha256-{digest[:32]}"
    day = rejected.day or archived_at.date()
    key = quarantine_key(table_name or rejected.table_name, day, name)
    document = {
        "error": str(rejected.error),
        "quarantined_at": archived_at.isoformat(),
        "record": rejected.record,
    }
    store.put_bytes(key, _raw_json(document, indent=2).encode())
    return QuarantinedRecord(
        event_id=event_id,
        sequence_number=rejected.sequence_number,
        key=key,
        error=f"{rejected.error}; the record was kept in {store.location.url(key)}",
    )


def _raw_json(value: Any, indent: int | None = None) -> str:
    """A record as JSON, whatever it holds: the stdlib encoder, unlike orjson, escapes lone
    surrogates, and ``_raw_value`` spells what JSON lacks."""
    return json.dumps(value, default=_raw_value, indent=indent)


class _Pairs(dict[str, Any]):
    """Encodes every pair of a :class:`DuplicateKeys`: the json encoder asks ``items()``."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        self._pairs = pairs

    def items(self) -> Any:
        """Every pair, repeated keys included."""
        return self._pairs


def _raw_value(value: Any) -> Any:
    """Lambda's own spelling of what boto3 hands over: base64 for bytes, epoch seconds for times;
    an object that repeats a key with every pair."""
    if isinstance(value, DuplicateKeys):
        return _Pairs(value.pairs)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return repr(value)
