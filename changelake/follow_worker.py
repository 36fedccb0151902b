"""The thread that runs a follower's index steps, so archiving never waits for the engine.

The follow loop hands each round's archived pages to :class:`IndexWorker` and goes on reading the
stream. The worker makes them searchable (``changelake.follow_indexer.AliasIndexer``): pages that
arrive while a step runs wait and go together in the next step. When a step fails (the engine
unreachable, the lease held by another writer), the pages wait, the worker says so, and it tries
again, first after half a second and then every two seconds at most (a minute after an error that
retrying cannot fix), with a catch-up that makes every waiting page searchable at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING

from changelake.schemas.backoff import Backoff
from changelake.schemas.exceptions import ChangelakeError, LockHeldError, TransientError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from changelake.archiver.stream_follower import ArchivedPage
    from changelake.follow_indexer import AliasIndexer, IndexStep

# Retries of a failed step: 0.5 s doubling to 2 s, so an engine that comes back is written to
# within seconds (a refused connection costs nothing to try). An error that retrying cannot fix
# (a refused document) is tried once a minute.
RETRY = Backoff(base=0.5, cap=2.0, attempts=0)
TERMINAL_RETRY_SECONDS = 60.0


class Indexing(StrEnum):
    """How indexing stands (written as is into follow's report lines)."""

    UP = "up"
    DOWN = "down"
    STARTING = "starting"


@dataclass(frozen=True)
class IndexState:
    """How indexing stands: ``up``, ``starting`` or ``down`` (with the error), and what waits."""

    state: Indexing = Indexing.STARTING
    error: str | None = None
    waiting_records: int = 0


class IndexWorker:
    """Runs ``indexer`` on a thread of its own; ``submit`` pages, collect ``finished`` steps."""

    def __init__(
        self,
        indexer: AliasIndexer,
        *,
        on_state: Callable[[IndexState], None] = lambda state: None,
        monotonic: Callable[[], float],
    ) -> None:
        self.indexer = indexer
        self.on_state = on_state
        self.monotonic = monotonic
        self.state = IndexState()
        self.fatal: BaseException | None = None
        self._pending: list[ArchivedPage] = []
        self._finished: list[IndexStep] = []
        self._stopping = False
        self._retry_at = 0.0
        self._failures = 0
        self._stepping = False
        self._ever_up = False
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="follow-index", daemon=True)

    def start(self) -> None:
        """Start the thread; its first step is a catch-up."""
        self._thread.start()

    def submit(self, pages: Sequence[ArchivedPage]) -> None:
        """Queue archived pages to be made searchable."""
        if not pages:
            return
        with self._condition:
            self._pending.extend(pages)
            if self._failures and not self._stepping:
                # Indexing is down and the next step, a catch-up, has not started: it will read
                # these pages from the archive, so their file lists need not be kept.
                self._pending = [_merged(self._pending)]
            self._condition.notify()

    def finished(self) -> list[IndexStep]:
        """The steps finished since the last call."""
        with self._condition:
            steps, self._finished = self._finished, []
        return steps

    def waiting_records(self) -> int:
        """Records archived but not yet searchable."""
        with self._condition:
            return sum(page.records for page in self._pending)

    def stop(self, timeout: float) -> None:
        """Make what is queued searchable if the engine answers (one last try), then end."""
        with self._condition:
            self._stopping = True
            self._retry_at = 0.0
            self._condition.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as error:  # handed to the follow loop, which stops with it
            self.fatal = error

    def _loop(self) -> None:
        first = True
        while True:
            with self._condition:
                while not self._due(first):
                    if self._stopping:
                        return
                    self._condition.wait(self._wait_seconds())
                pages, self._pending = self._pending, []
                stopping = self._stopping
                self._stepping = True
            first = False
            try:
                step = self.indexer.step(pages)
            except ChangelakeError as error:
                self._failed(pages, error)
                if stopping:
                    return
                continue
            with self._condition:
                self._stepping = False
                self._finished.append(step)
                self._failures = 0
                self._retry_at = 0.0
            self._ever_up = True
            self._set_state(IndexState(Indexing.UP, waiting_records=self.waiting_records()))
            if stopping and not self._pending:
                return

    def _due(self, first: bool) -> bool:
        """A step is due: the first catch-up, queued pages, and no retry pending."""
        if self.monotonic() < self._retry_at:
            return False
        return first or bool(self._pending) or (self.indexer.needs_catch_up and self._failures > 0)

    def _wait_seconds(self) -> float | None:
        """Until the retry is due, or until something is submitted."""
        left = self._retry_at - self.monotonic()
        return left if left > 0 else None

    def _failed(self, pages: list[ArchivedPage], error: ChangelakeError) -> None:
        """Keep the pages for the catch-up that will follow; stop at once on a bad start."""
        if not self._ever_up and not isinstance(error, TransientError | LockHeldError):
            # Nothing indexed yet and retrying cannot help: a wrong alias, table or archive.
            raise error
        if isinstance(error, TransientError | LockHeldError):
            delay = RETRY.delay(self._failures)
        else:
            delay = TERMINAL_RETRY_SECONDS
        with self._condition:
            # The next step is a catch-up, which starts after every page waiting now was archived.
            self._pending = [_merged([*pages, *self._pending])] if pages or self._pending else []
            waiting = sum(page.records for page in self._pending)
            self._stepping = False
            self._failures += 1
            self._retry_at = self.monotonic() + delay
        self._set_state(IndexState(Indexing.DOWN, error=str(error), waiting_records=waiting))

    def _set_state(self, state: IndexState) -> None:
        self.state = state
        self.on_state(state)


def _merged(pages: list[ArchivedPage]) -> ArchivedPage:
    """Pages waiting for a catch-up as one: their records and their oldest change (no files,
    which a catch-up does not need)."""
    first = pages[0]
    created = [page.first_created for page in pages if page.first_created is not None]
    return replace(
        first,
        records=sum(page.records for page in pages),
        archived=sum(page.archived for page in pages),
        files=[],
        quarantined=[],
        first_created=min(created, default=None),
    )
