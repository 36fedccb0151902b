"""Lock objects with conditional writes, on local and S3 archives."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from changelake.archiver.batch import archive_records
from changelake.archiver.locks import acquire_lock, held_lock
from changelake.cli import cli
from changelake.clients import make_store
from changelake.schemas.archive_layout import lock_key, parse_archive_uri
from changelake.schemas.exceptions import LockHeldError
from tests.helpers import make_record, race

if TYPE_CHECKING:
    from changelake.archiver.locks import Lease
    from changelake.archiver.object_store import ObjectStore

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
    owners = [f"w{n}" for n in range(6)]
    winners, losers = race(
        lambda owner: acquire_lock(store, KEY, owner=owner), owners, LockHeldError
    )
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


def test_a_busy_holder_keeps_its_lock_renewed_on_a_timer(archive_uri: str) -> None:
    store = make_store(parse_archive_uri(archive_uri))
    with held_lock(store, KEY, owner="busy", duration=timedelta(seconds=1.5)) as lease:
        time.sleep(3.5)  # the holder's own thread never renews: it is busy elsewhere
        with pytest.raises(LockHeldError, match="is held by 'busy'"):
            acquire_lock(store, KEY, owner="late")
        lease.check()
    assert list(store.list_keys("_locks/")) == []


def test_a_lost_lease_is_noticed_by_check_before_the_next_write(archive_uri: str) -> None:
    store = make_store(parse_archive_uri(archive_uri))
    with held_lock(store, KEY, owner="first", duration=timedelta(seconds=1.5)) as lease:
        lease.check()
        # Someone else now holds the object (an operator deleted it, another process took it).
        store.put_bytes(KEY, b'{"owner": "second", "expires_at": "2999-01-01T00:00:00+00:00"}')
        time.sleep(1.0)  # one renewal, every half second, finds the object changed
        with pytest.raises(LockHeldError, match="lost the lock"):
            lease.check()
    # Not ours any more: the release left the other holder's lock in place.
    assert json.loads(store.get_bytes(KEY))["owner"] == "second"


class _TakeoverBeforeDelete:
    """The real store, with a second process taking the expired lock just before a delete."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.location = store.location
        self.new_holder: Lease | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def _take_over(self) -> None:
        self.new_holder = acquire_lock(self.store, KEY, owner="new", clock=lambda: FUTURE)

    def delete(self, key: str) -> None:
        self._take_over()
        self.store.delete(key)

    def delete_if_match(self, key: str, etag: str) -> None:
        self._take_over()
        self.store.delete_if_match(key, etag)


FUTURE = datetime(2999, 1, 1, tzinfo=UTC)


def test_release_never_deletes_a_lock_taken_over_meanwhile(archive_uri: str) -> None:
    store = make_store(parse_archive_uri(archive_uri))
    racing = _TakeoverBeforeDelete(store)
    old = acquire_lock(racing, KEY, owner="old")
    old.release()  # its lease has run out by the time the new holder looks (FUTURE)
    assert racing.new_holder is not None
    assert json.loads(store.get_bytes(KEY))["owner"] == "new"
    racing.new_holder.release()
    assert list(store.list_keys("_locks/")) == []


def test_a_held_lock_is_waited_for_up_to_the_wait(archive_uri: str) -> None:
    store = make_store(parse_archive_uri(archive_uri))
    first = acquire_lock(store, "_locks/wait.json", owner="step")
    threading.Timer(0.5, first.release).start()
    with held_lock(store, "_locks/wait.json", owner="rebuild", wait=timedelta(seconds=5)) as lease:
        assert lease.owner == "rebuild"
    acquire_lock(store, "_locks/wait.json", owner="step")
    started = time.monotonic()
    with (
        pytest.raises(LockHeldError, match="held by 'step'"),
        held_lock(store, "_locks/wait.json", owner="rebuild", wait=timedelta(seconds=0.6)),
    ):
        pass
    assert time.monotonic() - started >= 0.6
