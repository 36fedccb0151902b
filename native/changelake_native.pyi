"""The archiver's hot path, compiled (see native/src/lib.rs); the Python code is the definition."""

from typing import Any

class Buffer:
    """Bytes handed over without a copy, through the buffer protocol."""

def encode_image(image: Any) -> tuple[bytes, bytes] | None:
    """An image as (plain JSON, DynamoDB-typed JSON), or None when the Python codec must decide."""

def stream_records_to_columns(
    records: list[Any], start: int, table_name: str | None, max_bytes: int
) -> tuple[int, dict[str, Any]]:
    """Convert records[start:] into change-table column buffers; the index it stopped at."""
