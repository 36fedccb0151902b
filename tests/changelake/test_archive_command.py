"""``changelake archive`` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from changelake.cli import cli
from tests.archiver.test_batch import read_changes
from tests.helpers import EVENTS, make_record

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
        ('"text"', "the event has no 'Records' list (got 'str')"),
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
        cli, ["--verbose", "archive", "--archive", local_archive, "-"], input="5"
    )
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "the event has no 'Records' list" in result.stderr


def test_every_record_quarantined_exits_1_and_says_so_on_one_line(
    local_archive: str, tmp_path: Path
) -> None:
    path = tmp_path / "event.json"
    path.write_text((EVENTS / "go-dynamodb-event.json").read_text())
    result = CliRunner().invoke(cli, ["archive", "--archive", local_archive, str(path)])
    assert result.exit_code == 1
    assert result.stdout == f"Archived 0 of 2 records into 0 files under {local_archive}\n"
    *quarantined, error = result.stderr.strip().splitlines()
    assert len(quarantined) == 2
    assert all(line.startswith("Quarantined f07f8ca4") for line in quarantined)
    assert error == ("Error: none of the 2 records was archived: each was quarantined (see above)")


def test_an_input_without_records_exits_1(local_archive: str) -> None:
    result = CliRunner().invoke(cli, ["archive", "--archive", local_archive, "-"], input="[]")
    assert result.exit_code == 1
    assert result.stderr == "Error: the input holds no stream records\n"


@pytest.mark.parametrize(
    ("sample", "tables"),
    [
        (
            "powertools-kinesis-dynamodb-stream.json",
            {"PowertoolsEventsStack-DynamoDBTable59784FC0-8NKAMTERTAXY"},
        ),
        ("sam-dynamodb-update.json", {"ExampleTableWithStream"}),
    ],
)
def test_kinesis_events_and_pipes_batches_are_archived(
    local_archive: str, tmp_path: Path, sample: str, tables: set[str]
) -> None:
    records = json.loads((EVENTS / sample).read_text())["Records"]
    lambda_event, pipes_batch = tmp_path / "lambda.json", tmp_path / "pipes.json"
    lambda_event.write_text(json.dumps({"Records": records}))
    pipes_batch.write_text(json.dumps(records))  # Pipes sends the records as a JSON array
    for path in (lambda_event, pipes_batch):
        result = CliRunner().invoke(cli, ["archive", "--archive", local_archive, str(path)])
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"Archived {len(records)} of {len(records)} records")
    rows = read_changes(local_archive)
    assert len(rows) == len(records)  # the second delivery rewrote the first one's file
    assert {row["table_name"] for row in rows} == tables


def test_a_quarantine_file_fixed_and_fed_back_is_archived(
    local_archive: str, tmp_path: Path
) -> None:
    poison = make_record(2, new_image={"id": {"S": "post#1"}, "n": {"N": "many"}})
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"Records": [make_record(1), poison]}))
    assert (
        CliRunner().invoke(cli, ["archive", "--archive", local_archive, str(path)]).exit_code == 0
    )
    (kept,) = (Path(local_archive) / "_quarantine").rglob("*.json")

    # Fed back as it is, the record is quarantined again, in the same object.
    again = CliRunner().invoke(cli, ["archive", "--archive", local_archive, str(kept)])
    assert again.exit_code == 1
    assert "Quarantined event-2 in _quarantine/" in again.stderr
    assert list((Path(local_archive) / "_quarantine").rglob("*.json")) == [kept]

    document = json.loads(kept.read_text())
    document["record"]["dynamodb"]["NewImage"]["n"] = {"N": "7"}
    kept.write_text(json.dumps(document))
    fixed = CliRunner().invoke(cli, ["archive", "--archive", local_archive, str(kept)])
    assert fixed.exit_code == 0, fixed.output
    assert fixed.stdout.startswith("Archived 1 of 1 records into 1 files")
    rows = {row["event_id"]: row for row in read_changes(local_archive)}
    assert rows["event-2"]["new_image"] == {"id": "post#1", "n": "7"}


def test_repeated_keys_in_an_event_file_quarantine_their_record(
    local_archive: str, tmp_path: Path
) -> None:
    record = json.dumps(make_record(2)).replace(
        '"NewImage": {', '"NewImage": {"t": {"S": "a"}, "t": {"S": "b"}, '
    )
    path = tmp_path / "event.json"
    path.write_text('{"Records": [' + json.dumps(make_record(1)) + ", " + record + "]}")
    result = CliRunner().invoke(cli, ["archive", "--archive", local_archive, str(path)])
    assert result.exit_code == 0
    assert result.stdout.startswith("Archived 1 of 2 records")
    assert "NewImage is a JSON object that repeats the key 't'" in result.stderr


def test_a_stream_without_new_images_is_warned_about_once_per_table(
    local_archive: str, tmp_path: Path
) -> None:
    keys_only = [make_record(n, new_image={}) for n in range(1, 4)]
    for record in keys_only:
        record["dynamodb"]["StreamViewType"] = "KEYS_ONLY"
        del record["dynamodb"]["NewImage"]
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"Records": keys_only}))
    result = CliRunner().invoke(cli, ["archive", "--archive", local_archive, str(path), POSTS])
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "Warning: the stream of table posts is KEYS_ONLY: its records carry no new image, so "
        "rebuild cannot index them; set the stream to NEW_IMAGE or NEW_AND_OLD_IMAGES\n"
    )
