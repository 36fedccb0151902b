"""The poller shares a run's time between many shards: none starves, none sleeps when caught up.

The streams are DynamoDB Local's own, grouped into one stream of 60 shards
(``tests/archiver/sharded_stream.py`` says why and how); time is virtual, so the budgets are
exact and the tests do not wait.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from changelake.archiver.checkpoints import load_shard_checkpoint, load_stream_state
from changelake.archiver.shard_reader import EMPTY_READS
from changelake.archiver.shard_turns import Clock
from changelake.archiver.stream_gaps import TRIM_HORIZON
from changelake.archiver.stream_poller import PollResult, poll_stream
from changelake.clients import dynamodb_client, make_store, open_archive, streams_client
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.sql_views import latest_sql
from tests.archiver.sharded_stream import ShardedStream, VirtualClock, put_posts
from tests.helpers import backoff_delays, make_posts_table, reenable_stream

if TYPE_CHECKING:
    from changelake.archiver.object_store import ObjectStore
    from scripts.services import Service

pytestmark = pytest.mark.dynamodb

SHARDS = 60


@pytest.fixture
def name(dynamodb_service: Service) -> str:
    """The archive table the sharded stream is archived under."""
    return f"sharded-{uuid.uuid4().hex[:8]}"


def sharded(name: str, clock: VirtualClock, **options: Any) -> ShardedStream:
    arn = f"arn:aws:dynamodb:ddblocal:000000000000:table/{name}/stream/2026-12-01T00:00:00.000"
    return ShardedStream(streams_client(), arn, clock, **options)


def shards_with_posts(
    stream: ShardedStream, count: int, posts: int = 2, key: str = "s"
) -> list[str]:
    """``count`` real tables with ``posts`` posts each (``<key><nn>-<k>``), listed as shards."""
    ddb = dynamodb_client()

    def table_with_posts(n: int) -> str:
        table, arn = make_posts_table(ddb, f"shard{n:02d}")
        put_posts(ddb, table, posts, key=f"{key}{n:02d}")
        return arn

    with ThreadPoolExecutor(max_workers=8) as pool:
        arns = list(pool.map(table_with_posts, range(count)))
    return [stream.add_stream(arn) for arn in arns]


def run(stream: ShardedStream, store: ObjectStore, name: str, max_seconds: float) -> PollResult:
    clock = Clock(monotonic=stream.clock.monotonic, sleep=stream.clock.sleep)
    return poll_stream(
        stream, store, stream.stream_arn, table_name=name, max_seconds=max_seconds, clock=clock
    )


def latest(archive: str, name: str) -> dict[str, str]:
    connection = open_archive(parse_archive_uri(archive), name)
    return dict(connection.execute(f"SELECT item_key, new_image FROM ({latest_sql()})").fetchall())


def test_sixty_shards_are_read_in_one_run_with_no_sleep_per_caught_up_shard(
    name: str, local_archive: str
) -> None:
    clock = VirtualClock()
    stream = sharded(name, clock)
    shards_with_posts(stream, SHARDS)
    store = make_store(parse_archive_uri(local_archive))

    result = run(stream, store, name, max_seconds=120)

    assert result.complete
    assert result.archived == 2 * SHARDS
    assert set(result.shards.values()) == {"caught up"}
    assert result.oldest_unread_seconds == 0
    # A pause after each empty page of each shard would sleep the whole schedule per shard; only a
    # round of empty pages over every shard sleeps, once per round.
    assert sum(clock.slept) <= sum(backoff_delays(EMPTY_READS))
    assert len(clock.slept) < EMPTY_READS.attempts
    for shard in stream.shards:
        # One page with the posts, then the empty pages that count it caught up.
        assert len(stream.reads_of(shard["ShardId"])) == 1 + EMPTY_READS.attempts


def test_a_run_too_short_for_every_shard_is_followed_by_one_that_starts_with_the_rest(
    name: str, s3_archive: str
) -> None:
    clock = VirtualClock()
    stream = sharded(name, clock)
    shard_ids = shards_with_posts(stream, SHARDS)
    store = make_store(parse_archive_uri(s3_archive))

    # 3 s at 0.05 s a call: about 25 shards get their iterator and a page.
    first = run(stream, store, name, max_seconds=3)
    read_first = {call.shard_id for call in stream.calls}
    assert not first.complete
    assert 10 < len(read_first) < SHARDS
    assert first.oldest_unread_seconds == TRIM_HORIZON.total_seconds()  # never read, unknown

    stream.calls.clear()
    second = run(stream, store, name, max_seconds=3)
    # The shards the first run left unread go first, then the rest: after three runs of 25,
    # every one of the 60 was read (in the same order every run, the last 35 never would be).
    read_second = list(dict.fromkeys(call.shard_id for call in stream.calls))
    unread = set(shard_ids) - read_first
    assert set(read_second[: len(unread)]) <= unread
    assert not second.complete
    stream.calls.clear()
    third = run(stream, store, name, max_seconds=3)
    read_third = {call.shard_id for call in stream.calls}
    assert read_first | set(read_second) | read_third == set(shard_ids)
    assert 0 < third.oldest_unread_seconds < 600  # every shard archived up to its posts

    # A run of 3 s cannot catch up all 60 shards (an iterator and three empty pages each), but
    # every shard's archive is known up to its last record or its last catch-up, so the
    # stream's covered_until still moves, and the bound on the oldest unread record stays small.
    runs = [first, second, third]
    for _ in range(4):
        runs.append(run(stream, store, name, max_seconds=3))
        assert runs[-1].oldest_unread_seconds < 600
    state = load_stream_state(store, name)
    assert state is not None
    assert state.covered_until > datetime.now(UTC) - timedelta(minutes=10)
    assert sum(r.archived for r in runs) == 2 * SHARDS
    assert len(latest(s3_archive, name)) == 2 * SHARDS
    for shard_id in shard_ids:
        checkpoint = load_shard_checkpoint(store, name, stream.stream_arn, shard_id)
        assert checkpoint.records == 2
    # Given the time, one run catches every shard up.
    assert run(stream, store, name, max_seconds=60).complete


def test_a_busy_shard_yields_its_turn_to_the_others(name: str, local_archive: str) -> None:
    clock = VirtualClock()
    stream = sharded(name, clock, page_limit=5)
    (busy,) = shards_with_posts(stream, 1, posts=200, key="busy")  # 40 pages: 2 s of calls
    shards_with_posts(stream, SHARDS - 1, posts=1, key="quiet")
    store = make_store(parse_archive_uri(local_archive))

    result = run(stream, store, name, max_seconds=15)

    # Listed first, the busy shard would have taken the whole run one shard at a time; in
    # turns, every quiet shard's post is archived in the same run.
    archived = latest(local_archive, name)
    assert all(f"id=quiet{n:02d}-0" in archived for n in range(SHARDS - 1))
    busy_reads = stream.reads_of(busy)
    assert len(busy_reads) > 5
    assert busy_reads[-1] - busy_reads[0] > len(busy_reads)  # interleaved with other shards
    assert result.archived == len(archived)


def test_parents_are_read_before_their_children_among_many_shards(
    name: str, local_archive: str
) -> None:
    ddb = dynamodb_client()
    clock = VirtualClock()
    stream = sharded(name, clock)
    pairs = []
    for n in range(10):
        table, old_arn = make_posts_table(ddb, f"split{n}")
        put_posts(ddb, table, 3, key=f"p{n}", title="before")
        new_arn = reenable_stream(ddb, table)
        put_posts(ddb, table, 3, key=f"p{n}", title="after")
        pairs.append((old_arn, new_arn))
    # Children are listed before their parents, and among 40 other shards.
    shards_with_posts(stream, SHARDS - 20)
    parents = [stream.add_stream(old) for old, _ in pairs]
    children = [
        stream.add_stream(new, parent) for (_, new), parent in zip(pairs, parents, strict=True)
    ]
    stream.shards.sort(key=lambda shard: shard["ShardId"] not in children)
    stream.refresh()

    store = make_store(parse_archive_uri(local_archive))
    result = run(stream, store, name, max_seconds=30)

    assert result.complete
    assert {result.shards[child] for child in children} == {"caught up"}

    for parent, child in zip(parents, children, strict=True):
        parent_reads, child_reads = stream.reads_of(parent), stream.reads_of(child)
        assert stream.calls[parent_reads[-1]].closed
        assert child_reads[0] > parent_reads[-1]
    images = latest(local_archive, name)
    for n in range(10):
        for k in range(3):
            assert f'"title":"after {k}"' in images[f"id=p{n}-{k}"]
