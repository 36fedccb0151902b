"""Benchmark: a Lambda DynamoDB Streams event of 10k ~1 KB records -> Parquet bytes.

changelake's path (every lossless column) against a baseline measured in the same run: boto3's
``TypeDeserializer`` -> ``json.dumps`` -> ``pyarrow.Table.from_pylist`` -> ``pq.write_table``.
Prints the median rate of each, their ratio, and the archive handler's cold import time.

    make bench-archive          # or: python -m bench.archive --records 10000 --runs 9
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from boto3.dynamodb.types import TypeDeserializer

from changelake.archiver.batch import archive_records
from changelake.schemas.archive_layout import parse_archive_uri

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/posts/stream/2026-11-01T00:00:00.000"
WORDS = [
    "dynamodb",
    "stream",
    "parquet",
    "search",
    "index",
    "archive",
    "lake",
    "change",
    "record",
    "item",
    "key",
    "value",
]
TARGET_RATIO = 4.0


def make_image(rng: random.Random, post: int, version: int) -> dict[str, Any]:
    """A ~1 KB blog-post item with a realistic mix of DynamoDB types."""

    def text(words: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(words))

    return {
        "seriesId": {"S": f"series-{post % 50}"},
        "postId": {"S": f"post#{post:06d}"},
        "title": {"S": text(8).title()},
        "body": {"S": text(60)},
        "views": {"N": str(rng.randrange(1_000_000))},
        "score": {"N": f"{rng.random() * 1000:.6f}"},
        "version": {"N": str(version)},
        "published": {"BOOL": rng.random() < 0.8},
        "deletedAt": {"NULL": True},
        "updatedAt": {"S": f"2026-11-{1 + post % 28:02d}T12:{post % 60:02d}:00Z"},
        "tags": {"SS": sorted({rng.choice(WORDS) for _ in range(4)})},
        "ranks": {"NS": [str(rng.randrange(100)) for _ in range(3)]},
        "thumbnail": {"B": base64.b64encode(rng.randbytes(24)).decode()},
        "author": {
            "M": {
                "name": {"S": f"author {post % 97}"},
                "id": {"N": str(post % 97)},
                "verified": {"BOOL": post % 2 == 0},
            }
        },
        "blocks": {
            "L": [
                {"M": {"type": {"S": "paragraph"}, "text": {"S": text(10)}}},
                {"M": {"type": {"S": "image"}, "width": {"N": "640"}, "height": {"N": "480"}}},
            ]
        },
    }


def make_event(count: int, seed: int = 7) -> dict[str, Any]:
    """A Lambda event of ``count`` MODIFY records (NEW_AND_OLD_IMAGES)."""
    rng = random.Random(seed)
    records = []
    for index in range(count):
        post = rng.randrange(count)
        keys = {"seriesId": {"S": f"series-{post % 50}"}, "postId": {"S": f"post#{post:06d}"}}
        records.append(
            {
                "eventID": f"{index:032x}",
                "eventName": "MODIFY",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1_764_288_000 + index // 100,
                    "Keys": keys,
                    "NewImage": make_image(rng, post, 2),
                    "OldImage": make_image(rng, post, 1),
                    "SequenceNumber": str(400_000_000_000_000_000_000 + index),
                    "SizeBytes": 1024,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": ARN,
            }
        )
    return {"Records": records}


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(type(value).__name__)


class LambdaTypeDeserializer(TypeDeserializer):  # type: ignore[misc]
    """boto3's deserializer for Lambda events, where B values are base64 text (as Powertools)."""

    def _deserialize_b(self, value: str) -> bytes:
        return base64.b64decode(value)

    def _deserialize_bs(self, value: list[str]) -> set[bytes]:
        return {base64.b64decode(v) for v in value}


