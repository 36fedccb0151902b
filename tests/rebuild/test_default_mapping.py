"""The mapping from the archive's types, on both engines: every document indexed as archived.

Generated histories change attribute types between items (maps and strings, integers and
fractions, 1E+125 and -1E-130, 38 digits), use 20-digit numeric keys, and names the engines
refuse; ``rebuild`` and ``rebuild`` + ``sync`` with the default mapping must hold each item's
latest image exactly. Conflicts are named by ``changelake mapping`` and ``rebuild --dry-run``,
a ``--mapping`` file that contradicts the archive is refused before any index exists, and a
value a sync cannot write exactly is held back and named.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings

from changelake.archiver.batch import archive_records
from changelake.cli import cli
from changelake.clients import make_store
from changelake.rebuild.aliases import list_rebuilt_indexes
from changelake.rebuild.field_names import attribute_to_field
from changelake.schemas.archive_layout import parse_archive_uri
from tests.helpers import as_schema_version_1, make_record
from tests.rebuild.conftest import Posts
from tests.rebuild.mapping_histories import (
    AT,
    Change,
    History,
    assert_documents,
    histories,
    raw_json,
    stored_sources,
)

if TYPE_CHECKING:
    from tests.conftest import SearchEngine

EXAMPLES = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def fresh_posts(engine: SearchEngine, workdir: str) -> Posts:
    """A new archive and alias for one generated example."""
    return Posts(str(Path(workdir, uuid.uuid4().hex[:8])), engine)


def archive(posts: Posts, records: list[dict[str, Any]]) -> None:
    if records:
        archive_records(records, make_store(parse_archive_uri(posts.archive)))


def drop(posts: Posts) -> None:
    for index in list_rebuilt_indexes(posts.engine.sink, posts.alias):
        posts.engine.sink.delete_index(index)


@EXAMPLES
@given(history=histories())
def test_rebuild_with_the_default_mapping_holds_every_image_exactly(
    search_engine: SearchEngine, history: History
) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        posts = fresh_posts(search_engine, workdir)
        archive(posts, history.records())
        summary = posts.run_json("rebuild")
        try:
            expected = history.documents()
            assert (summary["documents"], summary["failed"]) == (len(expected), 0)
            for note in summary["mapping"]["notes"]:
                event(f"a {note['kind']} in the mapping")
            assert_documents(search_engine.url, posts.alias, expected, search_engine.name)
            if search_engine.name == "opensearch":  # the emulator's floats drift in verify
                verify = ["--archive", posts.archive, "--table", "posts", "-s"]
                assert posts.run_json("verify", *verify)["drifted"] == 0
        finally:
            drop(posts)


def kinds_by_field(images: dict[str, dict[str, Any]]) -> dict[tuple[str, ...], set[str]]:
    """Which kinds of value each field holds (a simplified census, written for this test)."""
    found: dict[tuple[str, ...], set[str]] = {}

    def named(parent: tuple[str, ...], name: str, top_level: bool) -> tuple[str, ...]:
        parts = attribute_to_field(name, top_level=top_level).split(".")
        for depth in range(1, len(parts)):  # a dotted name makes objects of its prefixes
            found.setdefault((*parent, *parts[:depth]), set()).add("map")
        return (*parent, *parts)

    def walk(value: dict[str, Any], field: tuple[str, ...]) -> None:
        ((tag, inner),) = value.items()
        if tag in {"N", "NS"}:
            numbers = [inner] if tag == "N" else inner
            kind = "int" if all(n.lstrip("-").isdigit() and len(n) < 19 for n in numbers) else "num"
        elif tag == "M":
            kind = "map"
            for name, child in inner.items():
                walk(child, named(field, name, top_level=False))
        elif tag == "L":
            for child in inner:
                walk(child, field)
            return
        elif tag == "NULL":
            return
        else:
            kind = tag
        found.setdefault(field, set()).add(kind)

    for image in images.values():
        for name, value in image.items():
            walk(value, named((), name, top_level=True))
    return found


@EXAMPLES
@given(history=histories(max_changes=16))
def test_rebuild_then_sync_hold_every_image_or_name_what_they_hold_back(
    search_engine: SearchEngine, history: History
) -> None:
    split = max(1, len(history.changes) // 2)
    with tempfile.TemporaryDirectory() as workdir:
        posts = fresh_posts(search_engine, workdir)
        archive(posts, history.records(0, split))
        posts.run("rebuild")
        try:
            archive(posts, history.records(split))
            synced = posts.run_json("sync", "--max-errors", "1000")
            assert synced["failed"] == 0
            held = set(synced["held_back"])
            event("some items held back" if held else "nothing held back")
            before, after = history.documents(split), history.documents()
            expected = {key: doc for key, doc in after.items() if key not in held}
            expected |= {key: before[key] for key in held if key in before}
            assert_documents(search_engine.url, posts.alias, expected, search_engine.name)
            # Only an item with a kind of value its field did not hold at the rebuild is held.
            known = kinds_by_field(history.latest_images(split))
            for key in held:
                new = kinds_by_field({key: history.latest_images()[key]})
                assert any(kinds - known.get(f, kinds) for f, kinds in new.items()), key
            posts.run("rebuild")
            assert_documents(search_engine.url, posts.alias, after, search_engine.name)
        finally:
            drop(posts)


def post(sequence: int, key: str, at: int, **attributes: dict[str, Any]) -> dict[str, Any]:
    """A change of item ``key`` whose new image holds these DynamoDB-typed attributes."""
    return make_record(sequence, key=key, at=at, new_image={"id": {"S": key}, **attributes})


def conflicting_posts(posts: Posts) -> None:
    """post#1 and post#2 disagree on ``meta`` (a string, a map) and mix ``price`` types."""
    posts.add(
        post(
            1,
            "post#1",
            AT,
            meta={"S": "draft"},
            price={"N": "20"},
            _id={"S": "legacy-1"},
            big={"N": "100000000000000348436"},
        ),
        post(
            2,
            "post#2",
            AT,
            meta={"M": {"lang": {"S": "en"}}},
            price={"S": "free"},
            tiny={"N": "-1E-130"},
        ),
    )


