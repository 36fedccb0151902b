"""Sync: apply everything archived since the last rebuild or sync to the index behind an alias.

The same replay as a rebuild, narrowed to the items changed since the watermark and with deletes,
written with external versions: a stale write loses (a counted 409). It follows the recipe the
index was rebuilt by (``recipe.Recipe``), and writes to the concrete index it read the recipe and
watermark from, never through the alias: if a rebuild moves the alias meanwhile, this sync's late
writes cannot land in the new index (where they could bring back an item the rebuild saw
deleted). The caller holds the alias's sync lease, which rebuild and repair take too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from changelake.rebuild.aliases import single_alias_target
from changelake.rebuild.document_ids import check_document_ids
from changelake.rebuild.latest_images import (
    LATEST_TABLE,
    drop_latest,
    load_high_watermark,
    materialize_latest,
)
from changelake.rebuild.mapping_plan import fit_changes_to_index
from changelake.rebuild.replay import ReplayOptions, replay_latest
from changelake.rebuild.watermark import DEFAULT_OVERLAP, META_KEY, SyncState
from changelake.schemas.exceptions import RebuildError
from changelake.schemas.sql_views import quote_literal

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import timedelta

    from duckdb import DuckDBPyConnection

    from changelake.rebuild.recipe import Recipe
    from changelake.rebuild.search_sink import SearchSink


@dataclass
class SyncSummary:
    """What a sync did."""

    index: str
    alias: str
    watermark_from: str | None
    watermark_to: str | None
    items: int
    indexed: int
    deleted: int
    not_found: int
    skipped: int
    version_conflicts: int
    failed: int
    seconds: float
    # Items whose values the index's mapping cannot take (``mapping_plan``): not written.
    held_back: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return dict(self.__dict__, seconds=round(self.seconds, 3))


def read_index_state(sink: SearchSink, alias: str, command: str) -> tuple[str, SyncState]:
    """The one index behind ``alias`` and what its ``_meta`` remembers (``command`` for errors)."""
    index = single_alias_target(sink, alias, command)
    return index, SyncState.from_meta(sink.get_meta(index), index)


def sync_alias(
    connection: DuckDBPyConnection,
    sink: SearchSink,
    *,
    alias: str,
    index: str,
    recipe: Recipe,
    overlap: timedelta = DEFAULT_OVERLAP,
    options: ReplayOptions | None = None,
    on_start: Callable[[int], None] = lambda total: None,
    on_progress: Callable[[int], None] = lambda actions: None,
    save_watermark: bool = True,
) -> SyncSummary:
    """Bring ``index`` (behind ``alias``) up to date with the archive, by ``recipe``.

    ``index`` and ``recipe`` are what :func:`read_index_state` found before the caller took the
    lease; the alias must still be on ``index``. ``options.transform`` is the loaded
    ``recipe.transform``. The watermark moves only if no document was refused, so refused ones
    are sent again by the next sync.

    ``save_watermark=False`` leaves the watermark where it was (``changelake follow`` moves it
    only now and then): the next sync then reads a little more than it must, never less.
    """
    started = time.monotonic()
    options = options or ReplayOptions()
    now_on = single_alias_target(sink, alias, "sync")
    if now_on != index:
        raise RebuildError(
            f"alias {alias!r} moved from {index!r} to {now_on!r} before this sync began "
            "(a rebuild or rollback); run sync again"
        )
    meta = sink.get_meta(index)
    state = SyncState.from_meta(meta, index)
    if state.as_of is not None:
        raise RebuildError(
            f"index {index!r} shows the state as of {state.as_of.isoformat()}; syncing it would "
            "mix times. Rebuild without --as-of (or roll back) first"
        )
    table = quote_literal(recipe.table_name)
    since = state.since(overlap)
    high = load_high_watermark(connection, recipe.table_name, since)
    transform = options.transform is not None
    counts = materialize_latest(
        connection, recipe.selection(since=since), typed_images=not transform
    )
    check_document_ids(
        connection, recipe.id_rule, f"SELECT item_key FROM {LATEST_TABLE}",
        among_sql=f"SELECT item_key FROM changes WHERE table_name = {table}",
    )  # fmt: skip
    fit = fit_changes_to_index(
        connection,
        sink,
        index,
        table_name=recipe.table_name,
        max_errors=options.max_errors,
        transform=transform,
    )
    options = replace(
        fit.replay_options(options), max_errors=options.max_errors - len(fit.held_back)
    )
    on_start(counts.upserts + counts.removes)
    result = replay_latest(
        connection, sink, index, with_removes=True, options=options, on_progress=on_progress
    )
    drop_latest(connection)
    sink.refresh(index)  # searches see the sync's writes when it returns
    stats = result.stats
    summary = SyncSummary(
        index=index,
        alias=alias,
        watermark_from=state.watermark.isoformat() if state.watermark else None,
        watermark_to=state.watermark.isoformat() if state.watermark else None,
        items=counts.upserts + counts.removes,
        indexed=stats.indexed,
        deleted=stats.deleted,
        not_found=stats.not_found,
        skipped=result.skipped,
        version_conflicts=stats.version_conflicts,
        failed=len(stats.failures),
        seconds=0.0,
        held_back=list(fit.held_back),
        warnings=list(fit.warnings),
    )
    newest = state.watermark
    if stats.failures:
        summary.warnings.append(
            f"the watermark stays at {summary.watermark_from or 'the start'}: "
            f"{len(stats.failures)} documents were refused, and the next sync sends them again"
        )
    elif save_watermark and high is not None and (newest is None or high > newest):
        newest = high
    after = replace(state, recipe=recipe, watermark=newest)
    if after != state:
        meta[META_KEY] = after.to_meta()
        sink.put_mapping(index, {"_meta": meta})
    summary.watermark_to = newest.isoformat() if newest else None
    moved_to = sink.alias_targets(alias)
    if moved_to != [index]:
        summary.warnings.append(
            f"alias {alias} moved to {', '.join(moved_to) or 'nothing'} during this sync; its "
            f"writes went to {index}, the index it read, and the next sync follows the alias"
        )
    summary.seconds = time.monotonic() - started
    return summary
