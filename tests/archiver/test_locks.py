"""Lock objects with conditional writes, on local and S3 archives."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from changelake.archiver.batch import archive_records
from changelake.archiver.locks import acquire_lock, held_lock
from changelake.cli import cli
from changelake.clients import make_store
from changelake.schemas.archive_layout import lock_key, parse_archive_uri
from changelake.schemas.exceptions import LockHeldError
from tests.helpers import make_record

KEY = lock_key("posts", "compaction")


def test_second_holder_is_refused_with_the_first_named(archive_uri: str) -> None:
    store = make_store(parse_archive_uri(archive_uri))
    with (
        held_lock(store, KEY, owner="worker-1"),
        pytest.raises(LockHeldError, match=r"is held by 'worker-1' since .* until"),
    ):
        acquire_lock(store, KEY, owner="worker-2")
    # Released: the next holder gets it.
    lease = acquire_lock(store, KEY, owner="worker-2")
    lease.release()
    assert list(store.list_keys("_locks/")) == []


def test_racing_holders_exactly_one_wins(archive_uri: str) -> None:
    store = make_store(parse_archive_uri(archive_uri))
    winners: list[str] = []
    losers: list[str] = []
    start = threading.Barrier(6)

    def contend(owner: str) -> None:
        start.wait()
        try:
            acquire_lock(store, KEY, owner=owner)
            winners.append(owner)
        except LockHeldError:
            losers.append(owner)

    threads = [threading.Thread(target=contend, args=(f"w{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    assert len(losers) == 5


def test_expired_lock_is_taken_over_and_the_old_holder_stops(archive_uri: str) -> None:
    store = make_store(parse_archive_uri(archive_uri))
    past = datetime(2026, 1, 1, tzinfo=UTC)
    old = acquire_lock(store, KEY, owner="died", clock=lambda: past)
    new = acquire_lock(store, KEY, owner="alive", duration=timedelta(minutes=5))
    assert new.owner == "alive"
    # The old holder wakes up: renewing fails instead of overwriting the new holder's lock.
    with pytest.raises(LockHeldError, match="lost the lock"):
        old.renew()
    old.release()  # not ours any more: left in place
    assert list(store.list_keys("_locks/")) == [KEY]
    new.renew()
    new.release()
    assert list(store.list_keys("_locks/")) == []


def test_compact_refuses_while_another_compaction_holds_the_lock(archive_uri: str) -> None:
    store = make_store(parse_archive_uri(archive_uri))
    for batch in range(3):
        archive_records([make_record(batch * 10 + n, key=f"post#{n}") for n in range(3)], store)
    args = ["compact", "--archive", archive_uri, "--table", "posts", "-s"]
    with held_lock(store, KEY, owner="other-host:42"):
        refused = CliRunner().invoke(cli, args)
        assert refused.exit_code == 1
        assert "is held by 'other-host:42'" in refused.output
        assert len(list(store.list_keys("table=posts/"))) == 3
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 0, done.output
    assert len(list(store.list_keys("table=posts/"))) == 1
    assert list(store.list_keys("_locks/")) == []


def test_unreadable_lock_object_counts_as_expired(local_archive: str) -> None:
    store = make_store(parse_archive_uri(local_archive))
    store.put_bytes(KEY, b"not json")
    lease = acquire_lock(store, KEY, owner="me")
    holder = json.loads(store.get_bytes(KEY))
    assert holder["owner"] == "me"
    assert datetime.fromisoformat(holder["expires_at"]) == lease.expires_at