def test_mapping_names_conflicts_with_example_keys(local_archive: str) -> None:
    posts = Posts(local_archive, engine=None)  # type: ignore[arg-type]  # archive only
    conflicting_posts(posts)
    base = ["mapping", "--archive", local_archive, "--table", "posts"]
    text = CliRunner().invoke(cli, base)
    assert text.exit_code == 0, text.output
    assert "Census of table posts: 2 items (key: id)" in text.stdout
    assert "conflict: meta: M in 1 (id=post#2), S in 1 (id=post#1): not indexed" in text.stdout
    assert "mix: price: N in 1 (id=post#1), S in 1 (id=post#2): indexed as text" in text.stdout
    assert "renamed: $_id: S in 1 (id=post#1)" in text.stdout
    result = json.loads(CliRunner().invoke(cli, [*base, "--output", "json"]).stdout)
    properties = result["index_body"]["mappings"]["properties"]
    assert properties["meta"] == {"type": "object", "enabled": False}
    assert properties["id"] == {"type": "keyword"}
    assert properties["big"] == {"type": "double"}
    assert {path["path"] for path in result["census"]["paths"]} >= {"meta", "meta.lang", "_id"}
    (conflict,) = [note for note in result["notes"] if note["kind"] == "conflict"]
    assert conflict["types"] == [
        {"type": "M", "values": 1, "examples": ["id=post#2"]},
        {"type": "S", "values": 1, "examples": ["id=post#1"]},
    ]


