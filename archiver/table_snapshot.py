"""Initial load: a parallel Scan of a table written as SNAPSHOT rows into the change log.

The scan's segments run in parallel, each page archived before the segment's checkpoint (its
LastEvaluatedKey) is written, so an interrupted snapshot resumes where each segment stopped.
Every row carries the snapshot's time: a stream record at or after it wins over the snapshot row
(``latest_records_sql``), which is right for items changed while the scan ran. Once every segment
is done, the items the archive holds as live that the scan did not find get a REMOVE row each
(``changelake.archiver.absent_items``): they were deleted while no stream was archived.
"""

from __future__ import annotations

import base64
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from changelake.archiver.absent_items import archive_absent_items
from changelake.archiver.batch import ArchivedTotals, BatchResult, archive_snapshot_items
from changelake.archiver.checkpoints import record_snapshot
from changelake.archiver.stream_gaps import TRIM_HORIZON, gap_from_dict
from changelake.archiver.table_description import describe_table
from changelake.schemas.archive_layout import CHECKPOINT_DIR, snapshot_checkpoint_key, table_dir
from changelake.schemas.dynamodb_types import image_to_ddb_json
from changelake.schemas.exceptions import CheckpointConflictError, PreconditionFailedError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from changelake.archiver.object_store import ObjectStore
    from changelake.archiver.stream_gaps import StreamGap


def snapshot_time(started_at: datetime, stream_arn: str | None = None) -> datetime:
    """The time every row of a snapshot carries: its start, rounded down to the stream's precision.

    Any time at or before the scan's first read is correct as long as every change since then is
    in the stream: the newest stream record from then on wins, and it is at least as new as what
    the scan read. DynamoDB stamps stream records to the second; DynamoDB Local (region
    ``ddblocal``) to the minute, so a change during the scan there must not sort before it.
    """
    started_at = started_at.astimezone(UTC).replace(microsecond=0)
    if stream_arn is not None and ":ddblocal:" in stream_arn:
        return started_at.replace(second=0)
    return started_at


@dataclass(frozen=True)
class SnapshotPlan:
    """One snapshot: what is scanned, how, and the time its rows carry."""

    table_name: str
    snapshot_id: str
    started_at: datetime
    snapshot_at: datetime
    segments: int
    key_names: list[str]
    stream_arn: str | None
    page_size: int | None = None
    finished: bool = False


@dataclass(kw_only=True)
class SnapshotTotals(ArchivedTotals):
    """A table's items archived as SNAPSHOT rows (by a scan or from an export), summed."""

    items: int = 0
    absent: int = 0
    # A gap the snapshot could not close: it was taken before the gap ended.
    open_gap: StreamGap | None = None

    def totals_dict(self) -> dict[str, Any]:
        """The JSON-ready counts, last in a summary."""
        return {
            "items": self.items,
            "archived": self.archived,
            "absent": self.absent,
            "files": len(self.files),
            "quarantined": self.quarantined,
        }


@dataclass
class SnapshotResult(SnapshotTotals):
    """What a snapshot run did."""

    plan: SnapshotPlan
    resumed: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "snapshot_id": self.plan.snapshot_id,
            "snapshot_at": self.plan.snapshot_at.isoformat(),
            "segments": self.plan.segments,
            "resumed": self.resumed,
            **self.totals_dict(),
        }


def snapshot_table(
    dynamodb_client: Any,
    store: ObjectStore,
    table_name: str,
    *,
    segments: int,
    connect_archive: Callable[[], Any],
    progress: Callable[[int], None] | None = None,
    page_size: int | None = None,
    now: datetime | None = None,
) -> SnapshotResult:
    """Scan the table in parallel segments into SNAPSHOT rows, resuming an unfinished snapshot.

    ``connect_archive`` opens a DuckDB connection with ``change_rows`` over the table's archive,
    read once the scan is done to find the items it did not find.
    Raises :class:`CheckpointConflictError` when another snapshot run advanced a segment first.
    """
    now = now or datetime.now(UTC)
    plan = find_unfinished_plan(store, table_name, now)
    resumed = plan is not None
    if plan is None:
        plan = new_plan(dynamodb_client, table_name, segments, now, page_size)
        store.put_if_absent(snapshot_checkpoint_key(table_name, plan.snapshot_id), _plan_json(plan))
    result = SnapshotResult(plan=plan, resumed=resumed)
    lock = threading.Lock()

    def scan(segment: int) -> None:
        for batch in _iter_segment(dynamodb_client, store, plan, segment):
            with lock:
                result.items += result.add_batch(batch)
            if progress is not None:
                progress(batch.records)

    with ThreadPoolExecutor(max_workers=plan.segments, thread_name_prefix="scan") as pool:
        for future in [pool.submit(scan, segment) for segment in range(plan.segments)]:
            future.result()
    absent = archive_absent_items(
        connect_archive(),
        store,
        table_name=table_name,
        snapshot_id=plan.snapshot_id,
        snapshot_at=plan.snapshot_at,
        taken_at=plan.started_at,
    )
    result.files += absent.files
    result.absent = absent.archived
    finished = SnapshotPlan(**{**asdict(plan), "finished": True})
    store.put_bytes(snapshot_checkpoint_key(table_name, plan.snapshot_id), _plan_json(finished))
    state = record_snapshot(
        store, table_name, plan.stream_arn, plan.snapshot_at, taken_at=plan.started_at
    )
    if state is not None and state.gap is not None:
        result.open_gap = gap_from_dict(state.gap)
    result.plan = finished
    return result


