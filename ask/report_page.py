"""The report and the item timeline as self-contained HTML pages.

A page holds its chart specifications as JSON and the charting library's script inline (passed
in as ``bundle``), so it opens from a file or an e-mail with no network. Every value from the
archive is escaped: item keys and attribute values are data, never markup.
"""

from __future__ import annotations

import html
import json
import shlex
from typing import TYPE_CHECKING, Any

from changelake.ask.archive_stats import duration_to_text
from changelake.ask.report_charts import (
    archive_lag_spec,
    coverage_spec,
    deletes_per_day_spec,
    events_per_day_spec,
    files_per_day_spec,
    lag_percentiles_spec,
    timeline_spec,
    top_items_spec,
)
from changelake.ask.timeline import timeline_to_lines
from changelake.schemas.byte_sizes import bytes_to_text

if TYPE_CHECKING:
    from datetime import datetime

    from changelake.ask.report_charts import Spec
    from changelake.ask.report_data import ItemTimeline, ReportData
    from changelake.ask.timeline import TimelineEntry

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1em 2em;
       color: #222; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { margin-top: 1.8em; font-size: 1.25em; }
h3 { font-size: 1.05em; margin-bottom: .3em; word-break: break-all; }
.summary { display: flex; flex-wrap: wrap; gap: .6em; margin: 1em 0; }
.summary div { background: #f3f5f8; border-radius: 6px; padding: .5em .9em; }
.summary b { display: block; font-size: 1.25em; }
.chart { width: 100%; min-height: 60px; }
.note { color: #555; } .warn { color: #b00020; font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin: .5em 0 1em; }
th, td { text-align: left; padding: .25em .5em; border-bottom: 1px solid #e3e3e3;
         vertical-align: top; }
td pre { margin: 0; white-space: pre-wrap; word-break: break-all; font-size: 12px; }
code { background: #f3f5f8; padding: 0 .3em; word-break: break-all; }
"""

# Renders every chart with Vega-Embed; body[data-charts] says when all are drawn (or failed).
_RENDER = """
(function () {
  const specs = JSON.parse(document.getElementById("chart-specs").textContent);
  const options = {mode: "vega-lite", renderer: "svg", actions: false,
                   loader: {target: "_self"}};
  Promise.all(Object.keys(specs).map(
    (id) => vegaEmbed(document.getElementById(id), specs[id], options)))
    .then(() => { document.body.dataset.charts = "rendered"; },
          (error) => { document.body.dataset.charts = "failed"; throw error; });
})();
"""


def report_to_html(report: ReportData, bundle: str, source: str) -> str:
    """The report as one HTML page; ``source`` names the archive it was read from."""
    specs: dict[str, Spec] = {}
    body = [_header(report, source)]
    body += _section(
        "Changes per day",
        "Every change archived for the table, by UTC day of the change, stacked by event type.",
        "chart-events",
        specs,
        events_per_day_spec(report),
    )
    body += _section(
        "Deletes: TTL expiries and user deletes",
        "REMOVE events per day: expired by DynamoDB's TTL (a Service identity) or deleted by a "
        "caller.",
        "chart-deletes",
        specs,
        deletes_per_day_spec(report) if report.deletes_per_day else None,
        empty="No deletes in this period.",
    )
    body += _lag_sections(report, specs)
    body += _files_section(report, specs)
    body += _coverage_section(report, specs)
    body += _top_items_section(report, specs)
    for rank, timeline in enumerate(report.timelines, start=1):
        body += _timeline_section(timeline, rank, specs, report.table_name, source)
    title = f"changelake report: {report.table_name}"
    return _page(title, "\n".join(body), specs, bundle)


def timeline_to_html(timeline: ItemTimeline, table_name: str, bundle: str, source: str) -> str:
    """One item's timeline as its own page: a chart of its changes and what each one did."""
    specs: dict[str, Spec] = {}
    body = [
        f"<h1>{_e(table_name)}: {_e(timeline.item_key)}</h1>",
        f'<p class="note">From {_e(source)}.</p>',
        *_timeline_section(timeline, 1, specs, table_name, source, heading=False),
    ]
    return _page(f"changelake history: {timeline.item_key}", "\n".join(body), specs, bundle)


def _page(title: str, body: str, specs: dict[str, Spec], bundle: str) -> str:
    # "</" never appears inside the JSON, so the data cannot close its script element.
    data = json.dumps(specs, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n{body}\n"
        f'<script type="application/json" id="chart-specs">{data}</script>\n'
        f"<script>{bundle}</script>\n<script>{_RENDER}</script>\n</body>\n</html>\n"
    )


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _count(number: int, one: str, many: str) -> str:
    return f"{number:,} {one if number == 1 else many}"


def _time(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _section(
    title: str,
    description: str,
    chart_id: str,
    specs: dict[str, Spec],
    spec: Spec | None,
    *,
    empty: str = "No changes in this period.",
    notes: list[str] | None = None,
) -> list[str]:
    lines = [f"<h2>{_e(title)}</h2>", f'<p class="note">{_e(description)}</p>']
    lines += notes or []
    if spec is None or not spec["data"]["values"]:
        return [*lines, f'<p class="note">{_e(empty)}</p>']
    specs[chart_id] = spec
    return [*lines, f'<div class="chart" id="{chart_id}"></div>']


def _header(report: ReportData, source: str) -> str:
    total_bytes = sum(day["bytes"] for day in report.files_per_day)
    total_files = sum(day["files"] for day in report.files_per_day)
    cards = [
        ("changes", f"{report.changes:,}"),
        ("items", f"{report.items:,}"),
        ("first change", _time(report.first_change)),
        ("last change", _time(report.last_change)),
        ("files", f"{total_files:,}"),
        ("stored", bytes_to_text(total_bytes)),
    ]
    since = f", changes since {_time(report.since)}" if report.since else ""
    return "\n".join(
        [
            f"<h1>{_e(report.table_name)}: the change log</h1>",
            f'<p class="note">Archive {_e(source)}{_e(since)}; generated '
            f"{_e(_time(report.generated_at))}.</p>",
            '<div class="summary">',
            *(f"<div>{_e(name)}<b>{_e(value)}</b></div>" for name, value in cards),
            "</div>",
        ]
    )


def _lag_sections(report: ReportData, specs: dict[str, Spec]) -> list[str]:
    lines = _section(
        "Archive lag per day",
        "Seconds from a change (approximate_creation_time) to its archiving (archived_at): the "
        "50th, 90th and 99th percentiles and the maximum. Snapshot rows are left out.",
        "chart-archive-lag",
        specs,
        archive_lag_spec(report),
    )
    notes = []
    index = report.index
    if index is None:
        notes.append(
            '<p class="note">Index lag is left out: pass --es-url and --alias to compare with '
            "the index behind an alias.</p>"
        )
    elif index.watermark is None:
        notes.append(
            f'<p class="warn">Index {_e(index.index)} (alias {_e(index.alias)}) has no '
            "watermark: no change of the archive is known to be in it.</p>"
        )
    else:
        behind = duration_to_text(report.generated_at - index.watermark)
        pending = _count(
            report.pending_changes or 0,
            "change archived since is",
            "changes archived since are",
        )
        notes.append(
            f'<p class="note">Index {_e(index.index)} (alias {_e(index.alias)}) holds every '
            f"change archived until {_e(_time(index.watermark))} ({_e(behind)} ago); "
            f"{_e(pending)} not in it yet. Their ages are its lag: <code>changelake sync</code> "
            "brings them in.</p>"
        )
    lines += _section(
        "Lag percentiles",
        "Archive lag over the whole period and, with an index, the age of the changes it does "
        "not hold yet.",
        "chart-lag",
        specs,
        lag_percentiles_spec(report),
        notes=notes,
    )
    return lines


def _files_section(report: ReportData, specs: dict[str, Spec]) -> list[str]:
    small = sum(day["small_files"] for day in report.files_per_day)
    notes = []
    if small:
        command = f"changelake compact --table {shlex.quote(report.table_name)}"
        notes.append(
            f'<p class="warn">{small:,} files are below {bytes_to_text(report.small_file_size)}: '
            f"<code>{_e(command)}</code> merges them (fewer requests for every query).</p>"
        )
    return _section(
        "Files and bytes per day",
        "Parquet files per UTC partition, small ones apart, and the partition's size.",
        "chart-files",
        specs,
        files_per_day_spec(report),
        empty="No change files.",
        notes=notes,
    )


def _coverage_section(report: ReportData, specs: dict[str, Spec]) -> list[str]:
    coverage = report.coverage
    notes = []
    if coverage is None:
        notes.append(
            '<p class="note">No stream state under _checkpoints/: coverage and gaps are '
            "recorded by <code>changelake poll</code> and <code>changelake snapshot</code>.</p>"
        )
    else:
        notes.append(
            f'<p class="note">Stream {_e(coverage.stream_arn)}: every change until '
            f"{_e(_time(coverage.covered_until))} is archived.</p>"
        )
        if coverage.gap_reason:
            notes.append(f'<p class="warn">{_e(coverage.gap_reason)}</p>')
    return _section(
        "Coverage and gaps",
        "The span of archived changes, until when the poller knows the archive is complete, "
        "snapshots, and any gap (changes that left the stream before they were archived).",
        "chart-coverage",
        specs,
        coverage_spec(report),
        notes=notes,
    )


def _top_items_section(report: ReportData, specs: dict[str, Spec]) -> list[str]:
    lines = _section(
        "Most-changed items",
        "The items with the most changes; a bar or a key opens the item's timeline below.",
        "chart-top-items",
        specs,
        top_items_spec(report),
        empty="No items listed." if report.changes else "No changes in this period.",
    )
    if not report.top_items:
        return lines
    rows = [
        f'<tr><td>{item["rank"]}</td><td><a href="#item-{item["rank"]}">'
        f"{_e(item['item_key'])}</a></td><td>{item['changes']:,}</td>"
        f"<td>{item['removes']:,}</td><td>{_e(_time(item['first']))}</td>"
        f"<td>{_e(_time(item['last']))}</td></tr>"
        for item in report.top_items
    ]
    header = (
        "<tr><th>#</th><th>item key</th><th>changes</th><th>removes</th><th>first</th>"
        "<th>last</th></tr>"
    )
    return [*lines, f"<table>{header}{''.join(rows)}</table>"]


def _timeline_section(
    timeline: ItemTimeline,
    rank: int,
    specs: dict[str, Spec],
    table_name: str,
    source: str,
    *,
    heading: bool = True,
) -> list[str]:
    shown = len(timeline.entries)
    lines = [f'<section id="item-{rank}">']
    if heading:
        lines.append(f"<h3>{rank}. {_e(timeline.item_key)}</h3>")
    command = shlex.join(
        ["changelake", "history", "--archive", source, "--table", table_name, timeline.item_key]
    )
    count = f"{timeline.total_changes:,} changes"
    if shown < timeline.total_changes:
        count += f"; the newest {shown:,} are shown"
    lines.append(
        f'<p class="note">{_e(count)}. Every change: <code>{_e(command)} --html item.html'
        "</code></p>"
    )
    specs[f"chart-item-{rank}"] = timeline_spec(timeline)
    lines.append(f'<div class="chart" id="chart-item-{rank}"></div>')
    lines.append(
        "<table><tr><th>time</th><th>event</th><th>who</th><th>version</th>"
        "<th>what changed</th></tr>"
    )
    lines += [_entry_row(entry) for entry in timeline.entries]
    lines += ["</table>", "</section>"]
    return lines


def _entry_row(entry: TimelineEntry) -> str:
    # timeline_to_lines is the one wording of a change (the text `history` prints): a header line,
    # then the details indented by four spaces.
    details = [line.removeprefix("    ") for line in timeline_to_lines([entry])[1:]]
    cells: list[Any] = [_time(entry.time), entry.event, entry.who, entry.version]
    return (
        "<tr>"
        + "".join(f"<td>{_e(cell)}</td>" for cell in cells)
        + f"<td><pre>{_e(chr(10).join(details))}</pre></td></tr>"
    )
