"""Snapshot and poll throughput on Amazon's DynamoDB Local, each against a baseline in the same run.

* snapshot: items/s of ``snapshot_table`` with 4 segments; baseline: 1 segment.
* poll: records/s of ``poll_stream`` (read, decode, archive, checkpoint); baseline: the bare
  GetRecords loop over the same shard, reading only.

Runs alternate so that machine noise hits both sides alike; prints medians and the ratios.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from changelake.archiver.stream_poller import poll_stream
from changelake.archiver.table_snapshot import snapshot_table
from scripts.services import start_dynamodb_local, stop
from tests.helpers import create_posts_table

ITEMS = 5000
RUNS = 3
TABLE = "posts"


def fill(client: Any) -> str:
    """A posts table with a stream and ITEMS items of about 1 KB; returns the stream ARN."""
    arn = create_posts_table(client, TABLE)
    body = "lorem ipsum " * 80
    for start in range(0, ITEMS, 25):
        requests = [
            {"PutRequest": {"Item": {
                "id": {"S": f"post#{n:05d}"}, "title": {"S": f"Post {n}"},
                "views": {"N": str(n)}, "body": {"S": body},
            }}}
            for n in range(start, min(start + 25, ITEMS))
        ]  # fmt: skip
        client.batch_write_item(RequestItems={TABLE: requests})
    return arn


def read_stream_only(streams: Any, arn: str) -> int:
    """The baseline: every record of every shard through GetRecords, nothing else."""
    count = 0
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            count += len(page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return count


def timed(action: Any) -> tuple[float, int]:
    """Seconds an action took, and the count it returned."""
    started = time.perf_counter()
    count = action()
    return time.perf_counter() - started, count


def main() -> None:
    """Start DynamoDB Local, fill a table, time both pairs, stop the server."""
    with tempfile.TemporaryDirectory() as scratch:
        service = start_dynamodb_local(Path(scratch, "dynamodb-local"))
        try:
            os.environ.update(service.env)
            from changelake.clients import (
                dynamodb_client,
                make_store,
                open_archive,
                streams_client,
            )
            from changelake.schemas.archive_layout import parse_archive_uri

            client, streams = dynamodb_client(), streams_client()
            arn = fill(client)

            def store() -> Any:
                return make_store(parse_archive_uri(tempfile.mkdtemp(dir=scratch)))

            def snapshot(segments: int) -> int:
                location = parse_archive_uri(tempfile.mkdtemp(dir=scratch))
                return snapshot_table(
                    client,
                    make_store(location),
                    TABLE,
                    segments=segments,
                    connect_archive=lambda: open_archive(location, TABLE),
                ).archived

            rates: dict[str, list[float]] = {
                "snapshot, 1 segment": [],
                "snapshot, 4 segments": [],
                "GetRecords only": [],
                "poll (archive + checkpoint)": [],
            }
            for _ in range(RUNS):
                for name, segments in (("snapshot, 1 segment", 1), ("snapshot, 4 segments", 4)):
                    seconds, count = timed(lambda s=segments: snapshot(s))
                    rates[name].append(count / seconds)
                seconds, count = timed(lambda: read_stream_only(streams, arn))
                rates["GetRecords only"].append(count / seconds)
                seconds, count = timed(
                    lambda: (
                        poll_stream(
                            streams, store(), arn, table_name=TABLE, max_seconds=600
                        ).archived
                    )
                )
                rates["poll (archive + checkpoint)"].append(count / seconds)
        finally:
            stop(service)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    print(f"{ITEMS} items of ~1 KB on DynamoDB Local, median of {RUNS} runs:")
    for name, value in medians.items():
        print(f"  {name:30} {value:10,.0f} /s")
    speedup = medians["snapshot, 4 segments"] / medians["snapshot, 1 segment"]
    print(f"snapshot 4 segments / 1 segment: {speedup:.2f}x")
    print(
        "poll / GetRecords only: "
        f"{medians['poll (archive + checkpoint)'] / medians['GetRecords only']:.2f}x"
    )


if __name__ == "__main__":
    main()