def new_plan(
    dynamodb_client: Any,
    table_name: str,
    segments: int,
    now: datetime,
    page_size: int | None = None,
) -> SnapshotPlan:
    """A new snapshot of the table: its key schema and stream from DescribeTable."""
    table = describe_table(dynamodb_client, table_name)
    stream_arn = table.stream_arn
    return SnapshotPlan(
        table_name=table_name,
        snapshot_id=f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}",
        started_at=now,
        snapshot_at=snapshot_time(now, stream_arn),
        segments=segments,
        key_names=table.key_names,
        stream_arn=stream_arn,
        page_size=page_size,
    )


def find_unfinished_plan(store: ObjectStore, table_name: str, now: datetime) -> SnapshotPlan | None:
    """The newest unfinished snapshot of the table that can still be resumed, if any.

    A snapshot started more than 24 hours ago cannot: the stream no longer holds the changes
    made since it started, so a new one begins instead.
    """
    plans = []
    for key in store.list_keys(f"{CHECKPOINT_DIR}/{table_dir(table_name)}/"):
        if key.endswith("/plan.json") and "/snapshot=" in key:
            plan = _load_plan(store.get_bytes(key))
            if not plan.finished and now - plan.started_at < TRIM_HORIZON:
                plans.append(plan)
    return max(plans, key=lambda plan: plan.started_at, default=None)


def _iter_segment(
    dynamodb_client: Any, store: ObjectStore, plan: SnapshotPlan, segment: int
) -> Iterator[BatchResult]:
    key = snapshot_checkpoint_key(plan.table_name, plan.snapshot_id, segment)
    try:
        data, etag = store.get_with_etag(key)
        position: dict[str, Any] | None = orjson.loads(data)
    except FileNotFoundError:
        position, etag = None, None
    if position is not None and position["finished"]:
        return
    start = _key_from_json(position["last_key"]) if position and position["last_key"] else None
    pages = position["pages"] if position else 0
    while True:
        request: dict[str, Any] = {
            "TableName": plan.table_name,
            "Segment": segment,
            "TotalSegments": plan.segments,
            "ConsistentRead": True,
        }
        if start is not None:
            request["ExclusiveStartKey"] = start
        if plan.page_size is not None:
            request["Limit"] = plan.page_size
        page = dynamodb_client.scan(**request)
        batch = archive_snapshot_items(
            page.get("Items", []),
            store,
            table_name=plan.table_name,
            key_names=plan.key_names,
            snapshot_id=plan.snapshot_id,
            snapshot_at=plan.snapshot_at,
        )
        start = page.get("LastEvaluatedKey")
        pages += 1
        checkpoint = {
            "segment": segment,
            "pages": pages,
            "last_key": image_to_ddb_json(start) if start else None,
            "finished": start is None,
        }
        etag = _save_segment(store, key, orjson.dumps(checkpoint), etag, plan, segment)
        yield batch
        if start is None:
            return


def _save_segment(
    store: ObjectStore, key: str, data: bytes, etag: str | None, plan: SnapshotPlan, segment: int
) -> str:
    try:
        return (
            store.put_if_absent(key, data) if etag is None else store.put_if_match(key, data, etag)
        )
    except PreconditionFailedError:
        raise CheckpointConflictError(
            f"another snapshot run advanced segment {segment} of snapshot {plan.snapshot_id} of "
            f"table {plan.table_name}; this run stops. Run one snapshot of a table at a time"
        ) from None


def _key_from_json(text: str) -> dict[str, Any]:
    """A LastEvaluatedKey kept as DynamoDB JSON, with B values as bytes again for boto3."""
    key: dict[str, Any] = orjson.loads(text)
    return {
        name: {"B": base64.b64decode(value["B"])} if "B" in value else value
        for name, value in key.items()
    }


def _plan_json(plan: SnapshotPlan) -> bytes:
    return orjson.dumps(asdict(plan), option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z)


def _load_plan(data: bytes) -> SnapshotPlan:
    fields = orjson.loads(data)
    return SnapshotPlan(
        **{
            **fields,
            "started_at": datetime.fromisoformat(fields["started_at"]),
            "snapshot_at": datetime.fromisoformat(fields["snapshot_at"]),
        }
    )
