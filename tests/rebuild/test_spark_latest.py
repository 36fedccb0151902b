"""Spark's latest records held to the definition, ``latest_records_sql``, on generated histories.

Each example is a batch of histories, one table each, so that one Spark job checks them all:
same-second changes, redeliveries (later, in another file), snapshot rows, removes, keys over
512 bytes, and an as-of point. The (item, version, event, document) sets and the bulk entries
must be identical.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb
import orjson
import pyarrow as pa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from changelake.rebuild.latest_images import DOCUMENT_ID_SQL, ENTRY_SQL
from changelake.rebuild.spark_latest import latest_records, upserts_to_load
from changelake.schemas.change_record import SEQUENCE_ORDER_WIDTH
from changelake.schemas.sql_views import latest_records_sql

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

T0 = datetime(2026, 11, 20, 9, 0, 0, tzinfo=UTC)
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
        ("new_image", pa.string()),
        ("archived_at", pa.timestamp("us", tz="UTC")),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
        ("dt", pa.date32()),
    ]
)
LONG_KEY = "id=" + "k" * 600

# One change of an item: which item, what happened, seconds after the previous change (0: the
# same second), and whether it is delivered a second time.
changes = st.tuples(
    st.sampled_from(["id=a", "id=b", LONG_KEY]),
    st.sampled_from(["INSERT", "MODIFY", "REMOVE", "SNAPSHOT"]),
    st.integers(min_value=0, max_value=2),
    st.booleans(),
)
histories = st.lists(changes, min_size=1, max_size=8)


def history_to_rows(table: str, history: list[tuple[str, str, int, bool]]) -> list[dict[str, Any]]:
    """Change rows as the archive holds them, written in time order to files ``f0``, ``f1``...

    Stream records carry whole seconds and growing sequence numbers; a snapshot row carries the
    scan's time to the microsecond and no sequence number. A redelivery is a copy archived a
    minute later in a file of its own.
    """
    rows: list[dict[str, Any]] = []
    moment = T0
    for n, (key, event_name, gap, redelivered) in enumerate(history):
        moment += timedelta(seconds=gap)
        snapshot = event_name == "SNAPSHOT"
        sequence = None if snapshot else str(1000 + n)
        row = {
            "table_name": table,
            "event_id": f"{table}-e{n:03d}",
            "event_name": event_name,
            "item_key": key,
            "keys": "{}",
            "sequence_number": sequence,
            "sequence_order": sequence.zfill(SEQUENCE_ORDER_WIDTH) if sequence else None,
            "approximate_creation_time": moment + timedelta(microseconds=n) if snapshot else moment,
            "new_image": None if event_name == "REMOVE" else f'{{"{table}":{n}}}',
            "archived_at": moment + timedelta(seconds=5),
            "source_file": f"f{n // 3}",
            "source_row": n % 3,
            "dt": moment.date(),
        }
        rows.append(row)
        if redelivered:
            copy = {**row, "archived_at": moment + timedelta(minutes=1)}
            rows.append({**copy, "source_file": f"g{n}", "source_row": 0})
    return rows


def duckdb_latest(table: pa.Table, as_of: datetime) -> set[tuple[Any, ...]]:
    """The definition: ``latest_records_sql`` with its document ids and bulk entries."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("changes", table)
    where = f"approximate_creation_time <= TIMESTAMPTZ '{as_of.isoformat()}'"
    records = latest_records_sql("changes", where)
    found = connection.execute(
        f"SELECT table_name, item_key, version, event_name, new_image, {DOCUMENT_ID_SQL} "
        f"AS document_id FROM ({records})"
    ).fetchall()
    entries = connection.execute(
        f"SELECT ({ENTRY_SQL}) FROM (SELECT *, {DOCUMENT_ID_SQL} AS document_id FROM ({records})) "
        "WHERE event_name <> 'REMOVE'"
    ).fetchall()
    return {tuple(row) for row in found} | {("entry", _parsed(e)) for (e,) in entries}


def spark_latest(spark: SparkSession, table: pa.Table, as_of: datetime) -> set[tuple[Any, ...]]:
    """The Spark runner's latest records, document ids and bulk entries."""
    from pyspark.sql import functions as F

    from changelake.rebuild.spark_latest import document_id_column

    latest = latest_records(spark.createDataFrame(table), as_of).cache()
    found = latest.select(
        "table_name", "item_key", "version", "event_name", "new_image",
        document_id_column().alias("document_id"),
    ).collect()  # fmt: skip
    entries = upserts_to_load(latest, entries=True).where(F.col("entry").isNotNull()).collect()
    latest.unpersist()
    return {tuple(row) for row in found} | {("entry", _parsed(row.entry)) for row in entries}


def _parsed(entry: str) -> tuple[str, ...]:
    """An NDJSON entry's lines as canonical JSON (the engines format the action alike)."""
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
@given(batch=st.lists(histories, min_size=10, max_size=25), as_of_offset=st.integers(0, 12))
def test_spark_latest_records_are_the_definitions(
    spark: SparkSession, batch: list[list[tuple[str, str, int, bool]]], as_of_offset: int
) -> None:
    rows = [row for n, history in enumerate(batch) for row in history_to_rows(f"t{n}", history)]
    table = pa.Table.from_pylist(rows, schema=COLUMNS)
    as_of = T0 + timedelta(seconds=as_of_offset)
    expected = duckdb_latest(table, as_of)
    assert spark_latest(spark, table, as_of) == expected
    everything = T0 + timedelta(days=1)
    assert spark_latest(spark, table, everything) == duckdb_latest(table, everything)
