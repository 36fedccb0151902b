"""Published samples whose records tie on time and sequence number keep the order of their batch.

Both samples hold two records of one item in one second with one sequence number, and event ids
that sort the other way. Before, the order fell back to the event id: history listed the .NET
sample's TTL REMOVE before the INSERT it deleted, and latest returned the item as live.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from changelake.archiver.batch import archive_records
from changelake.archiver.compaction import compact_partition, plan_compaction
from changelake.clients import connect_duckdb, make_store, open_read_only_archive
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.sql_views import TTL_PRINCIPAL
from tests.helpers import load_event

SAMPLES = [
    ("dotnet-dynamodb-event.json", ["INSERT", "REMOVE"], ["user", "TTL"], False),
    # A Service identity on an INSERT is no TTL expiry: only REMOVEs are.
    ("rust-dynamodb-event.json", ["INSERT", "INSERT"], [TTL_PRINCIPAL, "user"], True),
]
KEY = "key=binary&val=data"
ARCHIVED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _story(archive: str) -> dict[str, Any]:
    connection = open_read_only_archive(parse_archive_uri(archive))
    history = connection.execute(
        "SELECT event_id, event_name, version FROM history('Example-Table', ?)", [KEY]
    ).fetchall()
    latest = connection.execute("SELECT event_id, version FROM latest").fetchall()
    (records,) = connection.execute("SELECT count(*) FROM changes").fetchone()
    return {"history": history, "latest": latest, "records": records}


@pytest.mark.parametrize(("name", "events", "who", "live"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_sample_keeps_its_batch_order_through_redelivery_and_compaction(
    local_archive: str, name: str, events: list[str], who: list[str], live: bool
) -> None:
    records = load_event(name)["Records"]
    store = make_store(parse_archive_uri(local_archive))
    archive_records(records, store, archived_at=ARCHIVED)
    story = _story(local_archive)
    assert [(e, n) for e, n, _ in story["history"]] == [
        (r["eventID"], r["eventName"]) for r in records
    ]
    assert [n for _, n, _ in story["history"]] == events
    last_id, _, last_version = story["history"][-1]
    assert story["latest"] == ([(last_id, last_version)] if live else [])
    assert story["records"] == 2
    connection = open_read_only_archive(parse_archive_uri(local_archive))
    assert [w for (w,) in connection.execute("SELECT who FROM history(?)", [KEY]).fetchall()] == who

    # The first record delivered again in a batch of its own, later: nothing changes.
    archive_records(records[:1], store, archived_at=ARCHIVED + timedelta(minutes=1))
    assert _story(local_archive) == story
    # Compaction rewrites both files into one, each record once, in the same order.
    duckdb = connect_duckdb(parse_archive_uri(local_archive))
    (plan,) = plan_compaction(store, duckdb, "Example-Table")
    assert compact_partition(plan, store, duckdb).duplicates_dropped == 1
    assert _story(local_archive) == story
