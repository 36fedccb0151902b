"""Compaction: rewrite a partition's many small files into a few large ones.

Outputs hold each record once (its first delivery), sorted by item key and the records' order
(``changelake.schemas.sql_views``), and are named from the names of the files they replace
(``compacted-<digest>-<n>.parquet``), so a retried compaction
writes the same objects and a compacted partition is left alone. The whole input is sorted before
the first output is written (an ORDER BY reads everything first), so rewriting an output that is
also an input, with the same rows, is safe. Every output is written whole
before any input is deleted: a reader that lists both sees each record twice, and every reader
counts a record once. Rows of one item that tie on everything before their position keep their
relative order: outputs are written in that order, so their new positions order them the same.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from changelake.archiver.parquet_files import (
    COMPACTED_ROW_GROUP_SIZE,
    JSON_COLUMNS,
    WRITE_OPTIONS,
    text_array,
)
from changelake.schemas.archive_layout import COMPACTED_PREFIX, partition_dir, table_dir
from changelake.schemas.change_record import CHANGE_RECORD_SCHEMA, IMAGE_SHAPE_COLUMN
from changelake.schemas.exceptions import TerminalError
from changelake.schemas.sql_views import RECORD_ORDER, first_deliveries_sql, quote_literal
from changelake.schemas.type_census import image_shape_bytes

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from duckdb import DuckDBPyConnection

    from changelake.archiver.object_store import ObjectStore

DEFAULT_TARGET_SIZE = 128 * 1024 * 1024

# Item by item, each in the order of its records: readers find an item's rows together.
SORT_ORDER = f"item_key, {RECORD_ORDER}"


@dataclass(frozen=True)
class SourceFile:
    """One Parquet object of a partition: its key, size in bytes and row count."""

    key: str
    size: int
    rows: int


@dataclass(frozen=True)
class PartitionPlan:
    """What compacting one partition reads and which names its outputs take."""

    table_name: str
    day: date
    inputs: tuple[SourceFile, ...]
    target_size: int

    @property
    def directory(self) -> str:
        """The partition's key prefix."""
        return partition_dir(self.table_name, self.day)

    @property
    def input_bytes(self) -> int:
        """Total size of the inputs."""
        return sum(source.size for source in self.inputs)

    @property
    def input_rows(self) -> int:
        """Total rows of the inputs, duplicates included."""
        return sum(source.rows for source in self.inputs)

    @property
    def digest(self) -> str:
        """A hash of the names of the not-yet-compacted inputs.

        Earlier outputs are left out so that a compaction that died between writing its outputs
        and deleting its inputs, run again, rewrites the same objects with the same rows.
        """
        names = sorted(s.key for s in self.inputs if not _is_compacted(s.key))
        return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]

    @property
    def estimated_outputs(self) -> int:
        """How many output files the inputs' size suggests (compression may change it)."""
        return max(1, math.ceil(self.input_bytes / self.target_size))

    def output_key(self, index: int) -> str:
        """Key of the index-th output file."""
        return f"{self.directory}/{COMPACTED_PREFIX}{self.digest}-{index:04d}.parquet"


@dataclass
class PartitionResult:
    """What compacting one partition did."""

    directory: str
    inputs: int = 0
    rows_read: int = 0
    rows_written: int = 0
    outputs: list[str] = field(default_factory=list)

    @property
    def duplicates_dropped(self) -> int:
        """Rows dropped because their record was already written (a redelivery)."""
        return self.rows_read - self.rows_written


def iter_partition_files(
    store: ObjectStore, table_name: str, day: date | None = None
) -> Iterator[tuple[date, str]]:
    """Every Parquet object of a table (or of one day of it) with its partition day, in order."""
    prefix = f"{table_dir(table_name)}/"
    listed = f"{partition_dir(table_name, day)}/" if day is not None else prefix
    for key in store.list_keys(listed):
        directory, _, name = key[len(prefix) :].rpartition("/")
        if not name.endswith(".parquet") or not directory.startswith("dt="):
            continue
        try:
            day = date.fromisoformat(directory[len("dt=") :])
        except ValueError:
            continue
        yield day, key


