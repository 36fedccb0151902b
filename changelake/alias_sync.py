"""One sync of an alias under its lease: the unit of work of ``changelake follow`` and of the sync
Lambda that each new archive object starts (``changelake.sync_handler``).

The lease is the one ``changelake sync`` and ``verify --repair`` take
(``_locks/table=<table>/sync-<alias>.json``), and like them a sync reads the archive only once it
holds it: a sync that read an older archive could otherwise send an item's older version after
another writer deleted it.
"""

from __future__ import annotations

from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from changelake.archiver.locks import held_lock
from changelake.rebuild.guarded_sink import GuardedSink
from changelake.rebuild.recipe import RecipeFlags, follow_recipe, load_recipe_transform
from changelake.rebuild.replay import ReplayOptions
from changelake.rebuild.sync import SyncSummary, read_index_state, sync_alias
from changelake.schemas.archive_layout import lock_key
from changelake.unreadable_files import naming_archive_files, open_readable_archive

if TYPE_CHECKING:
    from collections.abc import Iterator

    from duckdb import DuckDBPyConnection

    from changelake.archiver.locks import Lease
    from changelake.archiver.object_store import ObjectStore
    from changelake.rebuild.search_sink import SearchSink
    from changelake.schemas.archive_layout import ArchiveLocation

# Held for one sync at a time: a minute is ample for a follower's step or a sync of what one
# object holds, and what a killed process leaves behind blocks the alias no longer than that.
SHORT_LEASE = timedelta(minutes=1)


@dataclass(frozen=True)
class IndexTarget:
    """What a sync reads and writes: the archive, the table, the alias, and its options.

    ``transform``, when given, must be the index's recipe's; the recipe's is used either way.
    """

    location: ArchiveLocation
    table_name: str
    alias: str
    options: ReplayOptions = field(default_factory=ReplayOptions)
    transform: str | None = None
    lease: timedelta = SHORT_LEASE


@contextmanager
def alias_lease(store: ObjectStore, target: IndexTarget) -> Iterator[Lease]:
    """Hold the alias's sync lease for the ``with`` block (:class:`LockHeldError` if taken)."""
    key = lock_key(target.table_name, f"sync-{target.alias}")
    with held_lock(store, key, duration=target.lease) as lease:
        yield lease


@contextmanager
def whole_archive(target: IndexTarget) -> Iterator[Any]:
    """A DuckDB connection over the table's whole archive; a failed read names the bad file."""
    connection, _ = open_readable_archive(target.location, target.table_name)
    with (
        closing(connection),
        naming_archive_files(connection, target.location, target.table_name),
    ):
        yield connection


def sync_under_lease(
    connection: DuckDBPyConnection,
    sink: SearchSink,
    target: IndexTarget,
    lease: Lease,
    *,
    save_watermark: bool = True,
) -> SyncSummary:
    """The ordinary sync of ``target.alias`` from ``connection``'s views, by the index's recipe,
    renewing ``lease`` as it goes and writing only while it holds it."""
    index, state = read_index_state(sink, target.alias, "sync")
    flags = RecipeFlags(table_name=target.table_name, transform=target.transform)
    recipe, function = load_recipe_transform(follow_recipe(state.recipe, flags, index), index)
    return sync_alias(
        connection,
        GuardedSink(sink, lease),
        alias=target.alias,
        index=index,
        recipe=recipe,
        options=replace(target.options, transform=function),
        on_progress=lambda actions: lease.renew_if_due(),
        save_watermark=save_watermark,
    )
