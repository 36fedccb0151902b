"""The synthetic benchmark archive has the real layout, schema and event mix."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import duckdb
import orjson
import pyarrow.parquet as pq

from bench.synthetic_archive import ArchiveShape, write_synthetic_archive
from changelake.archiver.parquet_files import COMPACTED_ROW_GROUP_SIZE
from changelake.schemas.change_record import CHANGE_RECORD_SCHEMA
from changelake.schemas.type_census import image_shape_bytes

if TYPE_CHECKING:
    from pathlib import Path


def test_layout_schema_and_mix(tmp_path: Path) -> None:
    files = write_synthetic_archive(
        tmp_path, ArchiveShape(20_000, 2_000, days=3, rows_per_file=4_000)
    )
    days = {f.parent.name for f in files}
    assert days == {"dt=2026-11-20", "dt=2026-11-21", "dt=2026-11-22"}
    assert all(f.parent.parent.name == "table=posts" for f in files)
    assert all(len(f.stem.split("-")[0]) == 40 for f in files)
    assert pq.read_schema(files[0]).remove_metadata() == CHANGE_RECORD_SCHEMA.remove_metadata()
    glob = str(tmp_path / "table=*/dt=*/*.parquet")
    row = duckdb.sql(
        f"""
        SET TimeZone = 'UTC';
        WITH c AS (SELECT * FROM read_parquet('{glob}', hive_partitioning = true))
        SELECT count(*), count(DISTINCT item_key),
               count(*) FILTER (event_name = 'INSERT'), count(*) FILTER (event_name = 'REMOVE'),
               count(*) FILTER (user_identity.type = 'Service'),
               (SELECT count(*) FROM (SELECT item_key, approximate_creation_time FROM c
                                      GROUP BY ALL HAVING count(*) > 1)),
               count(*) FILTER (json_valid(new_image) AND json_valid(new_image_ddb)),
               count(*) FILTER (CAST(approximate_creation_time AS DATE) <> CAST(dt AS DATE))
        FROM c
        """
    ).fetchone()
    assert row is not None
    (total, items, inserts, removes, ttl, same_second, valid, dt_mismatch) = row
    assert (total, items, inserts) == (20_000, 2_000, 2_000)
    assert 0 < ttl < removes < items
    assert same_second > 0
    assert valid == total - removes
    assert dt_mismatch == 0


def test_every_new_image_has_its_own_shape(tmp_path: Path) -> None:
    files = write_synthetic_archive(tmp_path, ArchiveShape(3_000, 300, days=1))
    table = pq.read_table(files, columns=["new_image_ddb", "new_image_shape"])
    pairs = list(zip(*table.to_pydict().values(), strict=True))
    assert any(typed is None for typed, _ in pairs)
    for typed, shape in pairs:
        expected = None if typed is None else image_shape_bytes(orjson.loads(typed)).decode()
        assert shape == expected


def test_a_compacted_archive_holds_the_same_records_sorted_by_item(tmp_path: Path) -> None:
    shape = ArchiveShape(5_000, 500, days=2, rows_per_file=900)
    batches = write_synthetic_archive(tmp_path / "batches", shape)
    compacted = write_synthetic_archive(tmp_path / "compacted", replace(shape, compacted=True))
    assert all(f.name.startswith("compacted-") for f in compacted)
    assert not any(f.name.startswith("compacted-") for f in batches)

    def records(files: list[Path]) -> list[tuple[str, str]]:
        listed = ", ".join(f"'{f}'" for f in files)
        return duckdb.sql(
            f"SELECT event_id, item_key FROM read_parquet([{listed}]) ORDER BY event_id"
        ).fetchall()

    assert records(compacted) == records(batches)
    for path in compacted:
        keys = pq.read_table(path, columns=["item_key"]).column(0).to_pylist()
        assert keys == sorted(keys)


def test_a_compacted_archive_has_compaction_s_row_groups(tmp_path: Path) -> None:
    shape = ArchiveShape(40_000, 500, days=1, rows_per_file=40_000, compacted=True)
    (path,) = write_synthetic_archive(tmp_path, shape)
    metadata = pq.read_metadata(path)
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    assert sizes[0] == COMPACTED_ROW_GROUP_SIZE
    assert sum(sizes) == metadata.num_rows
    assert shape.parameters()["row_group_size"] == COMPACTED_ROW_GROUP_SIZE
