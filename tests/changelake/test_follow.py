"""``changelake follow`` end to end on DynamoDB Local, SeaweedFS and the OpenSearch node.

Each test runs the command as a process of its own (signals and ``kill -9`` are real), writes to a
table while it runs, and ends with the alias equal to a Scan of the table.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pytest
from click.testing import CliRunner

from changelake.archiver.checkpoints import load_shard_checkpoint
from changelake.archiver.locks import acquire_lock
from changelake.archiver.stream_shards import iter_shards
from changelake.cli import cli
from changelake.clients import (
    dynamodb_client,
    make_search_sink,
    make_store,
    open_archive,
    streams_client,
)
from changelake.schemas.archive_layout import lock_key, parse_archive_uri
from changelake.schemas.dynamodb_types import image_to_plain_json
from tests.helpers import create_posts_table, put_post, scan_items
from tests.tcp_relay import TcpRelay

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scripts.services import Service

pytestmark = [pytest.mark.dynamodb, pytest.mark.s3, pytest.mark.opensearch]

CHANGELAKE = str(Path(sys.executable).parent / "changelake")


class Followed:
    """A posts table on DynamoDB Local, its archive in S3, an alias on OpenSearch, and the
    ``changelake follow`` processes started for them."""

    def __init__(self, archive: str, url: str, workdir: Path) -> None:
        self.table = f"posts-{uuid.uuid4().hex[:8]}"
        self.stream_arn = create_posts_table(dynamodb_client(), self.table)
        self.archive = archive
        self.url = url
        self.alias = f"follow-{uuid.uuid4().hex[:8]}"
        self.workdir = workdir
        self.ddb = dynamodb_client()
        self.random = random.Random(7)
        self.live: list[str] = []
        self.writes = 0
        self.runs = 0
        self.processes: list[subprocess.Popen[bytes]] = []
        for n in range(20):
            self.put(f"p{n:02d}")
        self.cli("poll", "--table", self.table, "--archive", archive, "--max-seconds", "30")
        self.cli(
            "rebuild", "--table", self.table, "--archive", archive, "--es-url", url,
            "--alias", self.alias, "-s",
        )  # fmt: skip

    def cli(self, *args: str) -> str:
        result = CliRunner().invoke(cli, list(args))
        assert result.exit_code == 0, (result.output, result.exception)
        return result.output

    def start(
        self, *extra: str, url: str | None = None, alias: bool = True
    ) -> subprocess.Popen[bytes]:
        """Start ``changelake follow --output json`` with its stdout and stderr in files."""
        self.runs += 1
        command = [
            CHANGELAKE, "follow", "--table", self.table, "--archive", self.archive,
            "--interval", "0.5", "--output", "json", "-s", *extra,
        ]  # fmt: skip
        if alias:
            command += ["--es-url", url or self.url, "--alias", self.alias]
        # The child writes to its own copies of the files; ours are closed at once.
        with self.out_path(self.runs).open("wb") as out, self.err_path(self.runs).open("wb") as err:
            process = subprocess.Popen(command, stdout=out, stderr=err)
        self.processes.append(process)
        return process

    def kill_all(self) -> None:
        """Kill what a failed test left running."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(30)

    def out_path(self, run: int) -> Path:
        return self.workdir / f"follow-{run}.out"

    def err_path(self, run: int) -> Path:
        return self.workdir / f"follow-{run}.err"

    def lines(self, run: int | None = None) -> list[dict[str, Any]]:
        """The JSON lines a run (the latest by default) wrote so far."""
        text = self.out_path(run or self.runs).read_text()
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def stderr(self, run: int | None = None) -> str:
        return self.err_path(run or self.runs).read_text()

    def wait_for(self, condition: Any, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.2)
        raise AssertionError(f"{what} did not happen in {timeout:.0f} s; stderr: {self.stderr()}")

    def wait_until_indexing(self) -> None:
        self.wait_for(lambda: any(line.get("index") == "up" for line in self.lines()), "catch-up")

    def put(self, item: str) -> None:
        put_post(self.ddb, self.table, item, title=f"write {self.writes}", n=self.writes)
        self.live.append(item)
        self.writes += 1

    def write(self, seconds: float, rate: float = 20) -> None:
        """Puts of new items, updates and 10% deletes, ``rate`` a second."""
        started = time.monotonic()
        count = 0
        while time.monotonic() - started < seconds:
            roll = self.random.random()
            if roll < 0.4 or len(self.live) < 5:
                self.put(f"n{self.writes:05d}")
            elif roll < 0.9:
                item = self.random.choice(self.live)
                self.live.remove(item)
                self.put(item)
            else:
                item = self.random.choice(self.live)
                self.ddb.delete_item(TableName=self.table, Key={"id": {"S": item}})
                self.live.remove(item)
                self.writes += 1
            count += 1
            time.sleep(max(0.0, started + count / rate - time.monotonic()))

    def documents(self) -> dict[str, Any]:
        sink = make_search_sink(self.url)
        sink.refresh(self.alias)
        return {d.id: d.source for d in sink.iter_documents(self.alias, page_size=500)}

    def items(self) -> dict[str, Any]:
        return {
            f"id={key}": json.loads(image_to_plain_json(item))
            for key, item in scan_items(self.ddb, self.table).items()
        }

    def wait_until_index_equals_table(self, timeout: float = 60) -> None:
        self.wait_for(lambda: self.documents() == self.items(), "index == Scan", timeout)

    def archived_events(self) -> int:
        """Distinct stream records in the archive (the initial items included)."""
        connection = open_archive(parse_archive_uri(self.archive), self.table)
        row = connection.execute("SELECT count(DISTINCT event_id) FROM changes").fetchone()
        return int(row[0])

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 30) -> int:
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout)


