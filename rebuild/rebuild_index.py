"""Rebuild: replay the latest state into a fresh index, check it, then move the alias in one call.

The alias never points at a partial index: on any failure before the move, the new index is
deleted and the alias is left where it was. The live index is never deleted: when the move
itself fails (a timeout after the engine applied it, say), the alias is read back, and the new
index is deleted only if the alias is not on it.

Under a lease (the sync lease of the alias, held by the caller) every write first checks that
the lease still holds, and the new index records it in its ``_meta``: the next rebuild under the
same lock deletes a half-loaded index left by a dead holder, and leaves one built under any other
lease (a rebuild it cannot see may still be loading it).
"""

from __future__ import annotations

import copy
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from changelake.rebuild.aliases import (
    LOADED_KEY,
    alias_move_actions,
    check_alias,
    indexes_to_delete,
    list_rebuilt_indexes,
    new_index_name,
)
from changelake.rebuild.guarded_sink import GuardedSink, lease_to_meta
from changelake.rebuild.latest_images import latest_in_background
from changelake.rebuild.latest_runner import DuckDBRunner
from changelake.rebuild.recipe import body_digest
from changelake.rebuild.replay import ReplayOptions
from changelake.rebuild.watermark import META_KEY, SyncState, history_after_move
from changelake.schemas.exceptions import ChangelakeError, RebuildError

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from duckdb import DuckDBPyConnection

    from changelake.rebuild.guarded_sink import HeldLease
    from changelake.rebuild.latest_images import PendingLatest
    from changelake.rebuild.latest_runner import LatestRunner
    from changelake.rebuild.recipe import Recipe
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
    connection: DuckDBPyConnection | None,
    sink: SearchSink,
    *,
    recipe: Recipe,
    alias: str,
    index_body: dict[str, Any],
    now: datetime,
    as_of: datetime | None = None,
    keep: int = 1,
    dry_run: bool = False,
    options: ReplayOptions | None = None,
    latest: PendingLatest | None = None,
    lease: HeldLease | None = None,
    runner: LatestRunner | None = None,
    on_start: Callable[[int], None] = lambda total: None,
    on_progress: Callable[[int], None] = lambda actions: None,
) -> RebuildSummary:
    """Rebuild ``alias`` from the archive (a connection with the ``changes`` view) by ``recipe``.

    ``latest`` is the latest-record stage, started by the caller (``latest_in_background`` over
    ``recipe.selection(as_of=as_of)``) so that it runs while the sink is built; without it, it
    starts here, and runs while the alias is looked up and the index created. ``runner`` replaces
    both (and ``connection``): another engine computes the latest records and loads them
    (``changelake.rebuild.latest_runner``). ``options.transform`` is the loaded
    ``recipe.transform``. ``lease``, when given, guards every write.
    """
    started = time.monotonic()
    options = options or ReplayOptions()
    raw = sink
    if lease is not None:
        sink = GuardedSink(sink, lease)
    with ExitStack() as stack:
        if runner is None:
            if connection is None:
                raise RebuildError("a rebuild needs a DuckDB connection or another runner")
            selection = recipe.selection(as_of=as_of)
            if latest is None:
                latest = stack.enter_context(latest_in_background(connection, selection))
            runner = DuckDBRunner(connection, latest, selection)
        runner.check_images_in_stream()
        old = check_alias(sink, alias)
        watermark = runner.watermark()
        if watermark is None:
            raise RebuildError(
                f"the archive {recipe.archive!r} holds no changes of table {recipe.table_name!r}; "
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
            runner.check_document_ids(recipe.id_rule)
            summary.skipped = runner.count_without_image()
            runner.close()
            summary.documents = counts.upserts - summary.skipped
            summary.removed_items = counts.removes
            summary.seconds = time.monotonic() - started
            return summary
        state = SyncState(
            replace(recipe, mapping_sha256=body_digest(index_body)),
            watermark,
            as_of,
            lease=lease_to_meta(lease) if lease is not None else None,
        )
        load_body = index_body_for_load(index_body, state)
        # Created while DuckDB is still at the latest records: a round trip not waited for.
        sink.create_index(index, load_body)
        try:
            # Listed while DuckDB still works: once the alias moves, only deleting is left.
            prune = plan_prune(sink, alias, index, lease, summary.warnings)
            counts = runner.counts()
            runner.check_document_ids(recipe.id_rule)
            on_start(counts.upserts)
            result = runner.load(sink, index, options, on_progress)
            runner.close()
            stats = result.stats
            sink.put_settings(index, settings_after_load(index_body))
            sink.refresh(index)
            # Each item is written once into a fresh index, so a 409 means an earlier attempt of
            # the same request (resent after a timeout) already wrote that document.
            loaded = stats.indexed + stats.version_conflicts
            found = sink.count(index)
            if found != loaded:
                raise RebuildError(
                    f"index {index!r} holds {found} documents after the load, but {loaded} "
                    "were indexed; the alias was not moved"
                )
            # The alias as it is now (a writer under another lease may have moved it), and the
            # history it leaves behind.
            old = check_alias(sink, alias)
            old_meta = sink.get_meta(old[0]) if len(old) == 1 else None
            state = replace(state, alias_history=history_after_move(old, old_meta, index))
            # The _meta written at creation, marked loaded: known here, no need to read it back.
            meta = {
                **load_body["mappings"]["_meta"],
                META_KEY: state.to_meta(),
                LOADED_KEY: now.isoformat(),
            }
            sink.put_mapping(index, {"_meta": meta})
        except BaseException:
            raw.delete_index(index)  # never aliased; deleted even if the lease is gone
            raise
        move_alias(sink, raw, alias, old, index, summary.warnings)
        summary.alias_from = old
    summary.documents = loaded
    summary.removed_items = counts.removes
    summary.skipped = result.skipped
    summary.version_conflicts = stats.version_conflicts
    summary.failed = len(stats.failures)
    summary.retries = stats.retries
    if prune is not None:
        summary.deleted_indexes = _prune(
            sink, alias, index, keep, state.alias_history, prune, summary.warnings
        )
    summary.seconds = time.monotonic() - started
    return summary


def move_alias(
    sink: SearchSink, raw: SearchSink, alias: str, old: list[str], index: str, warnings: list[str]
) -> None:
    """Move ``alias`` from ``old`` to ``index``; on failure, delete ``index`` only if unaliased.

    A move can fail after the engine applied it (the answer timed out; the client's retry is
    then refused): the alias is read back, and if it is on ``index`` the rebuild succeeded.
    """
    try:
        sink.update_aliases(alias_move_actions(alias, old, index))
    except BaseException as error:
        try:
            targets = raw.alias_targets(alias)
        except Exception as read_error:
            error.add_note(
                f"the alias could not be read back ({read_error}), so {index!r} was kept: "
                f"check GET _alias/{alias} and delete {index} only if the alias is not on it"
            )
            raise error from None
        if index not in targets:
            raw.delete_index(index)
            raise
        warnings.append(
            f"moving alias {alias} answered with an error ({error}), but the engine had "
            f"applied it: {alias} is on {index}"
        )


@dataclass(frozen=True)
class PrunePlan:
    """The rebuilt indexes of an alias before a rebuild: dead holders' half-loaded ones, loaded."""

    orphans: list[str]
    loaded: list[str]


def plan_prune(
    sink: SearchSink, alias: str, current: str, lease: HeldLease | None, warnings: list[str]
) -> PrunePlan | None:
    """What a rebuild into ``current`` may delete once the alias has moved to it.

    A half-loaded index (no loaded mark, no alias on it) is an orphan to delete only if it was
    built under this rebuild's own lock by an earlier holder, who is gone since this rebuild
    holds the lock now. One built under another lease, or none, is left with a warning: a
    rebuild this one cannot see may be loading it. A failure is only a warning: the rebuild
    goes on and deletes nothing.
    """
    try:
        aliased = set(sink.alias_targets(alias))
        metas = {name: sink.get_meta(name) for name in list_rebuilt_indexes(sink, alias)}
    except ChangelakeError as error:
        warnings.append(f"listing old indexes failed, none will be deleted: {error}")
        return None
    orphans, loaded = [], []
    ours = lease_to_meta(lease) if lease is not None else None
    for name, meta in metas.items():
        if name == current:
            continue
        if meta.get(LOADED_KEY):
            loaded.append(name)
            continue
        if name in aliased:
            continue
        built_under = (meta.get(META_KEY) or {}).get("lease") or {}
        if ours is not None and built_under.get("lock") == ours["lock"] and built_under != ours:
            orphans.append(name)
        else:
            warnings.append(
                f"left {name}: half-loaded under another lease "
                f"({built_under.get('lock') or 'none recorded'}), so a rebuild may still be "
                "loading it; delete it once none is"
            )
    return PrunePlan(orphans, loaded)


def _prune(
    sink: SearchSink,
    alias: str,
    current: str,
    keep: int,
    history: tuple[str, ...],
    plan: PrunePlan,
    warnings: list[str],
) -> list[str]:
    """Delete dead holders' orphans and loaded indexes beyond the ``keep`` previous targets.

    ``history`` is the alias history of ``current``: the targets it had, newest first.

    The alias is read again first: an index it points to is never deleted. A failure is only a
    warning: the alias has already moved.
    """
    deleted = []
    try:
        aliased = set(sink.alias_targets(alias)) | {current}
        for name in plan.orphans:
            if name in aliased:
                continue
            sink.delete_index(name)
            deleted.append(name)
            warnings.append(f"deleted {name}, left half-loaded by an interrupted rebuild")
        for name in indexes_to_delete(alias, plan.loaded, current, keep, history):
            if name in aliased:
                continue
            sink.delete_index(name)
            deleted.append(name)
    except ChangelakeError as error:
        warnings.append(f"the alias moved, but deleting old indexes failed: {error}")
    return deleted
