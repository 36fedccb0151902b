"""One shard's turn in a poll run: GetRecords pages, each archived, then checkpointed.

The first turn gets an iterator (TRIM_HORIZON the first time, AFTER_SEQUENCE_NUMBER of the
checkpoint after). Each page is archived before its checkpoint is written, so a crash in between
only archives the page again (same file name, same event ids). Throttled reads back off; an
expired iterator is renewed from the checkpoint; records trimmed before they were read are a gap,
unless a later snapshot holds their effect.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from changelake.archiver.batch import ArchivedTotals, archive_records
from changelake.archiver.checkpoints import ShardCheckpoint, StreamState, save_shard_checkpoint
from changelake.archiver.polled_records import polled_record_to_lambda
from changelake.archiver.stream_gaps import StreamGap
from changelake.archiver.stream_shards import is_closed
from changelake.schemas.backoff import Backoff
from changelake.schemas.exceptions import StreamGapError, StreamReadError, aws_error_code

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from changelake.archiver.object_store import ObjectStore
    from changelake.archiver.shard_turns import Deadline

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

# What get_records_page returns instead of a page.
EXPIRED: Final = "expired"
THROTTLED_READ: Final = "throttled"

# Throttled reads (ProvisionedThroughputExceeded, LimitExceeded): the Streams API allows about five
# GetRecords calls a second per shard, so waits start short and stop after about a minute in all.
THROTTLED = Backoff(base=0.2, cap=10.0, attempts=10)

# Empty reads of an open shard: wait a little before asking again; after this many empty reads
# in a row the shard counts as caught up for this run.
EMPTY_READS = Backoff(base=0.1, cap=0.5, attempts=3)

# How a turn ends. A shard that is closed or caught up is done for the run; the others get
# another turn: MORE when the turn used its share of the time, IDLE when it ended on an empty
# page of a shard not yet counted as caught up.
CLOSED = "closed"
CAUGHT_UP = "caught up"
MORE = "more"
IDLE = "idle"


@dataclass
class ShardProgress:
    """One shard during a run: its checkpoint, its iterator, and its empty pages in a row."""

    checkpoint: ShardCheckpoint
    iterator: str | None = None
    started: bool = False
    empty_reads: int = 0
    caught_up: bool = False


@dataclass
class ShardReader:
    """Reads shards of ``stream_arn`` for one run, adding what it archives to ``totals``."""

    client: Any
    store: ObjectStore
    stream_arn: str
    table_name: str
    deadline: Deadline
    state: StreamState | None
    totals: ArchivedTotals
    on_gap: Callable[[StreamGap], None]
    records: int = 0

    def turn(self, shard: Mapping[str, Any], progress: ShardProgress, share: float) -> str:
        """Read pages of one shard until it is closed or caught up, a page is empty, or
        ``share`` seconds have passed (at least one page); returns how the turn ended."""
        if not progress.started:
            progress.started = True
            progress.iterator = self._iterator(progress.checkpoint)
        stop_at = self.deadline.remaining() - share
        while progress.iterator is not None:
            response = self._get_records(shard, progress)
            if response is None:
                return MORE
            records = response.get("Records", [])
            if records:
                progress.checkpoint = self._archive(progress.checkpoint, records)
                progress.empty_reads = 0
            progress.iterator = response.get("NextShardIterator")
            if progress.iterator is None:
                break
            if not records:
                progress.empty_reads += 1
                if not is_closed(shard) and progress.empty_reads >= EMPTY_READS.attempts:
                    progress.caught_up = True
                    return CAUGHT_UP
                return IDLE
            if self.deadline.remaining() <= stop_at:
                return MORE
        progress.checkpoint = save_shard_checkpoint(
            self.store, replace(progress.checkpoint, closed=True)
        )
        return CLOSED

    def _get_records(
        self, shard: Mapping[str, Any], progress: ShardProgress
    ) -> Mapping[str, Any] | None:
        """One GetRecords page (an empty one once the shard has no iterator); None when the
        run's time is up first."""
        throttled = 0
        while progress.iterator is not None:
            if self.deadline.remaining() <= 0:
                return None
            response = get_records_page(
                self.client, progress.iterator, shard_id=shard["ShardId"], throttled=throttled
            )
            if response == EXPIRED:
                progress.iterator = self._iterator(progress.checkpoint)
            elif response == THROTTLED_READ:
                self.deadline.sleep(THROTTLED.delay(throttled))
                throttled += 1
            else:
                return response
        return {}

    def _archive(
        self, checkpoint: ShardCheckpoint, records: list[Mapping[str, Any]]
    ) -> ShardCheckpoint:
        batch = archive_records(
            [polled_record_to_lambda(record, self.stream_arn) for record in records],
            self.store,
            table_name=self.table_name,
            shard_id=checkpoint.shard_id,
        )
        self.records += self.totals.add_batch(batch)
        return save_shard_checkpoint(
            self.store,
            replace(
                checkpoint,
                sequence_number=records[-1]["dynamodb"]["SequenceNumber"],
                records=checkpoint.records + len(records),
                updated_at=datetime.now(UTC),
                last_record_at=created_at(records[-1]) or checkpoint.last_record_at,
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
                self.on_gap(gap)
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


def get_records_page(
    client: Any, iterator: str | None, *, shard_id: str, throttled: int
) -> Mapping[str, Any] | Literal["expired", "throttled"]:
    """One GetRecords call: the page, :data:`EXPIRED` when the iterator has expired (get a fresh
    one from the checkpoint), or :data:`THROTTLED_READ` when the read was throttled after
    ``throttled`` throttled reads in a row; :class:`StreamReadError` once that is
    ``THROTTLED.attempts``. Any other error is raised as it is."""
    try:
        response: Mapping[str, Any] = client.get_records(
            ShardIterator=iterator, Limit=GET_RECORDS_LIMIT
        )
    except Exception as error:
        code = aws_error_code(error)
        if code == "ExpiredIteratorException":
            # Iterators live 15 minutes; a fresh one from the checkpoint loses nothing.
            return EXPIRED
        if code not in THROTTLING_CODES:
            raise
        if throttled >= THROTTLED.attempts:
            raise StreamReadError(
                f"GetRecords on shard {shard_id} was throttled "
                f"{throttled} times in a row ({code}); try again later"
            ) from error
        return THROTTLED_READ
    return response


def created_at(record: Mapping[str, Any]) -> datetime | None:
    """The record's ApproximateCreationDateTime in UTC (boto3 gives a datetime), if it has one."""
    created = record.get("dynamodb", {}).get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        return created.astimezone(UTC)
    if isinstance(created, int | float):
        return datetime.fromtimestamp(created, UTC)
    return None
