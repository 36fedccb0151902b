"""The index remembers its recipe: sync, verify and rollback follow it; --id; --ttl-deletes."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from changelake.cli import cli
from changelake.examples import posts as example_posts
from changelake.rebuild.aliases import list_rebuilt_indexes
from changelake.rebuild.index_mapping import dynamic_body
from changelake.rebuild.recipe import body_digest
from changelake.rebuild.watermark import META_KEY
from changelake.schemas.sql_views import TTL_PRINCIPAL
from tests.helpers import make_record

if TYPE_CHECKING:
    from click.testing import Result

    from tests.rebuild.conftest import Posts

AT = 1_764_288_000
ELSEWHERE = "another archive"
POST_DOCUMENT = "changelake.examples.posts:post_document"


def _bare(posts: Posts, command: str, *args: str, code: int = 0) -> Result:
    """Run a command with only the alias and the engine: everything else from the recipe."""
    base = [command, "--alias", posts.alias, "--es-url", posts.engine.url]
    if command in {"sync", "verify"}:
        base.append("-s")
    result = CliRunner().invoke(cli, [*base, *args])
    assert result.exit_code == code, (result.output, result.exception)
    return result


def _bare_json(posts: Posts, command: str, *args: str, code: int = 0) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        _bare(posts, command, "--output", "json", *args, code=code).stdout
    )
    return found


def _post(sequence: int, key: str, at: int, text: str, **kwargs: Any) -> dict[str, Any]:
    image = {
        "id": {"S": key},
        "title": {"S": f"title of {key}"},
        "blocks": {"L": [{"M": {"text": {"S": text}}}]},
    }
    return make_record(sequence, key=key, at=at, new_image=image, **kwargs)


def _meta(posts: Posts) -> dict[str, Any]:
    (index,) = posts.targets()
    meta: dict[str, Any] = posts.engine.sink.get_meta(index)[META_KEY]
    return meta


def test_the_index_remembers_its_recipe(posts: Posts) -> None:
    posts.add(_post(1, "post#1", AT, "hello", event_name="INSERT"))
    first = posts.run_json("rebuild", "--transform", POST_DOCUMENT, "--ttl-deletes", "keep")
    meta = _meta(posts)
    code = Path(example_posts.__file__).read_bytes()
    assert meta["table"] == "posts"
    assert meta["archive"] == str(Path(posts.archive).resolve())
    assert meta["transform"] == {"spec": POST_DOCUMENT, "sha256": hashlib.sha256(code).hexdigest()}
    # A transform's documents are not the images the census reads: the dynamic templates map them.
    assert meta["mapping"] == {"source": "dynamic", "sha256": body_digest(dynamic_body())}
    assert (meta["id"], meta["ttl_deletes"], meta["alias_history"]) == ("item_key", "keep", [])
    assert meta["lease"]["lock"].endswith(f"_locks/table=posts/sync-{posts.alias}.json")
    second = posts.run_json("rebuild", "--transform", POST_DOCUMENT, "--ttl-deletes", "keep")
    assert _meta(posts)["alias_history"] == [first["index"]]
    assert second["alias_move"]["from"] == [first["index"]]


def test_sync_and_verify_follow_the_recipe_without_flags(posts: Posts) -> None:
    posts.add(_post(1, "post#1", AT, "first words", event_name="INSERT"))
    posts.run("rebuild", "--transform", POST_DOCUMENT)
    posts.add(_post(2, "post#1", AT + 10, "second words"), _post(3, "post#2", AT + 10, "new"))
    summary = _bare_json(posts, "sync")
    assert (summary["indexed"], summary["failed"]) == (2, 0)
    documents = {i: source for i, (_, source) in posts.documents().items()}
    assert documents["id=post#1"]["text"] == "second words"
    assert "blocks" not in documents["id=post#2"]
    assert _bare_json(posts, "verify")["drifted"] == 0


@pytest.mark.parametrize(
    ("command", "flag", "value", "recorded"),
    [
        ("sync", "--transform", "tests.rebuild.test_recipe:_shout", f"--transform {POST_DOCUMENT}"),
        ("sync", "--table", "comments", "--table posts"),
        ("sync", "--id", "{id}", "--id item_key"),
        ("verify", "--ttl-deletes", "keep", "--ttl-deletes delete"),
        ("verify", "--archive", ELSEWHERE, "--archive "),
    ],
)
def test_a_flag_that_contradicts_the_recipe_is_refused_naming_both_values(
    posts: Posts, tmp_path: Path, command: str, flag: str, value: str, recorded: str
) -> None:
    post = _post(1, "post#1", AT, "words", event_name="INSERT")
    posts.add(post)
    posts.run("rebuild", "--transform", POST_DOCUMENT)
    if value == ELSEWHERE:  # a copy of the archive, so that only the recipe can refuse it
        value = str(tmp_path / "elsewhere")
        replace(posts, archive=value).add(post)
    result = _bare(posts, command, flag, value, code=1)
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: {flag} {value} contradicts index '{posts.alias}-")
    assert f"which was rebuilt with {recorded}" in line
    assert f"leave {flag} out to follow the index's recipe" in line


def _shout(image: dict[str, Any]) -> dict[str, Any]:
    return {**image, "title": str(image.get("title", "")).upper()}


def test_a_transform_whose_code_changed_is_refused_unless_accepted(
    posts: Posts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"documents_{posts.alias.replace('-', '_')}"  # a module no other test imported
    module = tmp_path / f"{name}.py"
    module.write_text("def doc(image):\n    return {**image, 'v': 1}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    posts.add(make_record(1, key="post#1", event_name="INSERT", at=AT, title="one"))
    posts.run("rebuild", "--transform", f"{name}:doc")
    digest = _meta(posts)["transform"]["sha256"]

    module.write_text("def doc(image):\n    return {**image, 'v': 2}\n")
    del sys.modules[name]  # as a new process would, read the code again
    posts.add(make_record(2, key="post#2", event_name="INSERT", at=AT + 5, title="two"))
    refused = _bare(posts, "sync", code=1)
    assert f"the code of --transform {name}:doc changed since index" in refused.stderr
    assert f"(sha256 {digest[:12]} then, " in refused.stderr
    assert "--accept-transform-change" in refused.stderr
    _bare(posts, "verify", code=1)

    summary = _bare_json(posts, "sync", "--accept-transform-change")
    assert summary["indexed"] == 1
    assert posts.documents()["id=post#2"][1]["v"] == 2
    assert _meta(posts)["transform"]["sha256"] == hashlib.sha256(module.read_bytes()).hexdigest()
    _bare(posts, "sync")  # the new code is the recipe's now


def test_rollback_goes_back_to_an_index_whose_recipe_sync_then_follows(posts: Posts) -> None:
    posts.add(_post(1, "post#1", AT, "words", event_name="INSERT"))
    first = posts.run_json("rebuild", "--transform", POST_DOCUMENT)["index"]
    posts.run_json("rebuild")  # the plain images, no transform
    rolled = _bare_json(posts, "rollback")
    assert rolled["alias_move"]["to"] == first
    assert rolled["recipe"]["transform"]["spec"] == POST_DOCUMENT
    text = _bare(posts, "rollback", code=1).stderr  # first has no previous target
    assert "no previous index is kept to roll back to" in text
    posts.add(_post(2, "post#2", AT + 10, "later"))
    _bare(posts, "sync")
    assert posts.documents()["id=post#2"][1]["text"] == "later"


def _expired(sequence: int, key: str, at: int) -> dict[str, Any]:
    """A REMOVE made by TTL expiry: DynamoDB's service is its user identity."""
    record = make_record(sequence, key=key, event_name="REMOVE", at=at)
    record["userIdentity"] = {"type": "Service", "principalId": TTL_PRINCIPAL}
    return record


