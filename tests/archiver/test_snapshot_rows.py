"""Snapshot rows: one per item, ordered against stream records by the snapshot's time."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from changelake.archiver.batch import archive_records, archive_snapshot_items
from changelake.archiver.stream_records import item_to_snapshot_row
from changelake.archiver.table_snapshot import snapshot_time
from changelake.clients import make_store, open_archive
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.exceptions import MalformedRecordError
from changelake.schemas.sql_views import latest_sql
from tests.helpers import make_record

AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_an_item_becomes_a_snapshot_row_with_a_stable_event_id() -> None:
    item = {"id": {"S": "post#1"}, "blob": {"B": b"\x01\x02"}, "views": {"N": "10"}}
    row = item_to_snapshot_row(
        item, key_names=["id"], table_name="posts", snapshot_id="s1", snapshot_at=AT,
        archived_at=AT,
    )  # fmt: skip
    assert row["event_id"] == "snapshot:s1:id=post#1"
    assert row["event_name"] == "SNAPSHOT"
    assert row["sequence_number"] is None and row["sequence_order"] is None
    assert row["approximate_creation_time"] == AT
    assert json.loads(row["new_image"]) == {"id": "post#1", "blob": "AQI=", "views": 10}
    assert json.loads(row["keys"]) == {"id": "post#1"}


def test_an_item_without_its_key_is_rejected_by_name() -> None:
    with pytest.raises(MalformedRecordError, match="lacks key attribute"):
        item_to_snapshot_row(
            {"title": {"S": "x"}}, key_names=["id"], table_name="posts", snapshot_id="s1",
            snapshot_at=AT, archived_at=AT,
        )  # fmt: skip


def test_snapshot_time_is_the_start_rounded_down_to_the_streams_precision() -> None:
    started = datetime(2026, 11, 27, 12, 34, 56, 789, tzinfo=UTC)
    aws = "arn:aws:dynamodb:us-east-1:1:table/posts/stream/2026-11-01T00:00:00.000"
    local = "arn:aws:dynamodb:ddblocal:000000000000:table/posts/stream/2026-11-01T00:00:00.000"
    assert snapshot_time(started, aws) == datetime(2026, 11, 27, 12, 34, 56, tzinfo=UTC)
    assert snapshot_time(started) == datetime(2026, 11, 27, 12, 34, 56, tzinfo=UTC)
    assert snapshot_time(started, local) == datetime(2026, 11, 27, 12, 34, tzinfo=UTC)


def test_stream_records_at_or_after_the_snapshot_win_older_ones_lose(local_archive: str) -> None:
    location = parse_archive_uri(local_archive)
    store = make_store(location)
    minute = int(AT.timestamp())
    archive_records(
        [
            make_record(1, key="before", at=minute - 1, title="stream, before"),
            make_record(2, key="same-second", at=minute, title="stream, same second"),
            make_record(3, key="after", at=minute + 30, title="stream, after"),
            make_record(4, key="deleted", at=minute + 5, event_name="REMOVE"),
        ],
        store,
    )
    items = [
        {"id": {"S": key}, "title": {"S": "snapshot"}}
        for key in ("before", "same-second", "after", "deleted", "untouched")
    ]
    result = archive_snapshot_items(
        items, store, table_name="posts", key_names=["id"], snapshot_id="s1", snapshot_at=AT
    )
    assert result.archived == 5
    rows = open_archive(location, "posts").execute(
        f"SELECT item_key, event_name, new_image FROM ({latest_sql()}) ORDER BY item_key"
    )
    titles = {key: (event, json.loads(image)["title"]) for key, event, image in rows.fetchall()}
    assert titles == {
        "id=after": ("MODIFY", "stream, after"),
        "id=before": ("SNAPSHOT", "snapshot"),
        "id=same-second": ("MODIFY", "stream, same second"),
        "id=untouched": ("SNAPSHOT", "snapshot"),
    }
