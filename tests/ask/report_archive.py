"""A small archive for the report tests: three days, known lags, TTL and user deletes.

Every batch is archived a fixed time after its changes, so each archive lag is known:
day 1 lags 90, 80, 70, 60 s; day 2 lags 50, 40, 10, 5 s; day 3 lags 30, 20 s.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from click.testing import CliRunner

from changelake.archiver.batch import archive_records
from changelake.archiver.checkpoints import StreamState, save_stream_state
from changelake.cli import cli
from changelake.clients import make_store
from changelake.schemas.archive_layout import parse_archive_uri
from tests.helpers import dynamodb_image, make_record

if TYPE_CHECKING:
    from pathlib import Path

DAY1 = 1_764_288_000  # 2025-11-28 00:00:00 UTC
DAY2 = DAY1 + 86_400
DAY3 = DAY2 + 86_400
TTL = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
# A key and a value that would be markup if a page failed to escape them.
# The id of each chart of a report page (items add chart-item-1, -2, ...).
CHARTS = (
    "chart-events",
    "chart-deletes",
    "chart-archive-lag",
    "chart-lag",
    "chart-files",
    "chart-coverage",
    "chart-top-items",
)

HOSTILE_KEY = '<img src=x onerror="window.pwned=1">'
HOSTILE_TITLE = "</script><script>window.pwned=2</script>"


def _at(second: int) -> datetime:
    return datetime.fromtimestamp(second, UTC)


def write_report_archive(archive: str) -> None:
    """Ten changes of four items over three days, in three batches (one file each)."""
    p1 = [dynamodb_image("post#1", title=f"v{n}", views=n) for n in range(5)]
    p2, p3 = dynamodb_image("post#2", title="x"), dynamodb_image("post#3", title="y")
    ttl_remove = make_record(5, key="post#2", event_name="REMOVE", at=DAY2 + 50, old_image=p2)
    ttl_remove["userIdentity"] = TTL
    batches = [
        (
            DAY1 + 100,
            [
                make_record(1, key="post#1", event_name="INSERT", at=DAY1 + 10, new_image=p1[0]),
                make_record(2, key="post#2", event_name="INSERT", at=DAY1 + 20, new_image=p2),
                make_record(3, key="post#1", at=DAY1 + 30, new_image=p1[1], old_image=p1[0]),
                make_record(4, key="post#1", at=DAY1 + 40, new_image=p1[2], old_image=p1[1]),
            ],
        ),
        (
            DAY2 + 100,
            [
                ttl_remove,
                make_record(6, key="post#3", event_name="INSERT", at=DAY2 + 60, new_image=p3),
                make_record(7, key="post#3", event_name="REMOVE", at=DAY2 + 90, old_image=p3),
                make_record(8, key="post#1", at=DAY2 + 95, new_image=p1[3], old_image=p1[2]),
            ],
        ),
        (
            DAY3 + 30,
            [
                make_record(
                    9,
                    key=HOSTILE_KEY,
                    event_name="INSERT",
                    at=DAY3,
                    new_image=dynamodb_image(HOSTILE_KEY, title=HOSTILE_TITLE),
                ),
                make_record(10, key="post#1", at=DAY3 + 10, new_image=p1[4], old_image=p1[3]),
            ],
        ),
    ]
    store = make_store(parse_archive_uri(archive))
    for archived_at, records in batches:
        archive_records(records, store, archived_at=_at(archived_at))


def record_report_gap(archive: str, snapshot_at: datetime | None = None) -> None:
    """Record the posts stream state: a five-hour gap on day 1 (the stream changed), covered
    until day 3, and a snapshot at ``snapshot_at`` if given."""
    lost_from = _at(DAY1 + 3600)
    lost_until = lost_from + timedelta(hours=5)
    stream_arn = "arn:aws:dynamodb:us-east-1:1:table/posts/stream/2"
    gap = {
        "table_name": "posts",
        "reason": "the stream changed",
        "lost_from": lost_from.isoformat(),
        "lost_until": lost_until.isoformat(),
        "stream_arn": stream_arn,
        "detected_at": lost_until.isoformat(),
    }
    state = StreamState(
        table_name="posts",
        stream_arn=stream_arn,
        covered_until=_at(DAY3),
        snapshot_at=snapshot_at,
        gap=gap,
    )
    save_stream_state(make_store(parse_archive_uri(archive)), state)


def write_report_page(archive: str, page: Path, *options: str) -> str:
    """Run ``changelake report`` on the archive's posts, writing ``page``; what it printed.

    The command must succeed.
    """
    arguments = ["report", "--archive", archive, "--table", "posts", "--out", str(page), *options]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    return result.output
