"""Kinesis Data Streams for DynamoDB: Lambda and Pipes deliveries into the same change log."""

from __future__ import annotations

import base64
import json
import tempfile
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from changelake.archiver.batch import archive_records
from changelake.archiver.stream_records import record_to_row
from changelake.clients import make_store, open_archive
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.exceptions import MalformedRecordError
from changelake.schemas.sql_views import latest_sql
from tests.helpers import (
    KINESIS_STREAM_ARN,
    kinesis_record_to_pipes,
    load_event,
    make_kinesis_change,
    make_kinesis_record,
)

ARCHIVED_AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
POWERTOOLS_TABLE = "PowertoolsEventsStack-DynamoDBTable59784FC0-8NKAMTERTAXY"


def test_a_kinesis_record_becomes_a_row_of_the_table_it_names() -> None:
    record = load_event("powertools-kinesis-dynamodb-stream.json")["Records"][0]
    row = record_to_row(record, archived_at=ARCHIVED_AT)
    assert row["table_name"] == POWERTOOLS_TABLE
    assert row["event_id"] == "d9428029-0f63-4056-86da-ce10d545b1b9"
    assert (row["event_name"], row["item_key"]) == ("INSERT", "id=record-1qit2y819gi")
    assert (row["sequence_number"], row["sequence_order"]) == (None, None)
    assert row["approximate_creation_time"] == datetime(2024, 11, 18, 10, 9, 15, 370000, UTC)
    assert row["stream_arn"] == (
        "arn:aws:kinesis:eu-west-1:1234567789012:stream/"
        "PowertoolsEventsStack-KinesisStream46752A3E-u0C9B3ZKjgG0"
    )
    assert row["shard_id"] == "shardId-000000000000"
    assert (row["aws_region"], row["user_identity"], row["size_bytes"]) == ("eu-west-1", None, 60)
    assert row["stream_view_type"] is None
    assert row["new_image_ddb"] == (
        b'{"id":{"S":"record-1qit2y819gi"},"data":{"S":"data-x6aq7ckdpgk"}}'
    )
    assert row["new_image"] == b'{"id":"record-1qit2y819gi","data":"data-x6aq7ckdpgk"}'


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (1_764_288_000_123, datetime(2025, 11, 28, 0, 0, 0, 123000, UTC)),
        (1_764_288_000_123_456, datetime(2025, 11, 28, 0, 0, 0, 123456, UTC)),
    ],
)
def test_millisecond_and_microsecond_times_are_kept_whole(at: int, expected: datetime) -> None:
    record = make_kinesis_record(make_kinesis_change("e-1", at=at))
    assert record_to_row(record, archived_at=ARCHIVED_AT)["approximate_creation_time"] == expected


def test_pipes_delivers_the_same_kinesis_record_flat_and_it_gives_the_same_row() -> None:
    record = make_kinesis_record(make_kinesis_change("e-1", title="x"), sequence=7)
    pipes = kinesis_record_to_pipes(record)
    assert "kinesis" not in pipes and "data" in pipes
    row = record_to_row(record, archived_at=ARCHIVED_AT)
    assert record_to_row(pipes, archived_at=ARCHIVED_AT) == row
    assert row["stream_arn"] == KINESIS_STREAM_ARN


def test_the_table_option_overrides_the_kinesis_table_name() -> None:
    record = make_kinesis_record(make_kinesis_change("e-1"))
    row = record_to_row(record, archived_at=ARCHIVED_AT, table_name="renamed")
    assert row["table_name"] == "renamed"


@pytest.mark.parametrize(
    ("data", "message", "day"),
    [
        (b"\xff not base64", "the Kinesis record's data is not base64", date(2025, 11, 28)),
        (b"Hello, this is a test.", "not base64 of a JSON change record", date(2025, 11, 28)),
        (
            json.dumps(make_kinesis_change("e-9", table="x")).encode(),
            "is not a DynamoDB table name",
            date(2025, 11, 28),
        ),
        (
            json.dumps({**make_kinesis_change("e-9"), "tableName": None}).encode(),
            "tableName is None; a Kinesis change record names its table",
            date(2025, 11, 28),
        ),
        (
            b'{"eventID": "e-9", "eventID": "e-10"}',
            "a JSON object that repeats the key 'eventID'",
            date(2025, 11, 28),
        ),
    ],
)
def test_kinesis_data_that_is_not_a_change_record_is_quarantined_raw(
    local_archive: str, data: bytes, message: str, day: date
) -> None:
    store = make_store(parse_archive_uri(local_archive))
    good = make_kinesis_record(make_kinesis_change("e-1"), sequence=1)
    bad = make_kinesis_record(b"", sequence=2)
    bad["kinesis"]["data"] = (
        "not base64!" if data.startswith(b"\xff") else base64.b64encode(data).decode()
    )
    result = archive_records([good, bad], store, archived_at=ARCHIVED_AT)
    assert result.archived == 1
    (quarantined,) = result.quarantined
    assert message in quarantined.error
    assert quarantined.sequence_number == bad["kinesis"]["sequenceNumber"]
    # Dated by the change's time, or by the Kinesis arrival time when the change is unreadable.
    assert f"/dt={day.isoformat()}/" in quarantined.key
    assert json.loads(store.get_bytes(quarantined.key))["record"] == bad


