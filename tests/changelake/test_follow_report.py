"""One line per loop of ``changelake follow``: the same facts as text and as embedded metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from changelake.archiver.stream_follower import ArchivedPage
from changelake.commands.follow import report_to_text
from changelake.follow_indexer import CATCH_UP, WINDOW, IndexStep
from changelake.following import loop_report
from changelake.rebuild.sync import SyncSummary

AT = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)


def step(kind: str, indexed: int, oldest: datetime, searchable: datetime) -> IndexStep:
    summary = SyncSummary("posts-1", "posts", None, None, indexed, indexed, 1, 0, 0, 2, 0, 0.1)
    return IndexStep(kind, summary, indexed, oldest, searchable)


def test_a_loop_reports_its_oldest_record_from_write_to_archive_and_to_search() -> None:
    pages = [
        ArchivedPage("s1", 10, 9, ["a.parquet"], ["q.json"], AT, AT, AT + timedelta(seconds=2)),
        ArchivedPage("s2", 5, 5, ["b.parquet"], [], AT + timedelta(seconds=1), AT, AT),
    ]
    steps = [
        step(CATCH_UP, 3, AT - timedelta(seconds=9), AT),
        step(WINDOW, 4, AT, AT + timedelta(seconds=1.5)),
    ]
    report = loop_report("posts", "posts", pages, steps)
    assert (report.records, report.archived, report.files) == (15, 14, 2)
    assert report.quarantined == ["q.json"]
    assert report.archive_lag_seconds == 2.0
    assert report.index_lag_seconds == 9.0
    assert (report.steps, report.catch_ups, report.indexed, report.deleted) == (2, 1, 7, 2)
    assert report.stale_writes == 4
    emf = report.to_emf()
    assert emf["ArchiveLagSeconds"] == 2.0 and emf["IndexLagSeconds"] == 9.0
    assert emf["QuarantinedRecords"] == 1
    units = {m["Name"]: m["Unit"] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["IndexLagSeconds"] == "Seconds" and units["IndexedDocuments"] == "Count"
    text = report_to_text(report)
    assert "archived 14 of 15 records (lag 2.0 s)" in text
    assert "indexed 7, deleted 2, 4 stale writes rejected (lag 9.0 s)" in text


def test_a_loop_without_records_or_steps_has_no_lag() -> None:
    report = loop_report("posts", None, [], [])
    emf = report.to_emf()
    assert "IndexLagSeconds" not in emf and "ArchiveLagSeconds" not in emf
    assert report_to_text(report).endswith("archived 0 of 0 records")
