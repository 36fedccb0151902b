"""Quarantine keeps every record it is given: one object per record, dated by the record."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from changelake.archiver.batch import archive_records
from changelake.archiver.stream_events import event_to_records, load_json
from changelake.archiver.stream_records import record_to_row
from changelake.clients import make_store, open_archive
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.exceptions import TerminalError
from tests.helpers import make_kinesis_change, make_kinesis_record, make_record

ARCHIVED_AT = datetime(2026, 11, 27, 23, 59, 30, tzinfo=UTC)
AFTER_MIDNIGHT = datetime(2026, 11, 28, 0, 0, 30, tzinfo=UTC)


def poison(sequence: int, **change: Any) -> dict[str, Any]:
    """A record of the posts table whose image cannot be read (an N that is not a number)."""
    record = make_record(sequence, new_image={"id": {"S": "post#1"}, "n": {"N": "many"}})
    record.update(change)
    return record


def test_two_records_sharing_an_event_id_get_two_quarantine_objects(archive_uri: str) -> None:
    store = make_store(parse_archive_uri(archive_uri))
    first, second = poison(1), poison(2)
    second["eventID"] = first["eventID"]
    result = archive_records([first, second], store, archived_at=ARCHIVED_AT)
    keys = [item.key for item in result.quarantined]
    assert len(set(keys)) == 2
    assert sorted(keys) == list(store.list_keys("_quarantine/"))
    kept = [json.loads(store.get_bytes(key))["record"] for key in keys]
    assert kept == [first, second]
    assert all(key.rsplit("/", 1)[1].startswith("event-1-") for key in keys)


def test_a_retry_after_midnight_rewrites_the_same_quarantine_object(archive_uri: str) -> None:
    store = make_store(parse_archive_uri(archive_uri))
    record = poison(1)
    record["dynamodb"]["ApproximateCreationDateTime"] = 1_764_374_399
    first = archive_records([record], store, archived_at=ARCHIVED_AT)
    retried = archive_records([record], store, archived_at=AFTER_MIDNIGHT)
    (key,) = list(store.list_keys("_quarantine/"))
    assert first.quarantined[0].key == retried.quarantined[0].key == key
    # The record's own day (2025-11-28T23:59:59Z), not the day it was archived.
    assert key.startswith("_quarantine/table=posts/dt=2025-11-28/")
    assert json.loads(store.get_bytes(key))["quarantined_at"] == AFTER_MIDNIGHT.isoformat()


def test_a_record_without_a_time_is_dated_by_the_archive_day(local_archive: str) -> None:
    store = make_store(parse_archive_uri(local_archive))
    record = poison(1)
    del record["dynamodb"]["ApproximateCreationDateTime"]
    (item,) = archive_records([record], store, archived_at=ARCHIVED_AT).quarantined
    assert item.key.startswith("_quarantine/table=posts/dt=2026-11-27/event-1-")


def event_with_new_image(image: str) -> tuple[str, str]:
    """A Lambda event, as delivered, whose second record's NewImage is ``image`` (JSON text);
    and that record's text."""
    second = make_record(2)
    second["dynamodb"]["NewImage"] = "IMAGE"
    record = json.dumps(second).replace('"IMAGE"', image)
    return '{"Records": [' + json.dumps(make_record(1)) + ", " + record + "]}", record


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (
            '{"id": {"S": "post#1"}, "title": {"S": "a"}, "title": {"S": "b"}}',
            "NewImage is a JSON object that repeats the key 'title'",
        ),
        (
            '{"id": {"S": "post#1"}, "title": {"S": "a", "S": "b"}}',
            "attribute 'title' of NewImage is a JSON object that repeats the key 'S'",
        ),
        (
            '{"id": {"S": "post#1"}, "meta": {"M": {"x": {"N": "1"}, "x": {"N": "2"}}}}',
            "attribute 'meta' of NewImage has type M but its value is a JSON object that "
            "repeats the key 'x'",
        ),
    ],
)
def test_an_image_that_repeats_a_key_is_quarantined_with_every_pair(
    local_archive: str, image: str, message: str
) -> None:
    event, record = event_with_new_image(image)
    store = make_store(parse_archive_uri(local_archive))
    result = archive_records(event_to_records(load_json(event)), store, archived_at=ARCHIVED_AT)
    assert result.archived == 1
    (item,) = result.quarantined
    assert f"record event-2: {message}" in item.error
    # The object keeps every pair, exactly as delivered: nothing was resolved silently.
    kept = load_json(store.get_bytes(item.key))["record"]
    assert kept == load_json(record)
    assert kept["dynamodb"]["NewImage"] != json.loads(image)


SURROGATE = "\ud800"


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("eventID", lambda r: r.update(eventID="event-" + SURROGATE)),
        ("awsRegion", lambda r: r.update(awsRegion="us-east-1" + SURROGATE)),
        ("eventSourceARN", lambda r: r.update(eventSourceARN=r["eventSourceARN"] + SURROGATE)),
        ("StreamViewType", lambda r: r["dynamodb"].update(StreamViewType=SURROGATE)),
        ("userIdentity.type", lambda r: r.update(userIdentity={"type": SURROGATE})),
        ("userIdentity.principalId", lambda r: r.update(userIdentity={"principalId": SURROGATE})),
    ],
)
def test_a_lone_surrogate_in_a_metadata_string_quarantines_that_record_only(
    archive_uri: str, field: str, change: Any
) -> None:
    records = [make_record(n, key=f"post#{n}") for n in range(1, 4)]
    change(records[1])
    with pytest.raises(TerminalError, match="lone surrogate"):
        record_to_row(records[1], archived_at=ARCHIVED_AT)
    store = make_store(parse_archive_uri(archive_uri))
    result = archive_records(records, store, archived_at=ARCHIVED_AT)
    assert result.archived == 2
    (item,) = result.quarantined
    assert field in item.error and "lone surrogate" in item.error
    # The raw record is kept, the surrogate escaped: JSON can hold it, UTF-8 cannot.
    kept = json.loads(store.get_bytes(item.key))["record"]
    assert kept == records[1]
    connection = open_archive(parse_archive_uri(archive_uri))
    ids = connection.execute("SELECT event_id FROM changes ORDER BY event_id").fetchall()
    assert ids == [("event-1",), ("event-3",)]


def test_a_kinesis_record_is_quarantined_under_its_change_event_id(local_archive: str) -> None:
    change = make_kinesis_change("0f63-4056", at=1_764_288_000_250)
    change["dynamodb"]["NewImage"]["n"] = {"N": "many"}
    record = make_kinesis_record(change)
    store = make_store(parse_archive_uri(local_archive))
    (item,) = archive_records([record], store, archived_at=ARCHIVED_AT).quarantined
    assert item.event_id == "0f63-4056"
    assert item.key.startswith("_quarantine/table=posts/dt=2025-11-28/0f63-4056-")
    assert json.loads(store.get_bytes(item.key))["record"] == record
