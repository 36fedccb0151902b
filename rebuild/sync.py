"""Sync: apply everything archived since the last rebuild or sync to the live alias.

The same replay as a rebuild, narrowed to the items changed since the watermark and with deletes,
written through the alias with external versions: a stale write loses (a counted 409).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from changelake.rebuild.aliases import single_alias_target
from changelake.rebuild.latest_images import (
    Selection,
    drop_latest,
    load_high_watermark,
    materialize_latest,
)
from changelake.rebuild.replay import ReplayOptions, replay_latest
from changelake.rebuild.watermark import DEFAULT_OVERLAP, META_KEY, SyncState
from changelake.schemas.exceptions import RebuildError

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import timedelta

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return dict(self.__dict__, seconds=round(self.seconds, 3))


def sync_alias(
    connection: Any,
    sink: SearchSink,
    *,
    table_name: str,
    alias: str,
    overlap: timedelta = DEFAULT_OVERLAP,
    options: ReplayOptions | None = None,
    on_start: Callable[[int], None] = lambda total: None,
    on_progress: Callable[[int], None] = lambda actions: None,
    save_watermark: bool = True,
) -> SyncSummary:
    """Bring the index behind ``alias`` up to date with the archive.

    ``save_watermark=False`` leaves the watermark where it was (``changelake follow`` moves it
    only now and then): the next sync then reads a little more than it must, never less.
    """
    started = time.monotonic()
    options = options or ReplayOptions()
    index = single_alias_target(sink, alias, "sync")
    meta = sink.get_meta(index)
    state = SyncState.from_meta(meta, index)
    if state.table_name != table_name:
        raise RebuildError(
            f"index {index!r} holds table {state.table_name!r}, not {table_name!r}; "
            "check --table and --alias"
        )
    if state.as_of is not None:
        raise RebuildError(
            f"index {index!r} shows the state as of {state.as_of.isoformat()}; syncing it would "
            "mix times. Rebuild without --as-of (or roll back) first"
        )
    high = load_high_watermark(connection, table_name)
    counts = materialize_latest(connection, Selection(table_name, since=state.since(overlap)))
    on_start(counts.upserts + counts.removes)
    result = replay_latest(
        connection, sink, alias, with_removes=True, options=options, on_progress=on_progress
    )
    drop_latest(connection)
    sink.refresh(index)  # searches see the sync's writes when it returns
    stats = result.stats
    newest = state.watermark
    if high is not None and (newest is None or high > newest) and save_watermark:
        newest = high
        meta[META_KEY] = replace(state, watermark=high).to_meta()
        sink.put_meta(index, meta)
    return SyncSummary(
        index=index,
        alias=alias,
        watermark_from=state.watermark.isoformat() if state.watermark else None,
        watermark_to=newest.isoformat() if newest else None,
        items=counts.upserts + counts.removes,
        indexed=stats.indexed,
        deleted=stats.deleted,
        not_found=stats.not_found,
        skipped=result.skipped,
        version_conflicts=stats.version_conflicts,
        failed=len(stats.failures),
        seconds=time.monotonic() - started,
    )
