"""One stream of many shards, made of the streams of many DynamoDB Local tables.

DynamoDB Local gives each table's stream one shard and never splits it, so a stream with tens of
open shards cannot be had there. ``ShardedStream`` lists the shards of many real table streams as
the shards of one stream and routes each call to the real stream a shard belongs to: DescribeStream
pages through the combined list (100 a page, as DynamoDB does), GetShardIterator goes to the
shard's own stream, and GetRecords passes the real iterator through. Every record, sequence number
and iterator is DynamoDB Local's own; only the grouping is made up.

A closed parent with an open child is a table whose stream was disabled (DynamoDB Local closes the
shard, with an ending sequence number) and enabled again (a new stream, whose shard is listed as
the child). Every call advances a virtual clock, so a run's time budget is tested without
waiting for it, and is logged, so the order of reads can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DESCRIBE_PAGE = 100


@dataclass
class VirtualClock:
    """Monotonic seconds that pass only when a call or a sleep says so."""

    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        """The virtual time."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Pass ``seconds`` of virtual time, and note the sleep."""
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class Call:
    """One GetRecords call: the shard, how many records came back, and whether it was the last."""

    shard_id: str
    records: int
    closed: bool


class ShardedStream:
    """A Streams client whose one stream ``stream_arn`` holds the shards of many real streams."""

    def __init__(
        self,
        client: Any,
        stream_arn: str,
        clock: VirtualClock,
        *,
        call_seconds: float = 0.05,
        page_limit: int | None = None,
    ) -> None:
        self.client = client
        self.stream_arn = stream_arn
        self.clock = clock
        self.call_seconds = call_seconds
        self.page_limit = page_limit
        self.shards: list[dict[str, Any]] = []
        self.real_stream: dict[str, str] = {}
        self.iterators: dict[str, str] = {}
        self.calls: list[Call] = []

    def add_stream(self, real_arn: str, parent: str | None = None) -> str:
        """List the one shard of a real stream (as a child of ``parent``); returns its id."""
        (shard,) = self.client.describe_stream(StreamArn=real_arn)["StreamDescription"]["Shards"]
        listed = {**shard, **({"ParentShardId": parent} if parent else {})}
        self.shards.append(listed)
        self.real_stream[shard["ShardId"]] = real_arn
        return str(shard["ShardId"])

    def refresh(self) -> None:
        """Read each shard's sequence number range again (a disabled stream's shard closes)."""
        for listed in self.shards:
            real = self.client.describe_stream(StreamArn=self.real_stream[listed["ShardId"]])
            (shard,) = real["StreamDescription"]["Shards"]
            listed["SequenceNumberRange"] = shard["SequenceNumberRange"]

    def describe_stream(self, StreamArn: str, **page: Any) -> dict[str, Any]:
        """The combined shard list, a page at a time."""
        assert StreamArn == self.stream_arn
        ids = [shard["ShardId"] for shard in self.shards]
        start = ids.index(page["ExclusiveStartShardId"]) + 1 if page else 0
        shards = self.shards[start : start + DESCRIBE_PAGE]
        description: dict[str, Any] = {"StreamArn": StreamArn, "Shards": shards}
        if start + DESCRIBE_PAGE < len(self.shards):
            description["LastEvaluatedShardId"] = shards[-1]["ShardId"]
        return {"StreamDescription": description}

    def get_shard_iterator(self, StreamArn: str, ShardId: str, **position: Any) -> Any:
        """An iterator of the real stream that holds the shard."""
        assert StreamArn == self.stream_arn
        self.clock.now += self.call_seconds
        response = self.client.get_shard_iterator(
            StreamArn=self.real_stream[ShardId], ShardId=ShardId, **position
        )
        self.iterators[response["ShardIterator"]] = ShardId
        return response

    def get_records(self, ShardIterator: str, Limit: int) -> Any:
        """The real GetRecords, logged, at most ``page_limit`` records a page."""
        self.clock.now += self.call_seconds
        shard_id = self.iterators.pop(ShardIterator)
        response = self.client.get_records(
            ShardIterator=ShardIterator, Limit=min(Limit, self.page_limit or Limit)
        )
        following = response.get("NextShardIterator")
        if following:
            self.iterators[following] = shard_id
        self.calls.append(Call(shard_id, len(response["Records"]), following is None))
        return response

    def reads_of(self, shard_id: str) -> list[int]:
        """Positions in the call log of the GetRecords calls on one shard."""
        return [n for n, call in enumerate(self.calls) if call.shard_id == shard_id]


def put_posts(dynamodb: Any, table: str, count: int, *, key: str, title: str = "post") -> None:
    """``count`` posts ``<key>-0`` .. in one table, 25 to a BatchWriteItem (in order)."""
    items = [{"id": {"S": f"{key}-{n}"}, "title": {"S": f"{title} {n}"}} for n in range(count)]
    for start in range(0, count, 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        unprocessed = dynamodb.batch_write_item(RequestItems={table: requests})
        assert not unprocessed["UnprocessedItems"]
