"""changelake rebuild and rollback against a real search engine."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from changelake.rebuild.aliases import list_rebuilt_indexes
from tests.helpers import change_version, load_event, make_record

if TYPE_CHECKING:
    from pathlib import Path

    from tests.rebuild.conftest import Posts

pytestmark = pytest.mark.es
AT = 1_764_288_000


def history(posts: Posts) -> None:
    """post#1 edited twice (twice in one second), post#2 removed, post#3 new; files reordered."""
    later = [
        make_record(4, key="post#1", at=AT + 10, title="one v3"),
        make_record(5, key="post#2", event_name="REMOVE", at=AT + 10),
        make_record(6, key="post#3", event_name="INSERT", at=AT + 20, title="three"),
    ]
    earlier = [
        make_record(1, key="post#1", event_name="INSERT", at=AT, title="one v1"),
        make_record(2, key="post#1", at=AT, title="one v2"),
        make_record(3, key="post#2", event_name="INSERT", at=AT + 1, title="two"),
    ]
    posts.add(*later)
    posts.add(*earlier)
    posts.add(earlier[1], later[0])  # delivered twice, in a third file


def test_rebuild_indexes_the_latest_state(posts: Posts) -> None:
    history(posts)
    summary = posts.run_json("rebuild")
    assert summary["documents"] == 2
    assert summary["removed_items"] == 1
    assert summary["alias_move"] == {"from": [], "to": summary["index"]}
    assert posts.targets() == [summary["index"]]
    assert posts.documents() == {
        "id=post#1": (change_version(AT + 10), {"id": "post#1", "title": "one v3"}),
        "id=post#3": (change_version(AT + 20), {"id": "post#3", "title": "three"}),
    }


def test_rebuild_as_of_shows_the_past(posts: Posts) -> None:
    history(posts)
    summary = posts.run_json("rebuild", "--as-of", "2025-11-28T00:00:05Z")
    assert summary["as_of"] == "2025-11-28T00:00:05+00:00"
    assert posts.documents() == {
        "id=post#1": (change_version(AT, 1), {"id": "post#1", "title": "one v2"}),
        "id=post#2": (change_version(AT + 1), {"id": "post#2", "title": "two"}),
    }


def test_dry_run_prints_the_plan_and_writes_nothing(posts: Posts) -> None:
    history(posts)
    output = posts.run("rebuild", "--dry-run").stdout
    assert output.startswith(f"Would index 2 documents into {posts.alias}-")
    assert f"move alias {posts.alias} from nothing" in output
    assert posts.targets() == []
    assert list_rebuilt_indexes(posts.engine.sink, posts.alias) == []


def without_image(record: dict[str, Any]) -> dict[str, Any]:
    """The record without its new image, its stream's view type saying it should have one.

    (A KEYS_ONLY or OLD_IMAGE stream is refused: tests/rebuild/test_stream_view_types.py.)
    """
    del record["dynamodb"]["NewImage"]
    return record


@pytest.mark.parametrize(
    "transform", [[], ["--transform", "changelake.examples.posts:post_document"]]
)
def test_an_item_whose_latest_record_has_no_image_is_skipped_and_counted(
    posts: Posts, transform: list[str]
) -> None:
    posts.add(
        make_record(1, key="post#1", event_name="INSERT", at=AT, title="one"),
        make_record(2, key="post#2", event_name="INSERT", at=AT, title="two"),
    )
    posts.add(without_image(make_record(3, key="post#2", at=AT + 1)))
    plan = posts.run("rebuild", "--dry-run", *transform).stdout
    assert plan.startswith(f"Would index 1 documents into {posts.alias}-")
    assert "1 without an image skipped" in plan
    summary = posts.run_json("rebuild", *transform)
    assert (summary["documents"], summary["skipped"]) == (1, 1)
    assert set(posts.documents()) == {"id=post#1"}


def test_keep_counts_the_alias_history_so_a_rollback_target_is_kept(posts: Posts) -> None:
    posts.add(make_record(1, key="post#1", event_name="INSERT", at=AT, title="first"))
    first = posts.run_json("rebuild", "--keep", "1")["index"]
    posts.add(make_record(2, key="post#1", at=AT + 1, title="second"))
    second = posts.run_json("rebuild", "--keep", "1")
    assert second["alias_move"] == {"from": [first], "to": second["index"]}
    assert posts.documents()["id=post#1"][1]["title"] == "second"

    rolled = posts.run_json("rollback")
    assert rolled["alias_move"] == {"from": [second["index"]], "to": first}
    assert posts.documents()["id=post#1"][1]["title"] == "first"

    # --keep counts the alias's previous targets, newest first: first (rolled back to), not
    # second (which the alias left by the rollback).
    third = posts.run_json("rebuild", "--keep", "1")
    assert third["alias_move"] == {"from": [first], "to": third["index"]}
    assert third["deleted_indexes"] == [second["index"]]
    assert list_rebuilt_indexes(posts.engine.sink, posts.alias) == [first, third["index"]]
    assert posts.run_json("rollback")["alias_move"] == {"from": [third["index"]], "to": first}


