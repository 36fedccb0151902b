"""Compaction on local and S3 archives: fewer files, same answers, idempotent, reader-safe."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow.parquet as pq
import pytest

from changelake.archiver.batch import archive_records
from changelake.archiver.compaction import (
    compact_partition,
    iter_partition_files,
    needs_compaction,
    plan_compaction,
    remove_inputs,
    write_compacted,
)
from changelake.archiver.parquet_files import COMPACTED_ROW_GROUP_SIZE
from changelake.clients import connect_duckdb, make_store, open_archive
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.sql_views import latest_sql
from changelake.schemas.type_census import image_shape_bytes
from tests.helpers import as_schema_version_1, make_record

if TYPE_CHECKING:
    from changelake.archiver.object_store import ObjectStore
    from changelake.schemas.archive_layout import ArchiveLocation

DAY_ONE = 1_764_288_000  # 2025-11-28T00:00:00Z
DAY_TWO = DAY_ONE + 86_400


def _archive_batches(store: ObjectStore, batches: int = 12, per_batch: int = 25) -> None:
    """Small batches over two days; every batch repeats the previous batch's last record."""
    sequence = 1000
    previous: dict[str, Any] | None = None
    for batch in range(batches):
        at = DAY_ONE if batch < batches // 2 else DAY_TWO
        records = [previous] if previous else []
        for offset in range(per_batch):
            sequence += 1
            records.append(
                make_record(
                    sequence, key=f"post#{sequence * 7 % 13}", at=at + offset, title=f"t{sequence}"
                )
            )
        previous = records[-1]
        archive_records(records, store)


def _open(archive_uri: str) -> tuple[ArchiveLocation, ObjectStore, Any]:
    """The archive at a URI: its location, its store and a DuckDB connection that reads it."""
    location = parse_archive_uri(archive_uri)
    return location, make_store(location), connect_duckdb(location)


def _latest(archive: str) -> list[tuple[Any, ...]]:
    connection = open_archive(parse_archive_uri(archive))
    return sorted(connection.execute(latest_sql()).fetchall())


def _parquet_keys(store: ObjectStore) -> list[str]:
    return [key for _, key in iter_partition_files(store, "posts")]


def test_compaction_merges_sorts_dedupes_and_is_idempotent(archive_uri: str) -> None:
    location, store, connection = _open(archive_uri)
    _archive_batches(store)
    before = _latest(archive_uri)
    # The first batch of day two repeats a record of day one: it is split into two files.
    assert len(_parquet_keys(store)) == 13

    plans = plan_compaction(store, connection, "posts")
    assert [plan.day for plan in plans] == [date(2025, 11, 28), date(2025, 11, 29)]
    results = [compact_partition(plan, store, connection) for plan in plans]

    keys = _parquet_keys(store)
    assert len(keys) == 2
    assert all(key.rpartition("/")[2].startswith("compacted-") for key in keys)
    # 12 batches of 25 new records; 11 batches repeated one record of the batch before.
    assert sum(r.rows_read for r in results) == 12 * 25 + 11
    assert sum(r.rows_written for r in results) == 12 * 25
    assert _latest(archive_uri) == before
    rows = (
        open_archive(location)
        .execute("SELECT count(*), count(DISTINCT event_id) FROM changes")
        .fetchone()
    )
    assert rows == (300, 300)
    for key in keys:
        table = pq.read_table(io.BytesIO(store.get_bytes(key)))
        order = list(
            zip(
                table["item_key"].to_pylist(),
                table["approximate_creation_time"].to_pylist(),
                table["sequence_order"].to_pylist(),
                strict=True,
            )
        )
        assert order == sorted(order)

    assert plan_compaction(store, connection, "posts") == []
    assert _parquet_keys(store) == keys


def test_retried_compaction_writes_the_same_objects(archive_uri: str) -> None:
    _, store, connection = _open(archive_uri)
    _archive_batches(store, batches=4)
    plans = plan_compaction(store, connection, "posts")
    first = [write_compacted(plan, store, connection) for plan in plans]
    # A compaction that died before deleting its inputs is simply run again: same plan, same names.
    again = plan_compaction(store, connection, "posts")
    assert [p.output_key(0) for p in again] == [p.output_key(0) for p in plans]
    second = [compact_partition(plan, store, connection) for plan in again]
    assert [r.outputs for r in second] == [r.outputs for r in first]
    assert sorted(_parquet_keys(store)) == sorted(k for r in first for k in r.outputs)


def test_reader_listing_old_and_new_files_gets_the_same_latest_state(archive_uri: str) -> None:
    location, store, connection = _open(archive_uri)
    _archive_batches(store)
    before = _latest(archive_uri)
    plans = plan_compaction(store, connection, "posts")
    results = [write_compacted(plan, store, connection) for plan in plans]

    # Between writing the outputs and deleting the inputs, a reader lists both.
    both = open_archive(location)
    counts = both.execute("SELECT count(*), count(DISTINCT event_id) FROM change_rows").fetchone()
    assert counts == (2 * 300 + 11, 300)
    assert both.execute("SELECT count(*) FROM changes").fetchone() == (300,)
    assert sorted(both.execute(latest_sql()).fetchall()) == before

    for plan, result in zip(plans, results, strict=True):
        remove_inputs(plan, store, result)
    assert _latest(archive_uri) == before


