"""Bulk loading: NDJSON entries -> requests bounded by bytes and count -> the search sink.

Entries arrive in blocks (one buffer and the end offset of each entry in it), so a batch of
documents built by DuckDB is cut into requests by slicing, never entry by entry. Requests are in
flight (two by default) while the next is prepared. 429s, 5xx and unreachable engines are
retried with exponential backoff and jitter; per-item failures are reported with the document id
and the reason, and a 409 from a stale external version is counted, not failed.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import accumulate
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from changelake.schemas.backoff import Backoff
from changelake.schemas.exceptions import RebuildError, SearchUnavailableError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from concurrent.futures import Future

    from changelake.rebuild.search_sink import SearchSink

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_ACTIONS = 5000
# A single shard indexes one bulk request on one thread: a second request in flight lets the
# engine use a second core.
DEFAULT_IN_FLIGHT = 2


@dataclass(frozen=True)
class EntryBlock:
    """NDJSON bulk entries back to back in ``data``; ``ends[i]`` is where entry ``i`` ends."""

    data: bytes | memoryview
    ends: list[int]


@dataclass(frozen=True)
class Chunk:
    """One bulk request body and where each of its entries ends."""

    body: bytes
    ends: list[int]

    def entry(self, position: int) -> bytes:
        """The bytes of one entry (action line and document line)."""
        start = self.ends[position - 1] if position else 0
        return self.body[start : self.ends[position]]


def entries_to_block(entries: list[bytes]) -> EntryBlock:
    """A block of separate entries."""
    return EntryBlock(b"".join(entries), list(accumulate(map(len, entries))))


def bytes_to_blocks(
    entries: Iterable[bytes | None], block_size: int = 2000
) -> Iterator[EntryBlock]:
    """Group single entries into blocks (None entries, skipped documents, are dropped)."""
    pending: list[bytes] = []
    for entry in entries:
        if entry is not None:
            pending.append(entry)
        if len(pending) >= block_size:
            yield entries_to_block(pending)
            pending = []
    if pending:
        yield entries_to_block(pending)


def arrow_to_block(column: pa.Array) -> EntryBlock:
    """The entries of an Arrow string column, sharing its data buffer (no copy per entry)."""
    _, offset_buffer, data_buffer = column.buffers()
    raw = memoryview(offset_buffer)
    whole = raw.cast("q") if pa.types.is_large_string(column.type) else raw.cast("i")
    offsets = whole[column.offset : column.offset + len(column) + 1]
    first = offsets[0]
    data = memoryview(data_buffer)[first : offsets[-1]]
    return EntryBlock(data, [end - first for end in offsets[1:]])


def iter_chunks(
    blocks: Iterable[EntryBlock],
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_actions: int = DEFAULT_MAX_ACTIONS,
) -> Iterator[Chunk]:
    """Cut blocks of entries into request bodies of at most ``max_bytes`` and ``max_actions``.

    An entry larger than ``max_bytes`` goes alone in its own request; no body is ever empty.
    """
    parts: list[bytes | memoryview] = []
    ends: list[int] = []
    size = 0
    for block in blocks:
        index, offset, count = 0, 0, len(block.ends)
        while index < count:
            room = max_bytes - size
            limit = bisect_right(
                block.ends, offset + room, lo=index, hi=min(count, index + max_actions - len(ends))
            )
            if limit == index:
                if ends:
                    yield Chunk(b"".join(parts), ends)
                    parts, ends, size = [], [], 0
                    continue
                limit = index + 1  # a single entry over the limit goes alone
            end = block.ends[limit - 1]
            parts.append(block.data[offset:end])
            ends.extend(size + e - offset for e in block.ends[index:limit])
            size += end - offset
            index, offset = limit, end
            if size >= max_bytes or len(ends) >= max_actions:
                yield Chunk(b"".join(parts), ends)
                parts, ends, size = [], [], 0
    if ends:
        yield Chunk(b"".join(parts), ends)


# 429s, 5xx and an unreachable engine: six tries, the waits doubling from half a second.
BULK_RETRY = Backoff(base=0.5, cap=30.0, attempts=6, jitter=True)


@dataclass(frozen=True)
class ItemFailure:
    """A document the engine refused: its id, HTTP status and reason."""

    document_id: str
    status: int
    reason: str

    def __str__(self) -> str:
        return f"{self.document_id!r}: {self.status} {self.reason}"


@dataclass
class BulkStats:
    """What the bulk requests did, item by item."""

    indexed: int = 0
    deleted: int = 0
    not_found: int = 0
    version_conflicts: int = 0
    failures: list[ItemFailure] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    # The 409s themselves, id and reason, when the caller asks (a repair reads their versions).
    conflicts: list[ItemFailure] | None = None

    def add(self, other: BulkStats) -> None:
        """Add another request's counts to these."""
        self.indexed += other.indexed
        self.deleted += other.deleted
        self.not_found += other.not_found
        self.version_conflicts += other.version_conflicts
        self.failures.extend(other.failures)
        if self.conflicts is not None and other.conflicts is not None:
            self.conflicts.extend(other.conflicts)
        self.requests += other.requests
        self.retries += other.retries