def test_files_written_before_image_shapes_give_the_same_census(local_archive: str) -> None:
    store = make_store(parse_archive_uri(local_archive))
    archive_records([post(1, "post#1", AT, meta={"S": "draft"}, price={"N": "20"})], store)
    archive_records(
        [
            post(2, "post#2", AT + 1, meta={"M": {"lang": {"S": "en"}}}, price={"N": "19.99"}),
            post(3, "post#3", AT + 2, tags={"L": [{"N": "1"}, {"S": "x"}]}, price={"N": "5"}),
        ],
        store,
    )
    files = sorted(Path(local_archive).rglob("*.parquet"))
    assert len(files) == 2
    command = ["mapping", "--archive", local_archive, "--table", "posts", "--output", "json"]

    def census_and_changes() -> tuple[Any, Any]:
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 0, result.output
        sql = ["sql", "--archive", local_archive, "--output", "json"]
        query = "SELECT item_key, new_image_ddb FROM changes ORDER BY item_key"
        changes = CliRunner().invoke(cli, [*sql, query])
        assert changes.exit_code == 0, changes.output
        return json.loads(result.stdout), changes.stdout.splitlines()

    shaped = census_and_changes()
    conflict = {note["field"] for note in shaped[0]["notes"] if note["kind"] == "conflict"}
    assert conflict == {"meta"}
    assert len(shaped[1]) == 3
    # The newer file first, then both, as a writer before schema version 2 left them: the
    # views read either order, and the census reads those files' typed images instead.
    as_schema_version_1(files[1])
    assert census_and_changes() == shaped
    as_schema_version_1(files[0])
    assert census_and_changes() == shaped


def test_mapping_of_an_unknown_table_is_an_error(posts: Posts) -> None:
    posts.add(make_record(1, key="post#1", event_name="INSERT", title="one"))
    result = CliRunner().invoke(cli, ["mapping", "--archive", posts.archive, "--table", "nope"])
    assert result.exit_code == 1
    assert "table 'nope' is not in the archive" in result.stderr


def test_dry_run_prints_the_conflicts_and_what_the_load_does(posts: Posts) -> None:
    conflicting_posts(posts)
    plan = posts.run("rebuild", "--dry-run").stdout
    assert "Mapping: census of 2 items" in plan
    assert "conflict: meta: M in 1 (id=post#2), S in 1 (id=post#1): not indexed" in plan
    summary = posts.run_json("rebuild")
    assert (summary["documents"], summary["failed"]) == (2, 0)
    assert [note["field"] for note in summary["mapping"]["notes"]] == ["meta", "price", "$_id"]
    stored = stored_sources(posts.engine.url, posts.alias)
    assert stored["id=post#1"]["$_id"] == "legacy-1"
    assert stored["id=post#2"]["meta"] == {"lang": "en"}


def contradicting_mapping(tmp_path: Path) -> str:
    path = tmp_path / "views-long.json"
    mapping = {"mappings": {"properties": {"views": {"type": "long"}, "title": {"type": "text"}}}}
    path.write_text(json.dumps(mapping))
    return str(path)


def test_a_mapping_file_that_contradicts_the_archive_is_refused_before_any_index(
    posts: Posts, tmp_path: Path
) -> None:
    posts.add(views(posts, "post#1", "20", 1, AT), views(posts, "post#2", "19.99", 2, AT))
    mapping = contradicting_mapping(tmp_path)
    plan = posts.run("rebuild", "--mapping", mapping, "--dry-run").stdout
    assert (
        "refused: 'views' is mapped as long but holds 1 numbers that are not 64-bit integers "
        "(e.g. id=post#2)"
    ) in plan
    refused = posts.run("rebuild", "--mapping", mapping, code=1)
    assert "'views' is mapped as long" in refused.stderr
    assert "id=post#2" in refused.stderr
    assert "no index was created" in refused.stderr
    assert list_rebuilt_indexes(posts.engine.sink, posts.alias) == []
    # Without the file the census maps views as double, and 19.99 is indexed as it is.
    posts.run("rebuild")
    assert str(stored_sources(posts.engine.url, posts.alias)["id=post#2"]["views"]) == "19.99"


def test_a_transform_run_is_never_refused_for_the_images_types(posts: Posts) -> None:
    posts.add(views(posts, "post#1", "20", 1, AT), views(posts, "post#2", "19.99", 2, AT))
    transform = ["--transform", "changelake.examples.posts:post_document"]
    summary = posts.run_json("rebuild", *transform, "--mapping", "posts")
    assert (summary["documents"], summary["failed"]) == (2, 0)
    assert summary["mapping"]["source"] == "posts"


def views(posts: Posts, key: str, value: str, sequence: int, at: int) -> dict[str, Any]:
    return post(sequence, key, at, views={"N": value})


