"""Records -> change tables of bounded size, in order; rejected records in their place."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from changelake.archiver.parquet_files import JSON_COLUMNS, columns_to_table, rows_to_table
from changelake.archiver.stream_records import RejectedRecord, record_to_row
from changelake.schemas.change_record import SCHEMA_VERSION
from changelake.schemas.exceptions import TerminalError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping
    from datetime import datetime

NativeConverter = Callable[[list[Any], int, str | None, int], tuple[int, dict[str, Any]]]


def _compiled_converter() -> NativeConverter | None:
    try:
        from changelake_native import stream_records_to_columns
    except ImportError:  # optional: without it every record goes through record_to_row
        return None
    return stream_records_to_columns


_native_stream_columns = _compiled_converter()


def iter_stream_tables(
    records: Iterable[Mapping[str, Any]],
    *,
    archived_at: datetime,
    table_name: str | None,
    shard_id: str | None,
    max_bytes: int,
) -> Iterator[pa.Table | RejectedRecord]:
    """Stream records as change tables, through the compiled converter when it is installed.

    The compiled converter (``native/``) takes the DynamoDB Streams records it can convert
    exactly as :func:`record_to_row` would and stops at any other record (Kinesis records
    included), which ``record_to_row`` then converts or rejects with its error.
    """

    def to_row(record: Mapping[str, Any]) -> dict[str, Any]:
        return record_to_row(
            record, archived_at=archived_at, table_name=table_name, shard_id=shard_id
        )

    if _native_stream_columns is None or type(records) is not list:
        return iter_row_tables(records, to_row, max_bytes=max_bytes)
    native, listed = _native_stream_columns, records
    constants = {"schema_version": SCHEMA_VERSION, "shard_id": shard_id, "archived_at": archived_at}

    def convert_from(start: int) -> tuple[int, pa.Table | None]:
        stop, columns = native(listed, start, table_name, max_bytes)
        # A record it leaves to record_to_row (a Kinesis record, say) costs no empty table.
        return stop, columns_to_table(columns, stop - start, constants) if stop > start else None

    return _iter_tables(listed, to_row, max_bytes, convert_from)


def iter_row_tables(
    records: Iterable[Mapping[str, Any]],
    to_row: Callable[[Mapping[str, Any]], dict[str, Any]],
    *,
    max_bytes: int,
) -> Iterator[pa.Table | RejectedRecord]:
    """Rows made by ``to_row`` as change tables of about ``max_bytes`` of JSON text each."""
    return _iter_tables(list(records), to_row, max_bytes, None)


def table_json_bytes(table: pa.Table) -> int:
    """The size of a change table's JSON text."""
    return sum(pc.sum(pc.binary_length(table[name])).as_py() or 0 for name in JSON_COLUMNS)


def _iter_tables(
    records: list[Mapping[str, Any]],
    to_row: Callable[[Mapping[str, Any]], dict[str, Any]],
    max_bytes: int,
    convert_from: Callable[[int], tuple[int, pa.Table | None]] | None,
) -> Iterator[pa.Table | RejectedRecord]:
    rows: list[dict[str, Any]] = []
    rows_bytes = 0
    index = 0
    while index < len(records):
        if convert_from is not None:
            stop, table = convert_from(index)
            if table is not None:
                if rows:
                    yield rows_to_table(rows)
                    rows, rows_bytes = [], 0
                yield table
                index = stop
                continue
        record = records[index]
        index += 1
        try:
            row = to_row(record)
        except TerminalError as error:
            yield RejectedRecord(record, error)
            continue
        rows.append(row)
        rows_bytes += sum(len(row[name] or b"") for name in JSON_COLUMNS)
        if rows_bytes >= max_bytes:
            yield rows_to_table(rows)
            rows, rows_bytes = [], 0
    if rows:
        yield rows_to_table(rows)
