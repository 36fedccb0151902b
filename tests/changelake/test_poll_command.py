"""``changelake poll`` and the scheduled Lambda entry, on DynamoDB Local."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from changelake.cli import cli
from changelake.clients import dynamodb_client
from changelake.lambda_handler import poll
from changelake.metrics import OLDEST_UNREAD_METRIC
from changelake.polling import run_poll
from changelake.schemas.exceptions import MissingSettingError
from tests.helpers import create_posts_table, put_post

if TYPE_CHECKING:
    from pathlib import Path

    from scripts.services import Service


def test_poll_needs_a_stream_or_a_table() -> None:
    result = CliRunner().invoke(cli, ["poll", "--archive", "unused"])
    assert result.exit_code == 2
    assert "--stream-arn ARN or --table NAME" in result.output


def test_a_poll_with_neither_stream_nor_table_names_both_settings(tmp_path: Path) -> None:
    with pytest.raises(MissingSettingError, match="CHANGELAKE_STREAM_ARN or CHANGELAKE_TABLE"):
        run_poll(str(tmp_path), stream_arn=None, table_name=None, max_seconds=1)


@pytest.mark.dynamodb
def test_poll_by_table_name_prints_a_summary(dynamodb_service: Service, local_archive: str) -> None:
    name = f"posts-{uuid.uuid4().hex[:8]}"
    arn = create_posts_table(dynamodb_client(), name)
    put_post(dynamodb_client(), name, "p1", title="hello")
    runner = CliRunner()
    result = runner.invoke(cli, ["poll", "--table", name, "--archive", local_archive])
    assert result.exit_code == 0, result.output
    assert f"Archived 1 of 1 records from 1 shards of {arn}" in result.output
    assert "every shard is caught up" in result.output
    again = runner.invoke(
        cli, ["poll", "--stream-arn", arn, "--archive", local_archive, "--output", "json"]
    )
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["archived"] == 0


@pytest.mark.dynamodb
def test_poll_of_a_table_without_a_stream_says_how_to_enable_one(
    dynamodb_service: Service, local_archive: str
) -> None:
    name = f"plain-{uuid.uuid4().hex[:8]}"
    dynamodb_client().create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    result = CliRunner().invoke(cli, ["poll", "--table", name, "--archive", local_archive])
    assert result.exit_code == 1
    assert f"table {name} has no enabled stream" in result.output


class LambdaContext:
    """What the Lambda runtime passes: here, 30 seconds left."""

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.mark.dynamodb
def test_the_scheduled_lambda_polls_the_configured_table(
    dynamodb_service: Service, local_archive: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"posts-{uuid.uuid4().hex[:8]}"
    create_posts_table(dynamodb_client(), name)
    put_post(dynamodb_client(), name, "p1", title="hello")
    put_post(dynamodb_client(), name, "p2", title="world")
    monkeypatch.setenv("CHANGELAKE_ARCHIVE", local_archive)
    monkeypatch.setenv("CHANGELAKE_TABLE", name)
    summary = poll({"source": "aws.events"}, LambdaContext())
    assert summary["archived"] == 2
    assert summary["complete"] is True


@pytest.mark.dynamodb
def test_the_scheduled_lambda_reports_the_oldest_unread_record_as_a_metric(
    dynamodb_service: Service,
    local_archive: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = f"posts-{uuid.uuid4().hex[:8]}"
    create_posts_table(dynamodb_client(), name)
    put_post(dynamodb_client(), name, "p1", title="hello")
    monkeypatch.setenv("CHANGELAKE_ARCHIVE", local_archive)
    monkeypatch.setenv("CHANGELAKE_TABLE", name)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "changelake-poll")
    poll({}, LambdaContext())
    (line,) = capsys.readouterr().out.splitlines()
    document = json.loads(line)
    metrics = {m["Name"]: m["Unit"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    # The poller-mode alarm of deploy/template.yaml reads this metric.
    assert metrics[OLDEST_UNREAD_METRIC] == "Milliseconds"
    assert document[OLDEST_UNREAD_METRIC] == 0  # caught up: nothing left unread
    assert document["FunctionName"] == "changelake-poll"


@pytest.mark.dynamodb
@pytest.mark.parametrize("command", ["poll", "snapshot"])
def test_a_missing_table_is_one_line_naming_it(
    dynamodb_service: Service, local_archive: str, command: str
) -> None:
    result = CliRunner().invoke(
        cli, [command, "--table", "no-such-table", "--archive", local_archive]
    )
    assert result.exit_code == 1
    assert "no-such-table" in result.output
    assert "ResourceNotFoundException" in result.output
    assert "check the name, the region and the endpoint" in result.output
    assert "Traceback" not in result.output
