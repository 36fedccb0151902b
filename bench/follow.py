"""How soon a write is searchable (``make bench-follow``), against a baseline in the same run.

On DynamoDB Local, SeaweedFS and the OpenSearch node (each started here by ``scripts/services.py``
and stopped by PID): a writer makes ``--rate`` writes a second (40% puts of new items, 50% updates,
10% deletes) for ``--seconds``, after ``--warm-up`` seconds of untimed writes, while readers of the
same stream index it, each into an index of its own:

* ``changelake follow`` (its own process, ``--output json``): archive each page to S3, then sync
  its items into the alias;
* the baseline (its own process, ``--baseline``): the function the log replaces, indexing each
  GetRecords batch straight into the engine (no archive), with the same documents and ids, the
  same pacing (``--interval``) and a refresh after each bulk request, as sync does;
* trigger mode (its own process, ``--trigger``, in a run of its own): each batch through the archive
  Lambda's handler into an archive of its own, then one run of the sync Lambda's handler, in
  turn: what deploy/sync-on-archive.yaml runs, less the delivery of S3's event through EventBridge
  and SQS, which only AWS can time.

For every write, an observer thread searches every index (an ``ids`` query, never a GET) every
``POLL_SECONDS`` until the write is visible (the item with that revision or a later one, or gone
after a delete); the lag runs from just before the write call to the answer that shows it.
Lags are measured by wall clock: DynamoDB Local stamps stream records to the minute, so the
records' ApproximateCreationDateTime cannot time them (the index lags in follow's own lines read
up to 60 s high there: printed too). At the end every index must equal a Scan of the table.

The second run stops the engine ``--outage-at`` seconds into the timed writes and starts it again
``--outage`` seconds later (it takes 20-60 s to answer again); the writer goes on until 40 s after
the engine answers, and the lags of writes made from 30 s after its return on are printed.

    .venv/bin/python -m bench.follow [--seconds 60] [--rate 100] [--interval 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from changelake.clients import dynamodb_client, opensearch_client, streams_client
from changelake.schemas.dynamodb_types import image_to_plain_json
from changelake.search_options import SearchOptions
from scripts.services import (
    Service,
    start_dynamodb_local,
    start_opensearch,
    start_seaweedfs,
    stop,
)
from tests.helpers import create_posts_table

if TYPE_CHECKING:
    from collections.abc import Iterator

CHANGELAKE = str(Path(sys.executable).parent / "changelake")
# This benchmark as a command: its --baseline and --trigger modes run as processes of their own.
THIS_BENCH = [sys.executable, "-m", "bench.follow"]
POLL_SECONDS = 0.1
INITIAL_ITEMS = 1000
TARGET_P50, TARGET_P99 = 2.0, 5.0
BODY = "lorem ipsum " * 40


# --------------------------------------------------------------------------- the baseline


def open_shard_iterators(streams: Any, table: str) -> tuple[str, dict[str, str]]:
    """The table's stream ARN, and an iterator at LATEST for each of its open shards."""
    arn: str = dynamodb_client().describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterators = {
        shard["ShardId"]: streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
        )["ShardIterator"]
        for shard in shards
        if "EndingSequenceNumber" not in shard["SequenceNumberRange"]
    }
    return arn, iterators


def stream_pages(streams: Any, iterators: dict[str, str], interval: float) -> Iterator[Any]:
    """The records of each GetRecords call, shard after shard, a round every ``interval`` seconds,
    forever; ``iterators`` moves on with them."""
    while True:
        began = time.monotonic()
        for shard_id, iterator in list(iterators.items()):
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            iterators[shard_id] = page["NextShardIterator"]
            yield page["Records"]
        time.sleep(max(0.0, began + interval - time.monotonic()))


def baseline(table: str, index: str, url: str, interval: float) -> None:
    """Index each GetRecords batch of the table's stream straight into ``index``, until killed."""
    streams = streams_client()
    client = opensearch_client(url, SearchOptions(), max_retries=0)
    _, iterators = open_shard_iterators(streams, table)
    print("ready", flush=True)
    for records in stream_pages(streams, iterators, interval):
        lines = []
        for record in records:
            key = "id=" + record["dynamodb"]["Keys"]["id"]["S"]
            if record["eventName"] == "REMOVE":
                lines.append(json.dumps({"delete": {"_id": key}}))
            else:
                lines.append(json.dumps({"index": {"_id": key}}))
                lines.append(image_to_plain_json(record["dynamodb"]["NewImage"]))
        while lines:  # a failed batch is sent again, as Lambda retries it
            try:
                client.bulk(body="\n".join(lines) + "\n", index=index, refresh="true")
                lines = []
            except Exception:
                time.sleep(1.0)


