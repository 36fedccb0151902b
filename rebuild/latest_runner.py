"""The seam between a rebuild and the engine that computes the latest records and loads them.

``rebuild_index`` keeps the index lifecycle (alias check, index creation with ``_meta``, the load
check, the loaded mark, the alias move, pruning) and asks a :class:`LatestRunner` for the rest:
the high watermark, what the latest records are, and sending their documents to the new index.
:class:`DuckDBRunner` does it in this process (``latest_images`` and ``replay``); the Spark
runner (``changelake.rebuild.spark_runner``) over a cluster's executors.
"""

from __future__ import annotations

from contextlib import closing
from typing import TYPE_CHECKING, Protocol

from changelake.rebuild.document_ids import check_document_ids
from changelake.rebuild.latest_images import (
    LATEST_TABLE,
    check_images_in_stream,
    count_without_image,
    drop_latest,
)
from changelake.rebuild.replay import replay_latest

if TYPE_CHECKING:
    from datetime import datetime

    from duckdb import DuckDBPyConnection

    from changelake.rebuild.latest_images import LatestCounts, PendingLatest, Selection
    from changelake.rebuild.replay import OnProgress, ReplayOptions, ReplayResult
    from changelake.rebuild.search_sink import SearchSink


class LatestRunner(Protocol):
    """Computes the latest record of every selected item and loads their documents."""

    def watermark(self) -> datetime | None:
        """The newest ``archived_at`` of the selection's table; None when it has no changes."""
        ...

    def counts(self) -> LatestCounts:
        """How many latest records are upserts and how many removes (waits for them)."""
        ...

    def count_without_image(self) -> int:
        """Latest upserts that have no image (for a dry run's plan)."""
        ...

    def check_images_in_stream(self) -> None:
        """Raise if latest upserts lack their images because of the stream's view type.

        Asked first, before the index is created: it reads one narrow column of the selected
        records, and the latest records only when a stream without images fed the table.
        """
        ...

    def check_document_ids(self, id_rule: str) -> None:
        """Raise if ``id_rule`` gives two latest records one ``_id``, or names a missing key."""
        ...

    def load(
        self, sink: SearchSink, index: str, options: ReplayOptions, on_progress: OnProgress
    ) -> ReplayResult:
        """Send every latest upsert's document to ``index``; what the engine did with them."""
        ...

    def close(self) -> None:
        """Free what the latest records hold (temporary tables, cached data)."""
        ...


class DuckDBRunner:
    """The latest records materialized by DuckDB in this process, replayed by its bulk loader."""

    def __init__(
        self, connection: DuckDBPyConnection, pending: PendingLatest, selection: Selection
    ) -> None:
        self.connection = connection
        self.pending = pending
        self.selection = selection

    def watermark(self) -> datetime | None:
        """The newest ``archived_at`` of the table (computed on a second connection)."""
        return self.pending.watermark.result()

    def counts(self) -> LatestCounts:
        """Upserts and removes among the materialized latest records."""
        return self.pending.counts.result()

    def count_without_image(self) -> int:
        """Latest upserts that have no image."""
        return count_without_image(self.connection)

    def check_images_in_stream(self) -> None:
        """Check on a second connection to the database, while the latest records are picked."""
        with closing(self.connection.cursor()) as cursor:
            check_images_in_stream(cursor, self.selection)

    def check_document_ids(self, id_rule: str) -> None:
        """Check the rule over the materialized latest records' keys."""
        check_document_ids(self.connection, id_rule, f"SELECT item_key FROM {LATEST_TABLE}")

    def load(
        self, sink: SearchSink, index: str, options: ReplayOptions, on_progress: OnProgress
    ) -> ReplayResult:
        """Replay the materialized latest upserts into ``index``."""
        return replay_latest(
            self.connection,
            sink,
            index,
            with_removes=False,
            options=options,
            on_progress=on_progress,
        )

    def close(self) -> None:
        """Drop the temporary table of latest records."""
        drop_latest(self.connection)
