"""The poller on Amazon's DynamoDB Local: checkpoints, two pollers, crashes, expired iterators."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from changelake.archiver.checkpoints import load_shard_checkpoint, load_stream_state
from changelake.archiver.shard_reader import THROTTLED
from changelake.archiver.shard_turns import Clock
from changelake.archiver.stream_poller import poll_stream
from changelake.archiver.stream_shards import iter_shards
from changelake.cli import cli
from changelake.clients import dynamodb_client, make_store, open_archive, streams_client
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.exceptions import (
    CheckpointConflictError,
    StorageError,
    StreamGapError,
    StreamReadError,
)
from changelake.schemas.sql_views import latest_sql
from tests.helpers import (
    StaleIterators,
    Throttled,
    backoff_delays,
    load_gap,
    make_posts_table,
    put_post,
    race,
    reenable_stream,
)

if TYPE_CHECKING:
    from changelake.archiver.object_store import ObjectStore
    from scripts.services import Service

pytestmark = pytest.mark.dynamodb


@pytest.fixture
def table(dynamodb_service: Service) -> tuple[str, str]:
    """A fresh posts table with a stream: (name, stream ARN)."""
    return make_posts_table(dynamodb_client())


def poll(store: ObjectStore, table: tuple[str, str], **options: Any) -> Any:
    name, arn = table
    options.setdefault("max_seconds", 60)
    return poll_stream(
        options.pop("client", streams_client()), store, arn, table_name=name, **options
    )


def put_numbered_posts(table_name: str, count: int) -> None:
    """Posts p0, p1, ... titled "post 0", "post 1", ..."""
    ddb = dynamodb_client()
    for n in range(count):
        put_post(ddb, table_name, f"p{n}", title=f"post {n}")


def archived(location_uri: str, table_name: str) -> list[tuple[str, str]]:
    connection = open_archive(parse_archive_uri(location_uri), table_name)
    return connection.execute(
        "SELECT DISTINCT item_key, event_name, sequence_order FROM changes ORDER BY sequence_order"
    ).fetchall()


def latest(location_uri: str, table_name: str) -> dict[str, str]:
    connection = open_archive(parse_archive_uri(location_uri), table_name)
    rows = connection.execute(f"SELECT item_key, new_image FROM ({latest_sql()})").fetchall()
    return dict(rows)


def test_poll_archives_every_change_then_resumes_after_its_checkpoint(
    table: tuple[str, str], archive_uri: str
) -> None:
    name, arn = table
    ddb = dynamodb_client()
    store = make_store(parse_archive_uri(archive_uri))
    put_post(ddb, name, "p1", title="one", blob=b"\x00\x01")
    put_post(ddb, name, "p2", title="two")
    put_post(ddb, name, "p1", title="one, edited")
    ddb.delete_item(TableName=name, Key={"id": {"S": "p2"}})
    first = poll(store, table)
    assert first.complete
    assert first.archived == 4
    assert [row[:2] for row in archived(archive_uri, name)] == [
        ("id=p1", "INSERT"),
        ("id=p2", "INSERT"),
        ("id=p1", "MODIFY"),
        ("id=p2", "REMOVE"),
    ]
    put_post(ddb, name, "p3", title="three")
    second = poll(store, table)
    assert second.archived == 1
    assert len(archived(archive_uri, name)) == 5
    (shard,) = list(iter_shards(streams_client(), arn))
    checkpoint = load_shard_checkpoint(store, name, arn, shard["ShardId"])
    assert checkpoint.records == 5
    assert checkpoint.sequence_number == archived(archive_uri, name)[-1][2].lstrip("0").zfill(21)
    state = load_stream_state(store, name)
    assert state is not None and state.stream_arn == arn
    assert '"title":"one, edited"' in latest(archive_uri, name)["id=p1"]


class StoreWithHook:
    """The real store, with a function run just after a chosen read or before a chosen write."""

    def __init__(self, store: ObjectStore, **hooks: Any) -> None:
        self._store = store
        self._hooks = hooks

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)
        hook = self._hooks.get(name)
        if hook is None:
            return method

        def hooked(key: str, *args: Any) -> Any:
            if name.startswith("put") and key.startswith("_checkpoints/"):
                hook(key)
            try:
                return method(key, *args)
            finally:
                if name.startswith("get") and "/stream=" in key:
                    hook(key)

        return hooked


def test_two_pollers_at_once_the_second_to_checkpoint_stops(
    table: tuple[str, str], local_archive: str
) -> None:
    name = table[0]
    put_numbered_posts(name, 20)
    store = make_store(parse_archive_uri(local_archive))
    other_runs: list[Any] = []

    def other_poller_runs_now(key: str) -> None:
        if not other_runs:  # the other poller starts after this one read the checkpoint
            other_runs.append(poll(store, table))

    slow = StoreWithHook(store, get_with_etag=other_poller_runs_now)
    with pytest.raises(CheckpointConflictError, match=r"another poller advanced shard .* stops"):
        poll(slow, table)
    assert other_runs[0].archived == 20
    assert len(archived(local_archive, name)) == 20
    assert len(latest(local_archive, name)) == 20


def test_two_pollers_in_threads_never_double_advance(
    table: tuple[str, str], s3_archive: str
) -> None:
    name, arn = table
    put_numbered_posts(name, 50)
    store = make_store(parse_archive_uri(s3_archive))
    done, lost = race(lambda _: poll(store, table), ["first", "second"], CheckpointConflictError)
    assert (len(done), len(lost)) in ((2, 0), (1, 1))
    (shard,) = list(iter_shards(streams_client(), arn))
    assert load_shard_checkpoint(store, name, arn, shard["ShardId"]).records == 50
    assert len(latest(s3_archive, name)) == 50


def test_a_crash_between_archive_and_checkpoint_only_archives_again(
    table: tuple[str, str], archive_uri: str
) -> None:
    name = table[0]
    ddb = dynamodb_client()
    put_numbered_posts(name, 5)
    store = make_store(parse_archive_uri(archive_uri))

    def crash(key: str) -> None:
        raise StorageError(f"power cut before {key}")

    with pytest.raises(StorageError, match="power cut"):
        poll(StoreWithHook(store, put_if_absent=crash), table)
    files_before = list(store.list_keys(f"table={name}"))
    assert len(files_before) == 1
    retry = poll(store, table)
    assert retry.archived == 5
    assert list(store.list_keys(f"table={name}")) == files_before  # same name, overwritten

    put_post(ddb, name, "p0", title="post 0, edited")

    def crash_once(key: str, crashed: list[bool] = []) -> None:  # noqa: B006
        if not crashed:
            crashed.append(True)
            raise StorageError(f"power cut before {key}")

    with pytest.raises(StorageError):
        poll(StoreWithHook(store, put_if_match=crash_once), table)
    put_post(ddb, name, "p5", title="post 5")
    poll(store, table)  # reads the edit again together with p5: one more file, duplicate row
    connection = open_archive(parse_archive_uri(archive_uri), name)
    total, distinct = connection.execute(
        "SELECT count(*), count(DISTINCT event_id) FROM change_rows"
    ).fetchone()
    assert (total, distinct) == (8, 7)
    images = latest(archive_uri, name)
    assert len(images) == 6
    assert '"title":"post 0, edited"' in images["id=p0"]


def test_an_expired_iterator_is_renewed_from_the_checkpoint(
    table: tuple[str, str], local_archive: str
) -> None:
    name = table[0]
    for n in range(3):
        put_post(dynamodb_client(), name, f"p{n}", title="x")
    client = StaleIterators(streams_client())
    store = make_store(parse_archive_uri(local_archive))
    result = poll(store, table, client=client)
    assert client.calls == 2
    assert result.archived == 3


def test_a_run_stops_before_max_seconds_with_its_work_checkpointed(
    table: tuple[str, str], local_archive: str
) -> None:
    name = table[0]
    put_post(dynamodb_client(), name, "p1", title="x")
    ticks = itertools.count()
    store = make_store(parse_archive_uri(local_archive))
    # Each look at the clock costs a second: the run gets to its first page, then stops.
    clock = Clock(monotonic=lambda: float(next(ticks)), sleep=lambda seconds: None)
    stopped = poll(store, table, max_seconds=4, clock=clock)
    assert not stopped.complete
    assert load_stream_state(store, name) is None  # not complete: the archive is not "covered"
    done = poll(store, table)
    assert done.complete
    assert stopped.archived + done.archived == 1
    assert load_stream_state(store, name) is not None


def test_a_changed_stream_is_a_gap_kept_for_stats(
    table: tuple[str, str], local_archive: str
) -> None:
    name, old_arn = table
    store = make_store(parse_archive_uri(local_archive))
    poll(store, table)
    new_arn = reenable_stream(dynamodb_client(), name)
    assert new_arn != old_arn
    with pytest.raises(StreamGapError, match="fresh snapshot") as raised:
        poll(store, (name, new_arn))
    assert old_arn in str(raised.value)
    gap = load_gap(store, name)
    assert gap is not None and gap.stream_arn == new_arn
    with pytest.raises(StreamGapError):  # stays failed until a snapshot closes the gap
        poll(store, (name, new_arn))
    shown = CliRunner().invoke(cli, ["stats", "--archive", local_archive, "--table", name])
    assert shown.exit_code == 0, shown.output
    assert f"Gap in {name}: table {name}: changes between" in shown.stderr
    assert f"Stream of {name}: {old_arn}, archive complete until" in shown.stdout
    assert "GAP (see above)" in shown.stdout


def test_throttled_reads_back_off_then_go_on(table: tuple[str, str], local_archive: str) -> None:
    name = table[0]
    put_post(dynamodb_client(), name, "p1", title="x")
    slept: list[float] = []
    clock = Clock(sleep=slept.append)
    store = make_store(parse_archive_uri(local_archive))
    result = poll(store, table, client=Throttled(streams_client(), 3), clock=clock)
    assert result.archived == 1
    assert slept[:3] == backoff_delays(THROTTLED)[:3]
    with pytest.raises(StreamReadError, match="throttled 10 times"):
        poll(store, table, client=Throttled(streams_client(), 100), clock=clock)