def trigger_mode(table: str, alias: str, url: str, archive: str, interval: float) -> None:
    """Trigger mode, both Lambda handlers in turn: each GetRecords batch through the archive
    handler, then one run of the sync handler, until killed."""
    os.environ.update(
        {"CHANGELAKE_ARCHIVE": archive, "CHANGELAKE_TABLE": table, "CHANGELAKE_ALIAS": alias,
         "CHANGELAKE_ES_URL": url}
    )  # fmt: skip
    from changelake import lambda_handler, sync_handler
    from changelake.archiver.polled_records import polled_record_to_lambda

    streams = streams_client()
    arn, iterators = open_shard_iterators(streams, table)
    print("ready", file=sys.stderr, flush=True)
    for records in stream_pages(streams, iterators, interval):
        if not records:
            continue
        event = {"Records": [polled_record_to_lambda(r, arn) for r in records]}
        lambda_handler.archive(event, None)
        while True:  # a failed sync comes back, as SQS hands the messages back
            try:
                sync_handler.sync({"Records": []}, None)
                break
            except Exception:
                time.sleep(1.0)


# --------------------------------------------------------------------------- the writes


@dataclass
class Write:
    """One write: its revision number, item, kind and when its call started."""

    rev: int
    item: str
    kind: str
    due: float = 0.0
    started: float = 0.0

    @property
    def document_id(self) -> str:
        """The item's document id in both indexes."""
        return f"id={self.item}"


@dataclass
class Watched:
    """The writes one index has yet to show, by item, and the lag of each one it showed."""

    index: str
    pending: dict[str, list[Write]] = field(default_factory=dict)
    lags: list[tuple[float, float]] = field(default_factory=list)  # (write started, lag)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, write: Write) -> None:
        """Wait for ``write`` to show."""
        with self.lock:
            self.pending.setdefault(write.document_id, []).append(write)

    def resolve(self, found: dict[str, int], asked: list[str], at: float) -> None:
        """What one search showed at ``at``: each asked document's revision, or absence."""
        with self.lock:
            for item in asked:
                writes = self.pending.get(item, [])
                rev = found.get(item)
                if rev is not None:
                    shown = [w for w in writes if w.kind != "delete" and w.rev <= rev]
                elif any(w.kind == "delete" for w in writes):
                    shown = list(writes)  # gone; a deleted item is never written again
                else:
                    shown = []
                for write in shown:
                    self.lags.append((write.started, at - write.started))
                    writes.remove(write)
                if not writes:
                    self.pending.pop(item, None)

    def waiting(self) -> list[str]:
        """Document ids with writes not shown yet."""
        with self.lock:
            return list(self.pending)


def observe(watched: list[Watched], url: str, done: threading.Event, cycles: list[float]) -> None:
    """Search each index for its waiting items every POLL_SECONDS until ``done``; ``cycles``
    gets the seconds each round of searches took (the lags' resolution)."""
    client = opensearch_client(url, SearchOptions(), max_retries=0)
    while not done.is_set():
        began = time.monotonic()
        for target in watched:
            items = target.waiting()
            for start in range(0, len(items), 5000):
                asked = items[start : start + 5000]
                try:
                    hits = client.search(
                        index=target.index,
                        body={"size": len(asked), "query": {"ids": {"values": asked}}},
                        _source_includes=["rev"],
                        request_timeout=5,
                    )["hits"]["hits"]
                except Exception:
                    continue  # the engine is down: try again
                found = {hit["_id"]: int(hit["_source"]["rev"]) for hit in hits}
                target.resolve(found, asked, time.monotonic())
        cycles.append(time.monotonic() - began)
        time.sleep(max(0.0, began + POLL_SECONDS - time.monotonic()))