def needs_compaction(keys: Iterable[str]) -> bool:
    """A partition is compacted when every file in it is a compaction output."""
    return any(not _is_compacted(key) for key in keys)


def _is_compacted(key: str) -> bool:
    return key.rpartition("/")[2].startswith(COMPACTED_PREFIX)


def plan_compaction(
    store: ObjectStore,
    connection: DuckDBPyConnection,
    table_name: str,
    *,
    day: date | None = None,
    before: date | None = None,
    target_size: int = DEFAULT_TARGET_SIZE,
) -> list[PartitionPlan]:
    """The partitions of a table that need compacting, oldest first.

    ``day`` picks one partition, ``before`` the partitions older than that day. Sizes and row
    counts come from the Parquet footers, read through the DuckDB connection.
    """
    by_day: dict[date, list[str]] = {}
    for found_day, key in iter_partition_files(store, table_name, day):
        if (day is not None and found_day != day) or (before is not None and found_day >= before):
            continue
        by_day.setdefault(found_day, []).append(key)
    plans = []
    for found_day in sorted(by_day):
        keys = by_day[found_day]
        if not needs_compaction(keys):
            continue
        stats = footer_stats(connection, [store.location.url(key) for key in keys])
        inputs = tuple(SourceFile(key, *stats[store.location.url(key)]) for key in keys)
        plans.append(PartitionPlan(table_name, found_day, inputs, target_size))
    return plans


def footer_stats(connection: DuckDBPyConnection, urls: list[str]) -> dict[str, tuple[int, int]]:
    """Size in bytes and row count of each Parquet file, from its footer."""
    files = ", ".join(quote_literal(url) for url in urls)
    rows = connection.execute(
        f"SELECT file_name, file_size_bytes, num_rows FROM parquet_file_metadata([{files}])"
    ).fetchall()
    return {name: (int(size), int(count)) for name, size, count in rows}


def compaction_sql(urls: Iterable[str]) -> str:
    """Each record of the given Parquet files once, sorted by item and the records' order.

    The rows carry their partition day and position (``dt``, ``source_file``, ``source_row``)
    for the rule that picks a record's first delivery and orders it; the outputs do not. Both
    the rule and the order are worked out without the JSON columns, as one ordinal per kept
    row; the whole rows are then sorted by that number. Sorting whole rows by the order's own
    keys (long texts among them) runs out of memory at the default limit.
    """
    files = ", ".join(quote_literal(url) for url in urls)
    rows = (
        "SELECT * EXCLUDE (filename, file_row_number), CAST(NULL AS DATE) AS dt, "
        "filename AS source_file, file_row_number AS source_row, file_index "
        f"FROM read_parquet([{files}], union_by_name = true, hive_partitioning = false, "
        "filename = true, file_row_number = true)"
    )
    # Named by a condition: files written before schema version 2 lack new_image_shape.
    narrow = f"COLUMNS(c -> c NOT IN ({', '.join(map(quote_literal, JSON_COLUMNS))}))"
    kept = first_deliveries_sql(f"(SELECT {narrow} FROM rows)")
    return f"""
WITH rows AS NOT MATERIALIZED ({rows}),
ordinals AS (
    SELECT file_index, source_row, row_number() OVER (ORDER BY {SORT_ORDER}) AS ordinal
    FROM ({kept})
)
SELECT rows.* EXCLUDE (dt, source_file, source_row, file_index)
FROM rows JOIN ordinals USING (file_index, source_row)
ORDER BY ordinal""".strip()


