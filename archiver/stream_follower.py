"""Follow a DynamoDB stream without end: one page of each open shard per round, archived, then
checkpointed.

A poll run reads every shard to its end and stops. A follower keeps its shards' iterators and
checkpoints from round to round and reads one GetRecords page of each open shard per round, so a
record reaches the archive within a round of its write. Each page is archived and checkpointed by
the poller's own shard reader (same files, same checkpoints, same gap rules), so a follower and
a poller can take turns on one stream: each goes on from the other's checkpoints.

A child shard is read only once its parent is read to its end (or no longer listed), as in a poll
run. The shard list is read again every ``REDISCOVER_SECONDS`` and whenever a shard closes.
Throttled shards wait out their backoff without holding the others back.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from changelake.archiver.batch import ArchivedTotals
from changelake.archiver.checkpoints import (
    StreamState,
    load_shard_checkpoint,
    load_stream_state,
    save_shard_checkpoint,
    save_stream_state,
)
from changelake.archiver.shard_reader import (
    EMPTY_READS,
    EXPIRED,
    THROTTLED,
    THROTTLED_READ,
    ShardReader,
    created_at,
    get_records_page,
)
from changelake.archiver.shard_turns import Clock, Deadline
from changelake.archiver.stream_gaps import find_gap
from changelake.archiver.stream_poller import record_gap
from changelake.archiver.stream_shards import iter_shards, order_shards
from changelake.schemas.exceptions import PreconditionFailedError, StreamGapError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from changelake.archiver.checkpoints import ShardCheckpoint
    from changelake.archiver.object_store import ObjectStore

REDISCOVER_SECONDS = 60.0
# The stream state's covered_until is written at most this often (one small PUT).
COVERED_UNTIL_EVERY = timedelta(minutes=1)
# Records of one second may still be unread when a shard's last page ends in it.
_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class ArchivedPage:
    """One GetRecords page of a shard, archived and checkpointed.

    ``first_created`` and ``last_created`` span the records' ApproximateCreationDateTime;
    ``archived_at`` is when its checkpoint was written.
    """

    shard_id: str
    records: int
    archived: int
    files: list[str]
    quarantined: list[str]
    first_created: datetime | None
    last_created: datetime | None
    archived_at: datetime


@dataclass
class _FollowedShard:
    """A shard between rounds: its checkpoint, its iterator, and how far it is known archived."""

    shard: Mapping[str, Any]
    checkpoint: ShardCheckpoint
    iterator: str | None = None
    started: bool = False
    empty_reads: int = 0
    throttled: int = 0
    not_before: float = 0.0
    empty_since: datetime | None = None
    archived_until: datetime | None = None

    @property
    def shard_id(self) -> str:
        """The shard's id."""
        return str(self.shard["ShardId"])