class Writer:
    """Writes at a fixed rate from a pool of threads, never two writes of one item at once."""

    def __init__(self, table: str, watched: list[Watched], seed: int = 17) -> None:
        self.table = table
        self.watched = watched
        self.random = random.Random(seed)
        self.live = [f"p{n:05d}" for n in range(INITIAL_ITEMS)]
        self.busy: set[str] = set()
        self.lock = threading.Lock()
        self.client = dynamodb_client()
        self.count = 0
        self.errors = 0
        self.late: list[float] = []  # seconds each write started after it was due

    def next_write(self, rev: int) -> Write:
        """A put of a new item, an update or a delete of a live item not being written."""
        with self.lock:
            roll = self.random.random()
            free = [item for item in self.random.sample(self.live, 20) if item not in self.busy]
            if roll < 0.4 or not free:
                write = Write(rev, f"n{rev:07d}", "put")
                self.live.append(write.item)
            elif roll < 0.9:
                write = Write(rev, free[0], "update")
            else:
                write = Write(rev, free[0], "delete")
                self.live.remove(write.item)
            self.busy.add(write.item)
        return write

    def write(self, write: Write) -> None:
        """Make one write and wait for it in each index."""
        key = {"id": {"S": write.item}}
        write.started = time.monotonic()
        self.late.append(write.started - write.due)
        try:
            if write.kind == "delete":
                self.client.delete_item(TableName=self.table, Key=key)
            elif write.kind == "put":
                self.client.put_item(
                    TableName=self.table,
                    Item={**key, "rev": {"N": str(write.rev)}, "body": {"S": BODY}},
                )
            else:
                self.client.update_item(
                    TableName=self.table,
                    Key=key,
                    UpdateExpression="SET rev = :rev, title = :title",
                    ExpressionAttributeValues={
                        ":rev": {"N": str(write.rev)},
                        ":title": {"S": f"revision {write.rev}"},
                    },
                )
        except Exception:
            with self.lock:
                self.errors += 1
            raise
        for target in self.watched:
            target.add(write)
        with self.lock:
            self.busy.discard(write.item)
            self.count += 1

    def run(self, rate: float, until: Any) -> None:
        """Write ``rate`` times a second while ``until(elapsed)`` is true."""
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            rev = 0
            while until(time.monotonic() - started):
                rev += 1
                write = self.next_write(rev)
                write.due = started + (rev - 1) / rate
                pool.submit(self.write, write)
                time.sleep(max(0.0, started + rev / rate - time.monotonic()))


# --------------------------------------------------------------------------- one run


@dataclass
class Servers:
    """The three local servers of a run; the engine's workdir, to start it again there."""

    dynamodb: Service
    s3: Service
    engine: Service


def create_table(name: str) -> None:
    """A posts table with a stream and INITIAL_ITEMS items."""
    client = dynamodb_client()
    create_posts_table(client, name)
    for start in range(0, INITIAL_ITEMS, 25):
        requests = [
            {"PutRequest": {"Item": {
                "id": {"S": f"p{n:05d}"}, "rev": {"N": "0"}, "body": {"S": BODY},
            }}}
            for n in range(start, min(start + 25, INITIAL_ITEMS))
        ]  # fmt: skip
        client.batch_write_item(RequestItems={name: requests})


def scan(table: str) -> dict[str, Any]:
    """Every item as the document changelake makes of it, by document id."""
    items = {}
    for page in (
        dynamodb_client().get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    ):
        for item in page["Items"]:
            items["id=" + item["id"]["S"]] = json.loads(image_to_plain_json(item))
    return items


def documents(url: str, index: str) -> dict[str, Any]:
    """Every document of an index (or alias), by id."""
    client = opensearch_client(url, SearchOptions())
    client.indices.refresh(index=index)
    found = {}
    response = client.search(index=index, body={"size": 10_000, "sort": ["_doc"]}, scroll="1m")
    while response["hits"]["hits"]:
        found.update({hit["_id"]: hit["_source"] for hit in response["hits"]["hits"]})
        response = client.scroll(scroll_id=response["_scroll_id"], scroll="1m")
    return found


def cli(*args: str) -> None:
    """Run a changelake command; fail loudly."""
    subprocess.run([CHANGELAKE, *args], check=True, stdout=subprocess.DEVNULL)


