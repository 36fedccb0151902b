"""The latest-record stage on a worker thread: same results, and it stops when the caller fails."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from bench.synthetic_archive import ArchiveShape, write_synthetic_archive
from changelake.archiver.batch import archive_records
from changelake.cli import cli
from changelake.clients import make_store, open_archive
from changelake.memory_limit import MINIMUM
from changelake.rebuild.latest_images import (
    CENSUS_IMAGES,
    KEY_LOOKUP_LIMIT,
    LATEST_IMAGES,
    LATEST_TABLE,
    LatestCounts,
    Selection,
    iter_latest_batches,
    latest_images_sql,
    latest_in_background,
    load_high_watermark,
    materialize_latest,
)
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.sql_views import CHANGE_ROWS
from tests.helpers import as_schema_version_1, make_record

AT = 1_764_288_000


def archive_posts(archive: str) -> None:
    records = [
        make_record(1, key="post#1", event_name="INSERT", at=AT, title="one"),
        make_record(2, key="post#2", event_name="INSERT", at=AT, title="two"),
        make_record(3, key="post#2", event_name="REMOVE", at=AT + 1),
        make_record(4, key="post#3", event_name="INSERT", at=AT + 2, title="three"),
    ]
    archive_records(records, make_store(parse_archive_uri(archive)))


def test_the_stage_in_the_background_gives_the_watermark_and_counts(local_archive: str) -> None:
    archive_posts(local_archive)
    connection = open_archive(parse_archive_uri(local_archive), "posts")
    with latest_in_background(connection, Selection("posts")) as latest:
        counts = latest.counts.result()
        watermark = latest.watermark.result()
    assert counts == LatestCounts(upserts=2, removes=1)
    assert watermark == load_high_watermark(connection, "posts")
    rows = connection.execute(f"SELECT item_key FROM {LATEST_TABLE} ORDER BY 1").fetchall()
    assert rows == [("id=post#1",), ("id=post#2",), ("id=post#3",)]


def test_a_failure_meanwhile_stops_the_stage_and_the_connection_still_answers(
    local_archive: str,
) -> None:
    archive_posts(local_archive)
    connection = open_archive(parse_archive_uri(local_archive), "posts")
    with (
        pytest.raises(RuntimeError, match="the engine is down"),
        latest_in_background(connection, Selection("posts")) as latest,
    ):
        raise RuntimeError("the engine is down")
    assert latest.counts.done()
    assert connection.execute("SELECT count(*) FROM changes").fetchone() == (4,)


def test_the_changes_view_says_where_each_record_is_stored(local_archive: str) -> None:
    archive_posts(local_archive)
    connection = open_archive(parse_archive_uri(local_archive), "posts")
    rows = connection.execute("SELECT event_id, source_file, source_row FROM changes").fetchall()
    assert len(rows) == 4
    for event_id, source_file, source_row in rows:
        stored = pq.read_table(source_file, columns=["event_id"]).column(0)
        assert stored[source_row].as_py() == event_id


def test_latest_images_read_the_files_given_newest_first() -> None:
    sql = latest_images_sql(["b.parquet", "a.parquet"])
    assert "read_parquet(['b.parquet', 'a.parquet'], filename = true" in sql
    assert "CASE WHEN l.event_name <> 'REMOVE' THEN r.new_image END" in sql
    # With no upsert, nothing is read: the removed items alone.
    assert "read_parquet" not in latest_images_sql([])


def test_a_sync_reads_images_only_from_the_files_of_its_changed_items(local_archive: str) -> None:
    store = make_store(parse_archive_uri(local_archive))
    archive_records([make_record(1, key="post#1", event_name="INSERT", at=AT, title="old")], store)
    since = load_high_watermark(open_archive(parse_archive_uri(local_archive), "posts"), "posts")
    time.sleep(0.01)
    archive_records([make_record(2, key="post#2", event_name="INSERT", at=AT, title="new")], store)
    connection = open_archive(parse_archive_uri(local_archive), "posts")
    assert materialize_latest(connection, Selection("posts", since=since)) == LatestCounts(1, 0)
    files = dict(connection.execute("SELECT item_key, source_file FROM changes").fetchall())
    (view,) = connection.execute(
        "SELECT sql FROM duckdb_views() WHERE view_name = ?", [LATEST_IMAGES]
    ).fetchone()
    assert files["id=post#2"] in view
    assert files["id=post#1"] not in view
    rows = connection.execute(f"SELECT item_key, new_image FROM {LATEST_IMAGES}").fetchall()
    assert [(key, json.loads(image)) for key, image in rows] == [
        ("id=post#2", {"id": "post#2", "title": "new"})
    ]


def test_picking_by_position_gives_the_same_entries_as_one_pass(local_archive: str) -> None:
    archive_posts(local_archive)
    store = make_store(parse_archive_uri(local_archive))
    # A second file: post#1 changes twice in one second, so its version counts both.
    archive_records(
        [
            make_record(5, key="post#1", event_name="MODIFY", at=AT + 3, title="one, again"),
            make_record(6, key="post#1", event_name="MODIFY", at=AT + 3, title="one, last"),
        ],
        store,
    )
    connection = open_archive(parse_archive_uri(local_archive), "posts")

    def entries(by_position: bool) -> list[str]:
        counts = materialize_latest(connection, Selection("posts"), by_position=by_position)
        assert counts == LatestCounts(upserts=2, removes=1)
        batches = iter_latest_batches(connection, with_removes=True, entries=True)
        return sorted(entry for batch in batches for entry in batch.column(0).to_pylist())

    one_pass = entries(by_position=False)
    by_position = entries(by_position=True)
    columns = [row[0] for row in connection.execute(f"DESCRIBE {LATEST_TABLE}").fetchall()]
    assert "source_row" in columns  # the images were read afterwards, by position
    assert by_position == one_pass
    assert any('"title":"one, last"' in entry for entry in one_pass)
    assert any(entry.startswith('{"delete":{"_id":"id=post#2"') for entry in one_pass)


def test_a_census_reads_shapes_and_typed_images_only_from_files_without_shapes(
    local_archive: str,
) -> None:
    archive_posts(local_archive)
    archive_records(
        [make_record(5, key="post#4", event_name="INSERT", at=AT + 3, views="7")],
        make_store(parse_archive_uri(local_archive)),
    )
    older, _ = sorted(Path(local_archive).rglob("*.parquet"))
    as_schema_version_1(older)
    connection = open_archive(parse_archive_uri(local_archive), "posts")
    materialize_latest(connection, Selection("posts"), typed_images=True)
    rows = connection.execute(f"SELECT item_key, new_image_ddb FROM {CENSUS_IMAGES}").fetchall()
    assert dict(rows) == {
        "id=post#1": '{"id":{"S":"post#1"},"title":{"S":"one"}}',
        "id=post#3": '{"id":{"S":"post#3"},"title":{"S":"three"}}',
        "id=post#4": '{"id":{"S":""},"views":{"S":""}}',
    }


def test_picking_by_position_fits_the_smallest_memory_limit(tmp_path: Path) -> None:
    # A sync whose watermark is far behind picks the latest records of much of the archive by
    # position: at the smallest memory limit that pick must spill, not run out of memory.
    write_synthetic_archive(tmp_path, ArchiveShape(1_000_000, 100_000, days=2))
    connection = open_archive(parse_archive_uri(str(tmp_path)), "posts", memory_limit=MINIMUM)
    counts = materialize_latest(connection, Selection("posts"), by_position=True)
    (items,) = connection.execute(
        f"SELECT count(DISTINCT item_key) FROM {CHANGE_ROWS} WHERE table_name = 'posts'"
    ).fetchone() or (None,)
    assert counts.upserts + counts.removes == items == 100_000


@pytest.mark.parametrize("changed", [3, KEY_LOOKUP_LIMIT + 5])
def test_a_sync_over_compacted_files_picks_what_the_whole_table_picks(
    tmp_path: Path, changed: int
) -> None:
    archive = str(tmp_path / "archive")
    # Items 0-199 change over two days, a few in a second shared with their previous change.
    write_synthetic_archive(
        archive, ArchiveShape(2000, 200, days=2, rows_per_file=300, same_second_percent=30)
    )
    result = CliRunner().invoke(cli, ["compact", "--archive", archive, "--table", "posts"])
    assert result.exit_code == 0, result.output
    location = parse_archive_uri(archive)
    connection = open_archive(location, "posts")
    since = load_high_watermark(connection, "posts")
    # The new records of even items share the second of the item's newest change.
    newest = dict(
        connection.execute(
            "SELECT item_key, epoch(max(approximate_creation_time))::BIGINT FROM changes "
            "GROUP BY item_key"
        ).fetchall()
    )
    keys = [f"post-{item * 5:08d}" for item in range(changed)]
    records = [
        make_record(
            1_000_000 + n,
            key=key,
            at=newest[f"id={key}"] + (0 if n % 2 == 0 else 60),
            title=f"new {n}",
        )
        for n, key in enumerate(keys)
    ]
    time.sleep(0.01)
    archive_records(records, make_store(location))
    connection = open_archive(location, "posts")
    files = {name for (name,) in connection.execute("SELECT source_file FROM changes").fetchall()}
    assert any("/compacted-" in name for name in files)
    assert any("/compacted-" not in name for name in files)

    picked = "SELECT item_key, event_name, version, new_image FROM {} ORDER BY item_key"
    materialize_latest(connection, Selection("posts", since=since))
    after_watermark = connection.execute(picked.format(LATEST_IMAGES)).fetchall()
    materialize_latest(connection, Selection("posts"))
    listed = ", ".join(f"'id={key}'" for key in keys)
    whole_table = connection.execute(
        picked.format(f"{LATEST_IMAGES} WHERE item_key IN ({listed})")
    ).fetchall()
    assert len(after_watermark) == changed
    assert after_watermark == whole_table
