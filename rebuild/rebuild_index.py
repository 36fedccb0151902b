"""Rebuild: replay the latest state into a fresh index, check it, then move the alias in one call.

The alias never points at a partial index: on any failure before the move, the new index is
deleted and the alias is left where it was.
"""

from __future__ import annotations

import copy
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from changelake.rebuild.aliases import (
    LOADED_KEY,
    alias_move_actions,
    check_alias,
    indexes_to_delete,
    list_orphan_indexes,
    list_rebuilt_indexes,
    new_index_name,
)
from changelake.rebuild.latest_images import Selection, latest_in_background
from changelake.rebuild.latest_runner import DuckDBRunner
from changelake.rebuild.replay import ReplayOptions
from changelake.rebuild.watermark import META_KEY, SyncState
from changelake.schemas.exceptions import ChangelakeError, RebuildError

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from changelake.rebuild.latest_images import PendingLatest
    from changelake.rebuild.latest_runner import LatestRunner
    from changelake.rebuild.search_sink import SearchSink

# While loading: no refresh and no replicas (the engine's guidance for bulk loads); both are put
# back to the mapping's values, or the engine's defaults, before the alias moves.
_LOAD_SETTINGS = {"refresh_interval": "-1", "number_of_replicas": 0}


@dataclass
class RebuildSummary:
    """What a rebuild did (or, with ``dry_run``, would do)."""

    index: str
    alias: str
    alias_from: list[str]
    documents: int
    removed_items: int
    skipped: int = 0
    version_conflicts: int = 0
    failed: int = 0
    retries: int = 0
    deleted_indexes: list[str] = field(default_factory=list)
    watermark: str | None = None
    as_of: str | None = None
    dry_run: bool = False
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "index": self.index,
            "alias": self.alias,
            "alias_move": {"from": self.alias_from, "to": self.index},
            "documents": self.documents,
            "removed_items": self.removed_items,
            "skipped": self.skipped,
            "version_conflicts": self.version_conflicts,
            "failed": self.failed,
            "retries": self.retries,
            "deleted_indexes": self.deleted_indexes,
            "watermark": self.watermark,
            "as_of": self.as_of,
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 3),
            "warnings": self.warnings,
        }


def index_body_for_load(body: dict[str, Any], state: SyncState) -> dict[str, Any]:
    """The index body with load-time settings and changelake's ``_meta`` added."""
    result = copy.deepcopy(body)
    settings = result.setdefault("settings", {})
    index_settings = settings.setdefault("index", {})
    for name, value in _LOAD_SETTINGS.items():
        settings.pop(name, None)
        index_settings[name] = value
    meta = result.setdefault("mappings", {}).setdefault("_meta", {})
    meta[META_KEY] = state.to_meta()
    return result


def settings_after_load(body: dict[str, Any]) -> dict[str, Any]:
    """The settings to put back once loaded: the body's own values, else the defaults (null)."""
    settings = body.get("settings", {})
    index_settings = settings.get("index", {})
    return {
        "index": {name: index_settings.get(name, settings.get(name)) for name in _LOAD_SETTINGS}
    }


