"""Mistakes are one line on stderr and a non-zero exit, never a traceback or an empty answer.

A missing or mistyped archive, a table that is not there (with the likely one named), a URI
that looks like S3 but is not, a time in the future, records filed under another table.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import click
import pytest
from click.testing import CliRunner

from changelake.cli import cli
from changelake.clients import s3_secret_sql
from changelake.options import require_table
from changelake.schemas.exceptions import MissingSettingError
from tests.changelake.sql_archive import write_sample_archive
from tests.helpers import EVENTS

if TYPE_CHECKING:
    from click.testing import Result

    from scripts.services import Service

# Each command that reads an archive, with what else it needs (the engine's URL where it
# talks to one: the archive is checked without giving the engine any say).
READERS = {
    "stats": ["--table", "{table}"],
    "sql": ["select count(*) from changes"],
    "history": ["--table", "{table}", "id=post#1"],
    "compact": ["--table", "{table}"],
    "rebuild": ["--table", "{table}", "--alias", "posts", "--es-url", "{es}"],
    "sync": ["--table", "{table}", "--alias", "posts", "--es-url", "{es}"],
    "verify": ["--table", "{table}", "--alias", "posts", "--es-url", "{es}"],
}


def run(
    command: str, archive: str, es_url: str = "http://127.0.0.1:1", table: str = "posts"
) -> Result:
    arguments = [a.format(es=es_url, table=table) for a in READERS[command]]
    return CliRunner().invoke(cli, [command, "--archive", archive, *arguments])


def assert_one_line(result: Result, code: int, says: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert says in result.stderr
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr


@pytest.mark.es
@pytest.mark.parametrize("command", sorted(READERS))
def test_a_missing_or_empty_archive_is_an_error(
    command: str, tmp_path: Path, es_service: Service
) -> None:
    missing = str(tmp_path / "mistyped")
    assert_one_line(
        run(command, missing, es_service.url),
        1,
        f"no archive at {missing}: the directory does not exist; check --archive",
    )
    (tmp_path / "empty").mkdir()
    empty = str(tmp_path / "empty")
    assert_one_line(
        run(command, empty, es_service.url), 1, f"no archive at {empty}: it holds no table="
    )


@pytest.mark.es
@pytest.mark.parametrize("command", sorted(set(READERS) - {"sql"}))
def test_a_table_in_the_wrong_case_names_the_right_one(
    command: str, local_archive: str, es_service: Service
) -> None:
    write_sample_archive(local_archive)  # table "posts"
    result = run(command, local_archive, es_service.url, table="Posts")
    assert_one_line(result, 1, "table 'Posts' is not in the archive")
    assert "did you mean --table posts?" in result.stderr


def test_an_unknown_table_lists_the_archive_tables(local_archive: str) -> None:
    write_sample_archive(local_archive)
    result = CliRunner().invoke(cli, ["stats", "--archive", local_archive, "--table", "comments"])
    assert_one_line(result, 1, "which holds posts; check --table")


@pytest.mark.s3
@pytest.mark.parametrize("command", ["stats", "sql", "history"])
def test_a_missing_bucket_or_empty_prefix_in_s3_is_an_error(command: str, s3_archive: str) -> None:
    assert_one_line(run(command, s3_archive), 1, f"no archive at {s3_archive}: it holds no")
    no_bucket = f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/changes"
    assert_one_line(run(command, no_bucket), 1, "the bucket does not exist; check --archive")


@pytest.mark.parametrize("uri", ["s3:/bucket/x", "s3:bucket/x", "S3://bucket/x", "https:/h/x"])
@pytest.mark.parametrize("command", ["stats", "sql", "archive"])
def test_a_uri_that_looks_like_s3_but_is_not_is_refused(uri: str, command: str) -> None:
    arguments = [command, "--archive", uri]
    arguments += ["select 1"] if command == "sql" else []
    result = CliRunner().invoke(cli, arguments, input='{"Records": []}')
    assert_one_line(result, 1, f"archive URI {uri!r} is not supported; use s3://bucket/prefix")
    assert not Path(uri.split(":")[0]).exists()  # nothing written under a local look-alike


@pytest.mark.parametrize("moment", ["2999-01-01", "2999-01-01T00:00:00+09:00"])
def test_an_as_of_in_the_future_is_a_usage_error(local_archive: str, moment: str) -> None:
    write_sample_archive(local_archive)
    result = CliRunner().invoke(
        cli,
        [
            *["rebuild", "--archive", local_archive, "--table", "posts", "--alias", "a"],
            *["--es-url", "http://127.0.0.1:1", "--as-of", moment],
        ],
    )
    assert_one_line(result, 2, f"'{moment}' is in the future")


def test_records_of_another_table_are_refused_unless_renamed(local_archive: str) -> None:
    event = str(EVENTS / "lambda-event-posts.json")  # records of table Posts-prod.v2
    base = ["archive", "--archive", local_archive]
    refused = CliRunner().invoke(cli, [*base, "--table", "Other", event])
    assert_one_line(refused, 2, "come from table Posts-prod.v2 (their eventSourceARN)")
    assert "add --rename-table to file them under Other" in refused.stderr
    assert not Path(local_archive).exists()
    same = CliRunner().invoke(cli, [*base, "--table", "Posts-prod.v2", event])
    assert same.exit_code == 0, same.output
    renamed = CliRunner().invoke(cli, [*base, "--table", "Other", "--rename-table", event])
    assert renamed.exit_code == 0, renamed.output
    tables = CliRunner().invoke(
        cli,
        [
            *["sql", "--archive", local_archive, "--output", "csv"],
            "select distinct table_name from changes order by 1",
        ],
    )
    assert tables.stdout.splitlines()[1:] == ['"Other"', '"Posts-prod.v2"']


def test_no_aws_credentials_for_duckdb_is_our_error_naming_the_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)
    with pytest.raises(MissingSettingError, match="AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"):
        s3_secret_sql()


def test_a_missing_table_is_the_same_usage_error_however_it_is_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CHANGELAKE_TABLE", raising=False)
    for empty in ([], ["--table", ""]):
        result = CliRunner().invoke(
            cli, ["rebuild", "--alias", "posts", "--es-url", "http://x:1", *empty]
        )
        assert result.exit_code == 2
        assert "Error: Missing option '--table' (or CHANGELAKE_TABLE).\n" in result.output
    with pytest.raises(click.MissingParameter) as missing:
        require_table(None)  # verify: no --table, and an index without a recipe to follow
    assert missing.value.format_message() == "Missing option '--table' (or CHANGELAKE_TABLE)."
