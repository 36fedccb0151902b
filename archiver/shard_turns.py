"""A poll run's time, shared between the shards: who reads next, for how long, and when to stop.

A run gives each shard a turn (pages until its share of the time left is spent), then sends it to
the back of the queue if it has more, so that one busy shard cannot hold the others back. The
queue starts with the shard whose archive is furthest behind (nothing known archived first, then
the oldest), so a run that runs out of time before reaching every shard is followed by one that
starts with the shards it left unread. A child is queued only once its parent is read to its end
(or no longer listed): a parent's records of an item come before its children's.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from changelake.archiver.checkpoints import ShardCheckpoint

    Shard = Mapping[str, Any]

# Sorts a shard of which nothing is known archived before every other shard.
_NEVER = datetime.min.replace(tzinfo=UTC)


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


def archived_until(checkpoint: ShardCheckpoint, floor: datetime | None) -> datetime | None:
    """The time before which every record of the shard is archived, or None if unknown.

    The latest of: when its last archived record was made, the start of the last run that found
    it caught up, and ``floor`` (the stream's ``covered_until``, which holds for every shard).
    """
    known = [
        moment
        for moment in (checkpoint.last_record_at, checkpoint.caught_up_at, floor)
        if moment is not None
    ]
    return max(known, default=None)


class ShardTurns:
    """The queue of one run's shards; ``finished`` are read to their end already (closed)."""

    def __init__(
        self,
        shards: Sequence[Shard],
        finished: Iterable[str],
        behind: Mapping[str, datetime | None],
    ) -> None:
        self._listed = {shard["ShardId"] for shard in shards}
        self._finished = set(finished)
        self._blocked: list[Shard] = []
        ready: list[Shard] = []
        for shard in shards:
            if shard["ShardId"] not in self._finished:
                (ready if self._parent_done(shard) else self._blocked).append(shard)
        ready.sort(key=lambda shard: behind.get(shard["ShardId"]) or _NEVER)
        self._queue: deque[Shard] = deque(ready)

    def __len__(self) -> int:
        """Shards that want a turn now (children waiting for a parent not counted)."""
        return len(self._queue)

    def next(self) -> Shard | None:
        """The shard whose turn it is, taken off the queue; None when no shard wants one."""
        return self._queue.popleft() if self._queue else None

    def again(self, shard: Shard) -> None:
        """``shard`` has more to read: it gets another turn after every other shard."""
        self._queue.append(shard)

    def finish(self, shard: Shard) -> None:
        """``shard`` is read to its end: its children may take their turns."""
        self._finished.add(shard["ShardId"])
        released = [child for child in self._blocked if self._parent_done(child)]
        self._blocked = [child for child in self._blocked if child not in released]
        self._queue.extend(released)

    def blocked(self) -> list[Shard]:
        """Children still waiting for a parent that is not read to its end."""
        return list(self._blocked)

    def _parent_done(self, shard: Shard) -> bool:
        parent = shard.get("ParentShardId")
        if not isinstance(parent, str) or parent not in self._listed:
            return True
        return parent in self._finished