def test_a_value_that_no_longer_fits_is_held_back_and_named(posts: Posts) -> None:
    posts.add(views(posts, "post#1", "20", 1, AT), views(posts, "post#2", "21", 2, AT))
    posts.run("rebuild")
    posts.add(views(posts, "post#1", "22", 3, AT + 5), views(posts, "post#2", "19.99", 4, AT + 5))
    refused = posts.run("sync", code=1)
    assert "'views' is mapped as long but holds 1 numbers that are not 64-bit integers" in (
        refused.stderr
    )
    assert "id=post#2" in refused.stderr
    assert "Rebuild" in refused.stderr
    assert "--max-errors 1" in refused.stderr
    assert posts.documents()["id=post#1"][1]["views"] == 20  # nothing was written

    synced = posts.run("sync", "--max-errors", "1")
    assert "1 held back" in synced.stdout
    assert "held back 'views'" in synced.stderr
    assert "id=post#2" in synced.stderr
    documents = posts.documents()
    assert (documents["id=post#1"][1]["views"], documents["id=post#2"][1]["views"]) == (22, 21)

    posts.run("rebuild")
    assert posts.documents()["id=post#2"][1]["views"] == 19.99


def test_a_sync_accepts_attributes_of_new_types(posts: Posts) -> None:
    posts.add(views(posts, "post#1", "20", 1, AT))
    posts.run("rebuild")
    later = AT + 5
    extremes = {
        "big": {"N": "12345678901234567890123456789012345678"},
        "tiny": {"N": "-1E-130"},
        "_routing": {"S": "r"},
    }
    posts.add(
        post(2, "post#2", later, extra={"S": "text"}),
        post(3, "post#3", later, extra={"M": {"deep": {"N": "1E+125"}}}),
        post(4, "post#4", later, **extremes),
    )
    synced = posts.run_json("sync")
    assert (synced["indexed"], synced["failed"], synced["held_back"]) == (3, 0, [])
    stored = stored_sources(posts.engine.url, posts.alias)
    assert set(stored) == {"id=post#1", "id=post#2", "id=post#3", "id=post#4"}
    assert stored["id=post#4"]["$_routing"] == "r"
    mappings = posts.engine.sink.get_mappings(posts.alias)["properties"]
    assert mappings["extra"]["enabled"] is False
    assert mappings["big"]["type"] == "double"


def test_huge_and_tiny_numbers_and_numeric_keys_keep_every_digit(posts: Posts) -> None:
    numbers = {
        "huge": "1E+125",
        "tiny": "-1E-130",
        "digits": "12345678901234567890123456789012345678",
        "twenty": "100000000000000348436",
    }
    key = {"id": {"N": "100000000000000348436"}}
    record = make_record(1, at=AT, new_image={**key, **{n: {"N": v} for n, v in numbers.items()}})
    record["dynamodb"]["Keys"] = key
    posts.add(record)
    posts.run("rebuild")
    expected = {"id": "100000000000000348436", **numbers}
    document = {name: raw_json(value) for name, value in expected.items()}
    assert_documents(
        posts.engine.url, posts.alias, {"id=100000000000000348436": document}, posts.engine.name
    )
    properties = posts.engine.sink.get_mappings(posts.alias)["properties"]
    assert properties["id"] == {"type": "keyword"}
    assert {properties[name]["type"] for name in numbers} == {"double"}


def test_a_held_back_value_does_not_shape_the_fields_a_sync_adds(
    search_engine: SearchEngine,
) -> None:
    # x is an object in the index; one item makes it a string (held back), another adds x.y.j
    # holding a number and a string: the field must be added from what is sent (text).
    history = History(
        changes=(
            Change(0, {"x": {"M": {"b": {"S": ""}}}}),
            Change(1, {"a": {"S": "q"}}),
            Change(1, {"x": {"S": ""}}),
            Change(0, {"x.y": {"M": {"j": {"L": [{"N": "1"}, {"S": "s"}]}}}}),
        ),
        numeric_keys=False,
    )
    with tempfile.TemporaryDirectory() as workdir:
        posts = fresh_posts(search_engine, workdir)
        archive(posts, history.records(0, 2))
        posts.run("rebuild")
        archive(posts, history.records(2))
        synced = posts.run_json("sync", "--max-errors", "10")
        assert (synced["failed"], synced["indexed"], len(synced["held_back"])) == (0, 1, 1)
