"""One stream record -> one change row, and clear errors for malformed records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from changelake.archiver.stream_events import event_to_records
from changelake.archiver.stream_records import (
    creation_time,
    record_to_row,
    table_name_from_arn,
)
from changelake.schemas.exceptions import ArchiveLocationError, MalformedRecordError, TerminalError
from tests.helpers import load_event, make_record

ARCHIVED_AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_row_of_a_lambda_record() -> None:
    record = load_event("lambda-event-barktable.json")["Records"][0]
    row = record_to_row(record, archived_at=ARCHIVED_AT, shard_id="shardId-1")
    assert row["table_name"] == "BarkTable"
    assert row["item_key"] == "Timestamp=2016-11-18:12:09:36&Username=John Doe"
    assert row["keys"] == b'{"Timestamp":"2016-11-18:12:09:36","Username":"John Doe"}'
    assert row["sequence_order"] == "13021600000000001596893679".zfill(40)
    assert row["approximate_creation_time"] == datetime(2016, 11, 18, 20, 9, tzinfo=UTC)
    assert row["archived_at"] == ARCHIVED_AT
    assert row["shard_id"] == "shardId-1"
    assert row["old_image"] is None and row["user_identity"] is None


def test_boto3_shapes_datetime_and_bytes() -> None:
    record = make_record(1, new_image={"id": {"S": "post#1"}, "blob": {"B": b"\x00\x01\x02"}})
    record["dynamodb"]["ApproximateCreationDateTime"] = datetime(2026, 11, 28, tzinfo=UTC)
    row = record_to_row(record, archived_at=ARCHIVED_AT)
    assert row["new_image"] == b'{"id":"post#1","blob":"AAEC"}'
    assert row["new_image_ddb"] == b'{"id":{"S":"post#1"},"blob":{"B":"AAEC"}}'
    assert row["approximate_creation_time"] == datetime(2026, 11, 28, tzinfo=UTC)


@pytest.mark.parametrize(
    ("arn", "table"),
    [
        (
            "arn:aws:dynamodb:us-east-1:123:table/Posts-prod.v2/stream/2026-11-01T00:00:00.000",
            "Posts-prod.v2",
        ),
        (
            "arn:aws:dynamodb:region:account ID:table/BarkTable/stream/2016-11-16T20:42:48.104",
            "BarkTable",
        ),
        ("arn:aws:dynamodb:eu-west-1:1:table/a_b.c-d/stream/x", "a_b.c-d"),
    ],
)
def test_table_name_from_arn(arn: str, table: str) -> None:
    assert table_name_from_arn(arn) == table


def test_table_name_from_a_bad_arn() -> None:
    with pytest.raises(MalformedRecordError, match=r"not a DynamoDB stream or table ARN.*--table"):
        table_name_from_arn("arn:aws:sqs:us-east-1:1:queue")
    with pytest.raises(ArchiveLocationError, match="not a DynamoDB table name"):
        table_name_from_arn("arn:aws:dynamodb:r:1:table/bad name!/stream/x")


def _broken(change: dict[str, Any], block: dict[str, Any] | None = None) -> dict[str, Any]:
    record = make_record(1)
    record["dynamodb"].update(block or {})
    record.update(change)
    return record


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (_broken({"eventName": "UPSERT"}), "eventName is 'UPSERT'; expected one of INSERT"),
        (_broken({"dynamodb": None}), "has no 'dynamodb' block"),
        (_broken({"dynamodb": "x"}), "has no 'dynamodb' block"),
        (_broken({}, {"Keys": {}}), "has no Keys map"),
        (_broken({}, {"Keys": None}), "has no Keys map"),
        (_broken({}, {"SequenceNumber": 5}), "SequenceNumber is 5; expected a decimal string"),
        (_broken({}, {"SequenceNumber": "12x"}), "SequenceNumber '12x' is not a decimal string"),
        (
            _broken({}, {"ApproximateCreationDateTime": "yesterday"}),
            "ApproximateCreationDateTime is 'yesterday'",
        ),
        (_broken({}, {"ApproximateCreationDateTime": 10**17}), "between 1970 and 5138"),
        (_broken({}, {"ApproximateCreationDateTime": True}), "ApproximateCreationDateTime is True"),
        (_broken({}, {"NewImage": ["x"]}), "NewImage is ['x']; expected a map of attributes"),
        (_broken({}, {"SizeBytes": "100"}), "SizeBytes is '100'; expected a non-negative integer"),
        (_broken({}, {"StreamViewType": 3}), "StreamViewType is 3; expected a string"),
        (_broken({"awsRegion": ["x"]}), "awsRegion is ['x']; expected a string"),
        (_broken({"userIdentity": "Service"}), "userIdentity is 'Service'"),
        (_broken({"userIdentity": {"type": 1}}), "userIdentity.type is 1; expected a string"),
        (_broken({"eventSourceARN": 7}), "eventSourceARN is 7; expected a string"),
        (_broken({"eventSourceARN": None}), "has no eventSourceARN; pass --table NAME"),
        (_broken({}, {"Keys": {"id": {"L": []}}}), "keys must be S, N or B"),
    ],
)
def test_malformed_records_raise_terminal_errors_naming_the_record(
    record: dict[str, Any], message: str
) -> None:
    with pytest.raises(TerminalError) as caught:
        record_to_row(record, archived_at=ARCHIVED_AT)
    assert str(caught.value).startswith("record event-1: ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "record", ["text", 5, None, ["a"], {"eventName": "INSERT"}, {"eventID": ""}]
)
def test_records_without_an_event_id(record: Any) -> None:
    with pytest.raises(MalformedRecordError, match="stream record"):
        record_to_row(record, archived_at=ARCHIVED_AT)


@pytest.mark.parametrize(
    ("event", "shape"),
    [
        ({"records": []}, "['records']"),
        (1, "'int'"),
        ("x", "'str'"),
        ({"Records": {}}, "['Records']"),
        ({"error": "x", "record": {}}, "['error', 'record']"),
    ],
)
def test_events_that_are_not_streams_events(event: Any, shape: str) -> None:
    with pytest.raises(MalformedRecordError) as caught:
        event_to_records(event)
    assert f"the event has no 'Records' list (got {shape})" in str(caught.value)
    assert 'expected a Lambda event of DynamoDB Streams or Kinesis records {"Records": [...]}' in (
        str(caught.value)
    )


def test_creation_time_accepts_epoch_numbers_and_datetimes() -> None:
    assert creation_time(1_764_288_000) == datetime(2025, 11, 28, tzinfo=UTC)
    assert creation_time(1_764_288_000.25) == datetime(2025, 11, 28, 0, 0, 0, 250000, tzinfo=UTC)
    naive = datetime(2025, 11, 28)
    assert creation_time(naive) == datetime(2025, 11, 28, tzinfo=UTC)
