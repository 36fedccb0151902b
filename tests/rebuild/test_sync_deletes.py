"""Deletes under sync on both engines, and the delete tombstones only a real engine keeps.

The Elasticsearch-API emulator forgets a document's version once it is deleted, so a write with
an older external version after a delete is accepted there; OpenSearch (Lucene) refuses it for
``index.gc_deletes`` (60 s). Sync must keep deleted items deleted on both, so it never depends on
tombstones: every version it sends is computed from the item's whole archived history, and two
syncs of one alias never overlap (a lease in the archive).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from changelake.archiver.locks import held_lock
from changelake.clients import make_search_sink, make_store
from changelake.schemas.archive_layout import lock_key, parse_archive_uri
from changelake.search_options import SearchOptions
from tests.helpers import change_version, make_record

if TYPE_CHECKING:
    from scripts.services import Service
    from tests.rebuild.conftest import Posts

AT = 1_764_288_000


def documents(posts: Posts) -> dict[str, tuple[int, dict[str, object]]]:
    """The documents behind the alias once every write is visible (sync does not refresh)."""
    posts.engine.sink.refresh(posts.alias)
    return posts.documents()


def _statuses(response: dict[str, object]) -> list[int]:
    items = response["items"]
    assert isinstance(items, list)
    return [next(iter(item.values()))["status"] for item in items]


@pytest.mark.opensearch
def test_opensearch_refuses_an_older_version_after_a_delete(opensearch_service: Service) -> None:
    sink = make_search_sink(opensearch_service.url, SearchOptions(engine="opensearch"))
    index = f"tombstones-{uuid.uuid4().hex[:8]}"
    sink.create_index(index, {"settings": {"number_of_shards": 1, "number_of_replicas": 0}})
    try:
        v = change_version(AT + 20)
        response = sink.bulk(
            index,
            b'{"index":{"_id":"a","version":%d,"version_type":"external"}}\n{"n":1}\n'
            b'{"delete":{"_id":"a","version":%d,"version_type":"external"}}\n'
            b'{"index":{"_id":"a","version":%d,"version_type":"external"}}\n{"n":2}\n'
            % (v - 2, v, v - 1),
        )
        # Created, deleted, then the older write refused: the tombstone remembers version v.
        assert _statuses(response) == [201, 200, 409]
        sink.refresh(index)
        assert sink.count(index) == 0
    finally:
        sink.delete_index(index)


def test_a_late_older_record_never_brings_a_deleted_item_back(posts: Posts) -> None:
    posts.add(
        make_record(1, key="post#1", event_name="INSERT", at=AT, title="one"),
        make_record(2, key="post#2", event_name="INSERT", at=AT, title="two"),
    )
    posts.run("rebuild")
    posts.add(make_record(5, key="post#1", event_name="REMOVE", at=AT + 20))
    assert posts.run_json("sync")["deleted"] == 1
    # An older change of post#1, archived only now (a retried batch of another shard, say).
    posts.add(make_record(3, key="post#1", at=AT + 10, title="one, edited before the delete"))
    summary = posts.run_json("sync", "--overlap", "3600")
    # Its whole history makes the REMOVE still the latest record: the delete is sent again, with
    # the same version, never the older edit. No tombstone is needed to keep it deleted.
    assert summary["indexed"] == 0
    assert documents(posts) == {"id=post#2": (change_version(AT), {"id": "post#2", "title": "two"})}
    posts.run("sync", "--overlap", "3600")  # and again: nothing changes
    assert set(documents(posts)) == {"id=post#2"}


def test_a_recreated_item_comes_back_with_a_newer_version(posts: Posts) -> None:
    posts.add(make_record(1, key="post#1", event_name="INSERT", at=AT, title="first life"))
    posts.run("rebuild")
    posts.add(make_record(2, key="post#1", event_name="REMOVE", at=AT + 5))
    posts.run("sync")
    assert documents(posts) == {}
    posts.add(make_record(3, key="post#1", event_name="INSERT", at=AT + 9, title="second life"))
    assert posts.run_json("sync")["indexed"] == 1
    assert documents(posts) == {
        "id=post#1": (change_version(AT + 9), {"id": "post#1", "title": "second life"})
    }


def test_two_syncs_of_one_alias_never_overlap(posts: Posts) -> None:
    posts.add(make_record(1, key="post#1", event_name="INSERT", at=AT, title="one"))
    posts.run("rebuild")
    store = make_store(parse_archive_uri(posts.archive))
    with held_lock(store, lock_key("posts", f"sync-{posts.alias}"), owner="other-host:42"):
        result = posts.run("sync", code=1)
        assert "held by 'other-host:42'" in result.output
    posts.run("sync")  # released: the next sync runs