def write_compacted(
    plan: PartitionPlan,
    store: ObjectStore,
    connection: DuckDBPyConnection,
    *,
    on_rows: Callable[[int], None] = lambda rows: None,
    row_group_size: int = COMPACTED_ROW_GROUP_SIZE,
) -> PartitionResult:
    """Write a plan's outputs, each whole, leaving the inputs in place.

    Rows stream from DuckDB in batches into a local file that is uploaded once it reaches the
    target size: Python holds a row group while writing and one output file while uploading.
    DuckDB's sort of the whole rows needs memory for about the partition's rows: past its
    limit, :class:`TerminalError` names the partition and the remedy.
    """
    import duckdb

    result = PartitionResult(plan.directory, inputs=len(plan.inputs), rows_read=plan.input_rows)
    try:
        reader = connection.execute(
            compaction_sql(store.location.url(s.key) for s in plan.inputs)
        ).to_arrow_reader(row_group_size)
        with tempfile.TemporaryDirectory(prefix="changelake-compact-") as workdir:
            files = _iter_rolled_files(reader, Path(workdir), plan.target_size, on_rows)
            for path in files:
                key = plan.output_key(len(result.outputs))
                store.put_bytes(key, path.read_bytes())
                result.rows_written += pq.read_metadata(path).num_rows
                result.outputs.append(key)
                path.unlink()
    except duckdb.OutOfMemoryException as error:
        used = str(error).split("\n", 1)[0]
        raise TerminalError(
            f"compacting {plan.directory} ({plan.input_rows} rows in {len(plan.inputs)} files) "
            f"ran out of DuckDB's memory ({used}); nothing was deleted. Pass a larger "
            "--memory-limit, about the partition's rows uncompressed"
        ) from error
    return result


def remove_inputs(plan: PartitionPlan, store: ObjectStore, result: PartitionResult) -> None:
    """Delete a plan's inputs once its outputs are complete."""
    outputs = set(result.outputs)
    for source in plan.inputs:
        if source.key not in outputs:
            store.delete(source.key)


def compact_partition(
    plan: PartitionPlan,
    store: ObjectStore,
    connection: DuckDBPyConnection,
    on_rows: Callable[[int], None] = lambda rows: None,
) -> PartitionResult:
    """Compact one partition: write every output whole, then delete the inputs."""
    result = write_compacted(plan, store, connection, on_rows=on_rows)
    remove_inputs(plan, store, result)
    return result


def _iter_rolled_files(
    reader: Any, workdir: Path, target_size: int, on_rows: Callable[[int], None]
) -> Iterator[Path]:
    """Write record batches into files of about ``target_size`` bytes; yield each when closed."""
    index = 0
    writer: pq.ParquetWriter | None = None
    sink: Any = None
    path = workdir / "part-0.parquet"
    for batch in reader:
        if batch.num_rows == 0:
            continue
        batch = _to_archive_schema(with_image_shapes(batch))
        if writer is None:
            path = workdir / f"part-{index}.parquet"
            sink = pa.OSFile(str(path), "wb")
            writer = pq.ParquetWriter(sink, batch.schema, **WRITE_OPTIONS)
        writer.write_batch(batch, row_group_size=batch.num_rows)
        on_rows(batch.num_rows)
        if sink.tell() >= target_size:
            writer.close()
            sink.close()
            writer = None
            index += 1
            yield path
    if writer is not None:
        writer.close()
        sink.close()
        yield path


def with_image_shapes(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch with every new image's shape: rows written before schema version 2 have none.

    So every compacted file has the column, with a shape wherever there is a new image, and the
    type census reads no typed image from it.
    """
    typed = batch.column("new_image_ddb")
    if IMAGE_SHAPE_COLUMN in batch.schema.names:
        shapes = batch.column(IMAGE_SHAPE_COLUMN)
        if not pc.any(pc.and_(pc.is_null(shapes), pc.is_valid(typed))).as_py():
            return batch
        batch = batch.drop_columns([IMAGE_SHAPE_COLUMN])
        present = shapes.to_pylist()
    else:
        present = [None] * batch.num_rows
    filled = [
        shape if shape is not None or text is None else image_shape_bytes(orjson.loads(text))
        for shape, text in zip(present, typed.to_pylist(), strict=True)
    ]
    return batch.append_column(IMAGE_SHAPE_COLUMN, text_array(filled))


def _to_archive_schema(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The archive's columns in its order and exact types; then columns this version lacks."""
    names = [name for name in CHANGE_RECORD_SCHEMA.names if name in batch.schema.names]
    names += [name for name in batch.schema.names if name not in CHANGE_RECORD_SCHEMA.names]
    batch = batch.select(names)
    known = {f.name: f for f in CHANGE_RECORD_SCHEMA}
    fields = [known.get(f.name, f) for f in batch.schema]
    schema = pa.schema(fields, metadata=CHANGE_RECORD_SCHEMA.metadata)
    return batch.cast(schema)
