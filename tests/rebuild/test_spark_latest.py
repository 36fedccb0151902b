"""Spark's latest records held to the definition, ``latest_records_sql``, on generated histories.

Each example is a batch of item histories in one table, so that one Spark job checks them all,
as of a generated instant and as of the end, with TTL deletes counted or kept. The histories mix
what decides the order where the rules could differ: stream records in one second with equal or
growing sequence numbers (then the batch position decides), one eventID reused with another
sequence number, redeliveries (later, or at the same time from a file that sorts first),
Kinesis-style records with sub-second times and no sequence number, snapshot rows and a
snapshot's REMOVE rows in the same second as stream records, TTL deletes, a KEYS_ONLY record,
keys over 512 bytes, and days that change at midnight. The (item, version, event, view type,
image, document id, bulk entry) sets must be identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import TYPE_CHECKING, Any

import duckdb
import orjson
import pyarrow as pa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from changelake.rebuild.latest_images import DOCUMENT_ID_SQL, ENTRY_SQL, Selection
from changelake.rebuild.spark_latest import document_id_column, entry_column, latest_records
from changelake.schemas.change_record import (
    SEQUENCE_ORDER_WIDTH,
    keys_to_item_key,
    snapshot_event_id,
)
from changelake.schemas.sql_views import CHANGE_ROWS, TTL_PRINCIPAL, latest_records_sql

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

TABLE = "posts"
# Two seconds before midnight: a history's records fall on two days (two ``dt`` partitions).
T0 = datetime(2026, 11, 20, 23, 59, 58, tzinfo=UTC)
COLUMNS = pa.schema(
    [
        ("table_name", pa.string()),
        ("event_id", pa.string()),
        ("event_name", pa.string()),
        ("item_key", pa.string()),
        ("keys", pa.string()),
        ("sequence_number", pa.string()),
        ("sequence_order", pa.string()),
        ("approximate_creation_time", pa.timestamp("us", tz="UTC")),
        ("user_identity", pa.struct([("type", pa.string()), ("principal_id", pa.string())])),
        ("stream_view_type", pa.string()),
        ("new_image", pa.string()),
        ("archived_at", pa.timestamp("us", tz="UTC")),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
        ("dt", pa.date32()),
    ]
)
LONG = "k" * 600

# Where a change comes from: a DynamoDB stream (whole seconds, sequence numbers), a Kinesis
# stream (milliseconds, none), a snapshot (microseconds, none; its REMOVE for an item it did not
# find has the snapshot's event id), TTL expiry, or a KEYS_ONLY stream (no image).
KINDS = (
    "INSERT", "MODIFY", "REMOVE", "TTL", "KEYS_ONLY", "KINESIS", "SNAPSHOT", "SNAPSHOT_REMOVE",
)  # fmt: skip
SUB_SECOND = {"KINESIS", "SNAPSHOT", "SNAPSHOT_REMOVE"}
NO_SEQUENCE = SUB_SECOND


@dataclass(frozen=True)
class Change:
    """One generated change of an item, and how it reaches the archive."""

    key: str
    kind: str
    gap: int  # seconds after the previous change (0: the same second)
    micros: int  # into its second, for sources with sub-second times
    same_sequence: bool  # the previous stream record's sequence number again
    reused_event_id: bool  # the previous record's eventID again
    redelivery: str  # "", "later" (archived later), "first" (same time, a file sorting first)


changes = st.builds(
    Change,
    key=st.sampled_from(["a", "b", LONG]),
    kind=st.sampled_from(KINDS),
    gap=st.integers(0, 2),
    micros=st.sampled_from([0, 1, 500_000, 500_001, 999_999]),
    same_sequence=st.booleans(),
    reused_event_id=st.booleans(),
    redelivery=st.sampled_from(["", "", "later", "first"]),
)
histories = st.lists(changes, min_size=1, max_size=10)


def history_to_rows(number: int, history: list[Change]) -> list[dict[str, Any]]:
    """Change rows as the archive holds them: files ``f0``, ``f1``... of three rows, in order."""
    rows: list[dict[str, Any]] = []
    second, sequence, event_id = T0, 1000, ""
    for n, change in enumerate(history):
        second += timedelta(seconds=change.gap)
        kind = change.kind
        item_key = keys_to_item_key({"id": {"S": change.key}, "h": {"N": str(number)}})
        moment = second + timedelta(microseconds=change.micros if kind in SUB_SECOND else 0)
        if kind not in NO_SEQUENCE and not change.same_sequence:
            sequence += 1
        if kind in {"SNAPSHOT", "SNAPSHOT_REMOVE"}:
            event_id = snapshot_event_id(f"s{number}-{n}", item_key)
        elif not (change.reused_event_id and event_id):
            event_id = f"h{number}-e{n}"
        number_text = None if kind in NO_SEQUENCE else str(sequence)
        removed = kind in {"REMOVE", "TTL", "SNAPSHOT_REMOVE"}
        row = {
            "table_name": TABLE,
            "event_id": event_id,
            "event_name": {"TTL": "REMOVE", "SNAPSHOT_REMOVE": "REMOVE", "KEYS_ONLY": "MODIFY"}.get(
                kind, "INSERT" if kind == "KINESIS" else kind
            ),
            "item_key": item_key,
            "keys": "{}",
            "sequence_number": number_text,
            "sequence_order": number_text.zfill(SEQUENCE_ORDER_WIDTH) if number_text else None,
            "approximate_creation_time": moment,
            "user_identity": {"type": "Service", "principal_id": TTL_PRINCIPAL}
            if kind == "TTL"
            else None,
            "stream_view_type": None
            if kind in {"SNAPSHOT", "SNAPSHOT_REMOVE"}
            else ("KEYS_ONLY" if kind == "KEYS_ONLY" else "NEW_AND_OLD_IMAGES"),
            "new_image": None if removed or kind == "KEYS_ONLY" else f'{{"h":{number},"n":{n}}}',
            "archived_at": second + timedelta(seconds=5),
            "source_file": f"f{n // 3}",
            "source_row": n % 3,
            "dt": moment.date(),
        }
        rows.append(row)
        if change.redelivery == "later":
            copy = {"archived_at": second + timedelta(minutes=1), "source_file": f"g{n}"}
            rows.append({**row, **copy, "source_row": 0})
        elif change.redelivery == "first":
            rows.append({**row, "source_file": f"a{n}", "source_row": 0})
    return rows


def duckdb_latest(table: pa.Table, selections: list[Selection]) -> set[tuple[Any, ...]]:
    """The definition: ``latest_records_sql`` of each selection, ids and bulk entries."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register(CHANGE_ROWS, table)
    found: set[tuple[Any, ...]] = set()
    for point, selection in enumerate(selections):
        records = latest_records_sql(CHANGE_ROWS, selection.where_sql())
        rows = connection.execute(
            f"SELECT item_key, version, event_name, stream_view_type, new_image, document_id, "
            f"CASE WHEN event_name <> 'REMOVE' THEN {ENTRY_SQL} END "
            f"FROM (SELECT *, {DOCUMENT_ID_SQL} AS document_id FROM ({records}))"
        ).fetchall()
        found |= {(point, *row[:-1], _parsed(row[-1])) for row in rows}
    return found


