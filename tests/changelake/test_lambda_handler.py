"""The DynamoDB Streams Lambda handler against the real S3 server."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from changelake.clients import make_store, s3_client
from changelake.config import ENV_ARCHIVE, ENV_TABLE
from changelake.lambda_handler import archive
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.exceptions import MalformedRecordError, StorageError
from scripts.services import free_port
from tests.archiver.test_batch import read_changes
from tests.helpers import kinesis_record_to_pipes, load_event, make_record

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.s3


@pytest.fixture
def lambda_archive(s3_archive: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """CHANGELAKE_ARCHIVE points the handler at a fresh S3 prefix."""
    monkeypatch.setenv(ENV_ARCHIVE, s3_archive)
    monkeypatch.delenv(ENV_TABLE, raising=False)
    return s3_archive


@pytest.fixture
def unreachable_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """boto3 pointed at a port nothing listens on; the real client is restored afterwards."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    s3_client.cache_clear()
    yield
    s3_client.cache_clear()


def test_handler_archives_the_batch_and_reports_no_failures(lambda_archive: str) -> None:
    response = archive(load_event("lambda-event-posts.json"), None)
    assert response == {"batchItemFailures": []}
    rows = read_changes(lambda_archive)
    assert [row["event_name"] for row in rows] == ["INSERT", "MODIFY", "INSERT", "REMOVE", "REMOVE"]
    assert {row["table_name"] for row in rows} == {"Posts-prod.v2"}


def test_a_quarantined_record_is_handled_not_a_batch_item_failure(lambda_archive: str) -> None:
    poison = make_record(2, new_image={"id": {"S": "post#1"}, "views": {"N": "many"}})
    event = {"Records": [make_record(1), poison, make_record(3)]}
    response = archive(event, None)
    assert response == {"batchItemFailures": []}
    assert [row["event_id"] for row in read_changes(lambda_archive)] == ["event-1", "event-3"]
    store = make_store(parse_archive_uri(lambda_archive))
    (key,) = store.list_keys("_quarantine")
    kept = json.loads(store.get_bytes(key))
    assert kept["record"] == poison
    assert "attribute 'views' of NewImage has N value 'many'" in kept["error"]


def test_table_from_the_environment(lambda_archive: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_TABLE, "posts-copy")
    archive({"Records": [make_record(1)]}, None)
    assert [row["table_name"] for row in read_changes(lambda_archive)] == ["posts-copy"]


def test_event_that_is_not_a_streams_event_raises(lambda_archive: str) -> None:
    with pytest.raises(MalformedRecordError, match="expected a Lambda event of DynamoDB Streams"):
        archive({"Records": None}, None)


@pytest.mark.usefixtures("unreachable_s3")
def test_unreachable_s3_raises_and_writes_nothing(lambda_archive: str) -> None:
    with pytest.raises(StorageError, match=r"cannot write s3://archive/.*\.parquet"):
        archive(load_event("lambda-event-posts.json"), None)


def test_after_an_s3_outage_nothing_is_half_written_and_the_retry_completes(
    lambda_archive: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = load_event("lambda-event-posts.json")
    endpoint = s3_client().meta.endpoint_url
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    s3_client.cache_clear()
    try:
        with pytest.raises(StorageError):
            archive(event, None)
    finally:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
        s3_client.cache_clear()
    store = make_store(parse_archive_uri(lambda_archive))
    assert list(store.list_keys("")) == []
    assert archive(event, None) == {"batchItemFailures": []}
    assert len(read_changes(lambda_archive)) == 5


def test_a_kinesis_event_is_archived_into_the_same_log(lambda_archive: str) -> None:
    response = archive(load_event("powertools-kinesis-dynamodb-stream.json"), None)
    assert response == {"batchItemFailures": []}
    rows = read_changes(lambda_archive)
    assert sorted(row["item_key"] for row in rows) == [
        "id=record-1qit2y819gi",
        "id=record-fvxn3q4q5jw",
    ]
    assert {row["sequence_number"] for row in rows} == {None}


def test_an_eventbridge_pipes_batch_is_archived(lambda_archive: str) -> None:
    kinesis = [
        kinesis_record_to_pipes(record)
        for record in load_event("powertools-kinesis-dynamodb-stream.json")["Records"]
    ]
    streams = load_event("sam-dynamodb-update.json")["Records"]
    assert archive([*streams, *kinesis], None) == {"batchItemFailures": []}
    rows = read_changes(lambda_archive)
    assert len(rows) == 5
    assert {row["table_name"] for row in rows} == {
        "ExampleTableWithStream",
        "PowertoolsEventsStack-DynamoDBTable59784FC0-8NKAMTERTAXY",
    }
