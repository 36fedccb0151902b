"""429s from the engine are retried with backoff: a small proxy on 127.0.0.1 answers 429 first."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.fault_proxy import FaultProxy
from tests.helpers import make_record
from tests.rebuild.conftest import Posts

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.conftest import SearchEngine

pytestmark = pytest.mark.es


@pytest.fixture
def proxy(search_engine: SearchEngine) -> Iterator[FaultProxy]:
    """A proxy in front of the engine that answers the first two bulk requests with 429."""
    with FaultProxy(search_engine.url, "/_bulk", [429, 429]) as server:
        yield server


def test_429_is_retried_until_the_documents_arrive(
    local_archive: str, search_engine: SearchEngine, proxy: FaultProxy
) -> None:
    posts = Posts(local_archive, search_engine)
    posts.add(*(make_record(n, key=f"post#{n}", event_name="INSERT") for n in range(20)))
    summary = posts.through(proxy.url).run_json("rebuild")
    assert summary["documents"] == 20
    assert proxy.injected == [429, 429]
    assert proxy.matched == 3
    assert len(posts.documents()) == 20


@pytest.mark.parametrize("in_flight", [1, 2])
def test_bulk_requests_in_flight_at_once(
    local_archive: str, search_engine: SearchEngine, in_flight: int
) -> None:
    posts = Posts(local_archive, search_engine)
    posts.add(*(make_record(n, key=f"post#{n}", event_name="INSERT") for n in range(120)))
    # Each bulk request is held 0.2 s, so a second one sent meanwhile is seen open with it.
    with FaultProxy(search_engine.url, "/_bulk", [], hold=0.2) as held:
        summary = posts.through(held.url).run_json(
            "rebuild", "--bulk-bytes", "1024", "--bulk-in-flight", str(in_flight)
        )
    assert summary["documents"] == 120
    assert held.matched >= 4
    assert held.most_at_once == in_flight
    assert len(posts.documents()) == 120
