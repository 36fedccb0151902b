"""A corrupt Parquet object under rebuild, sync and verify: named, or skipped with a warning."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from changelake.clients import make_store
from changelake.schemas.archive_layout import parse_archive_uri
from tests.helpers import make_record

if TYPE_CHECKING:
    from tests.rebuild.conftest import Posts

BAD_KEY = "table=posts/dt=2025-11-28/0000000000000000000000000000000000000999-cut.parquet"


def _cut_one_file_short(posts: Posts) -> str:
    location = parse_archive_uri(posts.archive)
    store = make_store(location)
    (good_key, *_) = store.list_keys("table=posts/")
    store.put_bytes(BAD_KEY, store.get_bytes(good_key)[:-50])
    return location.url(BAD_KEY)


@pytest.mark.parametrize("command", ["rebuild", "sync", "verify"])
def test_a_corrupt_object_is_named_or_skipped_with_a_warning(posts: Posts, command: str) -> None:
    posts.add(*(make_record(n, key=f"post#{n}", title=f"t{n}") for n in range(1, 6)))
    posts.run("rebuild")
    posts.add(make_record(10, key="post#10", title="later"))
    bad_url = _cut_one_file_short(posts)
    args = ["--archive", posts.archive, "--table", "posts", "-s"] if command == "verify" else []

    refused = posts.run(command, *args, code=1)
    assert f"Error: {bad_url} is not a readable Parquet file (" in refused.output
    assert "--skip-corrupt" in refused.output

    done = posts.run(command, *args, "--skip-corrupt", code=3 if command == "verify" else 0)
    assert f"Warning: skipped unreadable {bad_url}: " in done.stderr
    if command == "verify":
        assert "missing: 1" in done.stdout  # post#10, archived after the rebuild
    else:
        posts.engine.sink.refresh(posts.alias)
        assert "id=post#10" in posts.documents()