@pytest.mark.parametrize("policy", ["delete", "keep"])
def test_ttl_deletes_policy_through_rebuild_sync_and_verify(posts: Posts, policy: str) -> None:
    posts.add(
        *(
            make_record(n, key=f"post#{n}", event_name="INSERT", at=AT, title=f"t{n}")
            for n in (1, 2, 3, 4)
        ),
        make_record(5, key="post#1", at=AT + 1, title="t1 last"),
    )
    posts.add(
        _expired(6, "post#1", AT + 50),
        make_record(7, key="post#2", event_name="REMOVE", at=AT + 50),
    )
    summary = posts.run_json("rebuild", "--ttl-deletes", policy)
    kept = {"delete": [], "keep": ["id=post#1"]}[policy]
    assert sorted(posts.documents()) == sorted([*kept, "id=post#3", "id=post#4"])
    if policy == "keep":
        assert posts.documents()["id=post#1"][1]["title"] == "t1 last"
        assert summary["removed_items"] == 1
    assert _bare_json(posts, "verify")["drifted"] == 0

    posts.add(
        _expired(8, "post#3", AT + 90),
        make_record(9, key="post#4", event_name="REMOVE", at=AT + 90),
    )
    synced = _bare_json(posts, "sync")
    assert synced["deleted"] == {"delete": 2, "keep": 1}[policy]
    kept = {"delete": [], "keep": ["id=post#1", "id=post#3"]}[policy]
    assert sorted(posts.documents()) == kept
    assert _bare_json(posts, "verify")["drifted"] == 0
    other = {"delete": "keep", "keep": "delete"}[policy]
    refused = _bare(posts, "sync", "--ttl-deletes", other, code=1)
    assert f"--ttl-deletes {other} contradicts index" in refused.stderr


