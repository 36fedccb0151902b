"""``changelake archive`` through click's CliRunner."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from changelake.cli import cli
from tests.archiver.test_batch import read_changes
from tests.helpers import EVENTS, make_record

if TYPE_CHECKING:
    from pathlib import Path

POSTS = str(EVENTS / "lambda-event-posts.json")
BARK = str(EVENTS / "lambda-event-barktable.json")


def test_archive_files_prints_a_text_summary(archive_uri: str) -> None:
    result = CliRunner().invoke(cli, ["archive", "--archive", archive_uri, POSTS, BARK])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Archived 6 of 6 records into 3 files under {archive_uri}\n"
    assert {row["table_name"] for row in read_changes(archive_uri)} == {
        "Posts-prod.v2",
        "BarkTable",
    }


def test_archive_json_output(local_archive: str) -> None:
    result = CliRunner().invoke(
        cli, ["archive", "--archive", local_archive, "--output", "json", POSTS]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["records"] == summary["archived"] == 5
    assert summary["quarantined"] == []
    assert [key.split("/")[1] for key in summary["files"]] == ["dt=2025-11-27", "dt=2025-11-28"]


def test_archive_reads_stdin_and_takes_the_archive_from_the_environment(
    local_archive: str,
) -> None:
    event = json.dumps({"Records": [make_record(1), make_record(2)]})
    result = CliRunner(env={"CHANGELAKE_ARCHIVE": local_archive}).invoke(
        cli, ["archive", "--table", "renamed", "--rename-table", "-"], input=event
    )
    assert result.exit_code == 0, result.output
    assert [row["table_name"] for row in read_changes(local_archive)] == ["renamed", "renamed"]


def test_quarantined_records_are_reported_on_stderr(local_archive: str, tmp_path: Path) -> None:
    poison = make_record(2, new_image={"id": {"S": "x"}, "n": {"N": "NaN"}})
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"Records": [make_record(1), poison]}))
    result = CliRunner().invoke(cli, ["archive", "--archive", local_archive, str(path)])
    assert result.exit_code == 0
    assert result.stdout.startswith("Archived 1 of 2 records into 1 files")
    assert "Quarantined event-2 in _quarantine/table=posts/dt=" in result.stderr
    assert "attribute 'n' of NewImage has N value 'NaN'" in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON"),
        ('{"records": []}', "the event has no 'Records' list"),
        ("[1, 2]", "the event has no 'Records' list (got 'list')"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_1(
    local_archive: str, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "event.json"
    path.write_text(content)
    result = CliRunner().invoke(cli, ["archive", "--archive", local_archive, str(path)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: {path}")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_archive_uri_and_table_are_errors_not_tracebacks() -> None:
    result = CliRunner().invoke(cli, ["archive", "--archive", "ftp://x/y", "-"], input="{}")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: archive URI 'ftp://x/y' is not supported; "
        "use s3://bucket/prefix (lower case, two slashes) or a local directory\n"
    )
    result = CliRunner().invoke(cli, ["archive", "--table", "no", "-"], input='{"Records": []}')
    assert result.exit_code == 1
    assert "table name 'no' is not a DynamoDB table name" in result.stderr


@pytest.mark.parametrize(
    "arguments",
    [["--output", "yaml"], ["/no/such/file.json"], ["--no-such-option"]],
)
def test_usage_errors_exit_2(local_archive: str, arguments: list[str]) -> None:
    result = CliRunner().invoke(cli, ["archive", "--archive", local_archive, *arguments])
    assert result.exit_code == 2
    assert "Usage: cli archive" in result.stderr or "Usage:" in result.stderr


def test_verbose_shows_the_traceback(local_archive: str) -> None:
    result = CliRunner().invoke(
        cli, ["--verbose", "archive", "--archive", local_archive, "-"], input="[]"
    )
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "the event has no 'Records' list" in result.stderr