def baseline(event: dict[str, Any]) -> bytes:
    """The usual Lambda path: TypeDeserializer -> json.dumps -> from_pylist -> write_table."""
    deserializer = LambdaTypeDeserializer()

    def plain(image: dict[str, Any] | None) -> str | None:
        if image is None:
            return None
        item = {name: deserializer.deserialize(value) for name, value in image.items()}
        return json.dumps(item, default=_json_default)

    rows = []
    for record in event["Records"]:
        block = record["dynamodb"]
        rows.append(
            {
                "event_id": record["eventID"],
                "event_name": record["eventName"],
                "keys": plain(block["Keys"]),
                "sequence_number": block["SequenceNumber"],
                "approximate_creation_time": datetime.fromtimestamp(
                    block["ApproximateCreationDateTime"], UTC
                ),
                "new_image": plain(block.get("NewImage")),
                "old_image": plain(block.get("OldImage")),
            }
        )
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink, compression="zstd")
    return sink.getvalue()


class MemoryStore:
    """An object store that keeps objects in a dict, so that only the conversion is timed."""

    def __init__(self) -> None:
        self.location = parse_archive_uri("s3://bench/archive")
        self.objects: dict[str, bytes] = {}

    def put_bytes(self, key: str, data: bytes) -> None:
        """Keep the object."""
        self.objects[key] = data


def changelake(event: dict[str, Any]) -> bytes:
    """changelake's path (``archive_records``): every lossless column, zstd Parquet per day."""
    store = MemoryStore()
    archive_records(event["Records"], store)  # type: ignore[arg-type]
    return b"".join(store.objects.values())


def median_rates(
    paths: dict[str, Any], event: dict[str, Any], runs: int
) -> dict[str, tuple[float, float, int]]:
    """Per path: median records/s by wall time and by CPU time, and the output size.

    Runs alternate between the paths, so that load from other jobs on the machine hits both
    alike; CPU time (this process's) is the steadier measure on a busy machine.
    """
    count = len(event["Records"])
    wall: dict[str, list[float]] = {name: [] for name in paths}
    cpu: dict[str, list[float]] = {name: [] for name in paths}
    sizes: dict[str, int] = {}
    for _ in range(runs):
        for name, convert in paths.items():
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            sizes[name] = len(convert(event))
            cpu[name].append(time.process_time() - start_cpu)
            wall[name].append(time.perf_counter() - start_wall)
    return {
        name: (
            count / statistics.median(wall[name]),
            count / statistics.median(cpu[name]),
            sizes[name],
        )
        for name in paths
    }


def cold_import_ms(runs: int = 5) -> float:
    """Median wall time of a fresh interpreter importing the Lambda handler, minus a bare start."""

    def timed(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)
        return time.perf_counter() - start

    bare = statistics.median(timed("pass") for _ in range(runs))
    full = statistics.median(timed("import changelake.lambda_handler") for _ in range(runs))
    return (full - bare) * 1000


def main() -> int:
    """Run both paths, print rates, the ratio and the cold import time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    event = make_event(args.records)
    item_bytes = statistics.mean(
        len(json.dumps(r["dynamodb"]["NewImage"])) for r in event["Records"][:100]
    )
    print(
        f"{args.records} records, NEW_AND_OLD_IMAGES, ~{item_bytes:.0f} B of typed JSON per image"
    )
    rates = median_rates({"baseline": baseline, "changelake": changelake}, event, args.runs)
    (base_wall, base_cpu, base_size), (ours_wall, ours_cpu, ours_size) = rates.values()
    ratio = ours_cpu / base_cpu
    verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
    print(f"median of {args.runs} alternating runs     records/s (wall)  records/s (CPU)")
    print(f"baseline (TypeDeserializer, json, from_pylist): {base_wall:9,.0f} {base_cpu:9,.0f}")
    print(f"changelake (every lossless column):             {ours_wall:9,.0f} {ours_cpu:9,.0f}")
    print(f"Parquet bytes: baseline {base_size / 1e6:.1f} MB, changelake {ours_size / 1e6:.1f} MB")
    print(
        f"ratio: {ratio:.2f}x by CPU time, {ours_wall / base_wall:.2f}x by wall time "
        f"({verdict} the {TARGET_RATIO:.0f}x target)"
    )
    print(f"cold import of changelake.lambda_handler: {cold_import_ms():.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
