"""``verify --repair`` undoes a foreign writer, at versions that never go down."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tests.helpers import make_record

if TYPE_CHECKING:
    from tests.rebuild.conftest import Posts

AT = 1_764_288_000


def test_repair_restores_what_another_writer_deleted_edited_and_added(posts: Posts) -> None:
    posts.add(*(make_record(n, key=f"post#{n}", at=AT + n, title=f"t{n}") for n in range(1, 5)))
    posts.run("rebuild")
    before = posts.documents()
    # Deleted (the engine keeps a tombstone one version up), edited (one version up), added.
    posts.write_directly(
        ({"delete": {"_id": "id=post#1"}}, None),
        ({"index": {"_id": "id=post#2"}}, {"id": "post#2", "title": "edited elsewhere"}),
        ({"index": {"_id": "id=stray"}}, {"id": "stray"}),
    )
    args = ["--archive", posts.archive, "--table", "posts", "-s", "--output", "json"]
    report = json.loads(posts.run("verify", *args, code=3).stdout)
    assert {kind: n for kind, n in report["counts"].items() if n} == {
        "missing": 1, "ahead": 1, "extra": 1
    }  # fmt: skip

    repaired = json.loads(posts.run("verify", *args, "--repair").stdout)["repair"]
    assert (repaired["indexed"], repaired["deleted"], repaired["failed"]) == (2, 1, 0)
    assert (repaired["version_conflicts"], repaired["remaining_drifted"]) == (0, 0)
    after = posts.documents()
    assert sorted(after) == sorted(before)
    for document_id, (version, source) in after.items():
        assert source == before[document_id][1]
        assert version >= before[document_id][0]  # never lower than the engine's
    assert after["id=post#2"][0] == before["id=post#2"][0] + 1
    if posts.engine.name == "opensearch":
        # Restored at the version of the delete's tombstone, which refused the archive's.
        assert after["id=post#1"][0] == before["id=post#1"][0] + 1
    assert json.loads(posts.run("verify", *args).stdout)["drifted"] == 0

    # Later changes still land: their versions are above the repaired ones.
    posts.add(
        make_record(10, key="post#1", at=AT + 100, title="t1 later"),
        make_record(11, key="post#2", at=AT + 100, title="t2 later"),
    )
    synced = posts.run_json("sync")
    # (The other items are read again within the overlap: counted 409s.)
    assert (synced["indexed"], synced["failed"]) == (2, 0)
    titles = {i: source["title"] for i, (_, source) in posts.documents().items()}
    assert (titles["id=post#1"], titles["id=post#2"]) == ("t1 later", "t2 later")
    assert json.loads(posts.run("verify", *args).stdout)["drifted"] == 0
