"""Snapshots of a DynamoDB Local table: parallel segments, resume after a crash, gaps closed."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from changelake.archiver.checkpoints import load_stream_state
from changelake.archiver.stream_poller import poll_stream
from changelake.archiver.table_snapshot import snapshot_table
from changelake.cli import cli
from changelake.clients import dynamodb_client, make_store, open_archive, streams_client
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.dynamodb_types import image_to_plain_json
from changelake.schemas.exceptions import StorageError
from changelake.schemas.sql_views import latest_sql
from tests.helpers import load_gap, make_posts_table, put_post, scan_items

if TYPE_CHECKING:
    from collections.abc import Callable

    from changelake.archiver.object_store import ObjectStore
    from scripts.services import Service

pytestmark = pytest.mark.dynamodb


@pytest.fixture
def table(dynamodb_service: Service) -> tuple[str, str]:
    """A posts table with 25 items and a stream: (name, stream ARN)."""
    name, arn = make_posts_table(dynamodb_client())
    for n in range(25):
        put_post(dynamodb_client(), name, f"p{n:02d}", title=f"post {n}", blob=bytes([n]))
    return name, arn


def latest_images(archive_uri: str, table_name: str) -> dict[str, Any]:
    connection = open_archive(parse_archive_uri(archive_uri), table_name)
    rows = connection.execute(f"SELECT item_key, new_image FROM ({latest_sql()})").fetchall()
    return {key.removeprefix("id="): json.loads(image) for key, image in rows}


def connect(archive_uri: str, table_name: str) -> Callable[[], Any]:
    """What snapshot_table opens once the scan is done."""
    return lambda: open_archive(parse_archive_uri(archive_uri), table_name)


def scanned_images(table_name: str) -> dict[str, Any]:
    items = scan_items(dynamodb_client(), table_name)
    return {key: json.loads(image_to_plain_json(item)) for key, item in items.items()}


def test_a_parallel_snapshot_holds_every_item(table: tuple[str, str], archive_uri: str) -> None:
    name, arn = table
    store = make_store(parse_archive_uri(archive_uri))
    seen: list[int] = []
    result = snapshot_table(
        dynamodb_client(),
        store,
        name,
        segments=3,
        progress=seen.append,
        connect_archive=connect(archive_uri, name),
    )
    assert not result.resumed
    assert result.archived == sum(seen) == 25
    assert latest_images(archive_uri, name) == scanned_images(name)
    state = load_stream_state(store, name)
    assert state is not None
    assert state.stream_arn == arn
    assert state.snapshot_at == result.plan.snapshot_at


class CrashOnCheckpoint:
    """The real store, failing the n-th segment checkpoint write as if the process died."""

    def __init__(self, store: ObjectStore, crash_at: int) -> None:
        self._store = store
        self._writes = 0
        self._crash_at = crash_at

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _count(self, key: str) -> None:
        if "/segment=" in key:
            self._writes += 1
            if self._writes == self._crash_at:
                raise StorageError(f"power cut before {key}")

    def put_if_absent(self, key: str, data: bytes) -> str:
        self._count(key)
        return self._store.put_if_absent(key, data)

    def put_if_match(self, key: str, data: bytes, etag: str) -> str:
        self._count(key)
        return self._store.put_if_match(key, data, etag)


def test_an_interrupted_snapshot_resumes_each_segment_where_it_stopped(
    table: tuple[str, str], local_archive: str
) -> None:
    name = table[0]
    store = make_store(parse_archive_uri(local_archive))
    with pytest.raises(StorageError, match="power cut"):
        snapshot_table(dynamodb_client(), CrashOnCheckpoint(store, 3), name, segments=1,
                       page_size=4, connect_archive=connect(local_archive, name))  # fmt: skip
    scanned_first = len(list(store.list_keys(f"table={name}")))
    assert scanned_first == 3  # pages 1-3 archived, the third not checkpointed
    result = snapshot_table(
        dynamodb_client(), store, name, segments=4, page_size=4,
        connect_archive=connect(local_archive, name),
    )  # fmt: skip
    assert result.resumed
    assert result.plan.segments == 1  # resumed with its own plan
    assert result.archived == 25 - 8  # pages 3..7 again: page 3 twice, harmlessly
    assert latest_images(local_archive, name) == scanned_images(name)
    again = snapshot_table(
        dynamodb_client(), store, name, segments=2, connect_archive=connect(local_archive, name)
    )
    assert not again.resumed and again.plan.snapshot_id != result.plan.snapshot_id


def test_changes_during_and_after_the_snapshot_win_over_it(
    table: tuple[str, str], local_archive: str
) -> None:
    store = make_store(parse_archive_uri(local_archive))
    name, arn = table
    ddb = dynamodb_client()
    changed: list[str] = []

    def write_during_scan(items: int) -> None:
        if not changed:
            changed.append("p00")
            put_post(ddb, name, "p00", title="edited during the scan")
            ddb.delete_item(TableName=name, Key={"id": {"S": "p24"}})
            put_post(ddb, name, "new", title="created during the scan")

    snapshot_table(
        ddb, store, name, segments=2, page_size=5, progress=write_during_scan,
        connect_archive=connect(local_archive, name),
    )  # fmt: skip
    put_post(ddb, name, "p01", title="edited after the snapshot")
    poll_stream(streams_client(), store, arn, table_name=name, max_seconds=60)
    images = latest_images(local_archive, name)
    assert images == scanned_images(name)
    assert images["p00"]["title"] == "edited during the scan"
    assert "p24" not in images


def test_a_snapshot_closes_a_gap_and_polling_goes_on(
    table: tuple[str, str], local_archive: str
) -> None:
    name = table[0]
    ddb = dynamodb_client()
    runner = CliRunner()
    args = ["--table", name, "--archive", local_archive]
    assert runner.invoke(cli, ["poll", *args]).exit_code == 0
    ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
    # A new item: DynamoDB Local stamps stream records to the minute, so an item the old stream
    # touched in the snapshot's own minute would still sort after the snapshot
    # (docs/archive-format.md, "Snapshot rows").
    put_post(ddb, name, "gap", title="written while no stream ran")
    ddb.update_table(
        TableName=name,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    put_post(ddb, name, "p03", title="changed on the new stream")
    failed = runner.invoke(cli, ["poll", *args])
    assert failed.exit_code == 1
    assert "take a fresh snapshot" in failed.output
    store = make_store(parse_archive_uri(local_archive))
    assert load_gap(store, name) is not None
    taken = runner.invoke(cli, ["snapshot", *args, "--segments", "2", "--silent"])
    assert taken.exit_code == 0, taken.output
    assert "Took snapshot" in taken.output and "26 items" in taken.output
    assert load_gap(store, name) is None
    put_post(ddb, name, "p04", title="after the snapshot")
    polled = runner.invoke(cli, ["poll", *args])
    assert polled.exit_code == 0, polled.output
    assert latest_images(local_archive, name) == scanned_images(name)
