"""EMF log lines: the archive handler's one line per batch is both its log and its metrics."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from changelake import lambda_handler
from changelake.metrics import LISTED_PER_FIELD, NAMESPACE, summary_to_emf
from tests.helpers import load_event, make_record

if TYPE_CHECKING:
    import pytest


def test_counts_become_metrics_with_the_function_dimension() -> None:
    document = summary_to_emf(
        "archive",
        {"records": 3, "files": ["a.parquet"]},
        {"ArchivedRecords": 2, "QuarantinedRecords": 1},
        function_name="changelake-archive",
        timestamp_ms=1_764_288_000_000,
    )
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert document["_aws"]["Timestamp"] == 1_764_288_000_000
    assert directive["Namespace"] == NAMESPACE
    assert directive["Dimensions"] == [["FunctionName"]]
    assert [metric["Name"] for metric in directive["Metrics"]] == [
        "ArchivedRecords",
        "QuarantinedRecords",
    ]
    assert document["FunctionName"] == "changelake-archive"
    assert document["QuarantinedRecords"] == 1
    assert document["files"] == ["a.parquet"]


def test_outside_lambda_the_metrics_have_no_dimension(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    document = summary_to_emf("archive", {}, {"ArchivedRecords": 0})
    assert document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[]]
    assert "FunctionName" not in document


def test_archive_handler_writes_one_emf_line_counting_quarantined_records(
    local_archive: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHANGELAKE_ARCHIVE", local_archive)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "changelake-archive")
    bad = make_record(99, key="post#9", title="x")
    bad["dynamodb"]["NewImage"]["title"] = {"SSX": ["?"]}
    event = load_event("lambda-event-posts.json")
    event["Records"].append(bad)

    response = lambda_handler.archive(event, None)

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    document = json.loads(lines[0])
    assert document["changelake"] == "archive"
    assert document["ArchivedRecords"] == 5
    assert document["QuarantinedRecords"] == 1
    assert document["quarantined"] == 1
    (key,) = document["quarantined_first"]
    assert key.startswith("_quarantine/table=posts/dt=2025-11-28/event-99-")
    assert response["batchItemFailures"] == []


def test_a_batch_of_1000_poison_records_logs_one_small_line(
    local_archive: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHANGELAKE_ARCHIVE", local_archive)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "changelake-archive")
    records = []
    for n in range(1000):
        record = make_record(n, key=f"post#{n}", title="x" * 200)
        record["dynamodb"]["NewImage"]["title"] = {"SSX": ["y" * 200]}
        records.append(record)

    response = lambda_handler.archive({"Records": records}, None)

    (line,) = capsys.readouterr().out.splitlines()
    # CloudWatch Logs refuses events over 256 KB; the line carries counts and a few keys.
    assert len(line.encode()) < 2_000
    document = json.loads(line)
    assert (document["QuarantinedRecords"], document["ArchivedRecords"]) == (1000, 0)
    assert document["quarantined"] == 1000
    assert len(document["quarantined_first"]) == LISTED_PER_FIELD
    assert "y" * 20 not in line  # no value previews: those stay in the quarantine objects
    assert response == {"batchItemFailures": []}


def test_lags_are_seconds_and_a_follower_is_told_apart_by_its_table() -> None:
    document = summary_to_emf(
        "follow",
        {"index": "up"},
        {"ArchivedRecords": 5, "IndexLagSeconds": 1.25},
        units={"IndexLagSeconds": "Seconds"},
        dimensions={"Table": "posts"},
        function_name="ignored-when-dimensions-are-given",
    )
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert directive["Dimensions"] == [["Table"]]
    assert directive["Metrics"] == [
        {"Name": "ArchivedRecords", "Unit": "Count"},
        {"Name": "IndexLagSeconds", "Unit": "Seconds"},
    ]
    assert document["Table"] == "posts"
    assert document["IndexLagSeconds"] == 1.25
    assert "FunctionName" not in document
