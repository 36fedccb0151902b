"""The sync Lambda of trigger mode: each batch of announced archive objects is one sync."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from changelake import sync_handler
from changelake.archiver.batch import archive_records
from changelake.archiver.locks import acquire_lock
from changelake.cli import cli
from changelake.clients import make_search_sink, make_store
from changelake.schemas.archive_layout import lock_key, parse_archive_uri
from changelake.schemas.exceptions import LockHeldError, SearchConfigError
from tests.helpers import load_event, make_record

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scripts.services import Service

SAMPLE = "sqs-eventbridge-s3-object-created.json"


def announcing(keys: list[str], prefix: str, created: datetime) -> dict[str, Any]:
    """The published SQS message, once per object, its EventBridge body naming ``key``."""
    (record,) = load_event(SAMPLE)["Records"]
    records = []
    for key in keys:
        body = json.loads(record["body"])
        body["detail"]["object"]["key"] = f"{prefix}/{key}".lstrip("/")
        body["time"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")
        records.append({**record, "body": json.dumps(body)})
    return {"Records": records}


def test_announced_objects_are_those_of_the_table() -> None:
    published = load_event(SAMPLE)
    assert sync_handler.announced_objects(published, "posts") == []
    created = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)
    event = announcing(["table=posts/dt=2026-12-04/1-a.parquet"], "changelake", created)
    event["Records"].append({"body": "not json"})
    assert sync_handler.announced_objects(event, "posts") == [
        ("changelake/table=posts/dt=2026-12-04/1-a.parquet", created)
    ]


def test_the_search_url_comes_from_a_secret_or_the_environment() -> None:
    environ = {
        "CHANGELAKE_ALIAS": "posts",
        "CHANGELAKE_ES_URL_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:search",
        "CHANGELAKE_SEARCH_ENGINE": "opensearch",
    }
    read: list[str] = []

    def secret(arn: str) -> str:
        read.append(arn)
        return "https://user:pass@search.example.com"

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHANGELAKE_TABLE", "posts")
        settings = sync_handler.SyncSettings.from_env(environ, secret)
        assert settings.es_url == "https://user:pass@search.example.com"
        assert settings.search.engine == "opensearch"
        assert read == [environ["CHANGELAKE_ES_URL_SECRET_ARN"]]
        with pytest.raises(SearchConfigError, match="CHANGELAKE_ES_URL or CHANGELAKE_ES_URL"):
            sync_handler.SyncSettings.from_env({"CHANGELAKE_ALIAS": "posts"}, secret)


@pytest.fixture
def synced(
    s3_archive: str, opensearch_service: Service, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str]]:
    """An archive of ``posts`` in S3, an alias rebuilt from it, the handler configured."""
    alias = f"posts-{uuid.uuid4().hex[:8]}"
    store = make_store(parse_archive_uri(s3_archive))
    archive_records([make_record(1, key="a", title="one")], store, table_name="posts")
    result = CliRunner().invoke(
        cli,
        ["rebuild", "--archive", s3_archive, "--table", "posts", "--es-url",
         opensearch_service.url, "--alias", alias, "-s"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for name, value in (
        ("CHANGELAKE_ARCHIVE", s3_archive),
        ("CHANGELAKE_TABLE", "posts"),
        ("CHANGELAKE_ALIAS", alias),
        ("CHANGELAKE_ES_URL", opensearch_service.url),
    ):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CHANGELAKE_ES_URL_SECRET_ARN", raising=False)
    sync_handler._settings.cache_clear()
    yield s3_archive, alias
    sync_handler._settings.cache_clear()


@pytest.mark.s3
@pytest.mark.opensearch
def test_a_batch_of_announced_objects_is_one_sync(
    synced: tuple[str, str], opensearch_service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    archive, alias = synced
    location = parse_archive_uri(archive)
    store = make_store(location)
    first = archive_records([make_record(2, key="a", title="two")], store, table_name="posts")
    second = archive_records(
        [make_record(3, key="b", title="new"), make_record(4, key="c", event_name="REMOVE")],
        store,
        table_name="posts",
    )
    created = datetime.now(UTC).replace(microsecond=0)
    event = announcing(first.files + second.files, location.prefix, created)
    capsys.readouterr()
    details = sync_handler.sync(event, None)
    assert (details["objects"], details["items"], details["indexed"]) == (2, 3, 2)
    documents = {
        d.id: d.source for d in make_search_sink(opensearch_service.url).iter_documents(alias)
    }
    assert documents == {"id=a": {"id": "a", "title": "two"}, "id=b": {"id": "b", "title": "new"}}
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert line["changelake"] == "sync"
    assert line["SyncedItems"] == 3
    assert 0 <= line["ObjectToSearchSeconds"] < 60
    units = {m["Name"]: m["Unit"] for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["ObjectToSearchSeconds"] == "Seconds"


@pytest.mark.s3
@pytest.mark.opensearch
def test_a_batch_fails_while_another_writer_holds_the_lease(synced: tuple[str, str]) -> None:
    archive, alias = synced
    store = make_store(parse_archive_uri(archive))
    lease = acquire_lock(store, lock_key("posts", f"sync-{alias}"))
    try:
        with pytest.raises(LockHeldError, match="is held by"):
            sync_handler.sync({"Records": []}, None)
    finally:
        lease.release()
    # Released, the next try syncs: the item it already holds is sent again (the overlap) and
    # refused as stale.
    details = sync_handler.sync({"Records": []}, None)
    assert (details["indexed"], details["version_conflicts"]) == (0, 1)
