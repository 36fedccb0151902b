"""Both ways to index within seconds: the follow service (deploy/follow.yaml) and, in trigger mode,
a sync started by each new archive object (deploy/sync-on-archive.yaml, deploy/Dockerfile.sync)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import cfn_yaml

from changelake import config
from changelake.following import FollowReport
from changelake.schemas.archive_layout import table_dir
from tests.deploy.test_indexer import assert_runs, dockerfile_instructions

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
FOLLOW = DEPLOY / "follow.yaml"
SYNC_ON_ARCHIVE = DEPLOY / "sync-on-archive.yaml"
ARCHIVE_STACK = DEPLOY / "template.yaml"
TABLE_STREAM = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}"
PREFIX = "arn:${AWS::Partition}:s3:::${ArchiveBucketName}/${ArchivePrefix}"


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = cfn_yaml.load(str(path))
    return loaded


@pytest.fixture(scope="module")
def follow() -> dict[str, Any]:
    return load(FOLLOW)


@pytest.fixture(scope="module")
def on_archive() -> dict[str, Any]:
    return load(SYNC_ON_ARCHIVE)


def statements(role: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A role's inline Allow statements by Sid."""
    return {
        statement["Sid"]: statement
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    }


def sub(value: Any) -> str:
    return str(value["Fn::Sub"]) if isinstance(value, dict) else str(value)


