"""Change rows -> Arrow table -> Parquet bytes."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.change_record import CHANGE_RECORD_SCHEMA, COLUMN_NAMES

if TYPE_CHECKING:
    from collections.abc import Sequence

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
]

# 64k rows keeps a row group around a few MB for ~1 KB items: large enough for DuckDB to scan
# efficiently, small enough that readers can skip by statistics.
ROW_GROUP_SIZE = 65_536

# Writer settings shared by every Parquet file of the archive (batches and compaction outputs).
WRITE_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "use_dictionary": _DICTIONARY_COLUMNS,
    "write_statistics": True,
}


def rows_to_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Build an Arrow table in the change-record schema from row dicts."""
    columns = {name: [row[name] for row in rows] for name in COLUMN_NAMES}
    return pa.Table.from_pydict(columns, schema=CHANGE_RECORD_SCHEMA)


def table_to_parquet_bytes(table: pa.Table, *, row_group_size: int = ROW_GROUP_SIZE) -> bytes:
    """Serialize a change table as one zstd-compressed Parquet file."""
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        row_group_size=row_group_size,
        use_dictionary=_DICTIONARY_COLUMNS,
        write_statistics=True,
    )
    return sink.getvalue()
