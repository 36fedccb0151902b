"""GetRecords records as boto3 returns them become Lambda-shaped records, then change rows."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

from changelake.archiver.polled_records import polled_record_to_lambda
from changelake.archiver.stream_records import record_to_row
from tests.helpers import POSTS_STREAM_ARN, load_event


def test_boto3_datetimes_and_bytes_are_normalized() -> None:
    local = timezone(timedelta(hours=2))
    record = {
        "eventID": "e1",
        "eventName": "INSERT",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime(2026, 11, 27, 13, 36, tzinfo=local),
            "Keys": {"id": {"S": "a"}},
            "NewImage": {"id": {"S": "a"}, "blob": {"B": b"\x00\xff"}},
            "SequenceNumber": "000000000000000000001",
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    shaped = polled_record_to_lambda(record, POSTS_STREAM_ARN)
    assert shaped["eventSourceARN"] == POSTS_STREAM_ARN
    assert shaped["dynamodb"]["ApproximateCreationDateTime"] == 1_795_779_360.0
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], datetime)  # not mutated
    row = record_to_row(shaped, archived_at=datetime.now(UTC), shard_id="shard-1")
    assert row["table_name"] == "posts"
    assert row["shard_id"] == "shard-1"
    assert row["approximate_creation_time"] == datetime(2026, 11, 27, 11, 36, tzinfo=UTC)
    blob = json.loads(row["new_image_ddb"])["blob"]["B"]
    assert base64.b64decode(blob) == b"\x00\xff"


def test_a_saved_getrecords_response_decodes() -> None:
    response = load_event("getrecords-response.json")
    arn = response["NextShardIterator"].split("|")[0]
    rows = [
        record_to_row(polled_record_to_lambda(r, arn), archived_at=datetime.now(UTC))
        for r in response["Records"]
    ]
    assert [(r["table_name"], r["item_key"], r["event_name"]) for r in rows] == [
        ("Posts", "id=post#9", "MODIFY")
    ]
