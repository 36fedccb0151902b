"""The figures behind ``changelake report``, computed by SQL over one table's change log.

:func:`archive_to_report` takes a DuckDB connection with the ``changes`` view (see
``changelake.clients.open_archive``) and returns plain, JSON-ready rows for each chart. What
the archive alone cannot know comes in as arguments: the poller's stream coverage and gap, and
the index's watermark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from changelake.ask.archive_stats import DEFAULT_SMALL_FILE_SIZE
from changelake.ask.timeline import TIMELINE_COLUMNS, TimelineEntry, rows_to_timeline
from changelake.schemas.sql_views import WHO_SQL, history_sql, quote_literal

if TYPE_CHECKING:
    from datetime import date, datetime

    from duckdb import DuckDBPyConnection

PERCENTILES = (0.5, 0.9, 0.99)
PERCENTILE_NAMES = ("p50", "p90", "p99", "max")
DEFAULT_TOP_ITEMS = 20
# The newest changes of each top item shown in the report (a timeline page shows them all).
DEFAULT_TIMELINE_CHANGES = 50


@dataclass(frozen=True)
class StreamCoverage:
    """What the poller's state says: until when the archive is complete, and any gap (a
    stretch of changes the archive is known to miss, with the reason)."""

    stream_arn: str
    covered_until: datetime
    snapshot_at: datetime | None = None
    gap_from: datetime | None = None
    gap_until: datetime | None = None
    gap_reason: str | None = None


@dataclass(frozen=True)
class IndexWatermark:
    """The index behind an alias: it holds every change archived until ``watermark``."""

    alias: str
    index: str
    watermark: datetime | None


@dataclass(frozen=True)
class ItemTimeline:
    """One item's newest changes (oldest first) and how many it has in all."""

    item_key: str
    total_changes: int
    entries: list[TimelineEntry]


@dataclass
class ReportData:
    """Every figure of a report; row lists are JSON-ready (chart data)."""

    table_name: str
    generated_at: datetime
    since: datetime | None
    changes: int = 0
    items: int = 0
    first_change: datetime | None = None
    last_change: datetime | None = None
    events_per_day: list[dict[str, Any]] = field(default_factory=list)
    deletes_per_day: list[dict[str, Any]] = field(default_factory=list)
    archive_lag_per_day: list[dict[str, Any]] = field(default_factory=list)
    lag_percentiles: list[dict[str, Any]] = field(default_factory=list)
    files_per_day: list[dict[str, Any]] = field(default_factory=list)
    small_file_size: int = DEFAULT_SMALL_FILE_SIZE
    top_items: list[dict[str, Any]] = field(default_factory=list)
    timelines: list[ItemTimeline] = field(default_factory=list)
    coverage: StreamCoverage | None = None
    index: IndexWatermark | None = None
    pending_changes: int | None = None


def archive_to_report(
    connection: DuckDBPyConnection,
    table_name: str,
    parquet_glob: str,
    *,
    now: datetime,
    since: datetime | None = None,
    coverage: StreamCoverage | None = None,
    index: IndexWatermark | None = None,
    top_items: int = DEFAULT_TOP_ITEMS,
    timeline_changes: int = DEFAULT_TIMELINE_CHANGES,
    small_file_size: int = DEFAULT_SMALL_FILE_SIZE,
) -> ReportData:
    """Compute the report's figures from the ``changes`` view and the files under ``parquet_glob``.

    ``since`` keeps changes made from then on (whole days of files); ``index`` adds the index lag.
    """
    where = "true"
    if since is not None:
        # The dt filter prunes whole partitions before any file is opened.
        instant = f"CAST({quote_literal(since.isoformat())} AS TIMESTAMPTZ)"
        where = f"dt >= CAST({instant} AS DATE) AND approximate_creation_time >= {instant}"
    report = ReportData(table_name, now, since, small_file_size=small_file_size)
    report.coverage, report.index = coverage, index
    _add_items(report, connection, where, top_items)
    _add_events_and_lags(report, connection, where, index, now)
    _add_files(report, connection, parquet_glob, since)
    _add_timelines(report, connection, where, timeline_changes)
    return report


