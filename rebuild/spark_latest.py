"""The latest record of every item and its external version, computed by Spark.

The definition is DuckDB's, ``changelake.schemas.sql_views.latest_records_sql``; this module is the
same rule in Spark's DataFrame API, step for step (``latest_records``), and
``tests/rebuild/test_spark_latest.py`` holds it to the definition on generated histories. Nothing
here connects anywhere: the session comes from ``changelake.spark_session``.
"""

from __future__ import annotations

from functools import reduce
from operator import and_
from typing import TYPE_CHECKING

from pyspark.errors import AnalysisException
from pyspark.sql import Column, Window
from pyspark.sql import functions as F

from changelake.rebuild.document_ids import (
    CANONICAL_ID,
    UNESCAPES,
    key_present_text,
    key_value_pattern,
    missing_attribute_error,
    shared_id_error,
    template_attributes,
    template_pieces,
)
from changelake.rebuild.search_sink import MAX_ID_BYTES
from changelake.schemas.archive_layout import table_dir
from changelake.schemas.change_record import SNAPSHOT_EVENT_ID_PREFIX
from changelake.schemas.exceptions import RebuildError
from changelake.schemas.sql_views import (
    FIRST_DELIVERY,
    LATEST_RECORD_COLUMNS,
    RECORD_IDENTITY,
    TTL_DELETE_SQL,
    VERSION_ORDINAL_BITS,
)

if TYPE_CHECKING:
    from datetime import datetime

    from pyspark.sql import DataFrame, SparkSession

    from changelake.rebuild.latest_images import Selection

ITEM = ("table_name", "item_key")


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


def selection_filter(selection: Selection) -> Column:
    """``Selection.where_sql`` as a Spark condition: the rows a rebuild's selection counts.

    A TTL delete is ``TTL_DELETE_SQL`` itself, which Spark SQL reads as DuckDB does.
    """
    if selection.since is not None:
        raise RebuildError("the Spark runner rebuilds whole tables; sync runs on DuckDB")
    condition = F.col("table_name") == F.lit(selection.table_name)
    if selection.ttl_deletes == "keep":
        condition &= ~F.expr(TTL_DELETE_SQL)
    if selection.as_of is not None:
        condition &= F.col("approximate_creation_time") <= timestamp_column(selection.as_of)
    return condition


def latest_records(changes: DataFrame, selection: Selection) -> DataFrame:
    """The newest record of every selected item, removed items included, with ``version``.

    The rule is ``changelake.schemas.sql_views``' (``latest_records_sql``), step for step, with
    its column lists imported; the comments name the definition each step follows.
    ``tests/rebuild/test_spark_latest.py`` holds the two to identical results on generated
    histories. Every window is partitioned by the item first, and each window's partitioning
    holds the item's columns, so Spark shuffles the records once.
    """
    # Only the columns the rule and its result need travel through the shuffle (not the old
    # image, nor the DynamoDB-typed forms: two thirds of a change's bytes).
    needed = {*ITEM, *RECORD_IDENTITY, *FIRST_DELIVERY, *LATEST_RECORD_COLUMNS, "sequence_order"}
    changes = changes.where(selection_filter(selection))
    changes = changes.select(*(name for name in changes.columns if name in needed))
    item = Window.partitionBy(*ITEM)
    # CHANGE_SECOND; only the rows of the item's newest second go on (newest_seconds).
    records = changes.withColumn("change_second", F.unix_seconds("approximate_creation_time"))
    in_newest_second = records.withColumn("newest_second", F.max("change_second").over(item)).where(
        F.col("change_second") == F.col("newest_second")
    )
    # first_deliveries_sql: one row per RECORD_IDENTITY, the first in FIRST_DELIVERY order.
    identity = Window.partitionBy(*RECORD_IDENTITY).orderBy(*FIRST_DELIVERY)
    first_deliveries = in_newest_second.withColumn("copy", F.row_number().over(identity)).where(
        F.col("copy") == 1
    )
    # ORDER_IN_SECOND, newest first: rows a snapshot wrote (FROM_SNAPSHOT) before stream
    # records, the full-precision creation time, coalesce(sequence_order, ''), source_file,
    # source_row, event_id.
    from_snapshot = (F.col("event_name") == "SNAPSHOT") | F.col("event_id").startswith(
        SNAPSHOT_EVENT_ID_PREFIX
    )
    newest_first = item.orderBy(
        (~from_snapshot).desc(),
        F.col("approximate_creation_time").desc(),
        F.coalesce(F.col("sequence_order"), F.lit("")).desc(),
        F.col("source_file").desc(),
        F.col("source_row").desc(),
        F.col("event_id").desc(),
    )
    ranked = first_deliveries.withColumn("rank", F.row_number().over(newest_first)).withColumn(
        "in_second", F.count(F.lit(1)).over(item)
    )
    # _last_version_sql: second << VERSION_ORDINAL_BITS, plus the records in it, minus one.
    version = F.shiftleft(F.col("change_second"), VERSION_ORDINAL_BITS) + F.col("in_second") - 1
    return ranked.where(F.col("rank") == 1).select(
        *ITEM, *LATEST_RECORD_COLUMNS, version.alias("version")
    )


