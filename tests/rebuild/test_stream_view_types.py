"""A stream that carries no new images (KEYS_ONLY, OLD_IMAGE) cannot rebuild an index: refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from changelake.archiver.batch import archive_snapshot_items
from changelake.clients import make_store
from changelake.schemas.archive_layout import parse_archive_uri
from tests.helpers import make_record

if TYPE_CHECKING:
    from tests.rebuild.conftest import Posts

pytestmark = pytest.mark.es
AT = 1_764_288_000


def _record(sequence: int, view_type: str, **fields: Any) -> dict[str, Any]:
    """A record as a stream of this view type delivers it: never an image after the change."""
    record = make_record(sequence, **fields)
    block = record["dynamodb"]
    block["StreamViewType"] = view_type
    block.pop("NewImage", None)
    if view_type == "OLD_IMAGE" and record["eventName"] != "INSERT":
        block["OldImage"] = {**block["Keys"], "title": {"S": "before"}}
    return record


@pytest.mark.parametrize("view_type", ["KEYS_ONLY", "OLD_IMAGE"])
def test_rebuild_refuses_latest_records_without_images_and_says_why(
    posts: Posts, view_type: str
) -> None:
    posts.add(
        make_record(1, key="post#1", event_name="INSERT", at=AT, title="one"),
        make_record(2, key="post#2", event_name="INSERT", at=AT, title="two"),
    )
    posts.add(
        _record(3, view_type, key="post#1", at=AT + 5, title="edited"),
        _record(4, view_type, key="post#3", event_name="INSERT", at=AT + 5, title="three"),
        _record(5, view_type, key="post#2", event_name="REMOVE", at=AT + 6),
    )
    for args in ([], ["--dry-run"]):
        refused = posts.run("rebuild", *args, code=1)
        assert refused.output == (
            "Error: table posts: the newest records of 2 items carry no image "
            f"(2 from a {view_type} stream), so there is nothing to index for them; set the "
            "table's stream to NEW_IMAGE or NEW_AND_OLD_IMAGES, take a snapshot (changelake "
            "snapshot), poll, then rebuild\n"
        )
    assert posts.targets() == []
    # As of before those records, every latest record has its image: the rebuild goes on.
    assert posts.run_json("rebuild", "--as-of", "2025-11-28T00:00:04Z")["documents"] == 2


def test_a_snapshot_after_them_gives_the_images_back(posts: Posts) -> None:
    posts.add(_record(1, "KEYS_ONLY", key="post#1", event_name="INSERT", at=AT))
    posts.run("rebuild", code=1)
    item = {"id": {"S": "post#1"}, "title": {"S": "one"}}
    archive_snapshot_items(
        [item],
        make_store(parse_archive_uri(posts.archive)),
        table_name="posts",
        key_names=["id"],
        snapshot_id="s1",
        snapshot_at=datetime.fromtimestamp(AT + 60, UTC),
    )
    assert posts.run_json("rebuild")["documents"] == 1
    assert posts.documents()["id=post#1"][1] == {"id": "post#1", "title": "one"}
