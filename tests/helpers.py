"""Sample events and record factories shared by the tests."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from changelake.archiver.checkpoints import load_stream_state
from changelake.archiver.parquet_files import table_to_parquet_bytes
from changelake.archiver.stream_gaps import gap_from_dict
from changelake.schemas.change_record import IMAGE_SHAPE_COLUMN
from changelake.schemas.sql_views import VERSION_ORDINAL_BITS

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Iterator

    from changelake.archiver.object_store import ObjectStore
    from changelake.archiver.stream_gaps import StreamGap
    from changelake.schemas.backoff import Backoff

T = TypeVar("T")

EVENTS = Path(__file__).parent / "events"
POSTS_STREAM_ARN = (
    "arn:aws:dynamodb:us-east-1:123456789012:table/posts/stream/2026-11-01T00:00:00.000"
)


def load_event(name: str) -> dict[str, Any]:
    """A sample event from tests/events/."""
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def make_record(
    sequence: int,
    *,
    key: str = "post#1",
    event_name: str = "MODIFY",
    at: int = 1_764_288_000,
    new_image: dict[str, Any] | None = None,
    old_image: dict[str, Any] | None = None,
    arn: str = POSTS_STREAM_ARN,
    **attributes: Any,
) -> dict[str, Any]:
    """A Lambda-shaped stream record of the ``posts`` table (key attribute ``id``)."""
    keys = {"id": {"S": key}}
    if new_image is None and event_name != "REMOVE":
        new_image = {**keys, **{name: {"S": str(v)} for name, v in attributes.items()}}
    block: dict[str, Any] = {
        "ApproximateCreationDateTime": at,
        "Keys": keys,
        "SequenceNumber": str(sequence).zfill(21),
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new_image is not None:
        block["NewImage"] = new_image
    if old_image is not None:
        block["OldImage"] = old_image
    return {
        "eventID": f"event-{sequence}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": block,
        "eventSourceARN": arn,
    }


def create_posts_table(dynamodb: Any, name: str) -> str:
    """A ``posts``-shaped table (key ``id``) with a NEW_AND_OLD_IMAGES stream; returns its ARN."""
    description = dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    arn: str = description["LatestStreamArn"]
    return arn


def make_posts_table(dynamodb: Any, prefix: str = "posts") -> tuple[str, str]:
    """A fresh posts table with a stream on DynamoDB Local: (name, stream ARN)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return name, create_posts_table(dynamodb, name)


