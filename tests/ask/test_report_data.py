"""The report's figures, computed by SQL over a small archive whose every number is known."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from changelake.ask.report_data import IndexWatermark, ReportData, archive_to_report
from changelake.clients import make_store, open_archive
from changelake.schemas.archive_layout import parquet_glob, parse_archive_uri
from tests.ask.report_archive import DAY1, DAY2, DAY3, HOSTILE_KEY, write_report_archive

if TYPE_CHECKING:
    from pathlib import Path

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def report_of(archive: str, **options: object) -> ReportData:
    """The report's data for the ``posts`` table of ``archive``."""
    location = parse_archive_uri(archive)
    connection = open_archive(location, "posts")
    glob = parquet_glob(location, "posts")
    return archive_to_report(connection, "posts", glob, now=NOW, **options)  # type: ignore[arg-type]


@pytest.fixture
def report(local_archive: str) -> ReportData:
    """The report of the sample archive, default options."""
    write_report_archive(local_archive)
    return report_of(local_archive)


def _day(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).date().isoformat()


def test_changes_are_counted_per_day_and_event(report: ReportData) -> None:
    counts = {(row["dt"], row["event"]): row["changes"] for row in report.events_per_day}
    assert counts == {
        (_day(DAY1), "INSERT"): 2,
        (_day(DAY1), "MODIFY"): 2,
        (_day(DAY2), "INSERT"): 1,
        (_day(DAY2), "MODIFY"): 1,
        (_day(DAY2), "REMOVE"): 2,
        (_day(DAY3), "INSERT"): 1,
        (_day(DAY3), "MODIFY"): 1,
    }
    assert (report.changes, report.items) == (10, 4)
    assert report.first_change == datetime.fromtimestamp(DAY1 + 10, UTC)
    assert report.last_change == datetime.fromtimestamp(DAY3 + 10, UTC)


def test_deletes_are_split_into_ttl_expiries_and_user_deletes(report: ReportData) -> None:
    assert sorted(report.deletes_per_day, key=lambda row: row["who"]) == [
        {"dt": _day(DAY2), "who": "TTL expiry", "deletes": 1},
        {"dt": _day(DAY2), "who": "user delete", "deletes": 1},
    ]


def test_archive_lag_percentiles_per_day_and_overall(report: ReportData) -> None:
    per_day = {(r["dt"], r["percentile"]): r["seconds"] for r in report.archive_lag_per_day}
    assert per_day[(_day(DAY1), "p50")] == 75.0
    assert per_day[(_day(DAY1), "max")] == 90.0
    assert per_day[(_day(DAY2), "p50")] == 25.0
    assert per_day[(_day(DAY3), "max")] == 30.0
    overall = {row["percentile"]: row["seconds"] for row in report.lag_percentiles}
    assert overall == {"p50": 45.0, "p90": 81.0, "p99": 89.1, "max": 90.0}
    assert {row["lag"] for row in report.lag_percentiles} == {"archive"}


def test_files_and_bytes_per_day_match_the_objects_written(archive_uri: str) -> None:
    write_report_archive(archive_uri)
    report = report_of(archive_uri)
    store = make_store(parse_archive_uri(archive_uri))
    keys = [key for key in store.list_keys("table=posts/") if key.endswith(".parquet")]
    assert [day["dt"] for day in report.files_per_day] == [_day(d) for d in (DAY1, DAY2, DAY3)]
    assert all(day["files"] == day["small_files"] == 1 for day in report.files_per_day)
    assert sum(day["bytes"] for day in report.files_per_day) == sum(
        len(store.get_bytes(key)) for key in keys
    )


def test_the_most_changed_items_come_first_with_their_newest_changes(local_archive: str) -> None:
    write_report_archive(local_archive)
    report = report_of(local_archive, top_items=3, timeline_changes=2)
    assert [(i["item_key"], i["changes"], i["removes"]) for i in report.top_items] == [
        ("id=post#1", 5, 0),
        ("id=post#2", 2, 1),
        ("id=post#3", 2, 1),
    ]
    first = report.timelines[0]
    assert (first.item_key, first.total_changes, len(first.entries)) == ("id=post#1", 5, 2)
    # The oldest change shown is diffed against the image before it, which is not shown.
    assert first.entries[0].diff.changed == {"title": ("v2", "v3"), "views": (2, 3)}
    assert [entry.time.timestamp() for entry in first.entries] == [DAY2 + 95, DAY3 + 10]
    assert HOSTILE_KEY not in {i["item_key"] for i in report.top_items}


def test_since_keeps_only_the_changes_made_from_then_on(local_archive: str) -> None:
    write_report_archive(local_archive)
    report = report_of(local_archive, since=datetime.fromtimestamp(DAY2 + 60, UTC))
    assert (report.changes, report.items) == (5, 3)
    assert {row["dt"] for row in report.events_per_day} == {_day(DAY2), _day(DAY3)}
    assert [day["dt"] for day in report.files_per_day] == [_day(DAY2), _day(DAY3)]


def test_index_lag_is_the_age_of_the_changes_archived_after_the_watermark(
    local_archive: str,
) -> None:
    write_report_archive(local_archive)
    watermark = datetime.fromtimestamp(DAY2 + 100, UTC)
    index = IndexWatermark(alias="posts", index="posts-1", watermark=watermark)
    report = report_of(local_archive, index=index)
    assert report.pending_changes == 2
    ages = {
        row["percentile"]: row["seconds"]
        for row in report.lag_percentiles
        if row["lag"] == "index (pending changes)"
    }
    oldest_pending = NOW - datetime.fromtimestamp(DAY3, UTC)
    assert ages["max"] == oldest_pending.total_seconds()
    assert ages["p50"] == (oldest_pending - timedelta(seconds=5)).total_seconds()


def test_an_empty_table_gives_empty_figures(tmp_path: Path) -> None:
    report = report_of(str(tmp_path / "empty"))
    assert (report.changes, report.events_per_day, report.files_per_day) == (0, [], [])
    assert report.top_items == report.timelines == []