def wait_for_yellow(url: str, timeout: float = 120) -> None:
    """Until every primary shard of the engine is searchable again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(
                f"{url}/_cluster/health?wait_for_status=yellow&timeout=1s", timeout=3
            ) as response:
                if json.loads(response.read())["status"] in ("yellow", "green"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the engine at {url} did not come back in {timeout:.0f} s")


FOLLOW, BASELINE, TRIGGER = "changelake follow", "baseline (no archive)", "trigger mode"


@dataclass
class RunResult:
    """Each reader's lags (write start relative to the first timed write, lag), whether its
    index equals a Scan, the outage's times, and what follow said."""

    writes: int
    lags: dict[str, list[tuple[float, float]]]
    equal: dict[str, bool] = field(default_factory=dict)
    metric_lags: list[float] = field(default_factory=list)
    outage: tuple[float, float, float] | None = None  # stopped, started again, answering
    search_cycles: list[float] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    late: list[float] = field(default_factory=list)


def run(
    servers: Servers, args: argparse.Namespace, reader: str, *, outage: bool = False
) -> tuple[RunResult, Servers]:
    """One run: a table, the baseline and ``reader`` (follow or trigger mode), the writes, the
    checks."""
    url = servers.engine.url
    table = f"posts-{uuid.uuid4().hex[:8]}"
    archive = f"s3://{servers.s3.env['CHANGELAKE_TEST_BUCKET']}/bench-follow-{uuid.uuid4().hex[:8]}"
    alias, base_index = f"alias-{table}", f"baseline-{table}"
    create_table(table)
    cli("poll", "--table", table, "--archive", archive, "--max-seconds", "30")
    cli("rebuild", "--table", table, "--archive", archive, "--es-url", url, "--alias", alias, "-s")
    engine = opensearch_client(url, SearchOptions())
    engine.indices.create(index=base_index)
    body = "".join(
        json.dumps({"index": {"_id": key}}) + "\n" + json.dumps(doc) + "\n"
        for key, doc in scan(table).items()
    )
    engine.bulk(body=body, index=base_index, refresh="true")
    logs = Path(args.logs or tempfile.mkdtemp(prefix="bench-follow-"))
    logs.mkdir(parents=True, exist_ok=True)
    lines_path, notices_path = logs / f"{table}.jsonl", logs / f"{table}.stderr"
    command = (
        [CHANGELAKE, "follow", "--table", table, "--archive", archive, "--es-url", url,
         "--alias", alias, "--interval", str(args.interval), "--output", "json", "-s"]
        if reader == FOLLOW
        else [*THIS_BENCH, "--trigger", table, alias, url, archive, str(args.interval)]
    )  # fmt: skip
    with lines_path.open("w") as lines, notices_path.open("w") as notices:
        ours = subprocess.Popen(command, stdout=lines, stderr=notices)
    theirs = subprocess.Popen(
        [*THIS_BENCH, "--baseline", table, base_index, url, str(args.interval)],
        stdout=subprocess.PIPE,
        text=True,
    )
    indexes = {reader: alias, BASELINE: base_index}
    try:
        assert theirs.stdout is not None and theirs.stdout.readline().strip() == "ready"
        _wait_for_start(lines_path, notices_path, reader)
        result, servers = _write_and_watch(servers, args, table, indexes, outage)
    except BaseException:
        print(f"  {reader}'s lines and notices are in {logs}", flush=True)
        raise
    finally:
        ours.terminate()
        theirs.terminate()
        code = ours.wait(60)
        theirs.wait(30)
    if reader == FOLLOW and code != 0:
        raise RuntimeError(f"changelake follow exited with {code} after SIGTERM; see {logs}")
    result.metric_lags = [
        line["IndexLagSeconds"]
        for line in map(json.loads, lines_path.read_text().splitlines())
        if "IndexLagSeconds" in line
    ]
    result.notices = [line for line in notices_path.read_text().splitlines() if line != "ready"]
    items = scan(table)
    result.equal = {
        name: documents(servers.engine.url, index) == items for name, index in indexes.items()
    }
    return result, servers


