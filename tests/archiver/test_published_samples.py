"""Published stream samples (tests/events/README.md): each record archived exactly, or kept in a
quarantine object of its own; each counted once, however often the batch is delivered."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from changelake.archiver.batch import archive_records
from changelake.archiver.stream_events import event_to_records, kinesis_block, kinesis_change
from changelake.clients import make_store, open_archive
from changelake.schemas.archive_layout import parse_archive_uri
from tests.helpers import EVENTS
from tests.schemas.strategies import expected_plain

ARCHIVED_AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

# Per sample: records archived, records quarantined.
SAMPLES = {
    "go-dynamodb-event.json": (0, 2),
    "rust-dynamodb-event.json": (2, 0),
    "dotnet-dynamodb-event.json": (2, 0),
    "dotnet-dynamodb-with-ms-event.json": (2, 0),
    "java-dynamodb-event.json": (1, 3),
    "sam-dynamodb-update.json": (3, 0),
    "powertools-dynamodb-stream-event.json": (0, 2),
    "powertools-kinesis-dynamodb-stream.json": (2, 0),
    "pipes-dynamodb-event.json": (0, 1),
    "lambda-event-posts.json": (5, 0),
    "lambda-event-barktable.json": (1, 0),
}


def sample_records(name: str) -> list[Any]:
    """The records of a sample file, read as the archive command reads it."""
    return event_to_records(json.loads((EVENTS / name).read_text()))


def change_of(record: dict[str, Any]) -> dict[str, Any]:
    """The DynamoDB change a record carries (decoded from a Kinesis record's data)."""
    kinesis = kinesis_block(record)
    change: dict[str, Any] = record if kinesis is None else kinesis_change(kinesis)
    return change


def archived_rows(archive_uri: str) -> dict[str, dict[str, Any]]:
    """Every row of the changes view by event id."""
    connection = open_archive(parse_archive_uri(archive_uri))
    cursor = connection.execute("SELECT * FROM changes")
    names = [column[0] for column in cursor.description]
    rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    by_event = {row["event_id"]: row for row in rows}
    assert len(by_event) == len(rows), "an event was archived twice"
    return by_event


def _typed(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _plain(text: str | None) -> Any:
    return None if text is None else json.loads(text, parse_int=str, parse_float=str)


def _expected_plain(image: dict[str, Any] | None) -> Any:
    return None if image is None else {name: expected_plain(v) for name, v in image.items()}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_published_record_is_archived_exactly_or_quarantined_in_its_own_object(
    archive_uri: str, name: str
) -> None:
    records = sample_records(name)
    store = make_store(parse_archive_uri(archive_uri))
    result = archive_records(records, store, archived_at=ARCHIVED_AT)

    archived, quarantined = SAMPLES[name]
    assert (result.records, result.archived, len(result.quarantined)) == (
        len(records),
        archived,
        quarantined,
    )
    keys = [item.key for item in result.quarantined]
    assert sorted(keys) == sorted(set(keys)) == list(store.list_keys("_quarantine/"))
    for item in result.quarantined:
        assert json.loads(store.get_bytes(item.key))["record"] in records

    rows = archived_rows(archive_uri) if archived else {}
    quarantined_ids = {item.event_id for item in result.quarantined}
    for record in records:
        change = change_of(record)
        if change["eventID"] in quarantined_ids:
            assert change["eventID"] not in rows
            continue
        row = rows.pop(change["eventID"])
        block = change["dynamodb"]
        # Exact round trip: the typed columns hold what was delivered, the plain ones its values.
        assert _typed(row["keys_ddb"]) == block["Keys"]
        assert _typed(row["new_image_ddb"]) == block.get("NewImage")
        assert _typed(row["old_image_ddb"]) == block.get("OldImage")
        assert _plain(row["new_image"]) == _expected_plain(block.get("NewImage"))
        assert _plain(row["old_image"]) == _expected_plain(block.get("OldImage"))
        assert row["event_name"] == change["eventName"]
        assert row["size_bytes"] == block.get("SizeBytes")
    assert rows == {}

    # Delivered again (Lambda retries, Pipes redeliveries): the same objects, no second copy.
    objects = sorted(store.list_keys(""))
    again = archive_records(records, store, archived_at=ARCHIVED_AT.replace(hour=23))
    assert sorted(item.key for item in again.quarantined) == sorted(keys)
    assert sorted(store.list_keys("")) == objects


def test_a_table_named_on_the_command_line_archives_what_the_arn_could_not_name(
    local_archive: str,
) -> None:
    records = sample_records("powertools-dynamodb-stream-event.json")
    store = make_store(parse_archive_uri(local_archive))
    result = archive_records(records, store, table_name="ExampleTable")
    assert result.archived == 1
    (left,) = result.quarantined
    assert left.event_id == "2"
    assert "ApproximateCreationDateTime is None" in left.error
    row = archived_rows(local_archive)["1"]
    assert row["table_name"] == "ExampleTable"
    assert row["approximate_creation_time"] == datetime(2023, 9, 6, 10, 45, 55, tzinfo=UTC)


def test_creation_times_keep_the_precision_each_sample_gives(local_archive: str) -> None:
    store = make_store(parse_archive_uri(local_archive))
    for name in (
        "dotnet-dynamodb-with-ms-event.json",
        "java-dynamodb-event.json",
        "powertools-kinesis-dynamodb-stream.json",
    ):
        archive_records(sample_records(name), store)
    connection = open_archive(parse_archive_uri(local_archive))
    times = dict(
        connection.execute(
            "SELECT table_name, list(DISTINCT approximate_creation_time) FROM changes GROUP BY 1"
        ).fetchall()
    )
    assert times == {
        # 1480642020000 (ms) and 1480642020 (s) in one event: the same instant.
        "Example-Table": [datetime(2016, 12, 2, 1, 27, tzinfo=UTC)],
        # 1.44130524E9: a float number of seconds.
        "lambda-ddb-streams-int-test": [datetime(2015, 9, 3, 18, 34, tzinfo=UTC)],
        # 1731924555370: milliseconds from Kinesis Data Streams for DynamoDB.
        "PowertoolsEventsStack-DynamoDBTable59784FC0-8NKAMTERTAXY": [
            datetime(2024, 11, 18, 10, 9, 15, 370000, tzinfo=UTC)
        ],
    }
