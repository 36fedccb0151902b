"""Faults on the archive side: S3 stopped mid-batch, poison records, malformed Lambda events.

The S3 tests run against a SeaweedFS of their own, stopped and restarted by scripts/services.py,
so that stopping it does not disturb the tests that share the session's server.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from changelake import lambda_handler
from changelake.archiver.batch import archive_records
from changelake.archiver.object_store import S3Store
from changelake.cli import cli
from changelake.clients import make_store, open_archive, s3_client
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.exceptions import MalformedRecordError, StorageError
from changelake.schemas.sql_views import latest_sql
from scripts.services import start_seaweedfs, stop
from tests.helpers import make_record

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

MIDNIGHT = 1_764_374_400  # 2025-11-29T00:00:00Z


class OwnS3:
    """A SeaweedFS of this test's own, which the test may stop and start again."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.service = start_seaweedfs(workdir)
        self.running = True

    @property
    def bucket(self) -> str:
        """The bucket the server was started with."""
        return self.service.env["CHANGELAKE_TEST_BUCKET"]

    def stop(self) -> None:
        """Stop the server (its data stays in the work directory)."""
        stop(self.service)
        self.running = False

    def restart(self) -> None:
        """Start it again on the same ports, with the same data."""
        self.service = start_seaweedfs(self.workdir)
        self.running = True


@pytest.fixture
def own_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[OwnS3]:
    """A SeaweedFS for this test alone; boto3 and DuckDB point at it while the test runs."""
    server = OwnS3(tmp_path / "seaweedfs")
    for variable, value in server.service.env.items():
        monkeypatch.setenv(variable, value)
    s3_client.cache_clear()
    try:
        yield server
    finally:
        if server.running:
            server.stop()
        s3_client.cache_clear()


