"""The index side of ``changelake follow``: sync the items of each archived page into the alias.

Two kinds of step, both the ordinary sync (``changelake.rebuild.sync.sync_alias``: same latest
record, same external version, deletes included) under the alias's sync lease:

* a *window* step syncs the items of the pages just archived, reading only the newest rows of the
  archive (:mod:`changelake.rebuild.recent_changes`);
* a *catch-up* syncs everything archived since the index's watermark from the whole archive, as
  ``changelake sync`` does, then seeds those newest rows again. It runs first, and again after
  anything that may have left the index behind the archive: the engine unreachable, a step that
  failed, the lease held by another writer, the alias moved to another index, or a page older than
  the rows kept.

The lease is taken for each step and released after it, never held between steps: a ``sync``
or ``verify --repair`` of the same alias takes its turn between two steps, and a follower killed
mid-step blocks the alias for at most the lease's duration.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from changelake.alias_sync import alias_lease, sync_under_lease, whole_archive
from changelake.clients import make_store
from changelake.rebuild.recent_changes import RecentChanges, recent_rows_sql
from changelake.unreadable_files import naming_unreadable_files

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from duckdb import DuckDBPyConnection

    from changelake.alias_sync import IndexTarget
    from changelake.archiver.locks import Lease
    from changelake.archiver.stream_follower import ArchivedPage
    from changelake.rebuild.search_sink import SearchSink
    from changelake.rebuild.sync import SyncSummary

# The watermark (a mapping update, the dearest request of a step) is saved at most this often;
# a catch-up then reads at most this much more of the archive than it must.
WATERMARK_EVERY = 30.0

WINDOW = "window"
CATCH_UP = "catch-up"


@dataclass(frozen=True)
class IndexStep:
    """What one step did: its kind, the sync's summary, and the pages it made searchable."""

    kind: str
    summary: SyncSummary
    records: int
    oldest_created: datetime | None
    searchable_at: datetime

    @property
    def lag_seconds(self) -> float | None:
        """From the oldest record's ApproximateCreationDateTime to searchable, in seconds."""
        if self.oldest_created is None:
            return None
        return max(0.0, (self.searchable_at - self.oldest_created).total_seconds())

    @property
    def is_catch_up(self) -> bool:
        """True for a sync over the whole archive."""
        return self.kind == CATCH_UP


class AliasIndexer:
    """Syncs archived pages into ``target.alias``; not thread-safe (one thread drives it).

    The engine's client comes from ``make_sink`` at the first step, so that a follower starts
    archiving with the engine down.
    """

    def __init__(
        self, target: IndexTarget, recent: RecentChanges, make_sink: Callable[[], SearchSink]
    ) -> None:
        self.target = target
        self.recent = recent
        self.make_sink = make_sink
        self.needs_catch_up = True
        self.index: str | None = None
        self._store = make_store(target.location)
        self._sink: SearchSink | None = None
        self._watermark_saved_at = -WATERMARK_EVERY

    def step(self, pages: Sequence[ArchivedPage]) -> IndexStep:
        """Make ``pages`` searchable: a window step, or a catch-up when one is due.

        Raises what the sync raises (and :class:`LockHeldError` while another writer holds the
        alias's lease); the next step is then a catch-up.
        """
        oldest = min((p.first_created for p in pages if p.first_created), default=None)
        if not self.needs_catch_up and oldest is not None and not self.recent.covers(oldest):
            self.needs_catch_up = True
        kind = CATCH_UP if self.needs_catch_up else WINDOW
        self.needs_catch_up = True  # until this step has finished
        target = self.target
        # Like a sync, a step reads the archive only once it holds the lease.
        with alias_lease(self._store, target) as lease:
            if kind == CATCH_UP:
                summary = self._catch_up(lease)
            else:
                files = [target.location.url(key) for page in pages for key in page.files]
                with naming_unreadable_files(self.recent.connection, lambda: files):
                    self.recent.add_files(files)
                self.recent.select_items_of(files)
                summary = self._sync(self.recent.connection, lease)
        moved = self.index is not None and summary.index != self.index
        self.index = summary.index
        # The alias moved to another index (a rebuild): what it lacks is found by a catch-up.
        self.needs_catch_up = moved
        return IndexStep(
            kind=kind,
            summary=summary,
            records=sum(page.records for page in pages),
            oldest_created=oldest,
            searchable_at=datetime.now(UTC),
        )

    def _catch_up(self, lease: Lease) -> SyncSummary:
        """The ordinary sync over the whole archive, then the newest rows kept again."""
        since = datetime.now(UTC) - self.recent.horizon
        with whole_archive(self.target) as connection:
            summary = self._sync(connection, lease)
            rows = connection.execute(recent_rows_sql(since)).to_arrow_table()
        self.recent.seed(rows, since)
        return summary

    def _sync(self, connection: DuckDBPyConnection, lease: Lease) -> SyncSummary:
        if self._sink is None:
            self._sink = self.make_sink()
        now = time.monotonic()
        save = now - self._watermark_saved_at >= WATERMARK_EVERY
        summary = sync_under_lease(connection, self._sink, self.target, lease, save_watermark=save)
        if save:
            self._watermark_saved_at = now
        return summary
