"""``rebuild --runner spark`` against the OpenSearch node: the same index as the DuckDB runner."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from changelake.archiver.absent_items import absent_item_row
from changelake.archiver.batch import archive_rows, archive_snapshot_items
from changelake.clients import make_store
from changelake.rebuild.aliases import LOADED_KEY, list_rebuilt_indexes
from changelake.rebuild.watermark import META_KEY
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.sql_views import TTL_PRINCIPAL
from tests.conftest import SPARK_MASTER, SearchEngine
from tests.helpers import make_record
from tests.rebuild.conftest import Posts

if TYPE_CHECKING:
    from pathlib import Path

    from pyspark.sql import SparkSession

    from scripts.services import Service

pytestmark = pytest.mark.opensearch
AT = 1_764_288_000
SPARK = ("--runner", "spark", "--spark-master", SPARK_MASTER)


@pytest.fixture
def twins(
    archive_uri: str, opensearch_service: Service, spark: SparkSession
) -> tuple[Posts, Posts]:
    """One archive (local, then S3) and two aliases on OpenSearch: one per runner."""
    from changelake.clients import make_search_sink

    engine = SearchEngine(
        "opensearch", opensearch_service.url, make_search_sink(opensearch_service.url)
    )
    duckdb = Posts(archive_uri, engine)
    return duckdb, Posts(archive_uri, engine, alias=f"spark-{uuid.uuid4().hex[:8]}")


def history(posts: Posts) -> None:
    """Same-second edits, a redelivery in another file, a remove, a snapshot row, a long key."""
    long_key = "post#" + "x" * 600
    posts.add(
        make_record(1, key="post#1", event_name="INSERT", at=AT, title="one v1"),
        make_record(2, key="post#1", at=AT, title="one v2"),
        make_record(3, key="post#2", event_name="INSERT", at=AT + 1, title="two"),
        make_record(4, key=long_key, event_name="INSERT", at=AT + 2, title="long"),
    )
    posts.add(
        make_record(5, key="post#2", event_name="REMOVE", at=AT + 10),
        make_record(6, key="post#3", event_name="INSERT", at=AT + 20, title="three"),
        make_record(7, key="post#1", at=AT + 20, title="one v3"),
        make_record(8, key="post#1", at=AT + 20, title="one v4"),
    )
    posts.add(make_record(2, key="post#1", at=AT, title="one v2"))  # delivered twice


def without_times(meta: dict[str, Any]) -> dict[str, Any]:
    """An index's changelake _meta without what differs between two runs: when they ran, the
    lease each held (the twins rebuild different aliases), and the mapping (the census is DuckDB's:
    without --mapping, Spark builds with the dynamic templates)."""
    state = dict(meta[META_KEY])
    assert state["mapping"]["source"] in {"inferred", "dynamic"}
    different = {"lease", "mapping"}
    return {k: v for k, v in state.items() if k not in different and "rebuilt" not in k}


def test_spark_runner_builds_the_index_the_duckdb_runner_builds(twins: tuple[Posts, Posts]) -> None:
    duckdb, spark = twins
    history(duckdb)
    by_duckdb = duckdb.run_json("rebuild")
    by_spark = spark.run_json("rebuild", *SPARK)
    for key in ("documents", "removed_items", "skipped", "failed", "watermark", "as_of"):
        assert by_spark[key] == by_duckdb[key], key
    assert by_spark["documents"] == 3
    assert spark.documents() == duckdb.documents()
    meta = spark.engine.sink.get_meta(spark.alias)
    assert meta[LOADED_KEY]
    assert without_times(meta) == without_times(duckdb.engine.sink.get_meta(duckdb.alias))


def test_spark_runner_as_of_with_a_transform(twins: tuple[Posts, Posts]) -> None:
    duckdb, spark = twins
    history(duckdb)
    flags = (
        "--as-of",
        "2025-11-28T00:00:05Z",
        "--transform",
        "changelake.examples.posts:post_document",
    )
    by_duckdb = duckdb.run_json("rebuild", *flags)
    by_spark = spark.run_json("rebuild", *flags, *SPARK)
    assert by_spark["documents"] == by_duckdb["documents"] == 3
    assert by_spark["as_of"] == "2025-11-28T00:00:05+00:00"
    assert spark.documents() == duckdb.documents()
    assert spark.documents()["id=post#1"][1]["title"] == "one v2"


@pytest.fixture
def posts_on_opensearch(
    local_archive: str, opensearch_service: Service, spark: SparkSession
) -> Posts:
    """A local archive and an alias on OpenSearch, rebuilt by the Spark runner."""
    from changelake.clients import make_search_sink

    url = opensearch_service.url
    return Posts(local_archive, SearchEngine("opensearch", url, make_search_sink(url)))


def test_spark_dry_run_keep_and_rollback(posts_on_opensearch: Posts) -> None:
    posts = posts_on_opensearch
    history(posts)
    plan = posts.run("rebuild", "--dry-run", *SPARK).stdout
    assert plan.startswith("Would index 3 documents into ")
    assert "(1 removed items left out, 0 without an image skipped)" in plan
    assert posts.targets() == []
    first = posts.run_json("rebuild", *SPARK)["index"]
    second = posts.run_json("rebuild", "--keep", "1", *SPARK)
    assert second["alias_move"] == {"from": [first], "to": second["index"]}
    assert list_rebuilt_indexes(posts.engine.sink, posts.alias) == [first, second["index"]]
    posts.run("rollback")
    assert posts.targets() == [first]


def test_spark_runner_counts_refused_documents_across_executors(
    posts_on_opensearch: Posts, tmp_path: Path
) -> None:
    posts = posts_on_opensearch
    posts.add(*(make_record(n, key=f"post#{n}", event_name="INSERT", at=AT) for n in range(40)))
    posts.add(make_record(99, key="post#99", event_name="INSERT", at=AT, title="refused"))
    posts.add(make_record(98, key="post#98", event_name="INSERT", at=AT, title="refused"))
    mapping = tmp_path / "strict.json"
    mapping.write_text(
        json.dumps({"mappings": {"dynamic": "strict", "properties": {"id": {"type": "keyword"}}}})
    )
    result = posts.run("rebuild", "--mapping", str(mapping), "--max-errors", "1", *SPARK, code=1)
    assert "2 documents were refused" in result.stderr
    assert "--max-errors 1" in result.stderr
    assert posts.targets() == []
    assert list_rebuilt_indexes(posts.engine.sink, posts.alias) == []
    summary = posts.run_json("rebuild", "--mapping", str(mapping), "--max-errors", "2", *SPARK)
    assert (summary["documents"], summary["failed"]) == (40, 2)


def snapshot_ttl_history(posts: Posts) -> None:
    """A TTL delete, and a snapshot whose rows and REMOVE rows share a second with stream records.

    post#1: edited by the stream in the snapshot's second (the stream wins over the snapshot
    row); post#2: expired by TTL; post#3: not found by the snapshot (its REMOVE row); post#4:
    only in the snapshot; post#5: not found by the snapshot, then written by the stream in the
    same second (the stream record wins over the REMOVE row).
    """
    posts.add(
        make_record(1, key="post#1", event_name="INSERT", at=AT, title="one"),
        make_record(2, key="post#2", event_name="INSERT", at=AT + 1, title="two"),
        make_record(3, key="post#3", event_name="INSERT", at=AT + 2, title="three"),
        make_record(4, key="post#5", event_name="INSERT", at=AT + 3, title="five"),
    )
    expired = make_record(5, key="post#2", event_name="REMOVE", at=AT + 30)
    expired["userIdentity"] = {"type": "Service", "principalId": TTL_PRINCIPAL}
    posts.add(expired)
    store = make_store(parse_archive_uri(posts.archive))
    taken = datetime.fromtimestamp(AT + 40, UTC)
    snapshot = {"table_name": "posts", "snapshot_id": "s1", "archived_at": taken}
    items = [{"id": {"S": key}, "title": {"S": "snapped"}} for key in ("post#1", "post#4")]
    archive_snapshot_items(items, store, key_names=["id"], snapshot_at=taken, **snapshot)
    absent = [
        absent_item_row(
            {"item_key": f"id={key}", "keys": json.dumps({"id": key}), "keys_ddb": "{}"},
            taken_at=taken,
            **snapshot,
        )
        for key in ("post#3", "post#5")
    ]
    archive_rows(absent, store, table_name="posts", archived_at=taken)
    posts.add(
        make_record(6, key="post#1", at=AT + 40, title="one after the snapshot"),
        make_record(7, key="post#5", event_name="INSERT", at=AT + 40, title="five again"),
    )


def test_spark_runner_follows_id_templates_ttl_keep_and_snapshot_removes(
    twins: tuple[Posts, Posts],
) -> None:
    duckdb, spark = twins
    snapshot_ttl_history(duckdb)
    flags = ("--id", "{id}", "--ttl-deletes", "keep")
    by_duckdb = duckdb.run_json("rebuild", *flags)
    by_spark = spark.run_json("rebuild", *flags, *SPARK)
    for key in ("documents", "removed_items", "skipped", "failed", "watermark"):
        assert by_spark[key] == by_duckdb[key], key
    documents = spark.documents()
    assert documents == duckdb.documents()
    titles = {key: source["title"] for key, (_, source) in documents.items()}
    assert titles == {
        "post#1": "one after the snapshot",
        "post#2": "two",
        "post#4": "snapped",
        "post#5": "five again",
    }
    meta = spark.engine.sink.get_meta(spark.alias)
    assert without_times(meta) == without_times(duckdb.engine.sink.get_meta(duckdb.alias))


def _keys_only(record: dict[str, Any]) -> dict[str, Any]:
    """The record as a KEYS_ONLY stream delivers it: no image."""
    record["dynamodb"]["StreamViewType"] = "KEYS_ONLY"
    record["dynamodb"].pop("NewImage", None)
    return record


def test_spark_runner_refuses_what_the_duckdb_runner_refuses(posts_on_opensearch: Posts) -> None:
    posts = posts_on_opensearch
    posts.add(make_record(1, key="post#1", event_name="INSERT", at=AT, title="one"))
    posts.add(_keys_only(make_record(2, key="post#2", event_name="INSERT", at=AT + 5)))
    refusals = {
        ("--id", "{slug}", "--as-of", "2025-11-28T00:00:01Z"): "Error: --id '{slug}' names slug",
        ("--dry-run",): "Error: table posts: the newest records of 1 items carry no image",
    }
    for flags, refusal in refusals.items():
        by_duckdb = posts.run("rebuild", *flags, code=1).output
        assert by_duckdb.startswith(refusal)
        assert posts.run("rebuild", *flags, *SPARK, code=1).output == by_duckdb
    assert posts.targets() == []
    assert list_rebuilt_indexes(posts.engine.sink, posts.alias) == []
