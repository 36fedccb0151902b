"""The newest rows kept for a follower give a sync the same latest records as the whole archive."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from changelake.archiver.batch import archive_records
from changelake.clients import connect_duckdb, make_store, open_archive
from changelake.rebuild.latest_images import (
    LATEST_IMAGES,
    Selection,
    drop_latest,
    materialize_latest,
)
from changelake.rebuild.recent_changes import RecentChanges, recent_rows_sql
from changelake.schemas.archive_layout import parse_archive_uri
from tests.helpers import make_record

if TYPE_CHECKING:
    from changelake.schemas.archive_layout import ArchiveLocation

START = 1_764_288_000
HORIZON = timedelta(seconds=3)
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def latest_of(connection: Any, keys: set[str] | None = None) -> set[tuple[Any, ...]]:
    """Each selected item's latest record as a sync picks it: id, event, version, image."""
    materialize_latest(connection, Selection("posts", since=LONG_AGO))
    rows = connection.execute(
        f"SELECT item_key, event_name, version, new_image FROM {LATEST_IMAGES}"
    ).fetchall()
    drop_latest(connection)
    return {row for row in rows if keys is None or row[0] in keys}


def seed_from_archive(recent: RecentChanges, location: ArchiveLocation, since: datetime) -> None:
    """Seed the rows kept from what the archive holds now, as a follower's catch-up does."""
    rows = open_archive(location, "posts").execute(recent_rows_sql(since)).to_arrow_table()
    recent.seed(rows, since)


@st.composite
def histories(draw: st.DrawFn) -> list[list[dict[str, Any]]]:
    """Stream records of a few items, seconds never going back, cut into pages in order."""
    count = draw(st.integers(min_value=1, max_value=40))
    at = START
    records = []
    for sequence in range(1, count + 1):
        at += draw(st.sampled_from([0, 0, 0, 1, 1, 2, 4]))
        key = draw(st.sampled_from(["a", "b", "c", "d"]))
        event = draw(st.sampled_from(["INSERT", "MODIFY", "MODIFY", "REMOVE"]))
        records.append(make_record(sequence, key=key, event_name=event, at=at, n=sequence))
    sizes = draw(st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=40))
    pages, taken = [], 0
    for size in sizes:
        if taken >= count:
            break
        pages.append(records[taken : taken + size])
        taken += size
    if taken < count:
        pages.append(records[taken:])
    return pages


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.integers(min_value=0, max_value=3))
def test_a_sync_of_each_page_over_the_rows_kept_matches_the_whole_archive(
    pages: list[list[dict[str, Any]]], seeded_after: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        location = parse_archive_uri(directory)
        store = make_store(location)
        recent = RecentChanges(connect_duckdb(location), horizon=HORIZON)
        for number, page in enumerate(pages):
            batch = archive_records(
                page,
                store,
                table_name="posts",
                archived_at=datetime.fromtimestamp(START + number, UTC),
            )
            files = [location.url(key) for key in batch.files]
            if number == min(seeded_after, len(pages) - 1):
                # A follower (re)starting here: seeded from what the archive holds by now.
                since = datetime.fromtimestamp(
                    page[0]["dynamodb"]["ApproximateCreationDateTime"], UTC
                )
                seed_from_archive(recent, location, since)
                continue
            if recent.covered_from is None:
                continue
            oldest = datetime.fromtimestamp(page[0]["dynamodb"]["ApproximateCreationDateTime"], UTC)
            # Seconds never go back here, so every page falls inside the rows kept.
            assert recent.covers(oldest)
            recent.add_files(files)
            recent.select_items_of(files)
            keys = {f"id={record['dynamodb']['Keys']['id']['S']}" for record in page}
            window = latest_of(recent.connection)
            assert {row[0] for row in window} == keys
            assert window == latest_of(open_archive(location, "posts"), keys)


def test_a_page_older_than_the_rows_kept_is_not_covered(tmp_path: Any) -> None:
    location = parse_archive_uri(str(tmp_path))
    store = make_store(location)
    recent = RecentChanges(connect_duckdb(location), horizon=HORIZON)
    seed_from_archive(recent, location, LONG_AGO)
    late = [make_record(1, key="a", at=START + 100)]
    batch = archive_records(late, store, table_name="posts")
    recent.add_files([location.url(key) for key in batch.files])
    assert recent.covered_from == datetime.fromtimestamp(START + 97, UTC)
    assert recent.covers(datetime.fromtimestamp(START + 97, UTC))
    assert not recent.covers(datetime.fromtimestamp(START + 96, UTC))
    assert recent.rows() == 1
    # A record of an earlier second arriving late is kept, and so is its whole second.
    older = [make_record(2, key="b", at=START + 90), make_record(3, key="a", at=START + 101)]
    batch = archive_records(older, store, table_name="posts")
    recent.add_files([location.url(key) for key in batch.files])
    assert recent.rows() == 3
    assert recent.covered_from == datetime.fromtimestamp(START + 97, UTC)


def test_a_file_written_again_replaces_its_rows(tmp_path: Any) -> None:
    location = parse_archive_uri(str(tmp_path))
    store = make_store(location)
    recent = RecentChanges(connect_duckdb(location), horizon=HORIZON)
    seed_from_archive(recent, location, LONG_AGO)
    records = [make_record(1, key="a", at=START), make_record(2, key="a", at=START)]
    for _ in range(2):
        batch = archive_records(records, store, table_name="posts")
        recent.add_files([location.url(key) for key in batch.files])
    assert recent.rows() == 2
    recent.select_items_of([location.url(key) for key in batch.files])
    ((_, _, version, _),) = latest_of(recent.connection)
    assert version == (START << 20) + 1