@pytest.fixture
def followed(
    dynamodb_service: Service, opensearch_service: Service, s3_archive: str, tmp_path: Path
) -> Iterator[Followed]:
    table = Followed(s3_archive, opensearch_service.url, tmp_path)
    yield table
    table.kill_all()


def test_follow_keeps_the_alias_equal_to_the_table_and_records_the_lag(
    followed: Followed,
) -> None:
    process = followed.start()
    followed.wait_until_indexing()
    followed.write(seconds=10)
    followed.wait_until_index_equals_table()
    assert followed.stop(process) == 0
    lines = followed.lines()
    *loops, totals = lines
    assert all(line["changelake"] == "follow" for line in loops)
    assert loops[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Table"]]
    # Every write after the rebuild was archived by follow, and made searchable by window steps.
    assert sum(line["ArchivedRecords"] for line in loops) == followed.writes - 20
    assert totals["archived"] == followed.writes - 20
    assert totals["steps"] > totals["catch_ups"] >= 1
    assert totals["stopped"] == "stopped"
    index_lags = [line["IndexLagSeconds"] for line in loops if "IndexLagSeconds" in line]
    archive_lags = [line["ArchiveLagSeconds"] for line in loops if "ArchiveLagSeconds" in line]
    assert index_lags and archive_lags
    # DynamoDB Local stamps records to the minute: lags read up to a minute high, never below 0.
    assert all(0 <= lag < 120 for lag in index_lags + archive_lags)
    assert followed.archived_events() == followed.writes


def test_kill_9_mid_run_and_a_restart_lose_nothing(followed: Followed) -> None:
    process = followed.start("--lease-seconds", "10")
    followed.wait_until_indexing()
    followed.write(seconds=4)
    process.send_signal(signal.SIGKILL)
    assert process.wait(10) == -signal.SIGKILL
    followed.write(seconds=3)
    process = followed.start("--lease-seconds", "10")
    followed.write(seconds=3)
    followed.wait_until_index_equals_table(timeout=90)
    assert followed.stop(process) == 0
    assert followed.archived_events() == followed.writes
    assert followed.lines()[-1]["catch_ups"] >= 1


def test_indexing_waits_out_the_engine_and_catches_up(followed: Followed) -> None:
    engine = urlparse(followed.url)
    with TcpRelay((engine.hostname or "127.0.0.1", engine.port or 80)) as relay:
        process = followed.start(url=relay.url)
        followed.wait_until_indexing()
        followed.write(seconds=2)
        relay.down()
        followed.write(seconds=6)
        followed.wait_for(
            lambda: any(line.get("index") == "down" for line in followed.lines()), "down"
        )
        down_at = next(i for i, line in enumerate(followed.lines()) if line.get("index") == "down")
        relay.up()
        followed.write(seconds=2)
        followed.wait_until_index_equals_table()
        assert followed.stop(process) == 0
    lines = followed.lines()
    # Archiving went on while the engine was away, and indexing came back.
    assert sum(line.get("ArchivedRecords", 0) for line in lines[down_at:]) > 0
    assert lines[-2]["index"] == "up"
    assert lines[-1]["archived"] == followed.writes - 20
    notices = followed.stderr()
    assert notices.count(f"indexing into {followed.alias} is down since") == 1, notices
    assert f"indexing into {followed.alias} is back" in notices


def test_sigterm_finishes_the_page_writes_its_checkpoint_and_exits_0(followed: Followed) -> None:
    process = followed.start()
    followed.wait_until_indexing()
    writer = threading.Thread(target=followed.write, kwargs={"seconds": 4, "rate": 40})
    writer.start()
    time.sleep(2)
    started = time.monotonic()
    assert followed.stop(process) == 0
    assert time.monotonic() - started < 15
    writer.join()
    totals = followed.lines()[-1]
    assert totals["stopped"] == "stopped"
    # What it archived is checkpointed: the shard's checkpoint counts every record it archived.
    store = make_store(parse_archive_uri(followed.archive))
    (shard,) = iter_shards(streams_client(), followed.stream_arn)
    checkpoint = load_shard_checkpoint(store, followed.table, followed.stream_arn, shard["ShardId"])
    assert checkpoint.records == 20 + totals["archived"]
    assert followed.archived_events() == 20 + totals["archived"]
    # The next run goes on from there.
    process = followed.start()
    followed.wait_until_index_equals_table()
    assert followed.stop(process) == 0
    assert followed.archived_events() == followed.writes


def test_without_an_alias_follow_only_archives(followed: Followed) -> None:
    followed.write(seconds=2)
    process = followed.start("--max-seconds", "3", alias=False)
    assert process.wait(60) == 0
    *loops, totals = followed.lines()
    assert all(line["index"] == "off" and "IndexLagSeconds" not in line for line in loops)
    assert totals["archived"] == followed.writes - 20
    assert totals["stopped"] == "--max-seconds 3"
    assert followed.archived_events() == followed.writes


def test_index_steps_wait_while_another_writer_holds_the_lease(followed: Followed) -> None:
    process = followed.start()
    followed.wait_until_indexing()
    store = make_store(parse_archive_uri(followed.archive))
    lease = acquire_lock(store, lock_key(followed.table, f"sync-{followed.alias}"))
    followed.write(seconds=3)
    followed.wait_for(
        lambda: any("is held by" in (line.get("index_error") or "") for line in followed.lines()),
        "a step refused by the lease",
    )
    assert followed.documents() != followed.items()
    lease.release()
    followed.wait_until_index_equals_table()
    assert followed.stop(process) == 0


def test_a_rebuild_while_following_is_caught_up(followed: Followed) -> None:
    process = followed.start()
    followed.wait_until_indexing()
    followed.write(seconds=2)
    before = make_search_sink(followed.url).alias_targets(followed.alias)
    followed.cli(
        "rebuild", "--table", followed.table, "--archive", followed.archive,
        "--es-url", followed.url, "--alias", followed.alias, "-s",
    )  # fmt: skip
    assert make_search_sink(followed.url).alias_targets(followed.alias) != before
    followed.write(seconds=2)
    followed.wait_until_index_equals_table()
    assert followed.stop(process) == 0
    assert followed.lines()[-1]["catch_ups"] >= 2


def test_follow_needs_es_url_with_an_alias() -> None:
    result = CliRunner().invoke(
        cli, ["follow", "--table", "posts", "--alias", "posts"], env={"CHANGELAKE_ES_URL": ""}
    )
    assert result.exit_code == 2
    assert "--alias needs --es-url" in result.output


def test_a_wrong_alias_stops_follow_at_once_with_exit_1(followed: Followed) -> None:
    followed.alias = "no-such-alias"
    process = followed.start()
    assert process.wait(60) == 1
    assert "alias 'no-such-alias' points to 0 indexes" in followed.stderr()
    assert "run changelake rebuild first" in followed.stderr()
