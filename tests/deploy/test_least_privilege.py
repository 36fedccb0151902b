"""Each role may do in the archive exactly what its code does there, and nothing more.

Each test runs a role's code against a real archive through a store that notes every request
(action and key), then evaluates the role's S3 statements from the templates for a key of every
archive area, as IAM would (wildcard resources, actions). The actions the code used and the
actions the role allows must be the same set.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cfnlint.decode import cfn_yaml
from click.testing import CliRunner

from changelake.archiver.batch import archive_records
from changelake.archiver.stream_events import event_to_records
from changelake.archiver.stream_poller import poll_stream
from changelake.cli import cli
from changelake.clients import dynamodb_client, make_store, streams_client
from changelake.schemas.archive_layout import parse_archive_uri
from tests.helpers import create_posts_table, load_event, make_record, put_post

if TYPE_CHECKING:
    from collections.abc import Iterator

    from changelake.archiver.object_store import ObjectStore
    from scripts.services import Service

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
BUCKET_ARN = "arn:aws:s3:::archive-bucket"
PREFIX = "changelake"
# What the templates' !Sub strings stand for in these tests.
SUBSTITUTIONS = {
    "arn:${AWS::Partition}:s3:::${ArchiveBucketName}": BUCKET_ARN,
    "${ArchiveBucket.Arn}": BUCKET_ARN,
    "${ArchivePrefix}": PREFIX,
}
# One key of each area of an archive (schemas/archive_layout.py).
AREAS = {
    "change files": "table=posts/dt=2026-12-01/0001-abc.parquet",
    "quarantine": "_quarantine/table=posts/dt=2026-12-01/event-1.json",
    "checkpoints": "_checkpoints/table=posts/stream.json",
    "locks": "_locks/table=posts/compaction.json",
}
OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")
STORE_ACTIONS = {
    "get_bytes": "s3:GetObject",
    "get_with_etag": "s3:GetObject",
    "put_bytes": "s3:PutObject",
    "put_if_absent": "s3:PutObject",
    "put_if_match": "s3:PutObject",
    "delete": "s3:DeleteObject",
    "delete_if_match": "s3:DeleteObject",
}


def load(name: str) -> dict[str, Any]:
    template: dict[str, Any] = cfn_yaml.load(str(DEPLOY / name))
    return template


def role_statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    """The Allow statements of a role: inline policies and the template's managed policies."""
    properties = template["Resources"][role]["Properties"]
    documents = [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
    for managed in properties.get("ManagedPolicyArns", []):
        if isinstance(managed, dict) and "Ref" in managed:
            documents.append(template["Resources"][managed["Ref"]]["Properties"]["PolicyDocument"])
    return [s for d in documents for s in d["Statement"] if s["Effect"] == "Allow"]


def resource_arn(resource: Any) -> str:
    text = resource["Fn::Sub"] if isinstance(resource, dict) else resource
    for name, value in SUBSTITUTIONS.items():
        text = text.replace(name, value)
    return str(text)


def allows(statements: list[dict[str, Any]], action: str, arn: str) -> bool:
    """True if an Allow statement names the action and a resource matching ``arn``."""
    for statement in statements:
        if action not in _as_list(statement["Action"]):
            continue
        for resource in _as_list(statement["Resource"]):
            pattern = re.escape(resource_arn(resource)).replace(r"\*", ".*")
            if re.fullmatch(pattern, arn):
                return True
    return False


def granted(statements: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(action, area) for every object action the statements allow in every archive area."""
    return {
        (action, area)
        for action in OBJECT_ACTIONS
        for area, key in AREAS.items()
        if allows(statements, action, f"{BUCKET_ARN}/{PREFIX}/{key}")
    }


def area_of(key: str) -> str:
    (area,) = [name for name, example in AREAS.items() if key.startswith(_top(example))]
    return area


def _top(key: str) -> str:
    """``table=`` or ``_quarantine/``: what every key of the area starts with."""
    return key.split("=", 1)[0] + "=" if key.startswith("table=") else key.split("/")[0] + "/"


class RecordingStore:
    """The real store, noting the S3 action and archive area of every object request."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self.used: set[tuple[str, str]] = set()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)
        action = STORE_ACTIONS.get(name)
        if action is None:
            return method

        def noted(key: str, *args: Any) -> Any:
            self.used.add((action, area_of(key)))
            return method(key, *args)

        return noted


def writes(pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(action, area) for action, area in pairs if action != "s3:GetObject"}


def test_the_archive_function_may_put_change_files_and_quarantine_only(local_archive: str) -> None:
    store = RecordingStore(make_store(parse_archive_uri(local_archive)))
    event = load_event("lambda-event-posts.json")
    poison = make_record(99, key="post#9", title="x")
    poison["dynamodb"]["NewImage"]["title"] = {"SSX": ["?"]}
    event["Records"].append(poison)

    archive_records(event_to_records(event), store)  # what changelake.lambda_handler.archive does

    assert store.used == {("s3:PutObject", "change files"), ("s3:PutObject", "quarantine")}
    role = role_statements(load("template.yaml"), "ArchiveFunctionRole")
    assert granted(role) == store.used


class PoisonFirstRecord:
    """The real Streams client; the first record it returns has an unknown type tag."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.poisoned = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_records(self, **request: Any) -> Any:
        response = self._client.get_records(**request)
        if response["Records"] and not self.poisoned:
            self.poisoned = True
            response["Records"][0]["dynamodb"]["NewImage"]["title"] = {"SSX": ["?"]}
        return response


@pytest.mark.dynamodb
def test_the_poller_writes_change_files_quarantine_and_checkpoints_and_never_deletes(
    dynamodb_service: Service, local_archive: str
) -> None:
    name = f"posts-{uuid.uuid4().hex[:8]}"
    arn = create_posts_table(dynamodb_client(), name)
    for n in range(3):
        put_post(dynamodb_client(), name, f"p{n}", title="x")
    store = RecordingStore(make_store(parse_archive_uri(local_archive)))
    client = PoisonFirstRecord(streams_client())

    result = poll_stream(client, store, arn, table_name=name, max_seconds=60)  # type: ignore[arg-type]

    assert result.archived == 2 and len(result.quarantined) == 1
    assert store.used == {
        ("s3:PutObject", "change files"),
        ("s3:PutObject", "quarantine"),
        ("s3:GetObject", "checkpoints"),
        ("s3:PutObject", "checkpoints"),
    }
    role = role_statements(load("template.yaml"), "PollerFunctionRole")
    assert granted(role) == store.used


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[RecordingStore]]:
    """Every store the commands build notes its requests (the real store does the work)."""
    stores: list[RecordingStore] = []

    def recording_store(location: Any) -> RecordingStore:
        stores.append(RecordingStore(make_store(location)))
        return stores[-1]

    # compact builds its store itself; sync, rebuild and repair take the alias's lease through
    # the Python API.
    for module in ("changelake.commands.compact", "changelake.api"):
        monkeypatch.setattr(f"{module}.make_store", recording_store)
    yield stores


def test_compaction_rewrites_change_files_and_holds_its_lock_only(
    local_archive: str, recorded: list[RecordingStore]
) -> None:
    store = make_store(parse_archive_uri(local_archive))
    for batch in range(3):
        archive_records([make_record(batch * 10 + n, key=f"post#{n}") for n in range(5)], store)

    result = CliRunner().invoke(cli, ["compact", "--archive", local_archive, "--table", "posts"])

    assert result.exit_code == 0, result.output
    used = set().union(*(r.used for r in recorded))
    assert writes(used) == {
        ("s3:PutObject", "change files"),
        ("s3:DeleteObject", "change files"),
        ("s3:PutObject", "locks"),
        ("s3:DeleteObject", "locks"),
    }
    role = granted(role_statements(load("indexer.yaml"), "CompactTaskRole"))
    assert writes(role) == writes(used)
    assert used <= role


@pytest.mark.es
def test_the_sync_task_writes_only_its_lease(
    local_archive: str, es_service: Service, recorded: list[RecordingStore]
) -> None:
    archive_records(
        [make_record(n, key=f"post#{n}") for n in range(3)],
        make_store(parse_archive_uri(local_archive)),
    )
    alias = f"posts-{uuid.uuid4().hex[:8]}"
    common = ["--archive", local_archive, "--table", "posts", "--alias", alias]
    common += ["--es-url", es_service.url, "-s"]
    assert CliRunner().invoke(cli, ["rebuild", *common]).exit_code == 0
    archive_records([make_record(9, key="post#9")], make_store(parse_archive_uri(local_archive)))

    result = CliRunner().invoke(cli, ["sync", *common])

    assert result.exit_code == 0, result.output
    used = set().union(*(r.used for r in recorded))
    assert writes(used) == {("s3:PutObject", "locks"), ("s3:DeleteObject", "locks")}
    role = granted(role_statements(load("indexer.yaml"), "TaskRole"))
    assert writes(role) == writes(used)
    assert used <= role


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