def rebuild_index(
    connection: Any,
    sink: SearchSink,
    *,
    archive_uri: str,
    table_name: str,
    alias: str,
    index_body: dict[str, Any],
    now: datetime,
    as_of: datetime | None = None,
    keep: int = 1,
    dry_run: bool = False,
    options: ReplayOptions | None = None,
    latest: PendingLatest | None = None,
    runner: LatestRunner | None = None,
    on_start: Callable[[int], None] = lambda total: None,
    on_progress: Callable[[int], None] = lambda actions: None,
) -> RebuildSummary:
    """Rebuild ``alias`` from the archive (a connection with the ``changes`` view).

    ``latest`` is the latest-record stage, started by the caller (``latest_in_background`` over
    ``Selection(table_name, as_of=as_of)``) so that it runs while the sink is built; without it,
    it starts here, and runs while the alias is looked up and the index created. ``runner``
    replaces both (and ``connection``): another engine computes the latest records and loads
    them (``changelake.rebuild.latest_runner``).
    """
    started = time.monotonic()
    options = options or ReplayOptions()
    with ExitStack() as stack:
        if runner is None:
            if latest is None:
                selection = Selection(table_name, as_of=as_of)
                latest = stack.enter_context(latest_in_background(connection, selection))
            runner = DuckDBRunner(connection, latest)
        old = check_alias(sink, alias)
        watermark = runner.watermark()
        if watermark is None:
            raise RebuildError(
                f"the archive {archive_uri!r} holds no changes of table {table_name!r}; "
                "check --archive and --table"
            )
        index = new_index_name(alias, now)
        summary = RebuildSummary(
            index=index,
            alias=alias,
            alias_from=old,
            documents=0,
            removed_items=0,
            watermark=watermark.isoformat(),
            as_of=as_of.isoformat() if as_of else None,
            dry_run=dry_run,
        )
        if dry_run:
            counts = runner.counts()
            summary.skipped = runner.count_without_image()
            runner.close()
            summary.documents = counts.upserts - summary.skipped
            summary.removed_items = counts.removes
            summary.seconds = time.monotonic() - started
            return summary
        state = SyncState(table_name, archive_uri, watermark, as_of)
        load_body = index_body_for_load(index_body, state)
        # Created while DuckDB is still at the latest records: a round trip not waited for.
        sink.create_index(index, load_body)
        try:
            # Listed while DuckDB still works: once the alias moves, only deleting is left.
            prune = plan_prune(sink, alias, index, summary.warnings)
            counts = runner.counts()
            on_start(counts.upserts)
            result = runner.load(sink, index, options, on_progress)
            runner.close()
            stats = result.stats
            sink.put_settings(index, settings_after_load(index_body))
            sink.refresh(index)
            found = sink.count(index)
            if found != stats.indexed:
                raise RebuildError(
                    f"index {index!r} holds {found} documents after the load, but {stats.indexed} "
                    "were indexed; the alias was not moved"
                )
            # The _meta written at creation, marked loaded: known here, no need to read it back.
            meta = {**load_body["mappings"]["_meta"], LOADED_KEY: now.isoformat()}
            sink.put_meta(index, meta)
            sink.update_aliases(alias_move_actions(alias, old, index))
        except BaseException:
            sink.delete_index(index)
            raise
    summary.documents = stats.indexed
    summary.removed_items = counts.removes
    summary.skipped = result.skipped
    summary.version_conflicts = stats.version_conflicts
    summary.failed = len(stats.failures)
    summary.retries = stats.retries
    if prune is not None:
        summary.deleted_indexes = _prune(sink, alias, index, keep, prune, summary.warnings)
    summary.seconds = time.monotonic() - started
    return summary


@dataclass(frozen=True)
class PrunePlan:
    """The rebuilt indexes of an alias before a rebuild: orphans of killed rebuilds, and loaded."""

    orphans: list[str]
    loaded: list[str]


def plan_prune(sink: SearchSink, alias: str, current: str, warnings: list[str]) -> PrunePlan | None:
    """What a rebuild into ``current`` may delete once the alias has moved to it.

    A failure is only a warning: the rebuild goes on and deletes nothing.
    """
    try:
        orphans = [name for name in list_orphan_indexes(sink, alias) if name != current]
        loaded = [name for name in list_rebuilt_indexes(sink, alias) if name not in orphans]
    except ChangelakeError as error:
        warnings.append(f"listing old indexes failed, none will be deleted: {error}")
        return None
    return PrunePlan(orphans, loaded)


def _prune(
    sink: SearchSink, alias: str, current: str, keep: int, plan: PrunePlan, warnings: list[str]
) -> list[str]:
    """Delete the orphans and the rebuilt indexes beyond the ``keep`` previous ones.

    A failure is only a warning: the alias has already moved.
    """
    deleted = []
    try:
        for name in plan.orphans:
            sink.delete_index(name)
            deleted.append(name)
            warnings.append(f"deleted {name}, left half-loaded by an interrupted rebuild")
        for name in indexes_to_delete(alias, plan.loaded, current, keep):
            sink.delete_index(name)
            deleted.append(name)
    except ChangelakeError as error:
        warnings.append(f"the alias moved, but deleting old indexes failed: {error}")
    return deleted
