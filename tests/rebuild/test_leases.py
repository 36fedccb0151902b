"""One writer per alias at a time: rebuild, sync and repair share a lease, checked before writes."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from changelake.clients import make_store
from changelake.rebuild.watermark import META_KEY
from changelake.schemas.archive_layout import lock_key, parse_archive_uri
from tests.fault_proxy import FaultProxy
from tests.helpers import make_record

if TYPE_CHECKING:
    from collections.abc import Callable

    import pytest

    from tests.rebuild.conftest import Posts

AT = 1_764_288_000


def _in_thread(run: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Start ``run`` on a thread; its result (or exception) lands in the list."""
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(run())
        except BaseException as error:  # reported by the test that joins
            outcome.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def _wait_for(check: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_rebuild_never_runs_beside_a_sync_so_a_deleted_item_stays_deleted(posts: Posts) -> None:
    posts.add(
        make_record(1, key="post#1", event_name="INSERT", at=AT, title="one"),
        make_record(2, key="post#2", event_name="INSERT", at=AT, title="two"),
    )
    posts.run("rebuild")
    (read,) = posts.targets()
    posts.add(make_record(3, key="post#1", at=AT + 10, title="one edited"))
    with FaultProxy(posts.engine.url, "/_bulk", [], hold=3.0) as proxy:
        # The sync has read post#1's edit and is sending it, slowly. (Two CLI runs in one
        # process share stdout: the engine's state is checked, not their output.)
        sync, outcome = _in_thread(lambda: posts.through(proxy.url).run("sync"))
        _wait_for(lambda: proxy.open >= 1)
        # Meanwhile post#1 is deleted, and a rebuild loads an index without it ...
        posts.add(make_record(4, key="post#1", event_name="REMOVE", at=AT + 20))
        started = time.monotonic()
        posts.run("rebuild")
        waited = time.monotonic() - started
        sync.join()
    assert not isinstance(outcome[0], BaseException), outcome
    # ... once the sync is done: it waits its turn, so the sync's late write lands in the index
    # the sync read, never in the new one.
    assert waited >= 1.0, "the rebuild did not wait for the sync's lease"
    assert {d.id: d.source["title"] for d in posts.engine.sink.iter_documents(read)} == {
        "id=post#1": "one edited",
        "id=post#2": "two",
    }
    assert posts.targets() != [read]
    assert sorted(posts.documents()) == ["id=post#2"]


def test_a_sync_writes_to_the_index_it_read_even_when_the_alias_moves(posts: Posts) -> None:
    posts.add(make_record(1, key="post#1", event_name="INSERT", at=AT, title="one"))
    posts.run("rebuild")
    (read,) = posts.targets()
    posts.add(make_record(2, key="post#1", at=AT + 10, title="one edited"))
    sink = posts.engine.sink
    other = f"{posts.alias}-elsewhere"
    sink.create_index(other, {})
    with FaultProxy(posts.engine.url, "/_bulk", [], hold=2.0) as proxy:
        sync, outcome = _in_thread(lambda: posts.through(proxy.url).run_json("sync"))
        _wait_for(lambda: proxy.open >= 1)
        # Something that does not share the lease (a rebuild of another archive) moves it.
        sink.update_aliases(
            [{"remove": {"index": read, "alias": posts.alias}},
             {"add": {"index": other, "alias": posts.alias}}]
        )  # fmt: skip
        sync.join()
    summary = outcome[0]
    assert summary["index"] == read
    assert f"alias {posts.alias} moved to {other} during this sync" in summary["warnings"][0]
    sink.refresh(other)
    assert sink.count(other) == 0
    assert {d.id: d.source["title"] for d in sink.iter_documents(read)} == {
        "id=post#1": "one edited"
    }
    sink.delete_index(other)


def test_a_sync_whose_lease_is_lost_stops_before_its_next_request(
    posts: Posts, monkeypatch: pytest.MonkeyPatch
) -> None:
    posts.add(make_record(1, key="post#1", event_name="INSERT", at=AT))
    posts.run("rebuild")
    (index,) = posts.targets()
    before = posts.engine.sink.get_meta(index)[META_KEY]["watermark"]
    posts.add(*(make_record(n, key=f"post#{n}", at=AT + n, body="x" * 600) for n in range(10, 70)))
    monkeypatch.setenv("CHANGELAKE_LEASE_SECONDS", "1.5")  # renewed every half second
    store = make_store(parse_archive_uri(posts.archive))
    key = lock_key("posts", f"sync-{posts.alias}")
    args = ["--bulk-bytes", "1024", "--bulk-in-flight", "1"]
    with FaultProxy(posts.engine.url, "/_bulk", [], hold=0.2) as proxy:
        sync, outcome = _in_thread(lambda: posts.through(proxy.url).run("sync", *args, code=1))
        _wait_for(lambda: proxy.matched >= 5)
        # Another process now holds the lock object.
        store.put_bytes(key, b'{"owner": "other", "expires_at": "2999-01-01T00:00:00+00:00"}')
        taken_over_at = proxy.matched
        sync.join()
    result = outcome[0]
    assert "lost the lock" in result.stderr, result.output
    # One renewal period (0.5 s) of requests at most, far from the 60 the sync had to send.
    assert proxy.matched - taken_over_at <= 4
    assert posts.engine.sink.get_meta(index)[META_KEY]["watermark"] == before
