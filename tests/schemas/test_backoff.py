"""Backoff schedules double up to their cap; with jitter each wait is 0.5-1 of it."""

import pytest

from changelake.archiver.shard_reader import EMPTY_READS, THROTTLED
from changelake.rebuild.bulk import BULK_RETRY
from changelake.schemas.backoff import Backoff
from tests.helpers import backoff_delays


def test_delays_double_then_stay_at_the_cap() -> None:
    assert backoff_delays(Backoff(base=0.5, cap=3.0, attempts=5)) == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_throttled_reads_wait_about_a_minute_in_all_before_giving_up() -> None:
    assert backoff_delays(THROTTLED)[:3] == [0.2, 0.4, 0.8]
    assert 30 <= sum(backoff_delays(THROTTLED)) <= 90


def test_empty_reads_of_an_open_shard_end_within_two_seconds() -> None:
    assert sum(backoff_delays(EMPTY_READS)) <= 2.0


@pytest.mark.parametrize("attempt", range(8))
def test_jittered_waits_spread_below_the_capped_ceiling(attempt: int) -> None:
    backoff = Backoff(base=0.5, cap=4.0, attempts=8, jitter=True)
    ceiling = min(4, 0.5 * 2**attempt)
    delays = {backoff.delay(attempt) for _ in range(20)}
    assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
    assert len(delays) > 1


def test_bulk_requests_retry_with_jitter_within_half_a_minute_of_waits() -> None:
    assert BULK_RETRY.jitter
    assert sum(backoff_delays(BULK_RETRY)) <= 30