def test_a_kinesis_record_with_an_unreadable_change_names_the_kinesis_event_id() -> None:
    record = make_kinesis_record(b"[1]", sequence=3)
    with pytest.raises(MalformedRecordError) as raised:
        record_to_row(record, archived_at=ARCHIVED_AT)
    assert str(raised.value) == (
        f"record {record['eventID']}: the Kinesis record's data holds [1]; "
        "expected a DynamoDB change record (a JSON object)"
    )


# --- Replays: Kinesis may deliver a change twice, or out of order ----------------------------

BASE_MS = 1_764_288_000_000


@st.composite
def kinesis_histories(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Changes of a few items at distinct times (ms or µs, many in one second), and the truth:
    each item's last image, or nothing when its last change removed it."""
    scale = draw(st.sampled_from([1, 1000]))  # milliseconds, or microseconds
    changes: list[dict[str, Any]] = []
    truth: dict[str, Any] = {}
    for item in draw(st.lists(st.sampled_from("abcd"), min_size=1, max_size=4, unique=True)):
        offsets = draw(st.lists(st.integers(0, 2_500 * scale), min_size=1, max_size=6, unique=True))
        live = False
        for n, offset in enumerate(sorted(offsets)):
            removed = live and draw(st.booleans())
            name = "REMOVE" if removed else ("MODIFY" if live else "INSERT")
            at = BASE_MS * scale + offset
            # Event ids in no particular order: the time alone orders an item's changes.
            event_id = str(draw(st.uuids()))
            changes.append(make_kinesis_change(event_id, key=item, event_name=name, at=at, v=n))
            live = not removed
            truth[f"id={item}"] = None if removed else {"id": item, "v": str(n)}
    return changes, {key: image for key, image in truth.items() if image is not None}


@settings(max_examples=60, deadline=None)
@given(
    kinesis_histories(),
    st.randoms(use_true_random=False),
    st.integers(1, 4),
    st.lists(st.integers(0, 30), max_size=6),
)
def test_shuffled_and_duplicated_kinesis_deliveries_give_the_latest_image_of_each_item(
    history: tuple[list[dict[str, Any]], dict[str, Any]],
    random: Any,
    batches: int,
    duplicated: list[int],
) -> None:
    changes, truth = history
    records = [make_kinesis_record(change, sequence=n) for n, change in enumerate(changes)]
    delivered = records + [records[n % len(records)] for n in duplicated]
    random.shuffle(delivered)
    with tempfile.TemporaryDirectory() as directory:
        store = make_store(parse_archive_uri(directory))
        for n in range(batches):
            batch = delivered[n::batches]
            if batch:
                at = ARCHIVED_AT + timedelta(minutes=n)
                assert archive_records(batch, store, archived_at=at).quarantined == []
        connection = open_archive(parse_archive_uri(directory))
        latest = connection.execute(
            f"SELECT item_key, new_image FROM ({latest_sql()}) ORDER BY item_key"
        ).fetchall()
    assert {key: json.loads(image) for key, image in latest} == truth


def test_an_item_whose_newest_record_came_through_kinesis_is_in_latest(tmp_path: Any) -> None:
    # Kinesis records carry no stream view type: the image check must not drop them.
    change = make_kinesis_change("e1", key="a", event_name="INSERT", at=BASE_MS, v=0)
    store = make_store(parse_archive_uri(str(tmp_path)))
    archive_records([make_kinesis_record(change, sequence=0)], store)
    connection = open_archive(parse_archive_uri(str(tmp_path)))
    latest = connection.execute(f"SELECT item_key, new_image FROM ({latest_sql()})").fetchall()
    assert [(key, json.loads(image)) for key, image in latest] == [("id=a", {"id": "a", "v": "0"})]