@pytest.mark.parametrize("path", [FOLLOW, SYNC_ON_ARCHIVE], ids=lambda p: p.name)
def test_cfn_lint_finds_nothing(path: Path) -> None:
    matches = lint_file(path, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert [str(match) for match in matches] == []


def test_one_follow_task_runs_the_command_with_the_settings_it_reads(
    follow: dict[str, Any],
) -> None:
    resources = follow["Resources"]
    service = resources["Service"]["Properties"]
    assert service["DesiredCount"] == 1
    # Never two followers at once: the old task stops before the new one starts.
    deployment = service["DeploymentConfiguration"]
    assert (deployment["MaximumPercent"], deployment["MinimumHealthyPercent"]) == (100, 0)
    (container,) = resources["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    command = [part if isinstance(part, str) else "1" for part in container["Command"]]
    assert command[0] == "follow" and "--output" in command
    assert_runs(command)
    # Time for the page in hand, its checkpoint and the last step after SIGTERM.
    assert container["StopTimeout"] >= 60
    names = set()
    for item in container["Environment"]:
        if "Fn::If" in item:  # CHANGELAKE_ALIAS, set only with an alias
            condition, item, _ = item["Fn::If"]
            assert condition == "HasAlias"
        names.add(item["Name"])
    secrets = container["Secrets"]["Fn::If"]
    assert secrets[0] == "HasAlias" and secrets[1] == [
        {"Name": config.ENV_ES_URL, "ValueFrom": {"Ref": "SearchUrlSecretArn"}}
    ]
    assert {config.ENV_ARCHIVE, config.ENV_TABLE, config.ENV_ALIAS} <= names


def test_the_follow_task_reads_the_stream_and_keeps_to_the_archive_prefix(
    follow: dict[str, Any],
) -> None:
    granted = statements(follow["Resources"]["TaskRole"])
    assert sorted(granted["ReadTheTableStream"]["Action"]) == [
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
    ]
    assert sub(granted["ReadTheTableStream"]["Resource"]) == f"{TABLE_STREAM}/stream/*"
    assert sub(granted["FindTheCurrentStream"]["Resource"]) == TABLE_STREAM
    assert sub(granted["ReadWriteTheArchivePrefix"]["Resource"]) == f"{PREFIX}/*"
    listing = granted["ListTheArchivePrefix"]
    assert listing["Condition"]["StringLike"]["s3:prefix"] == {"Fn::Sub": "${ArchivePrefix}/*"}


def test_the_alarms_watch_metrics_follow_writes(follow: dict[str, Any]) -> None:
    line = FollowReport(
        table="posts",
        alias="posts",
        at=datetime.now(UTC),
        archive_lag_seconds=0.5,
        index_lag_seconds=1.0,
    ).to_emf()
    written = {metric["Name"] for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    alarms = [
        resource["Properties"]
        for resource in follow["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    ]
    assert {alarm["MetricName"] for alarm in alarms} == {
        "ArchivedRecords",
        "IndexLagSeconds",
        "WaitingRecords",
        "QuarantinedRecords",
    }
    for alarm in alarms:
        assert alarm["Namespace"] == line["_aws"]["CloudWatchMetrics"][0]["Namespace"]
        assert alarm["MetricName"] in written
        assert alarm["Dimensions"] == [{"Name": "Table", "Value": {"Ref": "TableName"}}]


def test_each_new_change_file_of_the_table_reaches_one_fifo_group(
    on_archive: dict[str, Any],
) -> None:
    resources = on_archive["Resources"]
    rule = resources["NewObjectRule"]["Properties"]
    pattern = rule["EventPattern"]
    assert (pattern["source"], pattern["detail-type"]) == (["aws.s3"], ["Object Created"])
    ((key_filter,),) = [pattern["detail"]["object"]["key"]]
    # The key prefix of the table's change files, as the archive layout names them.
    expected = "${ArchivePrefix}/" + table_dir("TABLE").replace("TABLE", "${TableName}") + "/"
    assert sub(key_filter["prefix"]) == expected
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert target["SqsParameters"]["MessageGroupId"] == {"Ref": "TableName"}
    queue = resources["Queue"]["Properties"]
    assert queue["FifoQueue"] and queue["ContentBasedDeduplication"]
    assert queue["VisibilityTimeout"] >= resources["Function"]["Properties"]["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["DeadLetterQueue", "Arn"]
    }
    mapping = resources["EventSourceMapping"]["Properties"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert mapping["BatchSize"] <= 10  # the FIFO limit
    policy = resources["QueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert policy["Condition"]["ArnEquals"]["aws:SourceArn"] == {
        "Fn::GetAtt": ["NewObjectRule", "Arn"]
    }


def test_the_archive_bucket_announces_its_objects_to_eventbridge() -> None:
    bucket = load(ARCHIVE_STACK)["Resources"]["ArchiveBucket"]["Properties"]
    assert bucket["NotificationConfiguration"]["EventBridgeConfiguration"] == {
        "EventBridgeEnabled": True
    }


def test_the_sync_function_reads_and_holds_only_the_lease(on_archive: dict[str, Any]) -> None:
    resources = on_archive["Resources"]
    function = resources["Function"]["Properties"]
    variables = function["Environment"]["Variables"]
    assert set(variables) == {
        config.ENV_ARCHIVE,
        config.ENV_TABLE,
        config.ENV_ALIAS,
        config.ENV_ES_URL_SECRET_ARN,
    }
    granted = statements(resources["FunctionRole"])
    writes = [
        statement
        for statement in granted.values()
        if any(action in ("s3:PutObject", "s3:DeleteObject") for action in statement["Action"])
    ]
    assert [sub(statement["Resource"]) for statement in writes] == [f"{PREFIX}/_locks/*"]
    assert sub(granted["ReadTheArchivePrefix"]["Resource"]) == f"{PREFIX}/*"
    assert granted["ReadTheSearchUrl"]["Resource"] == {"Ref": "SearchUrlSecretArn"}


def test_the_sync_image_runs_the_sync_handler() -> None:
    text = (DEPLOY / "Dockerfile.sync").read_text()
    instructions = dockerfile_instructions_of(text)
    (handler,) = json.loads(dict(instructions)["CMD"])
    module, _, function = handler.rpartition(".")
    assert callable(getattr(import_module(module), function))
    copied = {args.split()[0] for name, args in instructions if name == "COPY"}
    assert copied == {args.split()[0] for name, args in dockerfile_instructions() if name == "COPY"}


def dockerfile_instructions_of(text: str) -> list[tuple[str, str]]:
    """(instruction, arguments) of a Dockerfile's text, continuation lines joined."""
    lines = [line.strip() for line in re.sub(r"\\\n\s*", " ", text).splitlines()]
    return [
        (line.split(maxsplit=1)[0], line.split(maxsplit=1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]
