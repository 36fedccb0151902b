"""Result writers stream: each batch is written before the next is read."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from changelake.ask.result_output import (
    display_width,
    iter_table_lines,
    write_csv,
    write_json_lines,
    write_parquet,
    write_table,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("n", pa.decimal128(38, 18)),
        ("at", pa.timestamp("us", tz="UTC")),
        ("who", pa.struct([("type", pa.string())])),
    ]
)
AT = datetime(2026, 11, 20, tzinfo=UTC)


def _batch(start: int, rows: int = 2) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(
        [
            {"key": f"k{i}", "n": Decimal(f"{i}.5"), "at": AT, "who": {"type": "Service"}}
            for i in range(start, start + rows)
        ],
        schema=SCHEMA,
    )


class _Recorder(io.BytesIO):
    """Notes, for every batch handed out, how many bytes had been written before."""

    def __init__(self) -> None:
        super().__init__()
        self.written_before: list[int] = []

    def batches(self, count: int) -> Iterator[pa.RecordBatch]:
        for n in range(count):
            self.written_before.append(self.tell())
            yield _batch(n * 2)


@pytest.mark.parametrize(
    "write",
    [
        lambda out, batches: write_csv(SCHEMA, batches, out),
        lambda out, batches: write_json_lines(batches, out),
        lambda out, batches: write_table(SCHEMA.names, batches, out),
    ],
    ids=["csv", "json", "table"],
)
def test_writers_stream(write: Callable[[io.BytesIO, Iterator[pa.RecordBatch]], None]) -> None:
    out = _Recorder()
    write(out, out.batches(3))
    before = out.written_before
    # Each batch was written out before the next one was read (a CSV header may come first).
    assert before[0] < before[1] < before[2] < len(out.getvalue())


def test_json_lines_keep_exact_decimals_and_nested_values() -> None:
    out = io.BytesIO()
    write_json_lines([_batch(0, 1)], out)
    assert json.loads(out.getvalue()) == {
        "key": "k0",
        "n": "0.500000000000000000",
        "at": "2026-11-20T00:00:00+00:00",
        "who": {"type": "Service"},
    }


def test_csv_writes_nested_values_as_json() -> None:
    out = io.BytesIO()
    write_csv(SCHEMA, [_batch(0, 1)], out)
    header, row = out.getvalue().decode().splitlines()
    assert header == '"key","n","at","who"'
    assert row.startswith('"k0","0.500000000000000000",2026-11-20 00:00:00')
    assert row.endswith('"{""type"":""Service""}"')


def test_parquet_round_trips() -> None:
    out = io.BytesIO()
    write_parquet(SCHEMA, [_batch(0), _batch(2)], out)
    table = pq.read_table(io.BytesIO(out.getvalue()))
    assert table.schema == SCHEMA
    assert table.column("key").to_pylist() == ["k0", "k1", "k2", "k3"]


def test_table_is_aligned_with_wide_characters_and_cut_cells() -> None:
    batch = pa.RecordBatch.from_pylist([{"a": "검색", "b": "x" * 100}, {"a": "ab", "b": "y"}])
    lines = list(iter_table_lines(["a", "b"], [batch], max_width=10))
    assert lines[0] == "a     b         "
    assert lines[2] == "검색  xxxxxxxxx…"
    assert {display_width(line) for line in lines[:4]} == {16}
    assert lines[-1] == "(2 rows)"


def test_an_empty_result_is_a_header_and_a_count() -> None:
    assert list(iter_table_lines(["a"], [])) == ["a", "(0 rows)"]
