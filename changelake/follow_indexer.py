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

The lease is taken for each step and released after it, never held between steps: a ``sync``,
``verify --repair`` or ``rebuild`` of the same alias takes its turn between two steps, and a
follower killed mid-step blocks the alias for at most the lease's duration.
"""

from __future__ import annotations

import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from changelake.archiver.locks import held_lock
from changelake.clients import make_store
from changelake.rebuild.recent_changes import RecentChanges, recent_rows_sql
from changelake.rebuild.replay import ReplayOptions
from changelake.rebuild.sync import SyncSummary, sync_alias
from changelake.schemas.archive_layout import lock_key
from changelake.unreadable_files import (
    naming_archive_files,
    naming_unreadable_files,
    open_readable_archive,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from changelake.archiver.locks import Lease
    from changelake.archiver.stream_follower import ArchivedPage
    from changelake.rebuild.search_sink import SearchSink
    from changelake.schemas.archive_layout import ArchiveLocation

# The watermark (a mapping update, the dearest request of a step) is saved at most this often;
# a catch-up then reads at most this much more of the archive than it must.
WATERMARK_EVERY = 30.0

# A follower's lease is held for one step at a time: a minute is ample for a step, and what a
# killed follower leaves behind blocks the alias no longer than that.
FOLLOW_LEASE = timedelta(minutes=1)

WINDOW = "window"
CATCH_UP = "catch-up"


@dataclass(frozen=True)
class IndexTarget:
    """Where a follower indexes: the archive it reads, the table, the alias, and how to reach
    the engine (built at the first step, so a follower starts archiving with the engine down)."""

    location: ArchiveLocation
    table_name: str
    alias: str
    make_sink: Callable[[], SearchSink]
    options: ReplayOptions = field(default_factory=ReplayOptions)
    lease: timedelta = FOLLOW_LEASE


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
    """Syncs archived pages into ``target.alias``; not thread-safe (one thread drives it)."""

    def __init__(self, target: IndexTarget, recent: RecentChanges) -> None:
        self.target = target
        self.recent = recent
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
        key = lock_key(target.table_name, f"sync-{target.alias}")
        # Like a sync, a step reads the archive only once it holds the lease.
        with held_lock(self._store, key, duration=target.lease) as lease:
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
        target = self.target
        since = datetime.now(UTC) - self.recent.horizon
        connection, _ = open_readable_archive(target.location, target.table_name)
        with (
            closing(connection),
            naming_archive_files(connection, target.location, target.table_name),
        ):
            summary = self._sync(connection, lease)
            rows = connection.execute(recent_rows_sql(since)).to_arrow_table()
        self.recent.seed(rows, since)
        return summary

    def _sync(self, connection: Any, lease: Lease) -> SyncSummary:
        target = self.target
        if self._sink is None:
            self._sink = target.make_sink()
        now = time.monotonic()
        save = now - self._watermark_saved_at >= WATERMARK_EVERY
        summary = sync_alias(
            connection,
            self._sink,
            table_name=target.table_name,
            alias=target.alias,
            options=target.options,
            on_progress=lambda actions: lease.renew_if_due(),
            save_watermark=save,
        )
        if save:
            self._watermark_saved_at = now
        return summary
