"""Read a DynamoDB stream from where the last run stopped, archive it, checkpoint each shard.

One run: check for a gap, list the shards (parents first), and for each shard not yet finished get
an iterator (TRIM_HORIZON the first time, AFTER_SEQUENCE_NUMBER of the checkpoint after), then
GetRecords until the shard is closed or caught up. Each page is archived before its checkpoint is
written, so a crash in between only archives the page again (same file name, same event ids).
The run stops before its time is up, with everything it read archived and checkpointed.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from changelake.archiver.backoff import EMPTY_READS, THROTTLED
from changelake.archiver.batch import ArchivedTotals, archive_records
from changelake.archiver.checkpoints import (
    ShardCheckpoint,
    StreamState,
    load_shard_checkpoint,
    load_stream_state,
    save_shard_checkpoint,
    save_stream_state,
)
from changelake.archiver.polled_records import polled_record_to_lambda
from changelake.archiver.stream_gaps import StreamGap, find_gap
from changelake.archiver.stream_shards import is_closed, iter_shards, order_shards
from changelake.schemas.exceptions import (
    PreconditionFailedError,
    StreamGapError,
    StreamReadError,
    aws_error_code,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from changelake.archiver.object_store import ObjectStore

THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
    }
)
GET_RECORDS_LIMIT = 1000


@dataclass(frozen=True)
class Clock:
    """Time for a run: a monotonic clock, a sleeper and wall time (tests pass their own)."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


@dataclass
class Deadline:
    """When a run must have stopped, minus a reserve for the page and checkpoint in flight."""

    clock: Clock
    seconds: float
    started: float = 0.0

    def __post_init__(self) -> None:
        self.started = self.clock.monotonic()
        # A GetRecords page plus its archive write and checkpoint takes a few seconds at most.
        self.reserve = min(30.0, max(0.5, self.seconds * 0.1))

    def remaining(self) -> float:
        """Seconds left before the run must stop, reserve taken off."""
        return self.seconds - self.reserve - (self.clock.monotonic() - self.started)

    def sleep(self, seconds: float) -> None:
        """Sleep, but never past the deadline."""
        self.clock.sleep(max(0.0, min(seconds, self.remaining())))


@dataclass
class PollResult(ArchivedTotals):
    """What one run did: records archived, files written, and how each shard ended."""

    table_name: str
    stream_arn: str
    records: int = 0
    shards: dict[str, str] = field(default_factory=dict)
    complete: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return dict(self.__dict__)


def poll_stream(
    streams_client: Any,
    store: ObjectStore,
    stream_arn: str,
    *,
    table_name: str,
    max_seconds: float,
    clock: Clock | None = None,
) -> PollResult:
    """Archive every new record of the stream, shard by shard, within ``max_seconds``.

    Raises :class:`StreamGapError` when changes were lost (see
    :mod:`changelake.archiver.stream_gaps`),
    :class:`CheckpointConflictError` when another poller advanced a shard first.
    """
    clock = clock or Clock()
    deadline = Deadline(clock, max_seconds)
    started_at = clock.now()
    state = load_stream_state(store, table_name)
    gap = find_gap(state, stream_arn, started_at)
    if gap is not None:
        _record_gap(store, state, gap)
        raise StreamGapError(gap.message())
    result = PollResult(table_name=table_name, stream_arn=stream_arn)
    reader = _ShardReader(streams_client, store, result, deadline, state)
    finished = True
    for shard in order_shards(list(iter_shards(streams_client, stream_arn))):
        if deadline.remaining() <= 0:
            result.shards[shard["ShardId"]] = "not started: out of time"
            finished = False
            continue
        status = reader.read(shard)
        result.shards[shard["ShardId"]] = status
        if status == "stopped: out of time":
            finished = False
    if finished:
        _advance_stream_state(store, state, table_name, stream_arn, started_at)
    result.complete = finished
    return result


