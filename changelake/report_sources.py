"""The report's inputs beyond the change files: the poller's stream state, the index's watermark.

Both are read here, in the shell, and handed to ``changelake.ask.report_data`` as plain data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from changelake.archiver.checkpoints import load_stream_state
from changelake.archiver.stream_gaps import gap_from_dict
from changelake.ask.report_data import IndexWatermark, StreamCoverage
from changelake.rebuild.aliases import single_alias_target
from changelake.rebuild.watermark import META_KEY, SyncState
from changelake.schemas.exceptions import RebuildError

if TYPE_CHECKING:
    from changelake.archiver.object_store import ObjectStore
    from changelake.rebuild.search_sink import SearchSink


def load_stream_coverage(store: ObjectStore, table_name: str) -> StreamCoverage | None:
    """The table's stream coverage and gap, or None before any poll or snapshot."""
    state = load_stream_state(store, table_name)
    if state is None:
        return None
    gap = gap_from_dict(state.gap) if state.gap else None
    return StreamCoverage(
        stream_arn=state.stream_arn,
        covered_until=state.covered_until,
        snapshot_at=state.snapshot_at,
        gap_from=gap.lost_from if gap else None,
        gap_until=gap.lost_until if gap else None,
        gap_reason=gap.message() if gap else None,
    )


def load_index_watermark(sink: SearchSink, alias: str, table_name: str) -> IndexWatermark:
    """The watermark in the ``_meta`` of the index behind ``alias`` (which must hold the table)."""
    index = single_alias_target(sink, alias, "report")
    meta = sink.get_meta(index)
    if META_KEY not in meta:
        return IndexWatermark(alias=alias, index=index, watermark=None)
    state = SyncState.from_meta(meta, index)
    if state.table_name != table_name:
        raise RebuildError(
            f"index {index!r} holds table {state.table_name!r}, not {table_name!r}; "
            "check --table and --alias"
        )
    return IndexWatermark(alias=alias, index=index, watermark=state.watermark)
