"""Shard lineage: every parent is read before its children."""

from __future__ import annotations

from typing import Any

from changelake.archiver.stream_shards import is_closed, iter_shards, order_shards


def shard(shard_id: str, parent: str | None = None, *, closed: bool = True) -> dict[str, Any]:
    numbers = {"StartingSequenceNumber": "1"} | ({"EndingSequenceNumber": "9"} if closed else {})
    return {"ShardId": shard_id, "SequenceNumberRange": numbers} | (
        {"ParentShardId": parent} if parent else {}
    )


def ids(shards: list[Any]) -> list[str]:
    return [s["ShardId"] for s in shards]


def test_children_listed_first_are_read_after_their_parents() -> None:
    listed = [
        shard("grandchild", "child", closed=False),
        shard("child", "root"),
        shard("other", closed=False),
        shard("root"),
    ]
    assert ids(order_shards(listed)) == ["root", "child", "grandchild", "other"]


def test_a_split_reads_the_parent_once_then_both_children() -> None:
    listed = [shard("left", "parent"), shard("right", "parent"), shard("parent")]
    ordered = ids(order_shards(listed))
    assert ordered[0] == "parent"
    assert sorted(ordered[1:]) == ["left", "right"]


def test_a_trimmed_parent_does_not_hold_its_child_back() -> None:
    listed = [shard("child", "trimmed-away", closed=False), shard("sibling")]
    assert ids(order_shards(listed)) == ["child", "sibling"]


def test_open_and_closed_shards() -> None:
    assert is_closed(shard("a"))
    assert not is_closed(shard("b", closed=False))


class PagedStream:
    """DescribeStream answers in pages of two shards, as DynamoDB pages at 100."""

    def __init__(self, shards: list[dict[str, Any]]) -> None:
        self.shards = shards
        self.requests: list[dict[str, Any]] = []

    def describe_stream(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        ids = [s["ShardId"] for s in self.shards]
        start = (
            ids.index(request["ExclusiveStartShardId"]) + 1
            if request.get("ExclusiveStartShardId")
            else 0
        )
        page = self.shards[start : start + 2]
        description: dict[str, Any] = {"Shards": page}
        if start + 2 < len(self.shards):
            description["LastEvaluatedShardId"] = page[-1]["ShardId"]
        return {"StreamDescription": description}


def test_every_page_of_describe_stream_is_read() -> None:
    shards = [shard(f"s{n}") for n in range(5)]
    client = PagedStream(shards)
    assert ids(list(iter_shards(client, "arn"))) == ["s0", "s1", "s2", "s3", "s4"]
    assert [r.get("ExclusiveStartShardId") for r in client.requests] == [None, "s1", "s3"]
