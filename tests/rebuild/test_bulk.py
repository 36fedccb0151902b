"""Cutting NDJSON entries into bulk requests, and reading bulk responses: no server needed."""

from __future__ import annotations

from itertools import pairwise

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from changelake.rebuild.bulk import (
    BulkStats,
    Chunk,
    arrow_to_block,
    bytes_to_blocks,
    entries_to_block,
    iter_chunks,
    response_to_stats,
)


def _entries(sizes: list[int]) -> list[bytes]:
    return [(b"%d:" % n).ljust(size, b"x")[: max(size, 1)] for n, size in enumerate(sizes)]


def _split(chunk: Chunk) -> list[bytes]:
    return [chunk.entry(position) for position in range(len(chunk.ends))]


@given(
    sizes=st.lists(st.integers(min_value=1, max_value=300), max_size=60),
    block_size=st.integers(min_value=1, max_value=10),
    max_bytes=st.integers(min_value=1, max_value=600),
    max_actions=st.integers(min_value=1, max_value=8),
)
def test_chunks_keep_every_entry_in_order_within_the_limits(
    sizes: list[int], block_size: int, max_bytes: int, max_actions: int
) -> None:
    entries = _entries(sizes)
    chunks = list(iter_chunks(bytes_to_blocks(entries, block_size), max_bytes, max_actions))
    assert [entry for chunk in chunks for entry in _split(chunk)] == entries
    for chunk in chunks:
        assert chunk.ends, "never an empty request"
        assert len(chunk.ends) <= max_actions
        assert len(chunk.body) <= max_bytes or len(chunk.ends) == 1
    for chunk, following in pairwise(chunks):
        full = len(chunk.ends) == max_actions
        assert full or len(chunk.body) + len(following.entry(0)) > max_bytes, "chunks are greedy"


def test_an_oversized_entry_goes_alone_between_full_requests() -> None:
    entries = [b"a" * 10, b"b" * 10, b"c" * 100, b"d" * 10]
    chunks = list(iter_chunks([entries_to_block(entries)], max_bytes=25, max_actions=10))
    assert [_split(chunk) for chunk in chunks] == [entries[:2], [entries[2]], [entries[3]]]


def test_an_oversized_first_entry_does_not_make_an_empty_request() -> None:
    chunks = list(iter_chunks([entries_to_block([b"x" * 50, b"y"])], max_bytes=10))
    assert [chunk.body for chunk in chunks] == [b"x" * 50, b"y"]


def test_count_limit() -> None:
    chunks = list(iter_chunks(bytes_to_blocks([b"e"] * 7), max_actions=3))
    assert [len(chunk.ends) for chunk in chunks] == [3, 3, 1]


def test_arrow_blocks_share_the_column_buffer_even_when_sliced() -> None:
    column = pa.array(["zero\n", "one\n", "two\n", "three\n"]).slice(1, 2)
    block = arrow_to_block(column)
    assert bytes(block.data) == b"one\ntwo\n"
    assert block.ends == [4, 8]
    large = arrow_to_block(pa.array(["ab\n", "c\n"], type=pa.large_string()))
    assert (bytes(large.data), large.ends) == (b"ab\nc\n", [3, 5])


def test_skipped_entries_are_dropped() -> None:
    (block,) = bytes_to_blocks([b"a", None, b"b"])
    assert (bytes(block.data), block.ends) == (b"ab", [1, 2])


def _item(kind: str, status: int, **extra: object) -> dict[str, object]:
    return {kind: {"_id": f"id-{status}", "status": status, **extra}}


def test_responses_count_conflicts_and_missing_deletes_and_report_failures() -> None:
    stats = BulkStats()
    response = {
        "items": [
            _item("index", 201),
            _item("index", 200),
            _item("delete", 200),
            _item("delete", 404, result="not_found"),
            _item("index", 409, error={"type": "version_conflict_engine_exception"}),
            _item("index", 400, error={"type": "strict_dynamic_mapping_exception", "reason": "no"}),
            _item("index", 429, error={"type": "es_rejected_execution_exception"}),
            _item("index", 503),
        ]
    }
    retry = response_to_stats(response, stats)
    assert retry == [6, 7]
    assert (stats.indexed, stats.deleted, stats.not_found, stats.version_conflicts) == (2, 1, 1, 1)
    assert [str(f) for f in stats.failures] == [
        "'id-400': 400 strict_dynamic_mapping_exception: no"
    ]
