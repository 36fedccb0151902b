"""A DynamoDB export to S3 (DYNAMODB_JSON, full export) read as SNAPSHOT rows.

Layout (DynamoDB developer guide, "DynamoDB data export output format"):
``<prefix>/AWSDynamoDB/<export id>/manifest-summary.json`` names the table and the export time;
``manifest-files.json`` has one JSON line per data file (``dataFileS3Key``, ``itemCount``,
``md5Checksum``); each data file is gzipped JSON lines of ``{"Item": {...}}``. An export is the
table as of ``exportTime``, so its rows carry that time like a scan's carry the scan's start, and
the items the archive holds as live from before then that it lacks get a REMOVE each, as after a
scan (``changelake.archiver.absent_items``).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from changelake.archiver.absent_items import archive_absent_items
from changelake.archiver.batch import archive_snapshot_items
from changelake.archiver.checkpoints import record_snapshot
from changelake.archiver.stream_gaps import gap_from_dict
from changelake.archiver.table_snapshot import SnapshotTotals, snapshot_time
from changelake.schemas.archive_layout import join_key
from changelake.schemas.exceptions import MalformedRecordError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from changelake.archiver.object_store import ObjectStore

# Items per archived file: large enough for few files, small enough to bound memory.
ITEMS_PER_BATCH = 20_000


@dataclass(frozen=True)
class ExportManifest:
    """What manifest-summary.json and manifest-files.json say about one export."""

    export_id: str
    table_name: str
    export_time: datetime
    item_count: int
    data_files: list[dict[str, Any]]


@dataclass
class ImportResult(SnapshotTotals):
    """What importing an export did."""

    manifest: ExportManifest

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "export_id": self.manifest.export_id,
            "table_name": self.manifest.table_name,
            "export_time": self.manifest.export_time.isoformat(),
            **self.totals_dict(),
        }


def load_export_manifest(bucket: ObjectStore, export_prefix: str) -> ExportManifest:
    """Read and check an export's manifests; keys are relative to the bucket."""
    summary_key = join_key(export_prefix, "manifest-summary.json")
    try:
        summary = orjson.loads(bucket.get_bytes(summary_key))
    except FileNotFoundError:
        raise MalformedRecordError(
            f"no manifest-summary.json at {bucket.location.url(summary_key)}; pass the export's "
            "folder, s3://BUCKET/PREFIX/AWSDynamoDB/<export id>/"
        ) from None
    if summary.get("outputFormat") != "DYNAMODB_JSON" or summary.get(
        "exportType", "FULL_EXPORT"
    ) != ("FULL_EXPORT"):
        raise MalformedRecordError(
            f"export {summary.get('exportArn')} is a {summary.get('exportType')} in "
            f"{summary.get('outputFormat')}; only full exports in DYNAMODB_JSON can be imported"
        )
    files_key = summary.get("manifestFilesS3Key") or join_key(export_prefix, "manifest-files.json")
    lines = bucket.get_bytes(files_key).splitlines()
    return ExportManifest(
        export_id=summary["exportArn"].rsplit("/", 1)[-1],
        table_name=summary["tableArn"].rsplit("/", 1)[-1],
        export_time=datetime.fromisoformat(summary["exportTime"]),
        item_count=int(summary.get("itemCount", 0)),
        data_files=[orjson.loads(line) for line in lines if line.strip()],
    )


def iter_export_items(bucket: ObjectStore, data_file: Mapping[str, Any]) -> Iterator[Any]:
    """The items of one data file, after checking its MD5 and its item count."""
    key = data_file["dataFileS3Key"]
    compressed = bucket.get_bytes(key)
    expected = data_file.get("md5Checksum")
    actual = base64.b64encode(hashlib.md5(compressed, usedforsecurity=False).digest()).decode()
    if expected and expected != actual:
        raise MalformedRecordError(
            f"data file {bucket.location.url(key)} has MD5 {actual}, but the manifest says "
            f"{expected}; the export is damaged or still being written: export again"
        )
    count = 0
    for number, line in enumerate(gzip.decompress(compressed).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield orjson.loads(line)["Item"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            # Kept as the raw line: archive_snapshot_items quarantines it with its error.
            yield {"_export_line": f"{key}:{number}", "_text": line.decode(errors="replace")}
        count += 1
    if count != data_file.get("itemCount", count):
        raise MalformedRecordError(
            f"data file {bucket.location.url(key)} has {count} items, but the manifest says "
            f"{data_file['itemCount']}; export again"
        )


def import_export(
    bucket: ObjectStore,
    export_prefix: str,
    archive: ObjectStore,
    *,
    key_names: Sequence[str],
    stream_arn: str | None,
    connect_archive: Callable[[], Any],
    table_name: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Archive every item of an export as SNAPSHOT rows stamped with the export time.

    Then the items it lacks get a REMOVE each (``connect_archive`` opens a DuckDB connection with
    ``change_rows`` over the table's archive for that), and the table's stream state records the
    export (``record_snapshot``): it closes a recorded gap unless it was taken before the gap's end.
    """
    manifest = load_export_manifest(bucket, export_prefix)
    result = ImportResult(manifest=manifest)
    snapshot_at = snapshot_time(manifest.export_time, stream_arn)
    for data_file in manifest.data_files:
        batch: list[Any] = []
        for item in iter_export_items(bucket, data_file):
            batch.append(item)
            if len(batch) == ITEMS_PER_BATCH:
                _archive(batch, archive, result, key_names, table_name, snapshot_at, progress)
                batch = []
        _archive(batch, archive, result, key_names, table_name, snapshot_at, progress)
    absent = archive_absent_items(
        connect_archive(),
        archive,
        table_name=table_name or manifest.table_name,
        snapshot_id=manifest.export_id,
        snapshot_at=snapshot_at,
        taken_at=manifest.export_time,
    )
    result.files += absent.files
    result.absent = absent.archived
    state = record_snapshot(
        archive,
        table_name or manifest.table_name,
        stream_arn,
        snapshot_at,
        taken_at=manifest.export_time,
    )
    if state is not None and state.gap is not None:
        result.open_gap = gap_from_dict(state.gap)
    return result


def _archive(
    items: list[Any],
    archive: ObjectStore,
    result: ImportResult,
    key_names: Sequence[str],
    table_name: str | None,
    snapshot_at: datetime,
    progress: Callable[[int], None] | None,
) -> None:
    if not items:
        return
    batch = archive_snapshot_items(
        items,
        archive,
        table_name=table_name or result.manifest.table_name,
        key_names=key_names,
        snapshot_id=result.manifest.export_id,
        snapshot_at=snapshot_at,
    )
    result.items += result.add_batch(batch)
    if progress is not None:
        progress(batch.records)