def spark_latest(
    spark: SparkSession, table: pa.Table, selections: list[Selection]
) -> set[tuple[Any, ...]]:
    """The Spark runner's latest records of each selection, ids and bulk entries: one job."""
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    changes = spark.createDataFrame(table)
    parts: list[DataFrame] = [
        latest_records(changes, selection)
        .withColumn("point", F.lit(point))
        .withColumn("document_id", document_id_column())
        for point, selection in enumerate(selections)
    ]
    latest = reduce(DataFrame.unionByName, parts)
    entry = F.when(F.col("event_name") != "REMOVE", entry_column())
    rows = latest.select(
        "point", "item_key", "version", "event_name", "stream_view_type", "new_image",
        "document_id", entry.alias("entry"),
    ).collect()  # fmt: skip
    return {(*row[:-1], _parsed(row[-1])) for row in rows}


def _parsed(entry: str | None) -> tuple[str, ...] | None:
    """An NDJSON entry's lines as canonical JSON (the engines format the action alike)."""
    if entry is None:
        return None
    return tuple(
        orjson.dumps(orjson.loads(line), option=orjson.OPT_SORT_KEYS).decode()
        for line in entry.splitlines()
    )


# No shrinking: each example is a Spark job, and the failing batch's difference is printed anyway.
@settings(
    max_examples=6,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    batch=st.lists(histories, min_size=5, max_size=20),
    as_of_micros=st.integers(0, 12_000_000),
    ttl_deletes=st.sampled_from(["delete", "keep"]),
)
def test_spark_latest_records_are_the_definitions(
    spark: SparkSession, batch: list[list[Change]], as_of_micros: int, ttl_deletes: str
) -> None:
    rows = [row for n, history in enumerate(batch) for row in history_to_rows(n, history)]
    table = pa.Table.from_pylist(rows, schema=COLUMNS)
    selections = [
        Selection(TABLE, as_of=T0 + timedelta(microseconds=as_of_micros), ttl_deletes=ttl_deletes),
        Selection(TABLE, ttl_deletes=ttl_deletes),
    ]
    expected = duckdb_latest(table, selections)
    found = spark_latest(spark, table, selections)
    assert found == expected, (sorted(found - expected), sorted(expected - found))