def reenable_stream(dynamodb: Any, table: str) -> str:
    """Disable the table's stream (its shard closes) and enable a new one; the new ARN."""
    dynamodb.update_table(TableName=table, StreamSpecification={"StreamEnabled": False})
    dynamodb.update_table(
        TableName=table,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    arn: str = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    return arn


def put_post(dynamodb: Any, table: str, post_id: str, **attributes: Any) -> None:
    """Write one post: strings as S, ints as N, bytes as B."""
    item = {"id": {"S": post_id}}
    for name, value in attributes.items():
        tag = "B" if isinstance(value, bytes) else "N" if isinstance(value, int) else "S"
        item[name] = {tag: value if tag != "N" else str(value)}
    dynamodb.put_item(TableName=table, Item=item)


def scan_items(dynamodb: Any, table: str) -> dict[str, dict[str, Any]]:
    """Every item of a table by its id, as DynamoDB-typed JSON."""
    items: dict[str, dict[str, Any]] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            items[item["id"]["S"]] = item
    return items


class StaleIterators:
    """The real Streams client; its first iterator is dated 20 minutes back, so it has expired."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_shard_iterator(self, **request: Any) -> dict[str, Any]:
        """The real iterator; the first one forged to look 20 minutes old."""
        self.calls += 1
        response: dict[str, Any] = self._client.get_shard_iterator(**request)
        if self.calls == 1:
            # DynamoDB Local iterators end in base64("shard|sequence|issued-at millis").
            head, version, body = response["ShardIterator"].split("|")
            shard, sequence, issued = base64.b64decode(body).decode().split("|")
            old = str(int(issued) - 20 * 60 * 1000).zfill(len(issued))
            forged = base64.b64encode(f"{shard}|{sequence}|{old}".encode()).decode()
            response = {**response, "ShardIterator": f"{head}|{version}|{forged}"}
        return response


class Throttled:
    """The real Streams client; its first ``times`` GetRecords calls are refused as throttled."""

    def __init__(self, client: Any, times: int) -> None:
        self._client = client
        self.times = times

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_records(self, **request: Any) -> Any:
        """The real page, once ``times`` calls have been throttled."""
        if self.times:
            self.times -= 1
            error = {"Error": {"Code": "LimitExceededException", "Message": "slow down"}}
            raise ClientError(error, "GetRecords")
        return self._client.get_records(**request)


KINESIS_STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/posts-changes"


def make_kinesis_change(
    event_id: str,
    *,
    key: str = "post#1",
    event_name: str = "MODIFY",
    at: int = 1_764_288_000_000,
    table: str = "posts",
    **attributes: Any,
) -> dict[str, Any]:
    """A Kinesis Data Streams for DynamoDB change record (``at`` in ms or µs since the epoch)."""
    keys = {"id": {"S": key}}
    block: dict[str, Any] = {"ApproximateCreationDateTime": at, "Keys": keys, "SizeBytes": 60}
    if event_name != "REMOVE":
        block["NewImage"] = {**keys, **{name: {"S": str(v)} for name, v in attributes.items()}}
    return {
        "awsRegion": "us-east-1",
        "eventID": event_id,
        "eventName": event_name,
        "userIdentity": None,
        "recordFormat": "application/json",
        "tableName": table,
        "dynamodb": block,
        "eventSource": "aws:dynamodb",
    }


def make_kinesis_record(
    change: Any, *, sequence: int = 1, shard: str = "shardId-000000000000"
) -> dict[str, Any]:
    """The Lambda Kinesis record that delivers ``change`` (a dict, or raw bytes as data)."""
    data = change if isinstance(change, bytes) else json.dumps(change).encode()
    sequence_number = str(49657828409187701520019995242508390119953358325192589314 + sequence)
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "859F7C064A4818874FA67ABEC9BF2AF1",
            "sequenceNumber": sequence_number,
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": 1_764_288_000.5,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard}:{sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/changelake-archive",
        "awsRegion": "us-east-1",
        "eventSourceARN": KINESIS_STREAM_ARN,
    }


def kinesis_record_to_pipes(record: dict[str, Any]) -> dict[str, Any]:
    """The same record as EventBridge Pipes delivers it: the Kinesis fields at the top level."""
    flat = {name: value for name, value in record.items() if name != "kinesis"}
    return {**record["kinesis"], **flat}


def load_gap(store: ObjectStore, table_name: str) -> StreamGap | None:
    """The gap the last poll recorded for a table, or None."""
    state = load_stream_state(store, table_name)
    return gap_from_dict(state.gap) if state is not None and state.gap else None


def backoff_delays(backoff: Backoff) -> list[float]:
    """Every wait of a backoff, in order."""
    return [backoff.delay(attempt) for attempt in range(backoff.attempts)]


def change_version(at: int, ordinal: int = 0) -> int:
    """The index version of a change at ``at`` (seconds), the ``ordinal``-th of its second."""
    return (at << VERSION_ORDINAL_BITS) + ordinal


def dynamodb_image(key: str, **attributes: Any) -> dict[str, Any]:
    """A posts image as DynamoDB JSON: id ``key``, ints as N, the rest as S."""
    image: dict[str, Any] = {"id": {"S": key}}
    for name, value in attributes.items():
        image[name] = {"N": str(value)} if isinstance(value, int) else {"S": value}
    return image


def race(
    attempt: Callable[[T], object], contenders: list[T], loses: type[Exception]
) -> tuple[list[T], list[T]]:
    """Run ``attempt`` for every contender at once, each in a thread released together.

    Returns the contenders that won and those that lost (``attempt`` raised ``loses``).
    """
    start = threading.Barrier(len(contenders))
    winners: list[T] = []
    losers: list[T] = []

    def contend(contender: T) -> None:
        start.wait()
        try:
            attempt(contender)
        except loses:
            losers.append(contender)
        else:
            winners.append(contender)

    threads = [threading.Thread(target=contend, args=(contender,)) for contender in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return winners, losers


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A request handler for a test's own HTTP server: it logs nothing and answers in one call."""

    def log_message(self, format: str, *args: object) -> None:
        """Nothing: the test's output stays readable."""

    def reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        """Answer ``status`` with these headers, the Content-Length and ``body``."""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serve_http(
    handler: type[http.server.BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None
) -> Iterator[int]:
    """Serve ``handler`` on a free loopback port (HTTPS with ``tls``) for the block; its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def as_schema_version_1(path: Path) -> None:
    """Rewrite an archive file as writers before schema version 2 left it: no image shapes."""
    table = pq.read_table(path).drop_columns([IMAGE_SHAPE_COLUMN])
    versions = pa.array([1] * table.num_rows, pa.int16())
    table = table.set_column(0, table.schema.field(0), versions)
    path.write_bytes(table_to_parquet_bytes(table))
