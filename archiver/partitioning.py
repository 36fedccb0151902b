"""Split a batch into daily partitions and name each file from its content."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from changelake.schemas.archive_layout import partition_dir

if TYPE_CHECKING:
    from datetime import date


def split_by_day(table: pa.Table) -> list[tuple[date, pa.Table]]:
    """Split rows by the UTC day of ``approximate_creation_time``, oldest day first."""
    days = pc.cast(table["approximate_creation_time"], pa.date32())
    unique_days = sorted(days.unique().to_pylist())
    if len(unique_days) == 1:
        return [(unique_days[0], table)]
    return [(day, table.filter(pc.equal(days, pa.scalar(day, pa.date32())))) for day in unique_days]


def part_file_name(part: pa.Table) -> str:
    """A deterministic file name: the first sequence number plus a hash of the event ids.

    The same records always give the same name, so a retried batch overwrites its own object
    instead of adding a second copy. Snapshot rows (no sequence number) start with ``snapshot``;
    Kinesis records (no DynamoDB sequence number either) with ``time-`` and their earliest
    creation time.
    """
    digest = hashlib.sha256("\n".join(sorted(part["event_id"].to_pylist())).encode()).hexdigest()
    first = pc.min(part["sequence_order"]).as_py()
    if first is None and part["event_name"][0].as_py() == "SNAPSHOT":
        first = "snapshot"
    elif first is None:
        first = f"time-{pc.min(part['approximate_creation_time']).as_py():%Y%m%dT%H%M%S%fZ}"
    return f"{first}-{digest[:16]}.parquet"


def part_key(table_name: str, day: date, part: pa.Table) -> str:
    """Archive key of one partition's file for this batch."""
    return f"{partition_dir(table_name, day)}/{part_file_name(part)}"
