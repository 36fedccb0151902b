"""Faults on the search side: overload (429, 503), an engine that is down, a rebuild killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from click.testing import CliRunner

from changelake.cli import cli
from changelake.rebuild.aliases import list_orphan_indexes, list_rebuilt_indexes
from scripts.services import free_port
from tests.fault_proxy import FaultProxy
from tests.helpers import make_record

if TYPE_CHECKING:
    from tests.rebuild.conftest import Posts

AT = 1_764_288_000


def _add_posts(posts: Posts, count: int, first: int = 1) -> None:
    posts.add(
        *(
            make_record(n, key=f"post#{n}", at=AT + n, title=f"title {n}", body="x" * 200)
            for n in range(first, first + count)
        )
    )


def test_429_and_503_for_a_while_are_retried_with_backoff_and_counted(posts: Posts) -> None:
    _add_posts(posts, 40)
    faults = [429, 429, 503, 503]
    with FaultProxy(posts.engine.url, "/_bulk", faults) as proxy:
        started = time.monotonic()
        result = CliRunner().invoke(
            cli,
            ["rebuild", "--archive", posts.archive, "--table", "posts", "--alias", posts.alias,
             "--es-url", proxy.url, "--output", "json", "-s"],
        )  # fmt: skip
        elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert proxy.injected == faults
    assert summary["retries"] == len(faults)
    assert summary["documents"] == 40
    assert len(posts.documents()) == 40
    # Backoff: 0.5 s doubling, each times a random 0.5-1, waited between the attempts.
    assert elapsed >= 0.5 * 0.5 * (1 + 2 + 4 + 8)


def test_search_engine_down_at_the_start_is_a_clear_error(posts: Posts) -> None:
    _add_posts(posts, 3)
    nowhere = f"http://127.0.0.1:{free_port()}"
    for command in ("rebuild", "sync", "verify"):
        result = CliRunner().invoke(
            cli,
            [command, "--archive", posts.archive, "--table", "posts", "--alias", posts.alias,
             "--es-url", nowhere, "-s"],
        )  # fmt: skip
        assert result.exit_code == 1, (command, result.output)
        (line,) = result.output.strip().splitlines()
        assert line.startswith("Error: ") and " could not be reached to " in line
        assert line.endswith("check --es-url")


def test_a_rebuild_killed_mid_load_leaves_the_alias_and_the_next_one_cleans_up(
    posts: Posts,
) -> None:
    _add_posts(posts, 20)
    posts.run("rebuild")
    (first,) = posts.targets()
    _add_posts(posts, 3000, first=100)
    # Each bulk request is held, so the load is still running when the process is killed,
    # however fast the engine is.
    with FaultProxy(posts.engine.url, "/_bulk", [], hold=0.05) as proxy:
        command = [
            str(Path(sys.executable).parent / "changelake"), "rebuild", "--archive", posts.archive,
            "--table", "posts", "--alias", posts.alias, "--es-url", proxy.url,
            "--bulk-bytes", "1024", "-s",
        ]  # fmt: skip
        # A short lease, so that the dead rebuild's lock expires within the test.
        env = {**os.environ, "CHANGELAKE_LEASE_SECONDS": "3"}
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        sink = posts.engine.sink
        deadline = time.monotonic() + 60
        while proxy.matched < 3 and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.02)
        assert len(list_rebuilt_indexes(sink, posts.alias)) == 2
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL

    assert posts.targets() == [first]
    assert sink.count(posts.alias) == 20
    (orphan,) = list_orphan_indexes(sink, posts.alias)
    assert orphan != first

    # The dead rebuild's lease holds off the next writer until it expires (3 s here, within the
    # 10 s a writer waits for a lease), then is taken over.
    summary = posts.run_json("rebuild")
    assert summary["documents"] == 3020
    assert orphan in summary["deleted_indexes"]
    assert f"deleted {orphan}, left half-loaded by an interrupted rebuild" in summary["warnings"]
    assert list_rebuilt_indexes(sink, posts.alias) == [first, summary["index"]]
    rolled_back = posts.run("rollback")
    assert posts.targets() == [first], rolled_back.output


def test_a_bulk_request_resent_after_a_lost_answer_does_not_fail_the_rebuild(
    posts: Posts,
) -> None:
    _add_posts(posts, 40)
    # The engine indexes the first request, its answer is lost, and it is sent again: every
    # document of it is then a 409 against itself.
    with FaultProxy(posts.engine.url, "/_bulk", [504], applied=1) as proxy:
        summary = posts.through(proxy.url).run_json("rebuild")
    assert proxy.injected == [504]
    assert (summary["retries"], summary["documents"]) == (1, 40)
    assert summary["version_conflicts"] == 40
    assert len(posts.documents()) == 40
