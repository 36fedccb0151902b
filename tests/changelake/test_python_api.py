"""The Python API (``import changelake``) on real servers: the archive's views, one item's
history, stats, and rebuild -> sync -> verify of an alias, each compared with what the CLI says."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

import changelake
from changelake.cli import cli
from changelake.rebuild.recipe import archive_url
from changelake.schemas.exceptions import (
    ArchiveNotFoundError,
    MappingConflictError,
    QueryError,
    ReadOnlyError,
)
from tests.helpers import load_event, make_record

if TYPE_CHECKING:
    from tests.conftest import SearchEngine

AT = 1_764_288_000


def _cli_json(*args: str) -> object:
    result = CliRunner().invoke(cli, [*args, "--output", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_archive_views_answer_as_the_sql_command_does(archive_uri: str) -> None:
    result = changelake.archive_event(load_event("lambda-event-posts.json"), archive_uri)
    assert (result.records, result.archived, result.quarantined) == (5, 5, [])
    table = "Posts-prod.v2"
    # Two posts, each inserted (one modified) and removed by the end.
    between = datetime.fromtimestamp(1_764_288_050, UTC)
    with changelake.open_archive(archive_uri) as archive:
        assert archive.tables == [table]
        assert archive.changes(table).count("*").fetchone() == (5,)
        assert archive.latest().fetchall() == []
        then = archive.as_of(between, table).order("item_key")
        rows = [dict(zip(then.columns, row, strict=True)) for row in then.fetchall()]
        assert [(r["item_key"], r["event_name"]) for r in rows] == [
            ("postId=post#0001&seriesId=series-7", "MODIFY"),
            ("postId=post#0002&seriesId=series-7", "INSERT"),
        ]
        assert archive.as_of(datetime(2000, 1, 1)).fetchall() == []
        query = "select item_key, version from as_of('2025-11-28T00:00:50Z') order by item_key"
        arrow = archive.sql(query).to_arrow_table()
    printed = CliRunner().invoke(cli, ["sql", "--archive", archive_uri, "--output", "json", query])
    assert printed.exit_code == 0, printed.output
    lines = [json.loads(line) for line in printed.stdout.splitlines()]
    assert arrow.to_pylist() == lines
    assert [line["version"] for line in lines] == [r["version"] for r in rows]


def test_history_and_stats_are_the_commands_documents(archive_uri: str) -> None:
    changelake.archive_records(
        [
            make_record(1, key="post#1", event_name="INSERT", at=AT, title="one"),
            make_record(2, key="post#1", at=AT + 60, title="two"),
            make_record(3, key="post#2", event_name="INSERT", at=AT + 60, title="other"),
        ],
        archive_uri,
    )
    item = changelake.history(archive_uri, "posts", {"id": "post#1"})
    assert item.item_key == "id=post#1"
    assert [change.event for change in item.changes] == ["INSERT", "MODIFY"]
    assert item.to_dict() == _cli_json(
        "history", "--archive", archive_uri, "--table", "posts", "id=post#1"
    )
    assert changelake.history(archive_uri, "posts", "post#2").item_key == "id=post#2"
    with changelake.open_archive(archive_uri, table="posts") as archive:
        (day,) = archive.stats()
        assert (day.table_name, day.records, day.events["inserts"], day.files) == ("posts", 3, 2, 1)
        with pytest.raises(QueryError, match="no item of table 'posts' has the key"):
            archive.history("posts", "post#9")


def test_mistakes_are_named_errors_never_empty_answers(
    tmp_path: object, local_archive: str
) -> None:
    with pytest.raises(ArchiveNotFoundError, match="no archive at"):
        changelake.open_archive(f"{local_archive}/typo")
    changelake.archive_records(
        [make_record(1, event_name="INSERT", at=AT, title="x")], local_archive
    )
    with pytest.raises(ArchiveNotFoundError, match="did you mean --table posts"):
        changelake.open_archive(local_archive, table="Posts")
    with changelake.open_archive(local_archive) as archive:
        with pytest.raises(ArchiveNotFoundError, match="which holds posts"):
            archive.latest("comments")
        assert archive.sql("create temp table t as select 41 + 1 as n") is None
        assert archive.sql("select n from t").fetchall() == [(42,)]
    with (
        changelake.open_archive(local_archive, read_only=True) as locked,
        pytest.raises(ReadOnlyError, match="COPY writes files"),
    ):
        locked.sql(f"copy (select 1) to '{local_archive}/x.csv'")


def test_rebuild_sync_and_verify_an_alias(local_archive: str, search_engine: SearchEngine) -> None:
    changelake.archive_records(
        [
            make_record(1, key="post#1", event_name="INSERT", at=AT, title="one"),
            make_record(2, key="post#2", event_name="INSERT", at=AT, title="two"),
        ],
        local_archive,
    )
    alias = "api-posts"
    started: list[int] = []
    built = changelake.rebuild_index(
        local_archive, "posts", search_engine.url, alias, on_start=started.append
    )
    assert (built.summary.documents, built.summary.alias, started) == (2, alias, [2])
    assert built.mapping.source == "census" and built.warnings == []
    assert built.to_dict()["mapping"]["source"] == "census"
    changelake.archive_records(
        [
            make_record(3, key="post#1", at=AT + 30, title="one edited"),
            make_record(4, key="post#2", event_name="REMOVE", at=AT + 30),
        ],
        local_archive,
    )
    synced = changelake.sync_index(search_engine.url, alias)
    assert (synced.indexed, synced.deleted, synced.failed) == (1, 1, 0)
    documents = {d.id: d.source for d in search_engine.sink.iter_documents(alias)}
    assert documents == {"id=post#1": {"id": "post#1", "title": "one edited"}}
    compared: list[tuple[str, str]] = []
    checked = changelake.verify_index(
        search_engine.url, alias, on_compare=lambda *pair: compared.append(pair)
    )
    assert (checked.remaining_drift, checked.report.archive_items) == (0, 1)
    assert compared == [(built.summary.index, archive_url(local_archive))]


def test_a_rebuild_refuses_what_the_mapping_cannot_hold_before_writing(
    local_archive: str, search_engine: SearchEngine
) -> None:
    # A title that is text in one item and a map in the next: a text field cannot take the map.
    titles = [{"S": "one"}, {"M": {"en": {"S": "two"}}}]
    records = [
        make_record(
            n,
            key=f"post#{n}",
            event_name="INSERT",
            at=AT,
            new_image={"title": title, "id": {"S": f"post#{n}"}},
        )
        for n, title in enumerate(titles, start=1)
    ]
    changelake.archive_records(records, local_archive)
    mapping = Path(local_archive).parent / "text-title.json"
    mapping.write_text(json.dumps({"mappings": {"properties": {"title": {"type": "text"}}}}))
    with pytest.raises(MappingConflictError, match="contradicts the archive"):
        changelake.rebuild_index(
            local_archive, "posts", search_engine.url, "api-refused", mapping=str(mapping)
        )
    assert search_engine.sink.alias_targets("api-refused") == []


def test_import_changelake_loads_neither_duckdb_nor_a_search_client() -> None:
    code = (
        "import sys, changelake; assert changelake.rebuild_index; "
        "import changelake.rebuild.recipe; assert callable(changelake.rebuild_index); "
        "print(sorted(m for m in ('duckdb', 'elasticsearch', 'opensearchpy') if m in sys.modules))"
    )
    lazy = "import sys, changelake; print('duckdb' in sys.modules)"
    assert (
        subprocess.run(
            [sys.executable, "-c", lazy], check=True, capture_output=True, text=True
        ).stdout.strip()
        == "False"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)


def test_the_documented_example_runs(local_archive: str, search_engine: SearchEngine) -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "python-api.md").read_text()
    example = page.split("```python\n", 1)[1].split("```", 1)[0]
    settings = {
        '"s3://my-bucket/changelake"': repr(local_archive),
        '"https://search.example.com:9200"': repr(search_engine.url),
        'ALIAS = "posts"': f'ALIAS = "doc-{search_engine.name}"',
    }
    for placeholder, value in settings.items():
        assert placeholder in example
        example = example.replace(placeholder, value)
    exec(compile(example, "docs/python-api.md", "exec"), {})
    documents = list(search_engine.sink.iter_documents(f"doc-{search_engine.name}"))
    assert [(d.id, d.source["title"]) for d in documents] == [("postId=post#0001", "Hello")]
