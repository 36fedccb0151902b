"""Backoff schedules double up to their cap."""

from __future__ import annotations

from changelake.archiver.backoff import EMPTY_READS, THROTTLED, Backoff
from tests.helpers import backoff_delays


def test_delays_double_then_stay_at_the_cap() -> None:
    assert backoff_delays(Backoff(base=0.5, cap=3.0, attempts=5)) == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_throttled_reads_wait_about_a_minute_in_all_before_giving_up() -> None:
    assert backoff_delays(THROTTLED)[:3] == [0.2, 0.4, 0.8]
    assert 30 <= sum(backoff_delays(THROTTLED)) <= 90


def test_empty_reads_of_an_open_shard_end_within_two_seconds() -> None:
    assert sum(backoff_delays(EMPTY_READS)) <= 2.0
