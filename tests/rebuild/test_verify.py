"""``changelake verify``: drift between the index and the archive, found and repaired."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from changelake.archiver.locks import held_lock
from changelake.clients import make_store
from changelake.rebuild.verify import document_hash
from changelake.schemas.archive_layout import lock_key, parse_archive_uri
from tests.helpers import POSTS_STREAM_ARN, make_record

if TYPE_CHECKING:
    from tests.rebuild.conftest import Posts

AT = 1_764_288_000


def _gte(kind: str, document_id: str, version: int) -> dict[str, Any]:
    return {kind: {"_id": document_id, "version": version, "version_type": "external_gte"}}


def test_a_fresh_rebuild_has_no_drift(posts: Posts) -> None:
    posts.add(*(make_record(n, key=f"post#{n}", at=AT + n, title=f"t{n}") for n in range(1, 30)))
    posts.run("rebuild")
    result = posts.run("verify", "--archive", posts.archive, "--table", "posts", "-s")
    assert "with 29 live items in the archive: no drift" in result.stdout


def test_every_kind_of_drift_is_found_and_the_repairable_ones_repaired(posts: Posts) -> None:
    posts.add(*(make_record(n, key=f"post#{n}", at=AT + n, title=f"t{n}") for n in range(1, 8)))
    posts.run("rebuild")
    versions = {doc_id: version for doc_id, (version, _) in posts.documents().items()}
    # Changes archived after the rebuild, never synced: a stale document and a removed one.
    posts.add(
        make_record(20, key="post#2", at=AT + 100, title="newer"),
        make_record(21, key="post#5", at=AT + 101, event_name="REMOVE"),
    )
    # Writes by something other than changelake.
    posts.write_directly(
        (_gte("delete", "id=post#1", versions["id=post#1"]), None),
        (_gte("index", "id=ghost", 7), {"id": "ghost"}),
        (_gte("index", "id=post#3", versions["id=post#3"] + 10), {"id": "post#3", "title": "x"}),
        (_gte("index", "id=post#4", versions["id=post#4"]), {"id": "post#4", "title": "edited"}),
    )
    args = ["--archive", posts.archive, "--table", "posts", "-s"]

    found = posts.run("verify", *args, "--output", "json", code=3)
    report = json.loads(found.stdout)
    assert report["counts"] == {
        "missing": 1, "extra": 2, "stale": 1, "ahead": 1, "different": 1
    }  # fmt: skip
    assert report["drifted"] == 6
    assert [e["id"] for e in report["examples"]["extra"]] == ["id=ghost", "id=post#5"]
    assert report["examples"]["ahead"] == [
        {
            "id": "id=post#3",
            "archive_version": versions["id=post#3"],
            "index_version": versions["id=post#3"] + 10,
        }
    ]
    assert "Run again with --repair" in posts.run("verify", *args, code=3).stdout

    repaired = posts.run("verify", *args, "--repair", "--output", "json")
    repair = json.loads(repaired.stdout)["repair"]
    assert (repair["indexed"], repair["deleted"], repair["failed"]) == (4, 2, 0)
    assert repair["remaining_drifted"] == 0
    documents = posts.documents()
    assert "id=ghost" not in documents
    assert "id=post#5" not in documents
    assert documents["id=post#1"][1]["title"] == "t1"
    assert documents["id=post#2"][1]["title"] == "newer"
    assert documents["id=post#4"] == (versions["id=post#4"], {"id": "post#4", "title": "t4"})
    # The archive's content at the engine's higher version: versions never go down.
    assert documents["id=post#3"] == (versions["id=post#3"] + 10, {"id": "post#3", "title": "t3"})
    assert "no drift" in posts.run("verify", *args).stdout


def test_verify_needs_an_alias_on_one_index(posts: Posts) -> None:
    posts.add(make_record(1))
    result = posts.run("verify", "--archive", posts.archive, "--table", "posts", code=1)
    assert f"alias {posts.alias!r} points to 0 indexes" in result.output


@pytest.mark.parametrize(
    ("archived", "indexed"),
    [
        ({"n": Decimal("5")}, {"n": 5.0}),
        ({"n": 12345678901234567890}, {"n": 1.2345678901234567e19}),
        ({"b": {"z": 1, "a": [True, None]}}, {"b": {"a": [True, None], "z": 1}}),
    ],
)
def test_document_hash_ignores_number_encoding_and_key_order(
    archived: dict[str, Any], indexed: dict[str, Any]
) -> None:
    assert document_hash(archived) == document_hash(indexed)


def test_document_hash_sees_a_changed_value() -> None:
    assert document_hash({"title": "a"}) != document_hash({"title": "b"})
    assert document_hash({"n": 1}) != document_hash({"n": "1"})


def test_a_sample_compares_and_repairs_only_the_items_drawn(posts: Posts) -> None:
    posts.add(*(make_record(n, key=f"post#{n}", at=AT + n, title=f"t{n}") for n in range(60)))
    posts.run("rebuild")
    lost = [(_gte("delete", i, v), None) for i, (v, _) in posts.documents().items()]
    posts.write_directly(*lost)  # the index lost every document
    args = ["--archive", posts.archive, "--table", "posts", "-s", "--output", "json"]

    sampled = json.loads(posts.run("verify", *args, "--sample", "20", code=3).stdout)
    assert (sampled["sampled"], sampled["archive_items"], sampled["index_documents"]) == (20, 20, 0)
    assert sampled["counts"]["missing"] == 20

    repaired = json.loads(posts.run("verify", *args, "--sample", "20", "--repair").stdout)
    assert repaired["repair"]["indexed"] == 20
    assert repaired["repair"]["remaining_drifted"] == 0
    assert len(posts.documents()) == 20

    full = json.loads(posts.run("verify", *args, code=3).stdout)
    assert full["counts"]["missing"] == 40


def test_repair_waits_for_no_sync_but_a_plain_verify_reads_alongside(posts: Posts) -> None:
    posts.add(*(make_record(n, key=f"post#{n}", at=AT + n) for n in range(1, 4)))
    posts.run("rebuild")
    posts.add(make_record(9, key="post#9", at=AT + 9))
    args = ["--archive", posts.archive, "--table", "posts", "-s"]
    store = make_store(parse_archive_uri(posts.archive))
    with held_lock(store, lock_key("posts", f"sync-{posts.alias}"), owner="a-running-sync"):
        assert "missing: 1" in posts.run("verify", *args, code=3).stdout
        refused = posts.run("verify", *args, "--repair", code=1)
        assert "is held by 'a-running-sync'" in refused.output
    assert "no drift left" in posts.run("verify", *args, "--repair").stdout


def test_verify_compares_documents_through_the_same_transform(posts: Posts) -> None:
    posts.add(
        *(
            make_record(
                n,
                key=f"post#{n}",
                new_image={
                    "id": {"S": f"post#{n}"},
                    "title": {"S": f"t{n}"},
                    "blocks": {"L": [{"M": {"text": {"S": f"paragraph {n}"}}}]},
                },
            )
            for n in range(1, 6)
        )
    )
    transform = ["--transform", "changelake.examples.posts:post_document"]
    posts.run("rebuild", *transform)
    args = ["--archive", posts.archive, "--table", "posts", "-s", "--output", "json"]
    same = json.loads(posts.run("verify", *args, *transform).stdout)
    assert (same["drifted"], same["index_documents"], same["archive_items"]) == (0, 5, 5)
    # Without the flag, verify follows the transform the index remembers.
    plain = json.loads(posts.run("verify", *args).stdout)
    assert (plain["drifted"], plain["index_documents"]) == (0, 5)


def test_an_index_rebuilt_as_of_an_instant_is_compared_with_that_instant(posts: Posts) -> None:
    posts.add(make_record(1, key="post#1", at=AT, title="first"))
    posts.add(make_record(2, key="post#1", at=AT + 60, title="second"))
    as_of = datetime.fromtimestamp(AT + 30, UTC).isoformat()
    posts.run("rebuild", "--as-of", as_of)
    args = ["--archive", posts.archive, "--table", "posts", "-s"]
    assert "no drift" in posts.run("verify", *args).stdout
    comments_arn = POSTS_STREAM_ARN.replace("table/posts/", "table/comments/")
    posts.add(make_record(3, key="comment#1", at=AT, arn=comments_arn, text="hi"))
    other = posts.run("verify", "--archive", posts.archive, "--table", "comments", code=1)
    assert "--table comments contradicts index" in other.output
    assert "which was rebuilt with --table posts" in other.output


def test_the_check_after_a_repair_looks_at_the_same_instant(posts: Posts) -> None:
    posts.add(make_record(1, key="post#1", at=AT, title="first"))
    posts.add(make_record(2, key="post#2", at=AT, title="two"))
    posts.add(make_record(3, key="post#1", at=AT + 60, title="second"))
    posts.run("rebuild", "--as-of", datetime.fromtimestamp(AT + 30, UTC).isoformat())
    (version, _) = posts.documents()["id=post#2"]
    posts.write_directly((_gte("delete", "id=post#2", version), None))
    args = ["--archive", posts.archive, "--table", "posts", "-s", "--output", "json"]
    repaired = json.loads(posts.run("verify", *args, "--repair").stdout)
    assert repaired["repair"]["indexed"] == 1
    assert repaired["repair"]["remaining_drifted"] == 0
    assert posts.documents()["id=post#1"][1]["title"] == "first"