def test_compaction_gives_rows_from_before_schema_version_2_their_shapes(
    local_archive: str,
) -> None:
    location, store, connection = _open(local_archive)
    _archive_batches(store, batches=4, per_batch=20)
    before = _latest(local_archive)
    files = sorted(Path(local_archive).rglob("*.parquet"))
    for path in files[::2]:
        as_schema_version_1(path)
    for plan in plan_compaction(store, connection, "posts"):
        compact_partition(plan, store, connection)
    assert _latest(local_archive) == before
    for key in _parquet_keys(store):
        table = pq.read_table(location.url(key), columns=["new_image_ddb", "new_image_shape"])
        pairs = list(zip(*table.to_pydict().values(), strict=True))
        assert pairs
        for typed, shape in pairs:
            assert shape == (typed and image_shape_bytes(orjson.loads(typed)).decode())


def test_target_size_splits_a_partition_into_sorted_files(local_archive: str) -> None:
    location, store, connection = _open(local_archive)
    _archive_batches(store, batches=2, per_batch=3000)
    (plan, *_) = plan_compaction(store, connection, "posts", day=date(2025, 11, 28), target_size=1)
    # A target of one byte closes a file after each row group of 500 rows.
    result = write_compacted(plan, store, connection, row_group_size=500)
    assert len(result.outputs) == 6
    tables = [pq.read_table(location.url(key)) for key in result.outputs]
    assert [t.num_rows for t in tables] == [500] * 6
    item_keys = [key for t in tables for key in t["item_key"].to_pylist()]
    assert item_keys == sorted(item_keys)
    assert tables[0].schema.metadata[b"changelake.schema_version"] == b"2"


def test_compacted_row_groups_are_small_enough_for_a_lookup_by_key(local_archive: str) -> None:
    location, store, connection = _open(local_archive)
    _archive_batches(store, batches=4, per_batch=9000)
    (plan, *_) = plan_compaction(store, connection, "posts", day=date(2025, 11, 28))
    result = write_compacted(plan, store, connection)
    (output,) = result.outputs
    metadata = pq.read_metadata(location.url(output))
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    # The day's two batches hold 18,000 records (the record the second repeats is kept once).
    assert sizes == [COMPACTED_ROW_GROUP_SIZE, 18_000 - COMPACTED_ROW_GROUP_SIZE]


def test_date_and_before_pick_partitions(local_archive: str) -> None:
    _, store, connection = _open(local_archive)
    _archive_batches(store, batches=4)
    one = plan_compaction(store, connection, "posts", day=date(2025, 11, 29))
    assert [p.day for p in one] == [date(2025, 11, 29)]
    older = plan_compaction(store, connection, "posts", before=date(2025, 11, 29))
    assert [p.day for p in older] == [date(2025, 11, 28)]


def test_quarantine_and_checkpoints_are_left_alone(archive_uri: str) -> None:
    _, store, connection = _open(archive_uri)
    poison = make_record(5, key="post#poison")
    poison["dynamodb"]["NewImage"] = {"id": {"SSX": "bad"}}
    result = archive_records([make_record(1), make_record(2), poison], store)
    assert len(result.quarantined) == 1
    store.put_bytes("_checkpoints/table=posts/shard-1.json", b'{"sequence": "1"}')
    _archive_batches(store, batches=2)
    outside = [k for k in store.list_keys("") if not k.startswith("table=")]
    for plan in plan_compaction(store, connection, "posts"):
        compact_partition(plan, store, connection)
    assert [k for k in store.list_keys("") if not k.startswith("table=")] == outside
    assert len(outside) == 2


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["dt=1/compacted-a-0000.parquet"], False),
        (["dt=1/compacted-a-0000.parquet", "dt=1/0001-abc.parquet"], True),
        (["dt=1/0001-abc.parquet"], True),
        ([], False),
    ],
)
def test_needs_compaction(names: list[str], expected: bool) -> None:
    assert needs_compaction(names) is expected


def test_files_archived_while_a_compaction_runs_are_kept(archive_uri: str) -> None:
    location, store, connection = _open(archive_uri)
    _archive_batches(store, batches=6)
    plans = plan_compaction(store, connection, "posts")
    late = [make_record(5000 + n, key=f"late#{n}", at=DAY_ONE + 50) for n in range(10)]

    def archive_late_batches(rows: int) -> None:
        # Called as the compaction writes its outputs: the archiver keeps writing meanwhile.
        if late:
            archive_records([late.pop()], store)

    for plan in plans:
        compact_partition(plan, store, connection, on_rows=archive_late_batches)
    keys = _parquet_keys(store)
    assert sum(not key.rpartition("/")[2].startswith("compacted-") for key in keys) >= 1
    archived = open_archive(location).execute("SELECT count(DISTINCT event_id) FROM changes")
    late_count = 10 - len(late)
    assert archived.fetchone() == (6 * 25 + late_count,)


def _writer_settings(data: bytes) -> dict[str, tuple[str, bool]]:
    """Each column's compression and whether it has statistics, in a file's first row group."""
    group = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0)
    columns = (group.column(i) for i in range(group.num_columns))
    return {c.path_in_schema: (c.compression, c.is_stats_set) for c in columns}


def test_compacted_files_are_written_like_batch_files(local_archive: str) -> None:
    _, store, connection = _open(local_archive)
    _archive_batches(store, batches=2)
    batch_file = _writer_settings(store.get_bytes(_parquet_keys(store)[0]))
    for plan in plan_compaction(store, connection, "posts"):
        compact_partition(plan, store, connection)
    compacted = _writer_settings(store.get_bytes(_parquet_keys(store)[0]))
    assert compacted == batch_file
    assert batch_file["item_key"] == ("ZSTD", True)  # history finds a key by its statistics
    assert batch_file["new_image"] == ("ZSTD", False)
