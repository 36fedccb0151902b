"""Alias moves and pruning never take the live index, or a rebuild's index, away."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from changelake.rebuild.aliases import list_rebuilt_indexes
from tests.fault_proxy import FaultProxy
from tests.helpers import make_record
from tests.rebuild.test_leases import _in_thread, _wait_for

if TYPE_CHECKING:
    from pathlib import Path

    from tests.rebuild.conftest import Posts

AT = 1_764_288_000


def test_an_alias_move_applied_but_answered_with_an_error_keeps_the_new_index(
    posts: Posts,
) -> None:
    posts.add(make_record(1, key="post#1", event_name="INSERT", at=AT, title="one"))
    first = posts.run_json("rebuild")["index"]
    posts.add(make_record(2, key="post#2", event_name="INSERT", at=AT, title="two"))
    # The engine applies the move, its answer is lost (504), and each retry by the client is
    # answered 503: the command sees the move fail.
    with FaultProxy(posts.engine.url, "/_aliases", [504, 503, 503, 503, 503], applied=1) as proxy:
        summary = posts.through(proxy.url).run_json("rebuild")
    assert proxy.injected[0] == 504
    assert posts.targets() == [summary["index"]]
    assert sorted(posts.documents()) == ["id=post#1", "id=post#2"]
    assert any("but the engine had applied it" in w for w in summary["warnings"])
    assert list_rebuilt_indexes(posts.engine.sink, posts.alias) == [first, summary["index"]]


def test_a_failed_alias_move_deletes_only_the_new_unaliased_index(posts: Posts) -> None:
    posts.add(make_record(1, key="post#1", event_name="INSERT", at=AT, title="one"))
    first = posts.run_json("rebuild")["index"]
    with FaultProxy(posts.engine.url, "/_aliases", [503] * 5) as proxy:
        result = posts.through(proxy.url).run("rebuild", code=1)
    assert "move the alias" in result.stderr
    assert posts.targets() == [first]
    assert list_rebuilt_indexes(posts.engine.sink, posts.alias) == [first]


def test_a_half_loaded_index_of_a_rebuild_under_another_lease_is_left_alone(
    posts: Posts, tmp_path: Path
) -> None:
    posts.add(make_record(1, key="post#1", event_name="INSERT", at=AT, title="one"))
    # A second archive of the same table feeding the same alias: a lock of its own.
    other = replace(posts, archive=str(tmp_path / "other-archive"))
    other.add(make_record(1, key="post#9", event_name="INSERT", at=AT, title="nine"))
    with FaultProxy(posts.engine.url, "/_bulk", [], hold=3.0) as proxy:
        slow, outcome = _in_thread(lambda: posts.through(proxy.url).run_json("rebuild"))
        _wait_for(lambda: proxy.open >= 1)
        (loading,) = list_rebuilt_indexes(posts.engine.sink, posts.alias)
        quick = other.run_json("rebuild")
        slow.join()
    assert loading not in quick["deleted_indexes"]
    assert any(
        w.startswith(f"left {loading}: half-loaded under another lease") for w in quick["warnings"]
    )
    summary = outcome[0]
    assert summary["index"] == loading
    assert summary["alias_move"] == {"from": [quick["index"]], "to": loading}
    assert sorted(posts.documents()) == ["id=post#1"]
