"""``rebuild --runner spark``: the latest records computed by Spark, loaded from its executors.

The driver keeps the index lifecycle (``rebuild_index``); this runner replaces "compute the latest
records and load their documents" (``latest_runner.LatestRunner``). Each partition of the latest
upserts is sent by the executor that holds it, with the project's bulk code
(``replay.load_batches``: byte-bounded requests, retries with backoff, per-item failures) through
a sink the executor builds from ``make_sink``; the partitions' counts are summed in the driver.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import functions as F

from changelake.rebuild.bulk import BulkStats, ItemFailure
from changelake.rebuild.latest_images import LatestCounts, images_not_in_stream_error
from changelake.rebuild.replay import ReplayResult, bulk_loader, load_batches
from changelake.rebuild.spark_latest import (
    check_document_ids,
    latest_records,
    read_changes,
    selection_filter,
    upserts_to_load,
)
from changelake.schemas.exceptions import RebuildError
from changelake.schemas.sql_views import IMAGE_NOT_IN_STREAM, NO_NEW_IMAGE_VIEW_TYPES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from pyspark.sql import DataFrame, SparkSession

    from changelake.rebuild.latest_images import Selection
    from changelake.rebuild.replay import OnProgress, ReplayOptions
    from changelake.rebuild.search_sink import SearchSink

# One row per partition: its bulk counts, how many records it skipped, and its failures.
_COUNTS = ("indexed", "deleted", "not_found", "version_conflicts", "requests", "retries")
PARTITION_RESULT = pa.schema(
    [*(pa.field(name, pa.int64()) for name in (*_COUNTS, "failed", "skipped")),
     pa.field("failures", pa.string())]
)  # fmt: skip
_FAILURES_KEPT = 5


def load_partition(
    batches: Iterator[pa.RecordBatch],
    make_sink: Callable[[], SearchSink],
    index: str,
    options: ReplayOptions,
) -> Iterator[pa.RecordBatch]:
    """Send one partition's upserts to ``index`` (on an executor); one row of counts.

    A partition that passes ``max_errors`` on its own stops there; the driver adds up every
    partition's failures and decides.
    """
    loader = bulk_loader(make_sink(), index, options)
    try:
        skipped = load_batches(batches, loader, options, with_removes=False).skipped
    except RebuildError:
        skipped = 0
    stats = loader.stats
    # Up to one past --max-errors: a run that passes it fails, one within it reports them all.
    failures = [
        {"id": f.document_id, "status": f.status, "reason": f.reason}
        for f in stats.failures[: options.max_errors + 1]
    ]
    row = {name: [getattr(stats, name)] for name in _COUNTS}
    row |= {"failed": [len(stats.failures)], "skipped": [skipped]}
    row["failures"] = [json.dumps(failures)]
    yield pa.RecordBatch.from_pydict(row, schema=PARTITION_RESULT)


def partition_rows_to_result(rows: list[dict[str, Any]]) -> tuple[ReplayResult, int]:
    """The partitions' counts summed; and how many documents were refused in all."""
    stats, skipped, failed = BulkStats(), 0, 0
    for row in rows:
        part = BulkStats(**{name: row[name] for name in _COUNTS})
        part.failures = [
            ItemFailure(f["id"], f["status"], f["reason"]) for f in json.loads(row["failures"])
        ]
        stats.add(part)
        skipped += row["skipped"]
        failed += row["failed"]
    return ReplayResult(stats=stats, skipped=skipped), failed