@dataclass
class _ShardReader:
    client: Any
    store: ObjectStore
    result: PollResult
    deadline: Deadline
    state: StreamState | None

    def read(self, shard: Mapping[str, Any]) -> str:
        """Read one shard as far as it goes; returns how it ended."""
        checkpoint = load_shard_checkpoint(
            self.store, self.result.table_name, self.result.stream_arn, shard["ShardId"]
        )
        if checkpoint.closed:
            return "closed"
        iterator: str | None = self._iterator(checkpoint)
        empty_reads = 0
        throttled = 0
        while iterator is not None:
            if self.deadline.remaining() <= 0:
                return "stopped: out of time"
            try:
                response = self.client.get_records(ShardIterator=iterator, Limit=GET_RECORDS_LIMIT)
            except Exception as error:
                code = aws_error_code(error)
                if code == "ExpiredIteratorException":
                    # Iterators live 15 minutes; a fresh one from the checkpoint loses nothing.
                    iterator = self._iterator(checkpoint)
                    continue
                if code not in THROTTLING_CODES:
                    raise
                if throttled >= THROTTLED.attempts:
                    raise StreamReadError(
                        f"GetRecords on shard {shard['ShardId']} was throttled "
                        f"{throttled} times in a row ({code}); try again later"
                    ) from error
                self.deadline.sleep(THROTTLED.delay(throttled))
                throttled += 1
                continue
            throttled = 0
            records = response.get("Records", [])
            if records:
                checkpoint = self._archive(checkpoint, records)
            iterator = response.get("NextShardIterator")
            if iterator is None:
                save_shard_checkpoint(self.store, replace(checkpoint, closed=True))
                return "closed"
            if records:
                empty_reads = 0
                continue
            if not is_closed(shard) and empty_reads >= EMPTY_READS.attempts:
                return "caught up"
            self.deadline.sleep(EMPTY_READS.delay(empty_reads))
            empty_reads += 1
        return "closed"

    def _archive(
        self, checkpoint: ShardCheckpoint, records: list[Mapping[str, Any]]
    ) -> ShardCheckpoint:
        stream_arn = self.result.stream_arn
        batch = archive_records(
            [polled_record_to_lambda(record, stream_arn) for record in records],
            self.store,
            table_name=self.result.table_name,
            shard_id=checkpoint.shard_id,
        )
        self.result.records += self.result.add_batch(batch)
        return save_shard_checkpoint(
            self.store,
            replace(
                checkpoint,
                sequence_number=records[-1]["dynamodb"]["SequenceNumber"],
                records=checkpoint.records + len(records),
                updated_at=datetime.now(UTC),
            ),
        )

    def _iterator(self, checkpoint: ShardCheckpoint) -> str | None:
        position: dict[str, str] = {"ShardIteratorType": "TRIM_HORIZON"}
        if checkpoint.sequence_number is not None:
            position = {
                "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                "SequenceNumber": checkpoint.sequence_number,
            }
        try:
            response = self.client.get_shard_iterator(
                StreamArn=checkpoint.stream_arn, ShardId=checkpoint.shard_id, **position
            )
        except Exception as error:
            if aws_error_code(error) != "TrimmedDataAccessException":
                raise
            if not self._snapshot_covers(checkpoint):
                now = datetime.now(UTC)
                gap = StreamGap(
                    table_name=checkpoint.table_name,
                    reason=(
                        f"shard {checkpoint.shard_id} no longer holds the records after sequence "
                        f"number {checkpoint.sequence_number}: they were trimmed before this run"
                    ),
                    lost_from=checkpoint.updated_at or now,
                    lost_until=now,
                    stream_arn=checkpoint.stream_arn,
                    detected_at=now,
                )
                _record_gap(self.store, self.state, gap)
                raise StreamGapError(gap.message()) from error
            # The records after the checkpoint were trimmed, but a later snapshot holds their
            # effect: read what the shard still has.
            response = self.client.get_shard_iterator(
                StreamArn=checkpoint.stream_arn,
                ShardId=checkpoint.shard_id,
                ShardIteratorType="TRIM_HORIZON",
            )
        iterator = response.get("ShardIterator")
        return iterator if isinstance(iterator, str) else None

    def _snapshot_covers(self, checkpoint: ShardCheckpoint) -> bool:
        snapshot_at = self.state.snapshot_at if self.state else None
        return snapshot_at is not None and (
            checkpoint.updated_at is None or snapshot_at > checkpoint.updated_at
        )


def _record_gap(store: ObjectStore, state: StreamState | None, gap: StreamGap) -> None:
    """Keep the gap in the stream state so that every later run and ``stats`` report it."""
    if state is None or state.gap is not None:
        return
    # Losing this write means another run recorded the gap, or a snapshot closed it, meanwhile.
    with contextlib.suppress(PreconditionFailedError):
        save_stream_state(store, replace(state, gap=gap.to_dict()))


def _advance_stream_state(
    store: ObjectStore,
    state: StreamState | None,
    table_name: str,
    stream_arn: str,
    started_at: datetime,
) -> None:
    """After a complete run, every change before its start is archived."""
    if state is None:
        state = StreamState(table_name=table_name, stream_arn=stream_arn, covered_until=started_at)
    elif started_at > state.covered_until:
        state = replace(state, covered_until=started_at)
    else:
        return
    # Losing this write means a concurrent run or snapshot moved it: theirs is at least as recent.
    with contextlib.suppress(PreconditionFailedError):
        save_stream_state(store, state)