@pytest.fixture
def lambda_archive(own_s3: OwnS3, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh archive on this test's own S3, the one the Lambda handler writes to."""
    archive = f"s3://{own_s3.bucket}/lambda-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("CHANGELAKE_ARCHIVE", archive)
    return archive


def _batch_across_midnight(count: int = 30) -> dict[str, Any]:
    """One Lambda event whose records straddle midnight: two partitions, two objects."""
    at = MIDNIGHT - count // 2
    return {
        "Records": [
            make_record(100 + n, key=f"post#{n % 7}", at=at + n, title=f"v{n}")
            for n in range(count)
        ]
    }


def _visible_objects(archive: str) -> dict[str, bytes]:
    store = make_store(parse_archive_uri(archive))
    return {key: store.get_bytes(key) for key in store.list_keys("table=posts/")}


@pytest.mark.s3
def test_s3_stopped_mid_batch_fails_it_and_the_retry_archives_each_record_once(
    own_s3: OwnS3, lambda_archive: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = _batch_across_midnight()
    real_put = S3Store.put_bytes
    puts: list[str] = []

    def put_then_stop_the_server(store: S3Store, key: str, data: bytes) -> None:
        if puts:
            own_s3.stop()  # the server goes away between the batch's two objects
        real_put(store, key, data)
        puts.append(key)

    monkeypatch.setattr(S3Store, "put_bytes", put_then_stop_the_server)
    started = time.monotonic()
    with pytest.raises(
        StorageError, match=f"cannot write {lambda_archive}/table=posts/dt=2025-11-29/"
    ):
        lambda_handler.archive(event, None)
    assert time.monotonic() - started < 30  # bounded retries, then the batch fails
    monkeypatch.setattr(S3Store, "put_bytes", real_put)

    own_s3.restart()
    # What a reader sees after the failure: the first object, whole, and nothing else.
    visible = _visible_objects(lambda_archive)
    assert list(visible) == puts
    (data,) = visible.values()
    assert pq.read_table(io.BytesIO(data)).num_rows == 15

    # Lambda retries the same batch: it succeeds and rewrites the same object names.
    assert lambda_handler.archive(event, None) == {"batchItemFailures": []}
    assert len(_visible_objects(lambda_archive)) == 2
    connection = open_archive(parse_archive_uri(lambda_archive), "posts")
    counts = connection.execute("SELECT count(*), count(DISTINCT event_id) FROM changes").fetchone()
    assert counts == (30, 30)
    latest = connection.execute(f"SELECT item_key, version FROM ({latest_sql()})").fetchall()
    assert len(latest) == 7


@pytest.mark.s3
def test_s3_down_before_the_batch_fails_it_with_the_url(
    own_s3: OwnS3, lambda_archive: str, tmp_path: Path
) -> None:
    own_s3.stop()
    with pytest.raises(StorageError, match=f"cannot write {lambda_archive}/table=posts/"):
        lambda_handler.archive(_batch_across_midnight(4), None)
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps({"Records": [make_record(1)]}))
    result = CliRunner().invoke(cli, ["archive", "--archive", lambda_archive, str(event_file)])
    assert result.exit_code == 1
    assert f"Error: cannot write {lambda_archive}/table=posts/" in result.output


@pytest.mark.s3
def test_a_record_that_cannot_be_quarantined_is_the_one_batch_item_failure(
    own_s3: OwnS3, lambda_archive: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [make_record(n, key=f"post#{n}", title=f"v{n}") for n in range(1, 9)]
    records[2]["dynamodb"]["NewImage"]["title"] = {"SSX": ["a"]}  # quarantined
    records[5]["dynamodb"]["NewImage"]["title"] = {"SSX": ["b"]}  # its quarantine write fails
    real_put = S3Store.put_bytes

    def stop_the_server_for_the_second_quarantine_write(
        store: S3Store, key: str, data: bytes
    ) -> None:
        if key.startswith("_quarantine/") and "event-6-" in key:
            own_s3.stop()
            try:
                real_put(store, key, data)
            finally:
                own_s3.restart()
        else:
            real_put(store, key, data)

    monkeypatch.setattr(S3Store, "put_bytes", stop_the_server_for_the_second_quarantine_write)
    response = lambda_handler.archive({"Records": records}, None)
    monkeypatch.setattr(S3Store, "put_bytes", real_put)

    # The record that could not be kept is the only failure: Lambda resumes from it.
    assert response == {"batchItemFailures": [{"itemIdentifier": "6".zfill(21)}]}
    connection = open_archive(parse_archive_uri(lambda_archive), "posts")
    archived = connection.execute("SELECT event_id FROM changes ORDER BY event_id").fetchall()
    assert archived == [("event-1",), ("event-2",), ("event-4",), ("event-5",)]

    # Lambda delivers the batch again from that record: everything is kept, each once.
    assert lambda_handler.archive({"Records": records[5:]}, None) == {"batchItemFailures": []}
    connection = open_archive(parse_archive_uri(lambda_archive), "posts")
    counts = connection.execute("SELECT count(*), count(DISTINCT event_id) FROM changes").fetchone()
    assert counts == (6, 6)
    store = make_store(parse_archive_uri(lambda_archive))
    kept = sorted(
        json.loads(store.get_bytes(key))["record"]["eventID"]
        for key in store.list_keys("_quarantine/")
    )
    assert kept == ["event-3", "event-6"]


POISON = {
    "unknown type tag": lambda r: r["dynamodb"]["NewImage"].update({"tags": {"SSX": ["a"]}}),
    "no dynamodb block": lambda r: r.pop("dynamodb"),
    "Keys is a list": lambda r: r["dynamodb"].update({"Keys": [1, 2]}),
    "SequenceNumber is a number": lambda r: r["dynamodb"].update({"SequenceNumber": 12}),
    "time is text": lambda r: r["dynamodb"].update({"ApproximateCreationDateTime": "noon"}),
    "NewImage is text": lambda r: r["dynamodb"].update({"NewImage": "{}"}),
    "unknown eventName": lambda r: r.update({"eventName": "UPSERT"}),
}


def test_poison_records_in_a_batch_of_1000_are_quarantined_and_the_rest_archived(
    archive_uri: str,
) -> None:
    records = [make_record(n, key=f"post#{n % 50}", title=f"t{n}") for n in range(1000)]
    poisoned_at = {kind: 17 + 131 * index for index, kind in enumerate(POISON)}
    for kind, position in poisoned_at.items():
        POISON[kind](records[position])
    store = make_store(parse_archive_uri(archive_uri))
    result = archive_records(records, store)
    assert result.archived == 1000 - len(POISON)
    assert sorted(q.event_id or "" for q in result.quarantined) == sorted(
        f"event-{position}" for position in poisoned_at.values()
    )
    for item in result.quarantined:
        kept = json.loads(store.get_bytes(item.key))
        assert kept["record"]["eventID"] == item.event_id
        assert kept["error"].startswith(f"record {item.event_id}: ")
    connection = open_archive(parse_archive_uri(archive_uri), "posts")
    archived = {row[0] for row in connection.execute("SELECT event_id FROM changes").fetchall()}
    assert archived == {f"event-{n}" for n in range(1000)} - {
        f"event-{p}" for p in poisoned_at.values()
    }


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"detail": {}}, "the event has no 'Records' list (got ['detail'])"),
        ("text", "the event has no 'Records' list (got 'str')"),
        ({"Records": "x"}, "the event has no 'Records' list"),
    ],
)
def test_an_event_that_is_not_a_streams_event_is_refused_clearly(
    event: Any,
    message: str,
    local_archive: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHANGELAKE_ARCHIVE", local_archive)
    with pytest.raises(MalformedRecordError) as raised:
        lambda_handler.archive(event, None)
    assert message in str(raised.value)
    assert 'expected a Lambda event of DynamoDB Streams or Kinesis records {"Records": [...]}' in (
        str(raised.value)
    )
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event))
    result = CliRunner().invoke(cli, ["archive", "--archive", local_archive, str(event_file)])
    assert result.exit_code == 1
    assert message in result.output


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("no dynamodb block", "record event-3: the record has no 'dynamodb' block"),
        ("Keys is a list", "record event-3: the 'dynamodb' block has no Keys map"),
        ("SequenceNumber is a number", "record event-3: SequenceNumber is 12; expected a decimal"),
        ("time is text", "record event-3: ApproximateCreationDateTime is 'noon'; expected epoch"),
        ("NewImage is text", "record event-3: NewImage is '{}'; expected a map of attributes"),
        ("unknown eventName", "record event-3: eventName is 'UPSERT'; expected one of INSERT"),
    ],
)
def test_a_malformed_record_in_a_lambda_event_is_named_and_reported(
    kind: str, message: str, local_archive: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHANGELAKE_ARCHIVE", local_archive)
    records = [make_record(n) for n in range(1, 6)]
    POISON[kind](records[2])
    response = lambda_handler.archive({"Records": records}, None)
    # Kept in quarantine, so handled: an item failure would make Lambda deliver it again forever.
    assert response == {"batchItemFailures": []}
    store = make_store(parse_archive_uri(local_archive))
    (key,) = store.list_keys("_quarantine/")
    assert json.loads(store.get_bytes(key))["error"].startswith(message)


@pytest.mark.s3
def test_s3_stopped_mid_compaction_keeps_readers_right_and_a_rerun_finishes(
    own_s3: OwnS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = f"s3://{own_s3.bucket}/compact-{uuid.uuid4().hex[:8]}"
    store = make_store(parse_archive_uri(archive))
    for batch in range(4):
        archive_records(
            [make_record(batch * 10 + n, key=f"post#{n}", title=f"b{batch}") for n in range(5)],
            store,
        )

    def latest() -> list[tuple[Any, ...]]:
        connection = open_archive(parse_archive_uri(archive), "posts")
        return sorted(connection.execute(latest_sql()).fetchall())

    before = latest()
    real_delete = S3Store.delete

    def stop_the_server_then_delete(store: S3Store, key: str) -> None:
        if own_s3.running:
            own_s3.stop()  # the outputs are written; the server goes away before the deletes
        real_delete(store, key)

    monkeypatch.setattr(S3Store, "delete", stop_the_server_then_delete)
    args = ["compact", "--archive", archive, "--table", "posts", "-s"]
    failed = CliRunner().invoke(cli, args)
    assert failed.exit_code == 1
    assert f"Error: cannot delete {archive}/table=posts/dt=2025-11-28/" in failed.output
    monkeypatch.setattr(S3Store, "delete", real_delete)
    own_s3.restart()

    # Inputs and the output side by side: readers still count every event once.
    assert len(list(store.list_keys("table=posts/"))) == 5
    assert latest() == before
    # The lock could not be released while S3 was down: the next run names it and its expiry.
    refused = CliRunner().invoke(cli, args)
    assert refused.exit_code == 1
    assert "compaction.json is held by" in refused.output
    assert "the lock expires then, or delete the object" in refused.output
    store.delete("_locks/table=posts/compaction.json")
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 0, done.output
    (key,) = store.list_keys("table=posts/")
    assert key.rpartition("/")[2].startswith("compacted-")
    assert latest() == before
