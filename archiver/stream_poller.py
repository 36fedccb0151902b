"""Read a DynamoDB stream from where the last run stopped, archive it, checkpoint each shard.

One run: check for a gap, list the shards, read their checkpoints, and give every shard not yet
finished turns (:mod:`changelake.archiver.shard_turns`: parents before children, the furthest
behind first, each turn a fair share of the time left), each turn reading pages
(:mod:`changelake.archiver.shard_reader`). The run stops before its time is up, with everything
it read archived and checkpointed.

The stream's ``covered_until`` (every change before it is archived) is the earliest time up to
which a shard not yet read to its end is archived: the run's start for a shard it found caught
up, else what the shard's checkpoint says. So a stream with more shards than one run can reach
still advances, and the age of the oldest record left unread is known.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from changelake.archiver.batch import ArchivedTotals
from changelake.archiver.checkpoints import (
    ShardCheckpoint,
    StreamState,
    load_shard_checkpoint,
    load_stream_state,
    save_shard_checkpoint,
    save_stream_state,
)
from changelake.archiver.shard_reader import (
    CAUGHT_UP,
    CLOSED,
    EMPTY_READS,
    IDLE,
    ShardProgress,
    ShardReader,
)
from changelake.archiver.shard_turns import Clock, Deadline, ShardTurns, archived_until
from changelake.archiver.stream_gaps import TRIM_HORIZON, StreamGap, find_gap
from changelake.archiver.stream_shards import iter_shards, order_shards
from changelake.schemas.exceptions import PreconditionFailedError, StreamGapError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from changelake.archiver.object_store import ObjectStore

# How a shard ended a run that did not read it to the end or catch it up.
OUT_OF_TIME = "stopped: out of time"
NOT_STARTED = "not started: out of time"

# Checkpoints read at once at the start of a run (one small GET each); within botocore's
# default pool of ten connections.
CHECKPOINT_READERS = 8

# A shard found caught up by a run that did not finish every shard gets the run's start in its
# checkpoint, for the next runs' covered_until, at most this often (one PUT per shard).
CAUGHT_UP_REFRESH = timedelta(minutes=10)


@dataclass
class PollResult(ArchivedTotals):
    """What one run did: records archived, files written, how each shard ended, and the lag.

    ``oldest_unread_seconds`` bounds the age of the oldest record the run left unread (0 when
    every shard is caught up): records expire from the stream at 24 hours.
    """

    table_name: str
    stream_arn: str
    records: int = 0
    shards: dict[str, str] = field(default_factory=dict)
    complete: bool = False
    oldest_unread_seconds: float = 0.0

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
    """Archive every new record of the stream within ``max_seconds``, the shards in turns.

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
        record_gap(store, state, gap)
        raise StreamGapError(gap.message())
    result = PollResult(table_name=table_name, stream_arn=stream_arn)
    shards = order_shards(list(iter_shards(streams_client, stream_arn)))
    progress = {
        checkpoint.shard_id: ShardProgress(checkpoint)
        for checkpoint in _load_checkpoints(store, table_name, stream_arn, shards)
    }
    floor = state.covered_until if state else None
    finished = [shard_id for shard_id, p in progress.items() if p.checkpoint.closed]
    result.shards.update(dict.fromkeys(finished, CLOSED))
    turns = ShardTurns(
        shards,
        finished,
        behind={shard_id: archived_until(p.checkpoint, None) for shard_id, p in progress.items()},
    )
    reader = ShardReader(
        streams_client,
        store,
        stream_arn,
        table_name,
        deadline,
        state,
        totals=result,
        on_gap=lambda found: record_gap(store, state, found),
    )
    _take_turns(turns, reader, progress, deadline, result.shards)
    result.records = reader.records
    unfinished = _name_unfinished(turns, progress, result.shards)
    result.complete = not unfinished
    if result.complete:
        _advance_stream_state(store, state, table_name, stream_arn, started_at)
        return result
    caught_up = [p for p in progress.values() if p.caught_up]
    _note_caught_up(store, caught_up, started_at)
    bounds = ([started_at] if caught_up else []) + [
        archived_until(progress[shard_id].checkpoint, floor) for shard_id in unfinished
    ]
    known = [bound for bound in bounds if bound is not None]
    if len(known) < len(bounds):
        # Nothing says how old an unread shard's records are: at most the stream's retention.
        result.oldest_unread_seconds = TRIM_HORIZON.total_seconds()
        return result
    covered_until = min(known)
    result.oldest_unread_seconds = max(0.0, (clock.now() - covered_until).total_seconds())
    _advance_stream_state(store, state, table_name, stream_arn, covered_until)
    return result


