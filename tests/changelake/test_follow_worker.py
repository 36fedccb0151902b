"""The index thread of ``changelake follow``: pages wait while a step fails, then go at once."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from changelake.archiver.stream_follower import ArchivedPage
from changelake.follow_worker import Indexing, IndexWorker
from changelake.schemas.exceptions import (
    LockHeldError,
    RebuildError,
    SearchUnavailableError,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from changelake.follow_worker import IndexState


def page(records: int, second: int) -> ArchivedPage:
    created = datetime.fromtimestamp(1_764_288_000 + second, UTC)
    return ArchivedPage("shard", records, records, [f"f{second}"], [], created, created, created)


@dataclass
class Indexer:
    """Stands in for AliasIndexer: its tries numbered in ``failing`` raise that error."""

    failing: dict[int, Exception] = field(default_factory=dict)
    slow: dict[int, float] = field(default_factory=dict)
    needs_catch_up: bool = True
    tries: int = 0
    before_stop: int = 0
    steps: list[tuple[bool, list[ArchivedPage]]] = field(default_factory=list)

    def step(self, pages: Sequence[ArchivedPage]) -> Any:
        catch_up = self.needs_catch_up
        self.tries += 1
        time.sleep(self.slow.get(self.tries - 1, 0.0))
        if self.tries - 1 in self.failing:
            self.needs_catch_up = True
            raise self.failing[self.tries - 1]
        self.steps.append((catch_up, list(pages)))
        self.needs_catch_up = False
        return (catch_up, sum(p.records for p in pages))


def run(indexer: Indexer, *batches: list[ArchivedPage], wait: float = 0.3) -> list[IndexState]:
    """Submit each batch, ``wait`` seconds apart, then stop; the states the worker went through.

    ``indexer.before_stop`` keeps how many tries it had made when the stop came.
    """
    states: list[IndexState] = []
    worker = IndexWorker(indexer, on_state=states.append, monotonic=time.monotonic)  # type: ignore[arg-type]
    worker.start()
    for pages in batches:
        worker.submit(pages)
        time.sleep(wait)
    indexer.before_stop = indexer.tries
    worker.stop(timeout=10)
    if worker.fatal is not None:
        raise worker.fatal
    return states


def test_the_first_step_catches_up_and_the_next_ones_take_the_pages() -> None:
    indexer = Indexer()
    states = run(indexer, [page(3, 0)], [page(2, 1), page(1, 2)])
    assert [catch_up for catch_up, _ in indexer.steps] == [True, False, False]
    assert [sum(p.records for p in pages) for _, pages in indexer.steps] == [0, 3, 3]
    assert {state.state for state in states} == {Indexing.UP}


def test_pages_wait_while_the_engine_is_away_and_go_in_one_catch_up() -> None:
    # The first step (a catch-up) works, the second (a window step) finds the engine away.
    indexer = Indexer(failing={1: SearchUnavailableError("connection refused")})
    states = run(indexer, [page(3, 1)], [page(4, 2)], [page(5, 3)], wait=0.4)
    assert [state.state for state in states][:2] == [Indexing.UP, Indexing.DOWN]
    assert "connection refused" in (states[1].error or "")
    assert states[-1].state == Indexing.UP
    # The pages that waited went together, as one merged page (no files), in a catch-up.
    (first, *later) = indexer.steps
    assert first == (True, [])
    assert later[0][0] and later[0][1][0].files == []
    assert sum(p.records for _, pages in later for p in pages) == 12


def test_pages_archived_during_the_catch_up_keep_their_files_for_the_next_step() -> None:
    # Try 1 (a window step) fails; try 2, the catch-up, takes a while: a page archived meanwhile
    # may be missing from what it read, so it must go to the next step with its files.
    indexer = Indexer(failing={1: SearchUnavailableError("connection refused")}, slow={2: 1.5})
    run(indexer, [page(3, 1)], [], [page(4, 2)], wait=0.9)
    kinds = [(catch_up, [p.files for p in pages]) for catch_up, pages in indexer.steps]
    assert kinds == [(True, []), (True, [[]]), (False, [["f2"]])]


def test_a_held_lease_is_waited_for() -> None:
    indexer = Indexer(failing=dict.fromkeys([0, 1], LockHeldError("held by host:1")))
    states = run(indexer, [page(1, 0)], wait=3.5)
    assert [state.state for state in states] == [Indexing.DOWN, Indexing.DOWN, Indexing.UP]
    assert indexer.steps and indexer.steps[0][0]


def test_a_refused_step_after_the_start_is_tried_again_a_minute_later() -> None:
    indexer = Indexer(failing={1: RebuildError("1 documents were refused")})
    states = run(indexer, [page(1, 0)], wait=1.5)
    assert indexer.before_stop == 2  # the retry waits a minute...
    assert [state.state for state in states] == [
        Indexing.UP,
        Indexing.DOWN,
        Indexing.UP,
    ]  # ...or the stop's last try


def test_a_wrong_alias_at_the_start_stops_the_worker() -> None:
    indexer = Indexer(failing={0: RebuildError("alias 'posts' points to 0 indexes")})
    with pytest.raises(RebuildError, match="points to 0 indexes"):
        run(indexer, [page(1, 0)])
