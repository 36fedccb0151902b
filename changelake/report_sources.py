"""The report's inputs beyond the change files: the poller's stream state, the index's watermark.

Both are read here, in the shell, and handed to ``changelake.ask.report_data`` as plain data.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from changelake.archiver.checkpoints import load_stream_state
from changelake.archiver.stream_gaps import gap_from_dict
from changelake.ask.report_data import IndexWatermark, StreamCoverage
from changelake.rebuild.aliases import single_alias_target
from changelake.rebuild.watermark import META_KEY, SyncState
from changelake.schemas.exceptions import RebuildError, UnknownTableError
from changelake.unreadable_files import list_archive_files

if TYPE_CHECKING:
    from changelake.archiver.object_store import ObjectStore
    from changelake.rebuild.search_sink import SearchSink
    from changelake.schemas.archive_layout import ArchiveLocation


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


def require_table_files(connection: Any, location: ArchiveLocation, table_name: str) -> None:
    """Raise :class:`UnknownTableError`, naming the tables there, if the table has no files."""
    if list_archive_files(connection, location, table_name):
        return
    tables = sorted(
        {
            match.group(1)
            for url in list_archive_files(connection, location, None)
            if (match := re.search(r"/table=([^/]+)/dt=", url))
        }
    )
    same_but_case = [name for name in tables if name.lower() == table_name.lower()]
    hint = ""
    if same_but_case:
        hint = f" (did you mean {same_but_case[0]!r}? table names are case-sensitive)"
    listed = ", ".join(tables) if tables else "none: is --archive right?"
    raise UnknownTableError(
        f"no change files of table {table_name!r} under {location.uri}{hint}; tables there: "
        f"{listed}"
    )
