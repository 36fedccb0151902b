"""A poll run's queue of shards: furthest behind first, busy ones to the back, parents first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from changelake.archiver.checkpoints import ShardCheckpoint
from changelake.archiver.shard_turns import ShardTurns, archived_until

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def shard(shard_id: str, parent: str | None = None) -> dict[str, Any]:
    return {"ShardId": shard_id} | ({"ParentShardId": parent} if parent else {})


def drain(turns: ShardTurns) -> list[str]:
    order = []
    while (next_shard := turns.next()) is not None:
        order.append(next_shard["ShardId"])
    return order


def test_the_furthest_behind_go_first_and_never_read_before_all() -> None:
    behind = {"a": T0 + timedelta(minutes=5), "b": None, "c": T0, "d": T0 + timedelta(hours=1)}
    turns = ShardTurns([shard(name) for name in "abcd"], finished=[], behind=behind)
    assert drain(turns) == ["b", "c", "a", "d"]


def test_a_shard_with_more_goes_to_the_back() -> None:
    turns = ShardTurns([shard(name) for name in "abc"], finished=[], behind={})
    first = turns.next()
    assert first is not None
    turns.again(first)
    assert drain(turns) == ["b", "c", "a"]


def test_children_wait_for_their_parent_to_finish() -> None:
    listed = [shard("child", "parent"), shard("other"), shard("parent")]
    turns = ShardTurns(listed, finished=[], behind={})
    parent = None
    order = []
    while (current := turns.next()) is not None:
        order.append(current["ShardId"])
        if current["ShardId"] == "parent":
            parent = current
            turns.finish(current)
    assert parent is not None
    assert order == ["other", "parent", "child"]
    assert turns.blocked() == []


def test_a_finished_or_unlisted_parent_holds_nothing_back() -> None:
    listed = [shard("child", "parent"), shard("parent"), shard("orphan", "trimmed-away")]
    turns = ShardTurns(listed, finished=["parent"], behind={})
    assert drain(turns) == ["child", "orphan"]
    unfinished = ShardTurns(listed, finished=[], behind={})
    assert drain(unfinished) == ["parent", "orphan"]
    assert [s["ShardId"] for s in unfinished.blocked()] == ["child"]


def test_archived_until_is_the_latest_thing_known() -> None:
    empty = ShardCheckpoint(table_name="t", stream_arn="arn/stream/x", shard_id="s")
    assert archived_until(empty, None) is None
    assert archived_until(empty, T0) == T0
    read = ShardCheckpoint(
        table_name="t",
        stream_arn="arn/stream/x",
        shard_id="s",
        last_record_at=T0 + timedelta(minutes=1),
        caught_up_at=T0 + timedelta(minutes=2),
    )
    assert archived_until(read, T0) == T0 + timedelta(minutes=2)
