"""The stream follower on Amazon's DynamoDB Local: pages, checkpoints, throttling, gaps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from changelake.archiver.checkpoints import load_stream_state
from changelake.archiver.shard_reader import EMPTY_READS
from changelake.archiver.stream_follower import StreamFollower
from changelake.archiver.stream_poller import poll_stream
from changelake.clients import dynamodb_client, make_store, open_archive, streams_client
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.exceptions import StorageError, StreamGapError
from tests.helpers import Throttled, make_posts_table, put_post

if TYPE_CHECKING:
    from changelake.archiver.object_store import ObjectStore
    from scripts.services import Service

pytestmark = pytest.mark.dynamodb


@pytest.fixture
def table(dynamodb_service: Service) -> tuple[str, str]:
    """A fresh posts table with a stream: (name, stream ARN)."""
    return make_posts_table(dynamodb_client())


def follower(store: ObjectStore, table: tuple[str, str], client: Any = None) -> StreamFollower:
    name, arn = table
    return StreamFollower(client or streams_client(), store, arn, name)


def follow_one_post(
    table: tuple[str, str], archive: str, client: Any = None
) -> tuple[ObjectStore, StreamFollower]:
    """Post p1 written to the table; the archive's store and a follower of the table into it."""
    store = make_store(parse_archive_uri(archive))
    put_post(dynamodb_client(), table[0], "p1", title="one")
    return store, follower(store, table, client)


def archived_events(archive: str, table_name: str) -> int:
    connection = open_archive(parse_archive_uri(archive), table_name)
    return int(connection.execute("SELECT count(DISTINCT event_id) FROM changes").fetchone()[0])


def test_each_round_archives_a_page_and_checkpoints_it_as_a_poll_would(
    table: tuple[str, str], local_archive: str
) -> None:
    name = table[0]
    ddb = dynamodb_client()
    store = make_store(parse_archive_uri(local_archive))
    for n in range(30):
        put_post(ddb, name, f"p{n}", title="one")
    following = follower(store, table)
    (page,) = following.read_round()
    assert (page.records, page.archived, len(page.files)) == (30, 30, 1)
    assert page.first_created is not None and page.first_created <= page.archived_at
    put_post(ddb, name, "p0", title="two")
    (page,) = following.read_round()
    assert page.records == 1
    assert following.read_round() == []
    # A poll goes on from the follower's checkpoints: nothing left to read.
    assert (
        poll_stream(streams_client(), store, table[1], table_name=name, max_seconds=30).records == 0
    )
    assert archived_events(local_archive, name) == 31


def test_covered_until_moves_once_every_shard_is_caught_up(
    table: tuple[str, str], local_archive: str
) -> None:
    store, following = follow_one_post(table, local_archive)
    following.read_round()
    assert not following.idle()
    for _ in range(EMPTY_READS.attempts):
        assert following.read_round() == []
    assert following.idle()
    covered = following.save_covered_until(force=True)
    assert covered is not None
    state = load_stream_state(store, table[0])
    assert state is not None and state.covered_until == covered


def test_a_throttled_shard_waits_its_backoff_without_holding_the_round(
    table: tuple[str, str], local_archive: str
) -> None:
    _, following = follow_one_post(table, local_archive, Throttled(streams_client(), times=1))
    now = [0.0]
    following.clock = type(following.clock)(monotonic=lambda: now[0])
    assert following.read_round() == []
    assert following.read_round() == []  # its backoff (0.2 s) has not passed
    now[0] += 1
    (page,) = following.read_round()
    assert page.records == 1


def test_a_page_that_could_not_be_archived_is_read_again(
    table: tuple[str, str], local_archive: str
) -> None:
    name = table[0]
    store, following = follow_one_post(table, local_archive)
    following.start()
    put_bytes = store.put_bytes

    def failing(key: str, data: bytes) -> None:
        raise StorageError(f"cannot write {key}: the disk is full")

    store.put_bytes = failing  # type: ignore[method-assign]
    with pytest.raises(StorageError):
        following.read_round()
    store.put_bytes = put_bytes  # type: ignore[method-assign]
    (page,) = following.read_round()
    assert page.records == 1
    assert archived_events(local_archive, name) == 1


def test_a_changed_stream_is_a_gap(table: tuple[str, str], local_archive: str) -> None:
    name, arn = table
    store = make_store(parse_archive_uri(local_archive))
    following = follower(store, table)
    following.read_round()
    for _ in range(EMPTY_READS.attempts):
        following.read_round()
    following.save_covered_until(force=True)
    following.check_stream(arn)
    with pytest.raises(StreamGapError, match="stream changed"):
        following.check_stream(arn.replace("/stream/", "/stream/2099-"))
    state = load_stream_state(store, name)
    assert state is not None and state.gap is not None
    # The next follower refuses to start past the recorded gap.
    with pytest.raises(StreamGapError):
        follower(store, table).start()