def _key_value_column(name: str) -> Column:
    """``key_value_sql``: key attribute ``name``'s text read back from the item key."""
    text = F.regexp_extract(F.concat(F.lit("&"), F.col("item_key")), key_value_pattern(name), 1)
    for escaped, character in UNESCAPES:
        text = F.replace(text, F.lit(escaped), F.lit(character))
    return text


def document_id_column(rule: str = CANONICAL_ID) -> Column:
    """The document ``_id`` by ``rule``: ``document_ids.document_id_sql`` in Spark.

    The canonical key or the template filled from the key's attributes; over 512 bytes,
    ``sha256:<hex>`` of it.
    """
    if rule == CANONICAL_ID:
        text = F.col("item_key")
    else:
        parts = [
            _key_value_column(piece) if position % 2 else F.lit(piece)
            for position, piece in enumerate(template_pieces(rule))
            if piece
        ]
        text = F.concat(*parts)
    hashed = F.concat(F.lit("sha256:"), F.sha2(text, 256))
    return F.when(F.octet_length(text) > MAX_ID_BYTES, hashed).otherwise(text)


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


def check_document_ids(latest: DataFrame, rule: str) -> None:
    """``document_ids.check_document_ids`` over the latest records (one row per item).

    Raises the same errors, naming the same items: the first key (in byte order) that lacks a
    named attribute, else the first ``_id`` two items would share.
    """
    names = template_attributes(rule)
    if not names:
        return
    key = F.concat(F.lit("&"), F.col("item_key"))
    present = reduce(and_, (key.contains(key_present_text(name)) for name in names))
    (lacking,) = latest.where(~present).agg(F.min("item_key")).first() or (None,)
    if lacking is not None:
        raise missing_attribute_error(rule, lacking)
    shared = (
        latest.groupBy(document_id_column(rule).alias("document_id"))
        .agg(F.count(F.lit(1)).alias("items"), F.min("item_key"), F.max("item_key"))
        .where(F.col("items") > 1)
        .orderBy("document_id")
        .first()
    )
    if shared is not None:
        document_id, _, first, second = shared
        raise shared_id_error(rule, document_id, first, second)


def upserts_to_load(latest: DataFrame, id_rule: str, *, entries: bool) -> DataFrame:
    """The latest upserts as a rebuild sends them: ``iter_latest_batches``' two forms.

    With ``entries``, one column ``entry``; without, ``document_id``, ``item_key``,
    ``event_name``, ``version`` and ``new_image`` for a transform. ``id_rule`` names them.
    """
    upserts = latest.where(F.col("event_name") != "REMOVE").withColumn(
        "document_id", document_id_column(id_rule)
    )
    if entries:
        return upserts.select(entry_column().alias("entry"))
    return upserts.select("document_id", "item_key", "event_name", "version", "new_image")