def _take_turns(
    turns: ShardTurns,
    reader: ShardReader,
    progress: Mapping[str, ShardProgress],
    deadline: Deadline,
    endings: dict[str, str],
) -> None:
    """Give the shards turns until each is caught up or closed, or the time is up.

    A run sleeps only after a whole round of empty pages: with many shards, the other shards'
    turns are the pause between two reads of one shard.
    """
    idle_turns = 0
    idle_rounds = 0
    while (shard := turns.next()) is not None:
        if deadline.remaining() <= 0:
            turns.again(shard)
            return
        share = deadline.remaining() / (len(turns) + 1)
        ending = reader.turn(shard, progress[shard["ShardId"]], share)
        endings[shard["ShardId"]] = ending
        if ending == CLOSED:
            turns.finish(shard)
        elif ending != CAUGHT_UP:
            turns.again(shard)
        if ending != IDLE:
            idle_turns = 0
            idle_rounds = idle_rounds if ending == CAUGHT_UP else 0
            continue
        idle_turns += 1
        if idle_turns >= len(turns):
            deadline.sleep(EMPTY_READS.delay(idle_rounds))
            idle_rounds += 1
            idle_turns = 0


def _name_unfinished(
    turns: ShardTurns, progress: Mapping[str, ShardProgress], endings: dict[str, str]
) -> list[str]:
    """The shards the run left with records to read, each with how it ended in ``endings``."""
    unfinished = []
    while (shard := turns.next()) is not None:
        started = progress[shard["ShardId"]].started
        endings[shard["ShardId"]] = OUT_OF_TIME if started else NOT_STARTED
        unfinished.append(shard["ShardId"])
    for child in turns.blocked():
        endings[child["ShardId"]] = f"not started: parent {child['ParentShardId']} unfinished"
        unfinished.append(child["ShardId"])
    return unfinished


def _load_checkpoints(
    store: ObjectStore, table_name: str, stream_arn: str, shards: Sequence[Mapping[str, Any]]
) -> list[ShardCheckpoint]:
    """Every listed shard's checkpoint, read concurrently (a stream lists dozens of shards)."""

    def load(shard: Mapping[str, Any]) -> ShardCheckpoint:
        return load_shard_checkpoint(store, table_name, stream_arn, shard["ShardId"])

    if len(shards) <= 1:
        return [load(shard) for shard in shards]
    with ThreadPoolExecutor(max_workers=CHECKPOINT_READERS) as pool:
        return list(pool.map(load, shards))


def _note_caught_up(
    store: ObjectStore, caught_up: Iterable[ShardProgress], started_at: datetime
) -> None:
    """Keep the run's start in the checkpoints of the shards it caught up (see
    ``CAUGHT_UP_REFRESH``), so that later runs know them archived until then."""
    for shard in caught_up:
        noted = shard.checkpoint.caught_up_at
        if noted is None or noted < started_at - CAUGHT_UP_REFRESH:
            shard.checkpoint = save_shard_checkpoint(
                store, replace(shard.checkpoint, caught_up_at=started_at)
            )


def record_gap(store: ObjectStore, state: StreamState | None, gap: StreamGap) -> None:
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
    covered_until: datetime,
) -> None:
    """Every change before ``covered_until`` is archived: keep it, if it moves forward."""
    if state is None:
        state = StreamState(
            table_name=table_name, stream_arn=stream_arn, covered_until=covered_until
        )
    elif covered_until > state.covered_until:
        state = replace(state, covered_until=covered_until)
    else:
        return
    # Losing this write means a concurrent run or snapshot moved it: theirs is at least as recent.
    with contextlib.suppress(PreconditionFailedError):
        save_stream_state(store, state)