def test_rollback_without_an_older_index_explains(posts: Posts) -> None:
    posts.add(make_record(1, key="post#1", event_name="INSERT", at=AT))
    posts.run("rebuild", "--keep", "0")
    result = posts.run("rollback", code=1)
    assert "no previous index is kept to roll back to" in result.stderr
    assert "--keep" in result.stderr


def _strict_mapping(tmp_path: Path) -> str:
    path = tmp_path / "strict.json"
    mapping = {"mappings": {"dynamic": "strict", "properties": {"id": {"type": "keyword"}}}}
    path.write_text(json.dumps(mapping))
    return str(path)


def test_failure_mid_load_leaves_the_alias_and_deletes_the_new_index(
    posts: Posts, tmp_path: Path
) -> None:
    posts.add(make_record(1, key="post#1", event_name="INSERT", at=AT))
    old = posts.run_json("rebuild")["index"]
    posts.add(make_record(2, key="post#2", event_name="INSERT", at=AT, title="not in mapping"))
    result = posts.run("rebuild", "--mapping", _strict_mapping(tmp_path), code=1)
    assert "refused" in result.stderr
    assert "'id=post#2'" in result.stderr
    assert "--max-errors 0" in result.stderr
    assert posts.targets() == [old]
    assert list_rebuilt_indexes(posts.engine.sink, posts.alias) == [old]


def test_max_errors_lets_a_few_refused_documents_through(posts: Posts, tmp_path: Path) -> None:
    posts.add(
        make_record(1, key="post#1", event_name="INSERT", at=AT),
        make_record(2, key="post#2", event_name="INSERT", at=AT, title="not in mapping"),
    )
    summary = posts.run_json("rebuild", "--mapping", _strict_mapping(tmp_path), "--max-errors", "1")
    assert (summary["documents"], summary["failed"]) == (1, 1)
    assert list(posts.documents()) == ["id=post#1"]


def test_an_alias_that_is_a_concrete_index_is_never_deleted(posts: Posts) -> None:
    posts.add(make_record(1, key="post#1", event_name="INSERT", at=AT))
    posts.engine.sink.create_index(posts.alias, {})
    result = posts.run("rebuild", code=1)
    assert f"'{posts.alias}' is a concrete index" in result.stderr
    assert "remove_index" in result.stderr
    assert posts.engine.sink.is_concrete_index(posts.alias)
    assert list_rebuilt_indexes(posts.engine.sink, posts.alias) == []


def test_oversized_documents_go_alone_and_arrive(posts: Posts) -> None:
    big = "x" * 5000
    posts.add(
        *(make_record(n, key=f"post#{n}", event_name="INSERT", at=AT, body=big) for n in range(4)),
        make_record(9, key="post#9", event_name="INSERT", at=AT, title="small"),
    )
    summary = posts.run_json("rebuild", "--bulk-bytes", "1024")
    assert summary["documents"] == 5
    assert posts.documents()["id=post#3"][1]["body"] == big


def test_post_transform_and_mapping(posts: Posts) -> None:
    posts.add(*load_event("lambda-event-posts.json")["Records"])
    posts.run(
        "rebuild",
        "--table",
        "Posts-prod.v2",
        "--as-of",
        "2025-11-27T23:59:55Z",
        "--transform",
        "changelake.examples.posts:post_document",
        "--mapping",
        "posts",
    )
    (document,) = (source for _, source in posts.documents().values())
    assert document["text"] == "Posts are stored in DynamoDB."
    assert document["image_alts"] == ["diagram"]
    assert "blocks" not in document
    assert document["title"] == "DynamoDB Streams에서 검색까지"


def test_unknown_table_and_bad_transform_are_explained(posts: Posts) -> None:
    posts.add(make_record(1, key="post#1", event_name="INSERT", at=AT))
    result = posts.run("rebuild", "--table", "nope", code=1)
    assert "table 'nope' is not in the archive" in result.stderr
    assert "which holds posts; check --table" in result.stderr
    result = posts.run("rebuild", "--transform", "changelake.examples.posts", code=1)
    assert "is not module:function" in result.stderr
