"""Replay the latest records into an index: the one code path of rebuild and sync.

A rebuild is a replay of every item into an empty index (removed items have nothing to delete);
a sync is a replay of the items changed since its watermark into the live index, deletes
included. Both write with the record's external version, so a replay of old records loses to
what the index already holds, and running one twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from changelake.rebuild.bulk import (
    BULK_RETRY,
    DEFAULT_IN_FLIGHT,
    DEFAULT_MAX_ACTIONS,
    DEFAULT_MAX_BYTES,
    BulkLoader,
    BulkStats,
    arrow_to_block,
    bytes_to_blocks,
    iter_chunks,
)
from changelake.rebuild.documents import iter_transformed_entries
from changelake.rebuild.latest_images import iter_latest_batches

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import pyarrow as pa
    from duckdb import DuckDBPyConnection

    from changelake.rebuild.bulk import EntryBlock
    from changelake.rebuild.search_sink import SearchSink
    from changelake.schemas.backoff import Backoff

    OnProgress = Callable[[int], None]
    """Called with how many actions the engine has just answered."""


@dataclass(frozen=True)
class ReplayOptions:
    """How to turn records into requests, and how much failure to accept."""

    transform: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    max_actions: int = DEFAULT_MAX_ACTIONS
    max_errors: int = 0
    in_flight: int = DEFAULT_IN_FLIGHT
    retry: Backoff = BULK_RETRY


@dataclass
class ReplayResult:
    """What a replay sent and what the engine did with it."""

    stats: BulkStats
    skipped: int = 0  # upserts without an image, and images the transform skipped


def batches_to_blocks(
    batches: Iterator[pa.RecordBatch],
    options: ReplayOptions,
    with_removes: bool,
    result: ReplayResult,
) -> Iterator[EntryBlock]:
    """Blocks of bulk entries from latest-record batches (``iter_latest_batches``' two forms).

    Without a transform a batch holds the ready ``entry`` column, sliced as it is; with one, the
    records' images go through it. Skipped records are counted into ``result``.
    """
    if options.transform is None:
        for batch in batches:
            entries = batch.column(0)
            if entries.null_count:
                result.skipped += entries.null_count
                entries = entries.drop_null()
            yield arrow_to_block(entries)
        return
    entries = iter_transformed_entries(batches, options.transform, delete_skipped=with_removes)

    def counted() -> Iterator[bytes | None]:
        for entry in entries:
            if entry is None:
                result.skipped += 1
            yield entry

    yield from bytes_to_blocks(counted())


def load_batches(
    batches: Iterator[pa.RecordBatch],
    loader: BulkLoader,
    options: ReplayOptions,
    *,
    with_removes: bool,
) -> ReplayResult:
    """Send latest-record batches through ``loader``: what a replay does wherever it runs.

    ``loader.stats`` holds the counts so far if the loader stops at ``max_errors``.
    """
    result = ReplayResult(stats=loader.stats)
    blocks = batches_to_blocks(batches, options, with_removes, result)
    loader.load(iter_chunks(blocks, options.max_bytes, options.max_actions))
    return result


def bulk_loader(
    sink: SearchSink,
    index: str,
    options: ReplayOptions,
    on_progress: OnProgress = lambda actions: None,
) -> BulkLoader:
    """The bulk loader of a replay into ``index`` with ``options``' limits and retry policy."""
    return BulkLoader(
        sink,
        index,
        max_errors=options.max_errors,
        retry=options.retry,
        on_progress=on_progress,
        in_flight=options.in_flight,
    )


def replay_latest(
    connection: DuckDBPyConnection,
    sink: SearchSink,
    index: str,
    *,
    with_removes: bool,
    options: ReplayOptions,
    on_progress: OnProgress = lambda actions: None,
) -> ReplayResult:
    """Send the materialized latest records (``materialize_latest``) to ``index``."""
    batches = iter_latest_batches(
        connection, with_removes=with_removes, entries=options.transform is None
    )
    loader = bulk_loader(sink, index, options, on_progress)
    return load_batches(batches, loader, options, with_removes=with_removes)