def _series_post(
    sequence: int,
    series: str,
    post: str,
    *,
    event_name: str = "INSERT",
    at: int = AT,
    title: str = "",
) -> dict[str, Any]:
    keys = {"seriesId": {"S": series}, "postId": {"S": post}}
    image = None if event_name == "REMOVE" else {**keys, "title": {"S": title or post}}
    record = make_record(sequence, event_name=event_name, at=at, new_image=image)
    record["dynamodb"]["Keys"] = keys
    return record


def test_id_templates_name_documents_and_sync_deletes_use_them(posts: Posts) -> None:
    posts.add(_series_post(1, "s1", "p1"), _series_post(2, "s1", "p2"), _series_post(3, "s2", "p1"))
    posts.run("rebuild", "--id", "{seriesId}/{postId}")
    assert sorted(posts.documents()) == ["s1/p1", "s1/p2", "s2/p1"]
    assert _meta(posts)["id"] == "{seriesId}/{postId}"
    posts.add(
        _series_post(4, "s1", "p2", event_name="REMOVE", at=AT + 10),
        _series_post(5, "s2", "p1", event_name="MODIFY", at=AT + 10, title="edited"),
        _series_post(6, "s3", "p9", at=AT + 10),
    )
    synced = _bare_json(posts, "sync")
    assert (synced["indexed"], synced["deleted"]) == (2, 1)
    documents = {i: source["title"] for i, (_, source) in posts.documents().items()}
    assert documents == {"s1/p1": "p1", "s2/p1": "edited", "s3/p9": "p9"}
    assert _bare_json(posts, "verify")["drifted"] == 0


def test_an_id_template_that_two_keys_fill_alike_is_refused_before_the_load(posts: Posts) -> None:
    posts.add(_series_post(1, "s1", "p1"), _series_post(2, "s2", "p1"))
    first = posts.run_json("rebuild")["index"]
    for extra in (["--dry-run"], []):
        result = posts.run("rebuild", "--id", "{postId}", *extra, code=1)
        assert (
            "--id '{postId}' gives items 'postId=p1&seriesId=s1' and 'postId=p1&seriesId=s2' "
            "the same _id 'p1'; name every key attribute in the template, e.g. "
            "--id '{postId}/{seriesId}'"
        ) in result.stderr
    assert posts.targets() == [first]
    assert list_rebuilt_indexes(posts.engine.sink, posts.alias) == [first]
    missing = posts.run("rebuild", "--id", "{slug}", code=1)
    assert "names slug, but item 'postId=p1&seriesId=s1' has key attributes" in missing.stderr


def test_a_sync_refuses_a_new_item_whose_id_another_item_has(posts: Posts) -> None:
    posts.add(_series_post(1, "s1", "p1"))
    posts.run("rebuild", "--id", "{postId}")
    posts.add(_series_post(2, "s2", "p1", at=AT + 10))
    refused = _bare(posts, "sync", code=1)
    assert "gives items 'postId=p1&seriesId=s1' and 'postId=p1&seriesId=s2'" in refused.stderr
    assert posts.documents()["p1"][1]["seriesId"] == "s1"


def test_an_index_rebuilt_before_the_recipe_was_kept_takes_the_flags_once(posts: Posts) -> None:
    posts.add(_post(1, "post#1", AT, "words", event_name="INSERT"))
    posts.run("rebuild", "--transform", POST_DOCUMENT)
    (index,) = posts.targets()
    # The _meta an older changelake wrote: table, archive, watermark, as_of.
    meta = posts.engine.sink.get_meta(index)
    older = {k: meta[META_KEY][k] for k in ("table", "archive", "watermark", "as_of")}
    posts.engine.sink.put_mapping(index, {"_meta": {**meta, META_KEY: older}})
    posts.add(_post(2, "post#2", AT + 10, "later"))
    summary = _bare_json(posts, "sync", "--transform", POST_DOCUMENT)
    assert (summary["indexed"], summary["failed"]) == (1, 0)
    assert posts.documents()["id=post#2"][1]["text"] == "later"
    assert _meta(posts)["transform"]["spec"] == POST_DOCUMENT
    assert _bare_json(posts, "verify")["drifted"] == 0