def _wait_for_start(lines: Path, notices: Path, reader: str, timeout: float = 120) -> None:
    """Until follow's first catch-up has finished (a line says the index is up), or trigger
    mode's reader is ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reader == TRIGGER and "ready" in notices.read_text().splitlines():
            return
        for line in lines.read_text().splitlines():
            if json.loads(line).get("index") == "up":
                return
        time.sleep(0.2)
    raise RuntimeError(f"{reader} did not start")


def _write_and_watch(
    servers: Servers,
    args: argparse.Namespace,
    table: str,
    indexes: dict[str, str],
    outage: bool,
) -> tuple[RunResult, Servers]:
    watched = [Watched(index) for index in indexes.values()]
    done = threading.Event()
    cycles: list[float] = []
    observer = threading.Thread(target=observe, args=(watched, servers.engine.url, done, cycles))
    observer.start()
    writer = Writer(table, watched)
    times: list[float] = []
    restarted: list[Servers] = []

    def cut_the_engine(t0: float) -> None:
        time.sleep(max(0.0, t0 + args.outage_at - time.monotonic()))
        times.append(time.monotonic() - t0)
        stop(servers.engine)
        time.sleep(args.outage)
        times.append(time.monotonic() - t0)
        engine = start_opensearch(Path(servers.engine.workdir), quick_start=False)
        wait_for_yellow(engine.url)
        times.append(time.monotonic() - t0)
        restarted.append(Servers(servers.dynamodb, servers.s3, engine))

    # Writes of the warm-up are watched (each must show) but not timed: a freshly started
    # engine compiles its hot paths then, on the same two cores, which would charge both sides.
    t0 = time.monotonic() + args.warm_up
    cutter = threading.Thread(target=cut_the_engine, args=(t0,)) if outage else None
    if cutter is not None:
        cutter.start()

    def until(elapsed: float) -> bool:
        elapsed -= args.warm_up
        if elapsed < args.seconds:
            return True
        return outage and (len(times) < 3 or elapsed < times[2] + 40)

    writer.run(args.rate, until)
    if cutter is not None:
        cutter.join()
        servers = restarted[0]
    deadline = time.monotonic() + 120
    while any(target.waiting() for target in watched) and time.monotonic() < deadline:
        time.sleep(0.2)
    done.set()
    observer.join()
    left = {target.index: len(target.waiting()) for target in watched}
    if any(left.values()) or writer.errors:
        raise RuntimeError(f"writes never seen: {left}; failed writes: {writer.errors}")
    # Lags keyed by the write's start relative to the first timed write.
    lags = {
        name: [(started - t0, lag) for started, lag in target.lags if started >= t0]
        for name, target in zip(indexes, watched, strict=True)
    }
    outage_times = (times[0], times[1], times[2]) if outage else None
    result = RunResult(len(lags[BASELINE]), lags, outage=outage_times)
    result.search_cycles = cycles
    result.late = sorted(writer.late)
    return result, servers


# --------------------------------------------------------------------------- report


def percentiles(lags: list[float]) -> tuple[float, float, float, float]:
    """p50, p95, p99 and max."""
    ordered = sorted(lags)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98], ordered[-1]


def print_table(title: str, lags: dict[str, list[float]]) -> tuple[float, float]:
    """Percentiles of each reader, and each one's ratio to the baseline; follow's p50 and p99."""
    rows = {name: percentiles(values) for name, values in lags.items()}
    print(f"  {title}")
    print(f"    {'seconds to a search hit':28} {'p50':>6} {'p95':>6} {'p99':>6} {'max':>6}")
    for name, row in rows.items():
        print(f"    {name:28} " + " ".join(f"{v:6.2f}" for v in row))
    for name, row in rows.items():
        if name != BASELINE:
            ratios = " ".join(f"{a / b:5.1f}x" for a, b in zip(row, rows[BASELINE], strict=True))
            label = f"ratio {'follow' if name == FOLLOW else 'trigger'} / baseline"
            print(f"    {label:28} {ratios}")
    (ours,) = [row for name, row in rows.items() if name != BASELINE]
    return ours[0], ours[2]


def windows(lags: list[tuple[float, float]], start: float) -> str:
    """The p99 of each 5-second window of writes from ``start`` on."""
    shown = []
    for begin in range(int(start), int(max(at for at, _ in lags)), 5):
        window = [lag for at, lag in lags if begin <= at < begin + 5]
        if len(window) >= 20:
            shown.append(f"+{begin - start:.0f}s {percentiles(window)[2]:.1f}")
    return ", ".join(shown)


def report(result: RunResult, args: argparse.Namespace) -> None:
    """Print one run."""
    cycles, late = result.search_cycles, result.late
    print(
        f"  the writes started {statistics.median(late):.2f} s after they were due (median), "
        f"{late[int(len(late) * 0.99)]:.2f} s at p99 (DynamoDB Local's pace on a busy machine)"
    )
    print(
        f"  {result.writes} writes timed on each index (after {args.warm_up:g} s untimed); "
        f"a round of searches took {statistics.median(cycles):.2f} s (median), "
        f"{max(cycles):.2f} s at most"
    )
    every = {name: [lag for _, lag in lags] for name, lags in result.lags.items()}
    p50, p99 = print_table("every write", every)
    if result.outage is None:
        if FOLLOW in result.lags:
            verdict = "met" if p50 <= TARGET_P50 and p99 <= TARGET_P99 else "MISSED"
            print(
                f"    follow's targets p50 <= {TARGET_P50:g} s, p99 <= {TARGET_P99:g} s: {verdict}"
            )
    else:
        stopped, started, answering = result.outage
        print(
            f"  engine stopped at {stopped:.1f} s, started again at {started:.1f} s, "
            f"answering at {answering:.1f} s"
        )
        after = answering + 30
        later = {
            name: [lag for at, lag in lags if at >= after] for name, lags in result.lags.items()
        }
        _, p99_late = print_table(f"writes from {after:.0f} s (30 s after the return) on", later)
        verdict = "met" if p99_late <= TARGET_P99 else "MISSED"
        print(f"    follow's target p99 <= {TARGET_P99:g} s within 30 s of the return: {verdict}")
        for name, lags in result.lags.items():
            print(f"    {name}: p99 of each 5 s of writes from the return on:")
            print(f"      {windows(lags, answering)}")
    metric_lags = result.metric_lags
    if metric_lags:
        print(
            f"  follow's own IndexLagSeconds (from ApproximateCreationDateTime, which DynamoDB "
            f"Local stamps to the minute): median {statistics.median(metric_lags):.1f} s, "
            f"max {max(metric_lags):.1f} s over {len(metric_lags)} lines"
        )
    for notice in result.notices:
        print(f"  it said: {notice[:160]}")
    equal = ", ".join(f"{name} {'yes' if same else 'NO'}" for name, same in result.equal.items())
    print(f"  index equals a Scan of the table: {equal}", flush=True)


def main() -> None:
    """Start the servers, run without and with an outage, print, stop the servers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--warm-up", type=float, default=15, help="Seconds of untimed writes.")
    parser.add_argument("--outage-at", type=float, default=10)
    parser.add_argument("--outage", type=float, default=20)
    parser.add_argument("--no-outage", action="store_true", help="Skip the second run.")
    parser.add_argument("--only-outage", action="store_true", help="Skip the first run.")
    parser.add_argument("--logs", help="Keep follow's lines and notices in this directory.")
    parser.add_argument("--baseline", nargs=4, metavar=("TABLE", "INDEX", "URL", "INTERVAL"))
    parser.add_argument(
        "--trigger", nargs=5, metavar=("TABLE", "ALIAS", "URL", "ARCHIVE", "INTERVAL")
    )
    args = parser.parse_args()
    if args.baseline:
        table, index, url, interval = args.baseline
        baseline(table, index, url, float(interval))
        return
    if args.trigger:
        table, alias, url, archive, interval = args.trigger
        trigger_mode(table, alias, url, archive, float(interval))
        return
    with tempfile.TemporaryDirectory() as scratch:
        started: list[Service] = []
        try:
            for starter, name in (
                (start_dynamodb_local, "dynamodb-local"),
                (start_seaweedfs, "seaweedfs"),
                (lambda w: start_opensearch(w, quick_start=False), "opensearch"),
            ):
                started.append(starter(Path(scratch, name)))
                os.environ.update(started[-1].env)
            servers = Servers(*started)
            print(
                f"bench-follow: {args.rate:g} writes/s (40% new items, 50% updates, 10% deletes) "
                f"for {args.seconds:g} s; follow --interval {args.interval:g}; searches every "
                f"{POLL_SECONDS:g} s",
                flush=True,
            )
            runs = []
            if not args.only_outage:
                runs += [("the engine up", FOLLOW, False), ("trigger mode", TRIGGER, False)]
            if not args.no_outage:
                runs.append((f"the engine stopped for {args.outage:g} s", FOLLOW, True))
            for number, (title, reader, outage) in enumerate(runs, start=1):
                print(f"run {number}: {title}: {reader} and the baseline", flush=True)
                result, servers = run(servers, args, reader, outage=outage)
                started[2] = servers.engine
                report(result, args)
        finally:
            for service in started:
                stop(service)


if __name__ == "__main__":
    main()
