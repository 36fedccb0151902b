"""`changelake sql` output: nested images, one set of format names, zones, dot commands."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click
import pytest
from click.testing import CliRunner

from changelake.ask.output_formats import FORMAT_ALIASES, RESULT_FORMATS, SUMMARY_FORMATS
from changelake.cli import COMMAND_MODULES, cli
from tests.changelake.sql_archive import write_sample_archive
from tests.helpers import EVENTS

if TYPE_CHECKING:
    from click.testing import Result


def _sql(archive: str, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["sql", "--archive", archive, *args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def posts_archive(local_archive: str) -> str:
    """The archive of the sample Lambda event (a score with 38 significant digits)."""
    result = CliRunner().invoke(
        cli, ["archive", "--archive", local_archive, str(EVENTS / "lambda-event-posts.json")]
    )
    assert result.exit_code == 0, result.output
    return local_archive


def test_json_output_nests_images_and_keys_with_every_digit(posts_archive: str) -> None:
    query = (
        "select keys, new_image, new_image->'author' as author, new_image->>'title' as title, "
        "'not json' as old_image from changes where event_name = 'INSERT' limit 1"
    )
    line = _sql(posts_archive, "--output", "json", query).stdout
    row = json.loads(line)
    assert row["keys"] == {"postId": "post#0001", "seriesId": "series-7"}
    assert isinstance(row["new_image"], dict) and row["new_image"]["views"] == 0
    assert row["author"] == {"name": "Kim", "id": 42, "links": []}  # DuckDB's JSON type
    assert row["title"] == "DynamoDB Streams에서 검색까지"  # ->> is text
    assert row["old_image"] == "not json"  # a string, even under an image's name
    # Written as archived, not through floats: the number keeps its 38 digits.
    assert '"score":12345678901234567890.123456789012345678' in line
    assert '\\"' not in line  # nothing double-encoded


def test_text_is_the_table_format_and_table_still_works(local_archive: str) -> None:
    write_sample_archive(local_archive)
    query = "select item_key, approximate_creation_time from changes order by 1, 2 limit 2"
    text = _sql(local_archive, "--output", "text", query).stdout
    assert text == _sql(local_archive, "--output", "table", query).stdout
    assert text == _sql(local_archive, query).stdout
    # Times print with their zone, in the table and in CSV.
    assert "2025-11-28 00:00:00+00:00" in text
    csv = _sql(local_archive, "--output", "csv", query).stdout
    assert "2025-11-28 00:00:00.000000Z" in csv


def test_every_command_names_its_output_formats_from_one_set() -> None:
    seen = set()
    for name in COMMAND_MODULES:
        command = cli.get_command(click.Context(cli), name)
        assert command is not None
        for param in command.params:
            if "--output" in getattr(param, "opts", []):
                assert isinstance(param.type, click.Choice)
                choices = set(param.type.choices) - set(FORMAT_ALIASES)
                assert choices <= set(RESULT_FORMATS), name
                assert set(SUMMARY_FORMATS) <= choices, name
                seen.add(name)
    assert {"sql", "stats", "history", "rebuild", "sync", "verify", "poll"} <= seen


def test_dot_commands_work_as_one_shot_queries(local_archive: str) -> None:
    write_sample_archive(local_archive)
    tables = _sql(local_archive, ".tables").stdout
    assert tables.splitlines()[2:7] == [
        "change_rows  view",
        "changes      view",
        "latest       view",
        "as_of        macro",
        "history      macro",
    ]
    schema = _sql(local_archive, ".schema latest").stdout
    assert "new_image" in schema and "TIMESTAMP WITH TIME ZONE" in schema
    every = _sql(local_archive, "--output", "csv", ".schema").stdout
    assert '"changes","new_image","VARCHAR"' in every
    assert '"latest","version","BIGINT"' in every
    assert ".schema [NAME]" in _sql(local_archive, ".help").stdout
    unknown = CliRunner().invoke(cli, ["sql", "--archive", local_archive, ".tabels"])
    assert unknown.exit_code == 2
    assert "unknown command '.tabels'; as QUERY, use .tables, .schema [NAME] or .help" in (
        unknown.stderr
    )