def _is_retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _reason(result: dict[str, Any]) -> str:
    error = result.get("error")
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('reason', '')}".rstrip(": ")
    return str(error or result.get("result", "unknown"))


def response_to_stats(response: dict[str, Any], stats: BulkStats) -> list[int]:
    """Count a bulk response's items into ``stats``; the positions worth retrying (429, 5xx)."""
    retry: list[int] = []
    for position, item in enumerate(response.get("items", [])):
        ((kind, result),) = item.items()
        status = int(result.get("status", 0))
        if 200 <= status < 300:
            if kind == "delete":
                stats.deleted += 1
            else:
                stats.indexed += 1
        elif status == 404 and kind == "delete":
            stats.not_found += 1
        elif status == 409:
            stats.version_conflicts += 1
            if stats.conflicts is not None:
                stats.conflicts.append(ItemFailure(str(result.get("_id")), status, _reason(result)))
        elif _is_retryable(status):
            retry.append(position)
        else:
            stats.failures.append(ItemFailure(str(result.get("_id")), status, _reason(result)))
    return retry


def send_chunk(
    sink: SearchSink, index: str, chunk: Chunk, retry: Backoff, *, keep_conflicts: bool = False
) -> BulkStats:
    """Send one request, retrying the whole request or its retryable items; its stats."""
    stats = BulkStats(conflicts=[] if keep_conflicts else None)
    attempt = 0
    while True:
        stats.requests += 1
        try:
            response = sink.bulk(index, chunk.body)
        except SearchUnavailableError:
            if attempt + 1 >= retry.attempts:
                raise
            time.sleep(retry.delay(attempt))
            attempt += 1
            stats.retries += 1
            continue
        positions = response_to_stats(response, stats)
        if not positions:
            return stats
        if attempt + 1 >= retry.attempts:
            items = response["items"]
            for position in positions:
                ((_, result),) = items[position].items()
                stats.failures.append(
                    ItemFailure(str(result.get("_id")), int(result["status"]), _reason(result))
                )
            return stats
        time.sleep(retry.delay(attempt))
        attempt += 1
        stats.retries += 1
        block = entries_to_block([chunk.entry(position) for position in positions])
        chunk = Chunk(bytes(block.data), block.ends)


@dataclass
class BulkLoader:
    """Sends chunks to one index, ``in_flight`` requests at a time while the caller prepares more.

    Responses are counted in the order the chunks came, so progress and failures read the same
    whatever the concurrency.
    """

    sink: SearchSink
    index: str
    max_errors: int = 0
    retry: Backoff = BULK_RETRY
    on_progress: Callable[[int], None] = lambda actions: None
    in_flight: int = DEFAULT_IN_FLIGHT
    keep_conflicts: bool = False
    stats: BulkStats = field(default_factory=BulkStats)

    def __post_init__(self) -> None:
        if self.keep_conflicts and self.stats.conflicts is None:
            self.stats.conflicts = []

    def load(self, chunks: Iterable[Chunk]) -> BulkStats:
        """Send every chunk; raise :class:`RebuildError` once failures pass ``max_errors``."""
        with ThreadPoolExecutor(max_workers=self.in_flight, thread_name_prefix="bulk") as pool:
            sent: deque[tuple[Future[BulkStats], int]] = deque()
            for chunk in chunks:
                if len(sent) >= self.in_flight:
                    self._account(*sent.popleft())
                future = pool.submit(
                    send_chunk,
                    self.sink,
                    self.index,
                    chunk,
                    self.retry,
                    keep_conflicts=self.keep_conflicts,
                )
                sent.append((future, len(chunk.ends)))
            while sent:
                self._account(*sent.popleft())
        return self.stats

    def _account(self, future: Future[BulkStats], actions: int) -> None:
        self.stats.add(future.result())
        self.on_progress(actions)
        if len(self.stats.failures) > self.max_errors:
            shown = "; ".join(map(str, self.stats.failures[:5]))
            raise RebuildError(
                f"{len(self.stats.failures)} documents were refused by {self.index!r}, more than "
                f"--max-errors {self.max_errors}: {shown}"
            )
