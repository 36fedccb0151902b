"""Query results -> an aligned text table, CSV, JSON Lines or Parquet, one Arrow batch at a time.

Nothing here holds a whole result: every writer takes an iterator of record batches (DuckDB's
streaming reader) and writes each batch before asking for the next. Times print with their
zone (``time_to_text``), and JSON text columns (item images, keys) are nested in JSON output,
byte for byte, so that numbers keep every digit.
"""

from __future__ import annotations

import datetime
import decimal
import unicodedata
from typing import IO, TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from changelake.ask.output_formats import time_to_text
from changelake.schemas.change_record import JSON_COLUMNS

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Iterator

# A table cell wider than this is cut with an ellipsis: the table is for reading; csv, json and
# parquet keep every character.
MAX_CELL_WIDTH = 60


def value_to_text(value: Any) -> str:
    """How one value reads in a table cell or CSV field."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return time_to_text(value)
    if isinstance(value, dict | list):
        return orjson.dumps(value, default=_json_default).decode()
    return str(value)


def iter_table_lines(
    names: list[str], batches: Iterable[pa.RecordBatch], max_width: int = MAX_CELL_WIDTH
) -> Iterator[str]:
    """Aligned text lines: a header sized by the first batch, then rows, then a row count."""
    widths: list[int] | None = None
    rows = 0
    for batch in batches:
        cells = [[value_to_text(v) for v in row.values()] for row in batch.to_pylist()]
        if widths is None:
            widths = [
                min(max_width, max([display_width(name), *(display_width(r[i]) for r in cells)]))
                for i, name in enumerate(names)
            ]
            yield _line(names, widths)
            yield "  ".join("-" * w for w in widths)
        for row in cells:
            yield _line(row, widths)
        rows += len(cells)
    if widths is None:
        yield _line(names, [display_width(n) for n in names])
    yield f"({rows} row{'' if rows == 1 else 's'})"


def write_table(names: list[str], batches: Iterable[pa.RecordBatch], out: IO[bytes]) -> None:
    """Write batches as an aligned text table (UTF-8)."""
    for line in iter_table_lines(names, batches):
        out.write((line.rstrip() + "\n").encode())


def write_csv(schema: pa.Schema, batches: Iterable[pa.RecordBatch], out: IO[bytes]) -> None:
    """Write batches as CSV with a header; nested values become JSON text."""
    flat = pa.schema([_flat_field(field) for field in schema])
    with pa_csv.CSVWriter(out, flat) as writer:
        for batch in batches:
            writer.write_batch(_flatten(batch, flat))


def write_json_lines(
    batches: Iterable[pa.RecordBatch], out: IO[bytes], json_typed: Collection[str] = ()
) -> None:
    """Write one JSON object per row (JSON Lines); exact decimals are written as strings.

    JSON text goes in as JSON, as it is (an object, not a string holding one): the columns in
    ``json_typed`` (DuckDB's JSON type), and the archive's images and keys
    (``JSON_COLUMNS``) wherever they hold an object.
    """
    for batch in batches:
        rows = batch.to_pylist()
        names = batch.schema.names
        typed = [name for name in names if name in json_typed]
        objects = [name for name in names if name in JSON_COLUMNS and name not in json_typed]
        for row in rows:
            for name in typed:
                row[name] = _fragment(row[name])
            for name in objects:
                text = row[name]
                row[name] = _fragment(text) if isinstance(text, str) and text[:1] == "{" else text
        out.write(
            b"".join(
                orjson.dumps(row, default=_json_default, option=orjson.OPT_APPEND_NEWLINE)
                for row in rows
            )
        )


def _fragment(text: Any) -> Any:
    """JSON text written as it is (numbers keep every digit); NULL stays null."""
    return orjson.Fragment(text) if isinstance(text, str) else text


def write_parquet(schema: pa.Schema, batches: Iterable[pa.RecordBatch], out: IO[bytes]) -> None:
    """Write batches into one zstd Parquet file."""
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        for batch in batches:
            writer.write_batch(batch)


def _line(cells: list[str], widths: list[int]) -> str:
    return "  ".join(_fit(cell, width) for cell, width in zip(cells, widths, strict=True))


def display_width(text: str) -> int:
    """Columns the text takes in a terminal: East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _fit(text: str, width: int) -> str:
    text = text.replace("\n", "\\n")
    if display_width(text) > width:
        text = text[:width]
        while display_width(text) > width - 1:
            text = text[:-1]
        text += "…"
    return text + " " * (width - display_width(text))


def _flat_field(field: pa.Field) -> pa.Field:
    nested = pa.types.is_nested(field.type) or pa.types.is_decimal(field.type)
    return pa.field(field.name, pa.string()) if nested else field


def _flatten(batch: pa.RecordBatch, flat: pa.Schema) -> pa.RecordBatch:
    columns = [
        column
        if column.type == field.type
        else pa.array([None if v is None else value_to_text(v) for v in column.to_pylist()])
        for column, field in zip(batch.columns, flat, strict=True)
    ]
    return pa.RecordBatch.from_arrays(columns, schema=flat)


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