@dataclass
class StreamFollower:
    """Reads ``stream_arn`` round after round into ``store``, from the shards' checkpoints."""

    client: Any
    store: ObjectStore
    stream_arn: str
    table_name: str
    clock: Clock = field(default_factory=Clock)
    _shards: dict[str, _FollowedShard] = field(default_factory=dict)
    _listed_at: float = -math.inf
    _covered_written: datetime | None = None
    _reader: ShardReader | None = None

    def start(self) -> None:
        """Refuse to go on past a gap (see :mod:`changelake.archiver.stream_gaps`); list shards."""
        state = load_stream_state(self.store, self.table_name)
        gap = find_gap(state, self.stream_arn, self.clock.now())
        if gap is not None:
            record_gap(self.store, state, gap)
            raise StreamGapError(gap.message())
        self._reader = ShardReader(
            self.client,
            self.store,
            self.stream_arn,
            self.table_name,
            Deadline(self.clock, math.inf),
            state,
            ArchivedTotals(),
            on_gap=lambda found: record_gap(self.store, state, found),
        )
        self._covered_written = state.covered_until if state else None
        self._list_shards()

    def read_round(self, stop: Callable[[], bool] = lambda: False) -> list[ArchivedPage]:
        """One page of every open shard whose turn it is, each archived and checkpointed.

        ``stop`` is asked before each shard: a stop finishes the page in hand, never starts one.
        """
        if self._reader is None:
            self.start()
        if self.clock.monotonic() - self._listed_at >= REDISCOVER_SECONDS:
            self._list_shards()
        pages = []
        for followed in self._readable():
            if stop():
                break
            page = self._read_page(followed)
            if page is not None:
                pages.append(page)
        return pages

    def idle(self) -> bool:
        """True when every open shard's last reads came back empty (it is caught up)."""
        return all(
            followed.empty_reads >= EMPTY_READS.attempts or followed.checkpoint.closed
            for followed in self._shards.values()
        )

    def covered_until(self) -> datetime | None:
        """Every change before this instant is archived (None: not known for every shard)."""
        bounds = [
            followed.archived_until
            for followed in self._shards.values()
            if not followed.checkpoint.closed
        ]
        if any(bound is None for bound in bounds):
            return None
        return min((bound for bound in bounds if bound is not None), default=self.clock.now())

    def save_covered_until(self, *, force: bool = False) -> datetime | None:
        """Advance the stream state's ``covered_until`` (at most once a minute unless ``force``)."""
        covered = self.covered_until()
        if covered is None:
            return None
        written = self._covered_written
        if written is not None and (covered <= written):
            return written
        if not force and written is not None and covered - written < COVERED_UNTIL_EVERY:
            return written
        state = load_stream_state(self.store, self.table_name)
        if state is None:
            state = StreamState(self.table_name, self.stream_arn, covered_until=covered)
        elif state.stream_arn != self.stream_arn or state.gap is not None:
            return written  # a snapshot or a gap moved the state on: not ours to change
        elif covered > state.covered_until:
            state = replace(state, covered_until=covered)
        # Losing this write means a snapshot moved the state meanwhile: the next call reads it.
        with contextlib.suppress(PreconditionFailedError):
            save_stream_state(self.store, state)
            self._covered_written = covered
        return self._covered_written

    def check_stream(self, current_arn: str) -> None:
        """Raise :class:`StreamGapError` (and record the gap) if the table's stream changed."""
        if current_arn == self.stream_arn:
            return
        state = load_stream_state(self.store, self.table_name)
        gap = find_gap(state, current_arn, self.clock.now())
        if gap is None:
            raise StreamGapError(
                f"table {self.table_name}: its stream changed from {self.stream_arn} to "
                f"{current_arn}; restart to follow the new one"
            )
        record_gap(self.store, state, gap)
        raise StreamGapError(gap.message())

    def _list_shards(self) -> None:
        listed = order_shards(list(iter_shards(self.client, self.stream_arn)))
        for shard in listed:
            if shard["ShardId"] not in self._shards:
                checkpoint = load_shard_checkpoint(
                    self.store, self.table_name, self.stream_arn, shard["ShardId"]
                )
                self._shards[shard["ShardId"]] = _FollowedShard(shard, checkpoint)
        listed_ids = {shard["ShardId"] for shard in listed}
        # A closed shard that DescribeStream no longer lists (trimmed) is forgotten.
        for shard_id in [s for s, f in self._shards.items() if s not in listed_ids]:
            if self._shards[shard_id].checkpoint.closed:
                del self._shards[shard_id]
        self._listed_at = self.clock.monotonic()

    def _readable(self) -> list[_FollowedShard]:
        """Open shards, parents before children, a child only once its parent is closed."""
        now = self.clock.monotonic()
        readable = []
        for followed in self._shards.values():
            parent = self._shards.get(str(followed.shard.get("ParentShardId")))
            if followed.checkpoint.closed or (parent is not None and not parent.checkpoint.closed):
                continue
            if followed.not_before <= now:
                readable.append(followed)
        return readable

    def _read_page(self, followed: _FollowedShard) -> ArchivedPage | None:
        reader = self._reader
        assert reader is not None
        if not followed.started:
            followed.iterator = reader._iterator(followed.checkpoint)
            followed.started = True
        started_at = self.clock.now()
        response = self._get_records(followed)
        if response is None:
            return None
        records = response.get("Records", [])
        page = None
        if records:
            try:
                followed.checkpoint = reader._archive(followed.checkpoint, records)
            except BaseException:
                followed.started = False  # read again from the checkpoint next time
                raise
            page = self._page(followed.shard_id, records, reader.totals)
            followed.empty_reads = 0
            followed.empty_since = None
            if page.last_created is not None:
                followed.archived_until = page.last_created - _SECOND
        else:
            if followed.empty_reads == 0:
                followed.empty_since = started_at
            followed.empty_reads += 1
            if followed.empty_reads >= EMPTY_READS.attempts and followed.empty_since is not None:
                # Caught up, as a poll run counts it: everything before the first empty read.
                followed.archived_until = max(
                    followed.archived_until or followed.empty_since, followed.empty_since
                )
        followed.iterator = response.get("NextShardIterator")
        if followed.iterator is None:
            followed.checkpoint = save_shard_checkpoint(
                self.store, replace(followed.checkpoint, closed=True)
            )
            self._listed_at = -math.inf  # its children are listed by the next round
        return page

    def _get_records(self, followed: _FollowedShard) -> Mapping[str, Any] | None:
        """One page, or None when the shard is throttled (it waits for its backoff)."""
        reader = self._reader
        assert reader is not None
        for _ in range(2):
            response = get_records_page(
                self.client,
                followed.iterator,
                shard_id=followed.shard_id,
                throttled=followed.throttled,
            )
            if response == EXPIRED:
                followed.iterator = reader._iterator(followed.checkpoint)
                continue
            if response == THROTTLED_READ:
                followed.not_before = self.clock.monotonic() + THROTTLED.delay(followed.throttled)
                followed.throttled += 1
                return None
            followed.throttled = 0
            return response
        return None

    def _page(
        self, shard_id: str, records: list[Mapping[str, Any]], totals: ArchivedTotals
    ) -> ArchivedPage:
        """The page just archived, taking its files out of the reader's running totals."""
        created = [moment for moment in map(created_at, records) if moment is not None]
        page = ArchivedPage(
            shard_id=shard_id,
            records=len(records),
            archived=totals.archived,
            files=list(totals.files),
            quarantined=list(totals.quarantined),
            first_created=min(created, default=None),
            last_created=max(created, default=None),
            archived_at=self.clock.now(),
        )
        totals.archived = 0
        totals.files.clear()
        totals.quarantined.clear()
        return page
