"""Vega-Lite specifications of the report's charts: plain dicts, data inlined, no rendering.

The browser renders them (``changelake.ask.report_page`` inlines Vega-Lite itself), so a chart
is a description of its data's encoding and nothing here draws.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from changelake.ask.report_data import PERCENTILE_NAMES

if TYPE_CHECKING:
    from changelake.ask.report_data import ItemTimeline, ReportData

Spec = dict[str, Any]

# One colour per event, the same in every chart.
EVENT_COLORS = {
    "INSERT": "#59a14f",
    "MODIFY": "#4e79a7",
    "REMOVE": "#e15759",
    "SNAPSHOT": "#9d9d9d",
}
DELETE_COLORS = {"user delete": "#e15759", "TTL expiry": "#f28e2b"}
HEIGHT = 220

# Days are bands (one bar, or a group of bars, per day); crowded labels are thinned out.
_DAY = {
    "field": "dt",
    "type": "ordinal",
    "timeUnit": "utcyearmonthdate",
    "title": "day (UTC)",
    "axis": {"format": "%b %d", "labelAngle": 0, "labelOverlap": "parity"},
}
_SECONDS_AXIS = {"format": "~s"}
_EVENT_SCALE = {"domain": list(EVENT_COLORS), "range": list(EVENT_COLORS.values())}


def _chart(values: list[dict[str, Any]], **spec: Any) -> Spec:
    return {
        "width": "container",
        "height": HEIGHT,
        "data": {"values": values},
        "config": {
            "view": {"stroke": None},
            "axis": {"labelFontSize": 11},
            "legend": {"orient": "top", "labelLimit": 300},
        },
        **spec,
    }


def events_per_day_spec(report: ReportData) -> Spec:
    """Changes per UTC day, stacked by event type."""
    return _chart(
        report.events_per_day,
        mark={"type": "bar", "tooltip": True},
        encoding={
            "x": _DAY,
            "y": {
                "field": "changes",
                "type": "quantitative",
                "aggregate": "sum",
                "title": "changes",
            },
            "color": {"field": "event", "type": "nominal", "scale": _EVENT_SCALE, "title": None},
            "order": {"field": "event"},
        },
    )


def deletes_per_day_spec(report: ReportData) -> Spec:
    """Deletes per day: TTL expiries next to user deletes."""
    return _chart(
        report.deletes_per_day,
        mark={"type": "bar", "tooltip": True},
        encoding={
            "x": _DAY,
            "xOffset": {"field": "who"},
            "y": {"field": "deletes", "type": "quantitative", "title": "deletes"},
            "color": {
                "field": "who",
                "type": "nominal",
                "title": None,
                "scale": {"domain": list(DELETE_COLORS), "range": list(DELETE_COLORS.values())},
            },
        },
    )


def archive_lag_spec(report: ReportData) -> Spec:
    """Archive lag (archived_at - approximate_creation_time) percentiles per day."""
    return _chart(
        [row for row in report.archive_lag_per_day if row["seconds"] is not None],
        mark={"type": "line", "point": True, "tooltip": True},
        encoding={
            "x": _DAY,
            "y": {
                "field": "seconds",
                "type": "quantitative",
                "scale": {"type": "symlog"},
                "axis": _SECONDS_AXIS,
                "title": "archive lag (s)",
            },
            "color": {
                "field": "percentile",
                "type": "nominal",
                "sort": list(PERCENTILE_NAMES),
                "title": None,
            },
        },
    )


def lag_percentiles_spec(report: ReportData) -> Spec:
    """Archive lag and, with an index, the age of the changes it does not hold yet."""
    return _chart(
        [row for row in report.lag_percentiles if row["seconds"] is not None],
        mark={"type": "bar", "tooltip": True},
        encoding={
            "x": {
                "field": "percentile",
                "type": "nominal",
                "sort": list(PERCENTILE_NAMES),
                "axis": {"labelAngle": 0},
            },
            "xOffset": {"field": "lag"},
            "y": {
                "field": "seconds",
                "type": "quantitative",
                "scale": {"type": "symlog"},
                "axis": _SECONDS_AXIS,
                "title": "seconds",
            },
            "color": {"field": "lag", "type": "nominal", "title": None},
        },
    )


def files_per_day_spec(report: ReportData) -> Spec:
    """Files per day (small ones apart) and the day's bytes: where compaction pays."""
    rows = []
    for day in report.files_per_day:
        small, full = day["small_files"], day["files"] - day["small_files"]
        mib = round(day["bytes"] / 2**20, 1)
        rows.append({"dt": day["dt"], "kind": "small files", "files": small, "MiB": mib})
        rows.append({"dt": day["dt"], "kind": "other files", "files": full, "MiB": mib})
    bars = {
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "x": _DAY,
            "y": {"field": "files", "type": "quantitative", "aggregate": "sum", "title": "files"},
            "color": {
                "field": "kind",
                "type": "nominal",
                "title": None,
                "scale": {
                    "domain": ["small files", "other files"],
                    "range": ["#f28e2b", "#76b7b2"],
                },
            },
        },
    }
    size = {
        "mark": {"type": "line", "point": True, "color": "#333", "tooltip": True},
        "encoding": {
            "x": _DAY,
            "y": {"field": "MiB", "type": "quantitative", "aggregate": "max", "title": "MiB"},
        },
    }
    return _chart(rows, layer=[bars, size], resolve={"scale": {"y": "independent"}})


