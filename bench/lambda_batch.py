"""One archive Lambda batch: time per 1,000-record batch, stored bytes per change, peak memory.

Batches of 1,000 MODIFY records with ~1 KB items (text drawn from a small vocabulary, so that it
compresses like real prose, not like random bytes) go through the handler into a local archive.
The baseline, measured in the same run, is writing each batch's raw event JSON to a file (the
naive archive): the ratios say what Parquet costs in time and saves in bytes. The cost and
sizing figures of docs/operations.md come from this.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path

from changelake import lambda_handler
from tests.helpers import make_record

BATCHES = 20
BATCH_SIZE = 1_000
WORDS = [f"word{n}" for n in range(2_000)]


def make_event(batch: int, rng: random.Random) -> dict[str, object]:
    """A Lambda event of BATCH_SIZE records of ~1 KB items, old and new images."""
    records = []
    for n in range(BATCH_SIZE):
        sequence = batch * BATCH_SIZE + n + 1
        body = " ".join(rng.choices(WORDS, k=110))
        image = {
            "id": {"S": f"post#{rng.randrange(100_000)}"},
            "title": {"S": " ".join(rng.choices(WORDS, k=6))},
            "body": {"S": body},
            "views": {"N": str(rng.randrange(10**6))},
        }
        old = dict(image, body={"S": body[::-1]})
        records.append(
            make_record(
                sequence,
                key=image["id"]["S"],
                at=1_764_288_000 + sequence // 50,
                new_image=image,
                old_image=old,
            )
        )
    return {"Records": records}


def main() -> None:
    """Archive BATCHES batches through the handler and print medians and ratios."""
    rng = random.Random(7)
    events = [make_event(batch, rng) for batch in range(BATCHES)]
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["CHANGELAKE_ARCHIVE"] = str(Path(scratch) / "archive")
        raw_dir = Path(scratch) / "raw"
        raw_dir.mkdir()
        handler_seconds, raw_seconds = [], []
        for number, event in enumerate(events):
            started = time.perf_counter()
            (raw_dir / f"{number}.json").write_bytes(json.dumps(event).encode())
            raw_seconds.append(time.perf_counter() - started)
            with contextlib.redirect_stdout(io.StringIO()):  # the handler's EMF line
                started = time.perf_counter()
                lambda_handler.archive(event, None)
                handler_seconds.append(time.perf_counter() - started)
        parquet_bytes = sum(p.stat().st_size for p in Path(scratch, "archive").rglob("*.parquet"))
        raw_bytes = sum(p.stat().st_size for p in raw_dir.iterdir())
    changes = BATCHES * BATCH_SIZE
    print(
        json.dumps(
            {
                "batches": BATCHES,
                "batch_size": BATCH_SIZE,
                "handler_ms_per_batch": round(statistics.median(handler_seconds) * 1000, 1),
                "raw_json_ms_per_batch": round(statistics.median(raw_seconds) * 1000, 1),
                "parquet_bytes_per_change": round(parquet_bytes / changes),
                "raw_json_bytes_per_change": round(raw_bytes / changes),
                "size_ratio": round(parquet_bytes / raw_bytes, 3),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        )
    )


if __name__ == "__main__":
    main()
