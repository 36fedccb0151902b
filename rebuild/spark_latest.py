"""The latest record of every item and its external version, computed by Spark.

The definition is DuckDB's, ``changelake.schemas.sql_views.latest_records_sql``; this module is the
same rule in Spark's DataFrame API, step for step (``latest_records``), and
``tests/rebuild/test_spark_latest.py`` holds it to the definition on generated histories. Nothing
here connects anywhere: the session comes from ``changelake.spark_session``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.errors import AnalysisException
from pyspark.sql import Column, Window
from pyspark.sql import functions as F

from changelake.rebuild.search_sink import MAX_ID_BYTES
from changelake.schemas.archive_layout import table_dir
from changelake.schemas.sql_views import LATEST_RECORD_COLUMNS, VERSION_ORDINAL_BITS

if TYPE_CHECKING:
    from datetime import datetime

    from pyspark.sql import DataFrame, SparkSession

ITEM = ("table_name", "item_key")
_ORDER_COLUMNS = (
    "sequence_number", "sequence_order", "archived_at", "source_file", "source_row",
)  # fmt: skip


def read_changes(spark: SparkSession, archive_url: str, table_name: str) -> DataFrame | None:
    """Every change row of one table with where it is stored; None when the table has none.

    ``source_file`` and ``source_row`` are Spark's ``_metadata.file_path`` and ``row_index``:
    the file's URL and the row's position in it, as DuckDB's ``filename`` and
    ``file_row_number``. Only the table's own directory is listed.
    """
    root = archive_url.rstrip("/")
    try:
        files = spark.read.option("basePath", root).parquet(f"{root}/{table_dir(table_name)}")
    except AnalysisException as error:
        # getCondition from pyspark 4; EMR 7 and Glue 5 run Spark 3.5, which has getErrorClass.
        condition = getattr(error, "getCondition", error.getErrorClass)()
        if condition == "PATH_NOT_FOUND":
            return None
        raise
    return files.select(
        "*",
        F.col("_metadata.file_path").alias("source_file"),
        F.col("_metadata.row_index").alias("source_row"),
    )


def timestamp_column(moment: datetime) -> Column:
    """An instant as a Spark timestamp literal, to the microsecond and whatever the time zone."""
    micros = round(moment.timestamp() * 1_000_000)
    return F.timestamp_micros(F.lit(micros))


def latest_records(changes: DataFrame, as_of: datetime | None = None) -> DataFrame:
    """The newest record of every item, removed items included, with ``version``.

    The rule of ``latest_records_sql``, in its order:

    1. only the item's newest second counts (``change_second``: the floor of
       ``approximate_creation_time`` in seconds), so the rest is dropped first;
    2. a record delivered twice counts once: its identity is ``(table_name, event_id,
       sequence_number)`` (null sequence numbers equal), and the first copy by
       ``(archived_at, source_file, source_row)`` stays;
    3. within the second, records are in this order: SNAPSHOT rows before stream records, then
       ``approximate_creation_time`` at full precision, the numeric sequence number
       (``sequence_order``; none sorts first), ``source_file``, ``source_row``, ``event_id``;
       the last one is the item's latest record;
    4. ``version = second << 20 | ordinal``, the ordinal being the number of the item's
       identities earlier in that second: for the latest record, the second's count minus one.

    Every window is partitioned by the item first (an event belongs to one item), so Spark
    shuffles the records once.
    """
    # Only the columns the rule and its result need travel through the shuffle (not the old
    # image, nor the DynamoDB-typed forms: two thirds of a change's bytes).
    needed = {*ITEM, *LATEST_RECORD_COLUMNS, *_ORDER_COLUMNS}
    changes = changes.select(*(name for name in changes.columns if name in needed))
    if as_of is not None:
        changes = changes.where(F.col("approximate_creation_time") <= timestamp_column(as_of))
    item = Window.partitionBy(*ITEM)
    records = changes.withColumn("change_second", F.unix_seconds("approximate_creation_time"))
    in_newest_second = records.withColumn("newest_second", F.max("change_second").over(item)).where(
        F.col("change_second") == F.col("newest_second")
    )

    identity = Window.partitionBy(*ITEM, "event_id", "sequence_number").orderBy(
        "archived_at", "source_file", "source_row"
    )
    first_copies = in_newest_second.withColumn("copy", F.row_number().over(identity)).where(
        F.col("copy") == 1
    )

    newest_first = item.orderBy(
        (F.col("event_name") != "SNAPSHOT").desc(),
        F.col("approximate_creation_time").desc(),
        F.col("sequence_order").desc_nulls_last(),
        F.col("source_file").desc(),
        F.col("source_row").desc(),
        F.col("event_id").desc(),
    )
    ranked = first_copies.withColumn("rank", F.row_number().over(newest_first)).withColumn(
        "in_second", F.count(F.lit(1)).over(item)
    )
    version = F.shiftleft(F.col("change_second"), VERSION_ORDINAL_BITS) + F.col("in_second") - 1
    return (
        ranked.where(F.col("rank") == 1)
        .withColumn("version", version)
        .drop("newest_second", "copy", "rank", "in_second")
    )


def document_id_column() -> Column:
    """The document ``_id``: the item key, or ``sha256:<hex>`` for a key over 512 bytes.

    The rule of ``changelake.rebuild.document_ids.document_id_sql``.
    """
    key = F.col("item_key")
    hashed = F.concat(F.lit("sha256:"), F.sha2(key, 256))
    return F.when(F.octet_length(key) > MAX_ID_BYTES, hashed).otherwise(key)


def entry_column() -> Column:
    """The NDJSON bulk entry of a latest upsert (null without an image), as ``ENTRY_SQL``."""
    action = F.to_json(
        F.struct(
            F.col("document_id").alias("_id"),
            F.col("version"),
            F.lit("external").alias("version_type"),
        )
    )
    entry = F.concat(F.lit('{"index":'), action, F.lit("}\n"), F.col("new_image"), F.lit("\n"))
    return F.when(F.col("new_image").isNotNull(), entry)


def upserts_to_load(latest: DataFrame, *, entries: bool) -> DataFrame:
    """The latest upserts as a rebuild sends them: ``iter_latest_batches``' two forms.

    With ``entries``, one column ``entry``; without, ``document_id``, ``item_key``,
    ``event_name``, ``version`` and ``new_image`` for a transform.
    """
    upserts = latest.where(F.col("event_name") != "REMOVE").withColumn(
        "document_id", document_id_column()
    )
    if entries:
        return upserts.select(entry_column().alias("entry"))
    return upserts.select("document_id", "item_key", "event_name", "version", "new_image")
