"""Change rows -> Arrow table -> Parquet bytes."""

from __future__ import annotations

from array import array
from itertools import accumulate
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from changelake.schemas.change_record import CHANGE_RECORD_SCHEMA, IMAGE_SHAPE_COLUMN
from changelake.schemas.change_record import JSON_COLUMNS as RECORD_JSON_COLUMNS

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

# Columns with few distinct values per file; dictionary-encoding the JSON columns only costs time.
_DICTIONARY_COLUMNS = [
    "schema_version",
    "table_name",
    "event_name",
    "stream_arn",
    "stream_view_type",
    "aws_region",
    "shard_id",
    "user_identity.type",
    "user_identity.principal_id",
    # Most items of a table share a few shapes: each file holds each shape once.
    IMAGE_SHAPE_COLUMN,
]

# The large JSON columns: min/max statistics of 1 KB documents help no reader and cost time.
JSON_COLUMNS = (*sorted(RECORD_JSON_COLUMNS), IMAGE_SHAPE_COLUMN)
_STATISTICS_COLUMNS = [
    name
    for name in CHANGE_RECORD_SCHEMA.names
    if name not in JSON_COLUMNS and name != "user_identity"
] + ["user_identity.type", "user_identity.principal_id"]

# 64k rows keeps a row group around a few MB for ~1 KB items: large enough for DuckDB to scan
# efficiently, small enough that readers can skip by statistics.
ROW_GROUP_SIZE = 65_536
# Compaction's outputs are sorted by item key and read by key: a sync looks each changed item up
# in every compacted file, and a lookup decodes the whole row group that can hold the key, in
# every column it reads. Smaller groups make a lookup cost less, and cost a scan of the whole
# table little more (its time goes to the columns' values, not to the groups' headers).
COMPACTED_ROW_GROUP_SIZE = 16_384

# Writer settings shared by every Parquet file of the archive (batches and compaction outputs).
WRITE_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "use_dictionary": _DICTIONARY_COLUMNS,
    "write_statistics": _STATISTICS_COLUMNS,
}


def rows_to_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Build an Arrow table in the change-record schema from row dicts.

    Text columns take ``str`` or UTF-8 ``bytes``; timestamps take datetimes or epoch microseconds.
    """
    arrays = []
    for field in CHANGE_RECORD_SCHEMA:
        values = list(map(itemgetter(field.name), rows))
        if field.name in JSON_COLUMNS:
            arrays.append(text_array(values))
        else:
            arrays.append(pa.array(values, field.type))
    return pa.Table.from_arrays(arrays, schema=CHANGE_RECORD_SCHEMA)


def columns_to_table(
    columns: Mapping[str, Any], num_rows: int, constants: Mapping[str, Any]
) -> pa.Table:
    """An Arrow table in the change-record schema from column buffers and per-table constants.

    ``columns`` is what the compiled converter returns (``native/``): per column the Arrow
    buffers, ``(validity, offsets, data)`` for text and ``(validity, values)`` for integers and
    timestamps; ``user_identity`` is its validity and its two fields' buffers. ``constants``
    holds the other columns' single value each.
    """
    arrays = []
    for field in CHANGE_RECORD_SCHEMA:
        if field.name in constants:
            arrays.append(pa.repeat(pa.scalar(constants[field.name], field.type), num_rows))
        elif pa.types.is_struct(field.type):
            validity, *children = columns[field.name]
            arrays.append(
                pa.Array.from_buffers(
                    field.type,
                    num_rows,
                    [_buffer(validity)],
                    children=[
                        _array(child.type, num_rows, buffers)
                        for child, buffers in zip(field.type, children, strict=True)
                    ],
                )
            )
        else:
            arrays.append(_array(field.type, num_rows, columns[field.name]))
    return pa.Table.from_arrays(arrays, schema=CHANGE_RECORD_SCHEMA)


def _array(data_type: pa.DataType, num_rows: int, buffers: Sequence[bytes | None]) -> pa.Array:
    return pa.Array.from_buffers(data_type, num_rows, [_buffer(b) for b in buffers])


def _buffer(data: bytes | None) -> pa.Buffer | None:
    return None if data is None else pa.py_buffer(data)


def text_array(values: list[bytes | str | None]) -> pa.Array:
    """A string array from UTF-8 bytes (None for null), built from two buffers in one go.

    Values that are ``str``, or text beyond one array's 2 GiB, go through ``pa.array``.
    """
    present = [value or b"" for value in values if not isinstance(value, str)]
    if len(present) != len(values):
        return pa.array(values, pa.string())
    offsets = array("i")
    try:
        offsets.extend(accumulate(map(len, present), initial=0))
    except OverflowError:
        return pa.array(values, pa.string())
    validity = None
    if None in values:
        validity = pa.array([value is not None for value in values], pa.bool_()).buffers()[1]
    return pa.Array.from_buffers(
        pa.string(),
        len(values),
        [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(present))],
    )


def table_to_parquet_bytes(table: pa.Table, *, row_group_size: int = ROW_GROUP_SIZE) -> bytes:
    """Serialize a change table as one Parquet file, with the archive's ``WRITE_OPTIONS``."""
    # An Arrow stream, not io.BytesIO: the writer's many small writes then stay in C++.
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=row_group_size, **WRITE_OPTIONS)
    data: bytes = sink.getvalue().to_pybytes()
    return data
