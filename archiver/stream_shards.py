"""The shards of a stream, in the order they must be read: every parent before its children."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from changelake.archiver.table_description import describe_table
from changelake.schemas.exceptions import TerminalError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence


def order_shards(shards: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Shards ordered so that a parent comes before its children (DescribeStream order otherwise).

    A shard's records come before its children's records for the same item, so reading a child
    first would archive a newer change before an older one. A parent that DescribeStream no
    longer lists (trimmed) does not hold its children back.
    """
    by_id = {shard["ShardId"]: shard for shard in shards}
    ordered: list[Mapping[str, Any]] = []
    placed: set[str] = set()
    for shard in shards:
        lineage = []
        current: Mapping[str, Any] | None = shard
        while current is not None and current["ShardId"] not in placed:
            lineage.append(current)
            placed.add(current["ShardId"])
            parent_id = current.get("ParentShardId")
            current = by_id.get(parent_id) if isinstance(parent_id, str) else None
        ordered.extend(reversed(lineage))
    return ordered


def is_closed(shard: Mapping[str, Any]) -> bool:
    """True when the shard has an ending sequence number: it gets no new records."""
    return "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})


def iter_shards(streams_client: Any, stream_arn: str) -> Iterator[Mapping[str, Any]]:
    """Every shard of a stream, DescribeStream page by page."""
    start: dict[str, str] = {}
    while True:
        description = streams_client.describe_stream(StreamArn=stream_arn, **start)[
            "StreamDescription"
        ]
        yield from description.get("Shards", [])
        last = description.get("LastEvaluatedShardId")
        if not last:
            return
        start = {"ExclusiveStartShardId": last}


def table_stream_arn(dynamodb_client: Any, table_name: str) -> str:
    """The ARN of the table's current stream (DescribeTable), or a clear error if it has none."""
    arn = describe_table(dynamodb_client, table_name).stream_arn
    if arn is None:
        raise TerminalError(
            f"table {table_name} has no enabled stream; enable one with StreamViewType "
            "NEW_AND_OLD_IMAGES (aws dynamodb update-table --stream-specification ...), "
            "then poll again"
        )
    return arn