def _rows(
    connection: DuckDBPyConnection, sql: str, parameters: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    result = connection.execute(sql, parameters or {})
    names = [column[0] for column in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _add_items(report: ReportData, connection: DuckDBPyConnection, where: str, top: int) -> None:
    # Counting per item is the costly grouping (one group per item): nothing else is grouped here.
    rows = _rows(
        connection,
        f"""
WITH per_item AS (SELECT item_key, count(*) AS changes FROM changes WHERE {where} GROUP BY ALL)
SELECT (SELECT count(*) FROM per_item) AS items, item_key, changes
FROM per_item ORDER BY changes DESC, item_key LIMIT greatest($top, 1)
""",
        {"top": top},
    )
    report.items = rows[0]["items"] if rows else 0
    report.top_items = [
        {"rank": rank, "item_key": row["item_key"], "changes": row["changes"]}
        for rank, row in enumerate(rows[:top], start=1)
    ]


def _add_events_and_lags(
    report: ReportData,
    connection: DuckDBPyConnection,
    where: str,
    index: IndexWatermark | None,
    now: datetime,
) -> None:
    # One pass: counts per day, event, kind of delete, archive lag and (with an index) the age of
    # each change the index does not hold yet. Lags are whole seconds, so the groups stay few and
    # every percentile is exact to the second.
    parameters: dict[str, Any] = {"now": now}
    pending = "false"
    if index is not None:
        pending = "true"
        if index.watermark is not None:
            pending, parameters["watermark"] = "archived_at > $watermark", index.watermark
    rows = _rows(
        connection,
        f"""
SELECT dt, event_name, event_name = 'REMOVE' AND ({WHO_SQL}) = 'TTL' AS ttl,
       CASE WHEN event_name <> 'SNAPSHOT'
            THEN round(epoch(archived_at) - epoch(approximate_creation_time)) END AS lag,
       CASE WHEN {pending}
            THEN round(epoch(CAST($now AS TIMESTAMPTZ)) - epoch(approximate_creation_time)) END
           AS age,
       count(*) AS changes, min(approximate_creation_time) AS first,
       max(approximate_creation_time) AS last
FROM changes WHERE {where} GROUP BY ALL
""",
        parameters,
    )
    events: dict[tuple[str, str], int] = {}
    deletes: dict[tuple[str, str], int] = {}
    lags: dict[str, dict[float, int]] = {}
    ages: dict[float, int] = {}
    report.changes = sum(row["changes"] for row in rows)
    report.first_change = min((row["first"] for row in rows), default=None)
    report.last_change = max((row["last"] for row in rows), default=None)
    for row in rows:
        day, count = row["dt"].isoformat(), row["changes"]
        events[day, row["event_name"]] = events.get((day, row["event_name"]), 0) + count
        if row["event_name"] == "REMOVE":
            who = "TTL expiry" if row["ttl"] else "user delete"
            deletes[day, who] = deletes.get((day, who), 0) + count
        for histogram, value in ((lags.setdefault(day, {}), row["lag"]), (ages, row["age"])):
            if value is not None:
                histogram[value] = histogram.get(value, 0) + count
    report.events_per_day = [
        {"dt": day, "event": event, "changes": n} for (day, event), n in sorted(events.items())
    ]
    report.deletes_per_day = [
        {"dt": day, "who": who, "deletes": n} for (day, who), n in sorted(deletes.items())
    ]
    overall: dict[float, int] = {}
    for day, histogram in sorted(lags.items()):
        if histogram:
            report.archive_lag_per_day += _percentile_rows(histogram, dt=day)
        for value, count in histogram.items():
            overall[value] = overall.get(value, 0) + count
    if overall:
        report.lag_percentiles += _percentile_rows(overall, lag="archive")
    if index is not None:
        report.pending_changes = sum(ages.values())
        if ages:
            report.lag_percentiles += _percentile_rows(ages, lag="index (pending changes)")


def histogram_percentile(histogram: dict[float, int], fraction: float) -> float:
    """The ``fraction`` percentile of the values counted in ``histogram`` (value -> count).

    Interpolated between the two nearest values, as DuckDB's ``quantile_cont`` does.
    """
    ordered = sorted(histogram.items())
    total = sum(histogram.values())
    position = fraction * (total - 1)
    lower = int(position)

    def value_at(rank: int) -> float:
        seen = 0
        for value, count in ordered:
            seen += count
            if rank < seen:
                return value
        return ordered[-1][0]

    low, high = value_at(lower), value_at(min(lower + 1, total - 1))
    return low + (high - low) * (position - lower)


def _percentile_rows(histogram: dict[float, int], **fields: Any) -> list[dict[str, Any]]:
    values = [histogram_percentile(histogram, p) for p in PERCENTILES] + [max(histogram)]
    return [
        {**fields, "percentile": name, "seconds": round(float(value), 3)}
        for name, value in zip(PERCENTILE_NAMES, values, strict=True)
    ]


def _add_files(
    report: ReportData, connection: DuckDBPyConnection, glob: str, since: datetime | None
) -> None:
    day = "CAST(regexp_extract(filename, '/dt=([0-9-]+)/', 1) AS DATE)"
    rows = _rows(
        connection,
        f"SELECT {day} AS dt, count(*) AS files, sum(size) AS bytes, "
        "count(*) FILTER (size < $small) AS small_files "
        f"FROM read_blob({quote_literal(glob)}) GROUP BY ALL ORDER BY dt",
        {"small": report.small_file_size},
    )
    first_day: date | None = since.date() if since is not None else None
    report.files_per_day = [
        {
            "dt": row["dt"].isoformat(),
            "files": row["files"],
            "small_files": row["small_files"],
            "bytes": int(row["bytes"]),
        }
        for row in rows
        if first_day is None or row["dt"] >= first_day
    ]


def _add_timelines(
    report: ReportData, connection: DuckDBPyConnection, where: str, newest: int
) -> None:
    keys = [item["item_key"] for item in report.top_items]
    if not keys:
        return
    key_list = ", ".join(quote_literal(key) for key in keys)
    selected = f"{where} AND item_key IN ({key_list})"
    # One change more than shown: the oldest one shown is diffed against the image before it.
    # Only the days that hold those changes are then read in full (images are most of the bytes).
    details = {
        row["item_key"]: row
        for row in _rows(
            connection,
            "SELECT item_key, count(*) FILTER (event_name = 'REMOVE') AS removes, "
            "min(approximate_creation_time) AS first, max(approximate_creation_time) AS last, "
            "list_last(max(approximate_creation_time, $keep)) AS cutoff "
            f"FROM changes WHERE {selected} GROUP BY item_key",
            {"keep": newest + 1},
        )
    }
    for item in report.top_items:
        item.update({k: v for k, v in details[item["item_key"]].items() if k != "cutoff"})
    cutoff = min(row["cutoff"] for row in details.values())
    history = history_sql(where=f"{selected} AND dt >= CAST($cutoff AS DATE)")
    rows = _rows(
        connection,
        f"SELECT {', '.join(TIMELINE_COLUMNS)} FROM ({history}) QUALIFY row_number() OVER "
        "(PARTITION BY item_key ORDER BY version DESC) <= $keep ORDER BY item_key, version",
        {"keep": newest + 1, "cutoff": cutoff},
    )
    by_key: dict[str, list[dict[str, Any]]] = {key: [] for key in keys}
    for row in rows:
        by_key[row["item_key"]].append(row)
    for item in report.top_items:
        entries = rows_to_timeline(by_key[item["item_key"]])
        report.timelines.append(ItemTimeline(item["item_key"], item["changes"], entries[-newest:]))
