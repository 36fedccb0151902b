"""changelake sync against a real search engine: new changes, replays, stale writes, resuming."""

from __future__ import annotations

import json
import urllib.request
from typing import TYPE_CHECKING

import orjson
import pytest

from changelake.rebuild.watermark import META_KEY
from tests.helpers import change_version, make_record

if TYPE_CHECKING:
    from pathlib import Path

    from tests.rebuild.conftest import Posts

pytestmark = pytest.mark.es
AT = 1_764_288_000


def _watermark(posts: Posts) -> str:
    (index,) = posts.targets()
    return str(posts.engine.sink.get_meta(index)[META_KEY]["watermark"])


def test_sync_applies_changes_archived_since_the_rebuild(posts: Posts) -> None:
    posts.add(
        make_record(1, key="post#1", event_name="INSERT", at=AT, title="one"),
        make_record(2, key="post#3", event_name="INSERT", at=AT, title="three"),
    )
    posts.run_json("rebuild")
    before = _watermark(posts)
    posts.add(
        make_record(3, key="post#1", at=AT + 30, title="one edited"),
        make_record(4, key="post#3", event_name="REMOVE", at=AT + 30),
        make_record(5, key="post#4", event_name="INSERT", at=AT + 30, title="four"),
        make_record(6, key="post#4", at=AT + 30, title="four edited"),
    )
    summary = posts.run_json("sync")
    assert (summary["indexed"], summary["deleted"], summary["failed"]) == (2, 1, 0)
    assert summary["watermark_from"] == before
    assert summary["watermark_to"] == _watermark(posts) > before
    assert posts.documents() == {
        "id=post#1": (change_version(AT + 30), {"id": "post#1", "title": "one edited"}),
        "id=post#4": (change_version(AT + 30, 1), {"id": "post#4", "title": "four edited"}),
    }


def test_a_second_sync_replays_the_overlap_harmlessly(posts: Posts) -> None:
    posts.add(make_record(1, key="post#1", event_name="INSERT", at=AT, title="one"))
    posts.run_json("rebuild")
    posts.add(make_record(2, key="post#1", at=AT + 1, title="two"))
    first = posts.run_json("sync")
    assert (first["indexed"], first["version_conflicts"]) == (1, 0)
    again = posts.run_json("sync")
    assert (again["indexed"], again["version_conflicts"]) == (0, 1)
    assert posts.run_json("sync", "--overlap", "0")["items"] == 0
    assert posts.documents() == {
        "id=post#1": (change_version(AT + 1), {"id": "post#1", "title": "two"})
    }


def test_a_stale_write_loses_to_a_newer_version(posts: Posts) -> None:
    posts.add(make_record(1, key="post#1", event_name="INSERT", at=AT, title="archived"))
    posts.run_json("rebuild")
    newer = change_version(AT + 3600)
    action = {"index": {"_id": "id=post#1", "version": newer, "version_type": "external"}}
    body = orjson.dumps(action) + b"\n" + orjson.dumps({"title": "written live"}) + b"\n"
    posts.engine.sink.bulk(posts.alias, body)
    posts.add(make_record(2, key="post#1", at=AT + 60, title="late replay"))
    summary = posts.run_json("sync")
    assert (summary["indexed"], summary["version_conflicts"]) == (0, 1)
    assert posts.documents() == {"id=post#1": (newer, {"title": "written live"})}


def test_a_failed_sync_keeps_its_watermark_and_the_next_one_resumes(
    posts: Posts, tmp_path: Path
) -> None:
    strict = tmp_path / "strict.json"
    mapping = {"mappings": {"dynamic": "strict", "properties": {"id": {"type": "keyword"}}}}
    strict.write_text(json.dumps(mapping))
    posts.add(make_record(1, key="post#1", event_name="INSERT", at=AT))
    posts.run_json("rebuild", "--mapping", str(strict))
    before = _watermark(posts)
    posts.add(
        make_record(2, key="post#2", event_name="INSERT", at=AT + 5),
        make_record(3, key="post#3", event_name="INSERT", at=AT + 5, title="not in mapping"),
    )
    result = posts.run("sync", code=1)
    assert "'id=post#3'" in result.stderr
    assert _watermark(posts) == before
    # Let through, the refused document keeps the watermark where it was ...
    summary = posts.run_json("sync", "--max-errors", "1")
    # post#2 was written before the first sync failed: its replay is a counted conflict.
    assert (summary["indexed"], summary["version_conflicts"], summary["failed"]) == (0, 2, 1)
    assert _watermark(posts) == before
    assert "the next sync sends them again" in summary["warnings"][0]
    assert sorted(posts.documents()) == ["id=post#1", "id=post#2"]
    # ... so once the mapping takes it, the next sync sends it again without any new change.
    (index,) = posts.targets()
    _put_mapping(posts.engine.url, index, {"properties": {"title": {"type": "keyword"}}})
    summary = posts.run_json("sync")
    assert (summary["indexed"], summary["failed"]) == (1, 0)
    assert _watermark(posts) > before
    assert sorted(posts.documents()) == ["id=post#1", "id=post#2", "id=post#3"]


def _put_mapping(url: str, index: str, body: dict[str, object]) -> None:
    request = urllib.request.Request(
        f"{url}/{index}/_mapping", data=json.dumps(body).encode(), method="PUT",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request) as response:
        assert response.status == 200


def test_sync_needs_a_rebuilt_alias_of_the_same_table(posts: Posts) -> None:
    posts.add(make_record(1, key="post#1", event_name="INSERT", at=AT))
    result = posts.run("sync", code=1)
    assert "run changelake rebuild first" in result.stderr
    posts.run("rebuild", "--as-of", "2025-11-28T00:00:00Z")
    result = posts.run("sync", code=1)
    assert "as of 2025-11-28T00:00:00+00:00" in result.stderr
