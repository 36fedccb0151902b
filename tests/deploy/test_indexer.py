"""The scheduled sync task (deploy/indexer.yaml) and its image (deploy/Dockerfile)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
from cfnlint.api import lint_file
from cfnlint.decode import cfn_yaml

from changelake import config
from changelake.cli import cli

ROOT = Path(__file__).resolve().parents[2]
INDEXER = ROOT / "deploy" / "indexer.yaml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """deploy/indexer.yaml, parsed with cfn-lint's loader."""
    loaded: dict[str, Any] = cfn_yaml.load(str(INDEXER))
    return loaded


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(maxsplit=1)[0], line.split(maxsplit=1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def assert_runs(arguments: list[str]) -> None:
    """The arguments name a changelake command and only options it has."""
    command = cli.get_command(click.Context(cli), arguments[0])
    assert command is not None
    options = {name for param in command.params for name in getattr(param, "opts", [])}
    assert {arg for arg in arguments[1:] if arg.startswith("-")} <= options
    assert isinstance(command, click.Command)


def test_cfn_lint_finds_nothing() -> None:
    assert [str(match) for match in lint_file(INDEXER)] == []


def test_the_task_only_reads_the_archive_prefix(template: dict[str, Any]) -> None:
    statements = template["Resources"]["ArchiveReaderPolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    granted = {statement["Action"]: statement for statement in statements}
    assert set(granted) == {"s3:GetObject", "s3:ListBucket"}
    assert granted["s3:GetObject"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::${ArchiveBucketName}/${ArchivePrefix}/*"
    }
    assert granted["s3:ListBucket"]["Condition"]["StringLike"]["s3:prefix"] == {
        "Fn::Sub": "${ArchivePrefix}/*"
    }
    task_role = template["Resources"]["TaskRole"]["Properties"]
    assert task_role["ManagedPolicyArns"] == [
        {"Ref": "ArchiveReaderPolicy"},
        {"Ref": "SyncLockPolicy"},
    ]
    assert "Policies" not in task_role
    # Besides reading, sync only writes its lease object, under _locks/.
    (lease,) = template["Resources"]["SyncLockPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert sorted(lease["Action"]) == ["s3:DeleteObject", "s3:PutObject"]
    assert lease["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::${ArchiveBucketName}/${ArchivePrefix}/_locks/*"
    }
    sync_task = template["Resources"]["TaskDefinition"]["Properties"]
    assert sync_task["TaskRoleArn"] == {"Fn::GetAtt": ["TaskRole", "Arn"]}


def test_only_compaction_may_rewrite_and_only_the_archive_prefix(
    template: dict[str, Any],
) -> None:
    roles = {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role"
    }
    writers = {
        name
        for name, role in roles.items()
        for policy in role.get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
        if any(action.startswith("s3:") for action in _as_list(statement["Action"]))
    }
    assert writers == {"CompactTaskRole"}
    (policy,) = roles["CompactTaskRole"]["Policies"]
    # Which keys exactly: tests/deploy/test_least_privilege.py runs compaction to see.
    prefix = "arn:${AWS::Partition}:s3:::${ArchiveBucketName}/${ArchivePrefix}/"
    for statement in policy["PolicyDocument"]["Statement"]:
        assert sorted(statement["Action"]) == ["s3:DeleteObject", "s3:PutObject"]
        assert statement["Resource"]["Fn::Sub"].startswith(prefix)
    (container,) = template["Resources"]["CompactTaskDefinition"]["Properties"][
        "ContainerDefinitions"
    ]
    assert container["Command"][0] == "compact"
    assert_runs(container["Command"])
    target = template["Resources"]["CompactTaskSchedule"]["Properties"]["Target"]
    assert target["EcsParameters"]["TaskDefinitionArn"] == {"Ref": "CompactTaskDefinition"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_scheduled_task_runs_sync_with_the_settings_changelake_reads(
    template: dict[str, Any],
) -> None:
    (container,) = template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    assert container["Command"][0] == "sync"
    assert_runs(container["Command"])
    names = {item["Name"] for item in container["Environment"]} | {
        item["Name"] for item in container["Secrets"]
    }
    assert {config.ENV_ARCHIVE, config.ENV_TABLE, config.ENV_ALIAS, config.ENV_ES_URL} <= names
    target = template["Resources"]["SyncTaskSchedule"]["Properties"]["Target"]
    assert target["EcsParameters"]["TaskDefinitionArn"] == {"Ref": "TaskDefinition"}


def test_dockerfile_installs_every_package_and_runs_a_real_command() -> None:
    instructions = dockerfile_instructions()
    copied = {args.split()[0] for name, args in instructions if name == "COPY"}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {
        pattern.rstrip("*")
        for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    assert packages <= copied
    assert all((ROOT / source).exists() for source in copied)
    entrypoint = json.loads(dict(instructions)["ENTRYPOINT"])
    assert entrypoint == list(pyproject["project"]["scripts"])
    assert_runs(json.loads(dict(instructions)["CMD"]))
