"""Gaps: an archive older than the trim horizon, or a new stream, is reported with a remedy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from changelake.archiver.checkpoints import StreamState
from changelake.archiver.stream_gaps import find_gap, gap_from_dict

ARN = "arn:aws:dynamodb:us-east-1:1:table/posts/stream/2026-11-01T00:00:00.000"
NEW_ARN = "arn:aws:dynamodb:us-east-1:1:table/posts/stream/2026-11-20T00:00:00.000"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def state(covered_until: datetime, arn: str = ARN) -> StreamState:
    return StreamState(table_name="posts", stream_arn=arn, covered_until=covered_until)


def test_no_state_and_a_recent_poll_are_no_gap() -> None:
    assert find_gap(None, ARN, NOW) is None
    assert find_gap(state(NOW - timedelta(hours=23, minutes=59)), ARN, NOW) is None


def test_an_archive_older_than_the_trim_horizon_is_a_gap() -> None:
    gap = find_gap(state(NOW - timedelta(hours=30)), ARN, NOW)
    assert gap is not None
    assert gap.lost_from == NOW - timedelta(hours=30)
    assert gap.lost_until == NOW - timedelta(hours=24)
    message = gap.message()
    assert "2026-11-26T06:00:00Z and 2026-11-26T12:00:00Z" in message
    assert "changelake snapshot --table posts" in message


def test_a_changed_stream_is_a_gap_naming_both_streams() -> None:
    gap = find_gap(state(NOW - timedelta(minutes=5)), NEW_ARN, NOW)
    assert gap is not None
    assert ARN in gap.reason
    assert NEW_ARN in gap.reason


def test_a_recorded_gap_stays_until_a_snapshot_clears_it() -> None:
    gap = find_gap(state(NOW - timedelta(hours=30)), ARN, NOW)
    assert gap is not None
    recorded = StreamState(table_name="posts", stream_arn=ARN, covered_until=NOW, gap=gap.to_dict())
    assert find_gap(recorded, ARN, NOW + timedelta(minutes=1)) == gap
    assert gap_from_dict(gap.to_dict()) == gap