class SparkRunner:
    """The latest records of a selection computed by Spark and sent from its executors.

    ``make_sink`` builds a search sink on an executor: it is pickled with its arguments (the
    engine URL and options), so it must be importable there, as ``changelake.clients`` is.
    """

    def __init__(
        self,
        spark: SparkSession,
        archive_url: str,
        selection: Selection,
        make_sink: Callable[[], SearchSink],
    ) -> None:
        self.spark = spark
        self.selection = selection
        self.make_sink = make_sink
        # Listed once: the watermark and the latest records read the same files.
        self.changes = read_changes(spark, archive_url, selection.table_name)
        self._latest: DataFrame | None = None

    def watermark(self) -> datetime | None:
        """The newest ``archived_at`` of the table; None when it has no changes."""
        if self.changes is None:
            return None
        (micros,) = self.changes.agg(F.unix_micros(F.max("archived_at"))).first() or (None,)
        if micros is None:
            return None
        return datetime.fromtimestamp(micros // 1_000_000, UTC).replace(
            microsecond=micros % 1_000_000
        )

    def latest(self) -> DataFrame:
        """The latest records, computed once and kept on the executors' disks until ``close``.

        On disk, not in memory: Spark's in-memory cache builds each column of a batch on the
        heap, and a batch of images overran a 1 GB local driver (5M changes / 500k items).
        """
        if self._latest is None:
            if self.changes is None:
                raise RebuildError(f"table {self.selection.table_name!r} has no changes")
            latest = latest_records(self.changes, self.selection)
            self._latest = latest.persist(StorageLevel.DISK_ONLY)
        return self._latest

    def counts(self) -> LatestCounts:
        """Upserts and removes among the latest records."""
        is_remove = F.col("event_name") == "REMOVE"
        row = (
            self.latest()
            .agg(F.count_if(~is_remove).alias("upserts"), F.count_if(is_remove).alias("removes"))
            .first()
        )
        return LatestCounts(
            upserts=row["upserts"] if row else 0, removes=row["removes"] if row else 0
        )

    def check_images_in_stream(self) -> None:
        """Refuse latest upserts that lack images because of the stream (``IMAGE_NOT_IN_STREAM``).

        ``latest_images.check_images_in_stream``'s questions and refusal: whether any selected
        record comes from a stream without new images (one narrow column), and only then which
        latest records lack their images.
        """
        if self.changes is None:
            return
        without = F.col("stream_view_type").isin(*NO_NEW_IMAGE_VIEW_TYPES)
        if self.changes.where(selection_filter(self.selection) & without).isEmpty():
            return
        missing = (
            self.latest()
            .where(F.expr(IMAGE_NOT_IN_STREAM))
            .groupBy("stream_view_type")
            .count()
            .orderBy("stream_view_type")
            .collect()
        )
        if missing:
            found = [(row["stream_view_type"], row["count"]) for row in missing]
            raise images_not_in_stream_error(self.selection.table_name, found)

    def check_document_ids(self, id_rule: str) -> None:
        """Refuse an ``--id`` template the latest records' keys cannot fill, or fill alike."""
        check_document_ids(self.latest(), id_rule)

    def count_without_image(self) -> int:
        """Latest upserts that have no image."""
        without = (F.col("event_name") != "REMOVE") & F.col("new_image").isNull()
        return self.latest().where(without).count()

    def load(
        self, sink: SearchSink, index: str, options: ReplayOptions, on_progress: OnProgress
    ) -> ReplayResult:
        """Send every latest upsert to ``index`` from the executors; the summed counts.

        In a fresh index a version conflict means the document is already there with that
        version: a task Spark ran again after losing it re-sent what its first attempt had
        written. Those count as indexed, so the load check compares like with like.
        """
        upserts = upserts_to_load(
            self.latest(), self.selection.id_rule, entries=options.transform is None
        )
        send = partial(load_partition, make_sink=self.make_sink, index=index, options=options)
        schema = ", ".join(f"{field.name} {_spark_type(field.type)}" for field in PARTITION_RESULT)
        rows = [row.asDict() for row in upserts.mapInArrow(send, schema).collect()]
        result, failed = partition_rows_to_result(rows)
        result.stats.indexed += result.stats.version_conflicts
        result.stats.version_conflicts = 0
        on_progress(result.stats.indexed + result.skipped + failed)
        if failed > options.max_errors:
            shown = "; ".join(map(str, result.stats.failures[:_FAILURES_KEPT]))
            raise RebuildError(
                f"{failed} documents were refused by {index!r}, more than --max-errors "
                f"{options.max_errors}: {shown}"
            )
        return result

    def close(self) -> None:
        """Drop the kept latest records."""
        if self._latest is not None:
            self._latest.unpersist()
            self._latest = None


def _spark_type(data_type: pa.DataType) -> str:
    return "string" if pa.types.is_string(data_type) else "bigint"