def coverage_spec(report: ReportData) -> Spec | None:
    """The archive's changes, the stream coverage and any gap on one time axis."""
    if report.first_change is None and report.coverage is None:
        return None
    spans: list[dict[str, Any]] = []
    if report.first_change is not None and report.last_change is not None:
        spans.append(_span("changes in the archive", report.first_change, report.last_change))
    coverage = report.coverage
    if coverage is not None:
        if report.first_change is not None:
            spans.append(_span("complete (poller)", report.first_change, coverage.covered_until))
        if coverage.gap_from is not None and coverage.gap_until is not None:
            spans.append(_span("GAP: changes missing", coverage.gap_from, coverage.gap_until))
        if coverage.snapshot_at is not None:
            spans.append(_span("snapshot", coverage.snapshot_at, coverage.snapshot_at))
    colors = {
        "changes in the archive": "#4e79a7",
        "complete (poller)": "#59a14f",
        "GAP: changes missing": "#e15759",
        "snapshot": "#9d9d9d",
    }
    lane = {"field": "lane", "type": "nominal", "title": None, "sort": list(colors)}
    color = {
        "field": "lane",
        "type": "nominal",
        "legend": None,
        "scale": {"domain": list(colors), "range": list(colors.values())},
    }
    time = {"field": "start", "type": "temporal", "scale": {"type": "utc"}, "title": "time (UTC)"}
    return {
        **_chart(spans),
        "height": 30 * len(colors),
        "layer": [
            {
                "mark": {"type": "bar", "height": 14, "tooltip": True},
                "encoding": {"y": lane, "x": time, "x2": {"field": "end"}, "color": color},
            },
            {
                "mark": {"type": "point", "filled": True, "size": 80, "tooltip": True},
                "encoding": {"y": lane, "x": time, "color": color},
            },
        ],
    }


def _span(lane: str, start: Any, end: Any) -> dict[str, Any]:
    return {"lane": lane, "start": start.isoformat(), "end": end.isoformat()}


def top_items_spec(report: ReportData) -> Spec:
    """The most-changed items; each bar links to the item's timeline below."""
    values = [
        {
            "item_key": item["item_key"],
            "changes": item["changes"],
            "removes": item["removes"],
            "link": f"#item-{item['rank']}",
        }
        for item in report.top_items
    ]
    return {
        **_chart(values),
        "height": {"step": 18},
        "mark": {"type": "bar", "color": "#4e79a7", "cursor": "pointer", "tooltip": True},
        "encoding": {
            "y": {"field": "item_key", "type": "nominal", "sort": "-x", "title": None},
            "x": {"field": "changes", "type": "quantitative", "title": "changes"},
            "href": {"field": "link"},
        },
    }


def timeline_spec(timeline: ItemTimeline) -> Spec:
    """One item's changes on a time axis, one row per event type."""
    values = [
        {
            "time": entry.time.isoformat(),
            "event": entry.event,
            "who": entry.who,
            "version": str(entry.version),
        }
        for entry in timeline.entries
    ]
    return {
        **_chart(values),
        "height": 26 * max(1, len({v["event"] for v in values})),
        "mark": {"type": "point", "filled": True, "size": 70, "tooltip": True},
        "encoding": {
            "x": {"field": "time", "type": "temporal", "scale": {"type": "utc"}, "title": "UTC"},
            "y": {"field": "event", "type": "nominal", "title": None, "sort": list(EVENT_COLORS)},
            "color": {"field": "event", "type": "nominal", "scale": _EVENT_SCALE, "legend": None},
        },
    }
