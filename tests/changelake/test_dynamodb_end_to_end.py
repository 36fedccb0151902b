"""End to end on Amazon's DynamoDB Local: snapshot + poll + rebuild equals a Scan of the table.

Items are written before the snapshot, during it and after it; updated, deleted, and written
with conditions (one of which fails). Then the hard cases: two pollers at once, a crash between
archive and checkpoint, an expired iterator; after each the index still equals the table.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from changelake.archiver.stream_poller import poll_stream
from changelake.archiver.table_snapshot import snapshot_table
from changelake.cli import cli
from changelake.clients import dynamodb_client, make_store, open_archive, streams_client
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.dynamodb_types import image_to_plain_json
from changelake.schemas.exceptions import CheckpointConflictError, StorageError
from tests.helpers import StaleIterators, create_posts_table, put_post, scan_items

if TYPE_CHECKING:
    from changelake.archiver.object_store import ObjectStore
    from scripts.services import Service
    from tests.conftest import SearchEngine

pytestmark = [pytest.mark.dynamodb, pytest.mark.s3, pytest.mark.es]


class Pipeline:
    """A posts table on DynamoDB Local, its archive in S3 and an alias on the search engine."""

    def __init__(self, archive: str, engine: SearchEngine) -> None:
        self.table = f"posts-{uuid.uuid4().hex[:8]}"
        self.stream_arn = create_posts_table(dynamodb_client(), self.table)
        self.archive = archive
        self.engine = engine
        self.alias = f"posts-{uuid.uuid4().hex[:8]}"
        self.store = make_store(parse_archive_uri(archive))
        self.ddb = dynamodb_client()

    def cli(self, *args: str) -> str:
        result = CliRunner().invoke(cli, list(args))
        assert result.exit_code == 0, (result.output, result.exception)
        return result.output

    def poll(self, store: Any = None, client: Any = None) -> Any:
        return poll_stream(
            client or streams_client(),
            store or self.store,
            self.stream_arn,
            table_name=self.table,
            max_seconds=60,
        )

    def rebuild(self) -> None:
        self.cli(
            "rebuild", "--archive", self.archive, "--table", self.table,
            "--es-url", self.engine.url, "--alias", self.alias, "-s",
        )  # fmt: skip

    def assert_index_equals_table(self) -> None:
        documents = {
            d.id: d.source for d in self.engine.sink.iter_documents(self.alias, page_size=500)
        }
        items = {
            f"id={key}": json.loads(image_to_plain_json(item))
            for key, item in scan_items(self.ddb, self.table).items()
        }
        assert documents.keys() == items.keys()
        for key, item in items.items():
            assert documents[key] == item, key


def write_before(pipeline: Pipeline) -> None:
    ddb, table = pipeline.ddb, pipeline.table
    for n in range(40):
        put_post(ddb, table, f"p{n:02d}", title=f"post {n}", views=n, cover=bytes([n, 7]))
    ddb.update_item(
        TableName=table, Key={"id": {"S": "p01"}}, UpdateExpression="SET #v = #v + :one",
        ExpressionAttributeNames={"#v": "views"}, ExpressionAttributeValues={":one": {"N": "1"}},
    )  # fmt: skip
    ddb.delete_item(TableName=table, Key={"id": {"S": "p02"}})


def write_conditionally(pipeline: Pipeline, key: str, title: str) -> bool:
    """Write only if the item does not exist: the second write of a key fails."""
    try:
        pipeline.ddb.put_item(
            TableName=pipeline.table,
            Item={"id": {"S": key}, "title": {"S": title}},
            ConditionExpression="attribute_not_exists(id)",
        )
    except pipeline.ddb.exceptions.ConditionalCheckFailedException:
        return False
    return True


def test_snapshot_poll_rebuild_equals_the_table_through_every_failure(
    dynamodb_service: Service, s3_archive: str, search_engine: SearchEngine
) -> None:
    pipeline = Pipeline(s3_archive, search_engine)
    ddb, table = pipeline.ddb, pipeline.table
    write_before(pipeline)

    during: list[str] = []

    def write_during_scan(items: int) -> None:
        if not during:
            during.append("written")
            put_post(ddb, table, "p00", title="edited during the scan", views=100)
            ddb.delete_item(TableName=table, Key={"id": {"S": "p39"}})
            put_post(ddb, table, "during", title="created during the scan")
            assert write_conditionally(pipeline, "cond-1", "first")

    snapshot = snapshot_table(
        ddb, pipeline.store, table, segments=3, page_size=7, progress=write_during_scan,
        connect_archive=lambda: open_archive(parse_archive_uri(s3_archive), table),
    )  # fmt: skip
    assert snapshot.archived >= 38

    put_post(ddb, table, "p03", title="edited after the snapshot")
    ddb.delete_item(TableName=table, Key={"id": {"S": "p04"}})
    assert not write_conditionally(pipeline, "cond-1", "second")  # fails: nothing changes
    ddb.update_item(
        TableName=table, Key={"id": {"S": "p05"}}, UpdateExpression="SET title = :t",
        ConditionExpression="#v = :v", ExpressionAttributeNames={"#v": "views"},
        ExpressionAttributeValues={":t": {"S": "conditional update"}, ":v": {"N": "5"}},
    )  # fmt: skip
    pipeline.cli("poll", "--table", table, "--archive", s3_archive)
    pipeline.rebuild()
    pipeline.assert_index_equals_table()

    # Two pollers at once: the second to checkpoint loses and stops.
    for n in range(10):
        put_post(ddb, table, f"q{n}", title=f"round two {n}")
    other: list[Any] = []

    def other_poller_runs_now(key: str) -> None:
        if "/stream=" in key and not other:
            other.append(pipeline.poll())

    with pytest.raises(CheckpointConflictError):
        pipeline.poll(store=Hooked(pipeline.store, after_get=other_poller_runs_now))
    assert other[0].archived == 10

    # A crash between archiving a page and writing its checkpoint: the next run archives it again.
    ddb.delete_item(TableName=table, Key={"id": {"S": "q0"}})
    put_post(ddb, table, "q1", title="round three")

    def crash(key: str) -> None:
        if "/stream=" in key:
            raise StorageError(f"power cut before {key}")

    with pytest.raises(StorageError):
        pipeline.poll(store=Hooked(pipeline.store, before_put=crash))
    assert pipeline.poll().archived == 2

    # An expired iterator is renewed from the checkpoint.
    put_post(ddb, table, "q2", title="round four")
    stale = StaleIterators(streams_client())
    assert pipeline.poll(client=stale).archived == 1
    assert stale.calls == 2

    pipeline.rebuild()
    pipeline.assert_index_equals_table()


class Hooked:
    """The real store, calling a function after each read or before each conditional write."""

    def __init__(self, store: ObjectStore, *, after_get: Any = None, before_put: Any = None):
        self._store, self._after_get, self._before_put = store, after_get, before_put

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        try:
            return self._store.get_with_etag(key)
        finally:
            if self._after_get:
                self._after_get(key)

    def put_if_absent(self, key: str, data: bytes) -> str:
        if self._before_put:
            self._before_put(key)
        return self._store.put_if_absent(key, data)

    def put_if_match(self, key: str, data: bytes, etag: str) -> str:
        if self._before_put:
            self._before_put(key)
        return self._store.put_if_match(key, data, etag)
