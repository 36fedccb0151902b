"""The one definition of "latest record" and its external version, on small in-memory tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from changelake.schemas.change_record import SEQUENCE_ORDER_WIDTH
from changelake.schemas.sql_views import (
    VERSION_ORDINAL_BITS,
    history_sql,
    latest_records_sql,
    latest_sql,
)

T0 = datetime(2026, 11, 20, 9, 0, 0, tzinfo=UTC)
SECOND = int(T0.timestamp())
Row = tuple[str, str, str, int | None, int]  # event_id, event_name, item_key, sequence, offset s


def _connection(rows: list[Row]) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(
        "CREATE TABLE changes (table_name VARCHAR, event_id VARCHAR, event_name VARCHAR, "
        "item_key VARCHAR, keys VARCHAR, sequence_order VARCHAR, "
        "approximate_creation_time TIMESTAMPTZ, new_image VARCHAR, archived_at TIMESTAMPTZ)"
    )
    for event_id, event_name, item_key, sequence, offset in rows:
        order = None if sequence is None else str(sequence).zfill(SEQUENCE_ORDER_WIDTH)
        image = None if event_name == "REMOVE" else f'{{"from":"{event_id}"}}'
        connection.execute(
            "INSERT INTO changes VALUES ('posts', ?, ?, ?, '{}', ?, ?, ?, ?)",
            [event_id, event_name, item_key, order, T0 + timedelta(seconds=offset), image, T0],
        )
    return connection


def _records_by_item(rows: list[Row], where: str, grouped: bool) -> dict[str, tuple[str, str, int]]:
    records = latest_records_sql(where=where, grouped=grouped)
    result = _connection(rows).execute(
        f"SELECT item_key, event_id, event_name, version FROM ({records})"
    )
    return {key: (event_id, name, version) for key, event_id, name, version in result.fetchall()}


def _latest(rows: list[Row], where: str = "true") -> dict[str, tuple[str, str, int]]:
    """The latest records by item; both forms of latest_records_sql must agree on them."""
    ranked = _records_by_item(rows, where, grouped=False)
    assert _records_by_item(rows, where, grouped=True) == ranked
    return ranked


def _version(offset: int, ordinal: int) -> int:
    return ((SECOND + offset) << VERSION_ORDINAL_BITS) + ordinal


def test_newest_record_wins_by_sequence_number() -> None:
    rows: list[Row] = [("e2", "MODIFY", "a", 20, 5), ("e1", "INSERT", "a", 10, 0)]
    assert _latest(rows) == {"a": ("e2", "MODIFY", _version(5, 0))}


def test_sequence_numbers_compare_as_numbers_not_text() -> None:
    rows: list[Row] = [("e9", "INSERT", "a", 9, 0), ("e10", "MODIFY", "a", 10, 0)]
    assert _latest(rows)["a"][0] == "e10"


def test_duplicate_deliveries_count_once() -> None:
    once: list[Row] = [("e1", "INSERT", "a", 10, 0), ("e2", "MODIFY", "a", 11, 0)]
    twice = [*once, ("e1", "INSERT", "a", 10, 0), ("e2", "MODIFY", "a", 11, 0)]
    assert _latest(twice) == _latest(once) == {"a": ("e2", "MODIFY", _version(0, 1))}


@pytest.mark.parametrize("grouped", [False, True], ids=["ranked", "grouped"])
def test_a_redelivered_winner_comes_out_once_with_its_image(grouped: bool) -> None:
    rows: list[Row] = [("e1", "INSERT", "a", 10, 0), ("e2", "MODIFY", "a", 11, 1)] * 3
    result = _connection(rows).execute(
        f"SELECT item_key, event_id, new_image FROM ({latest_records_sql(grouped=grouped)})"
    )
    assert result.fetchall() == [("a", "e2", '{"from":"e2"}')]


def test_several_changes_in_one_second_get_growing_versions() -> None:
    history: list[Row] = [
        ("e1", "INSERT", "a", 10, 0),
        ("e2", "MODIFY", "a", 11, 0),
        ("e3", "MODIFY", "a", 12, 0),
        ("e4", "MODIFY", "a", 13, 1),
    ]
    versions = [_latest(history[: n + 1])["a"][2] for n in range(len(history))]
    assert versions == [_version(0, 0), _version(0, 1), _version(0, 2), _version(1, 0)]
    assert versions == sorted(set(versions))
    assert all(0 < v < 2**63 for v in versions)


def test_version_is_the_same_whenever_it_is_computed() -> None:
    history: list[Row] = [("e1", "INSERT", "a", 10, 0), ("e2", "MODIFY", "a", 11, 0)]
    later = [*history, ("e3", "INSERT", "b", 12, 3)]
    assert _latest(later)["a"] == _latest(history)["a"]


def test_stream_record_in_the_snapshot_second_wins_the_tie() -> None:
    rows: list[Row] = [("s1", "SNAPSHOT", "a", None, 0), ("e1", "MODIFY", "a", 10, 0)]
    assert _latest(rows) == {"a": ("e1", "MODIFY", _version(0, 1))}
    reversed_rows: list[Row] = [("e1", "MODIFY", "a", 10, 0), ("s1", "SNAPSHOT", "a", None, 0)]
    assert _latest(reversed_rows) == _latest(rows)


def test_snapshot_after_the_stream_record_wins_by_time() -> None:
    rows: list[Row] = [("e1", "MODIFY", "a", 10, 0), ("s1", "SNAPSHOT", "a", None, 1)]
    assert _latest(rows) == {"a": ("s1", "SNAPSHOT", _version(1, 0))}


def test_remove_as_latest_is_kept_with_a_version_but_absent_from_latest_sql() -> None:
    rows: list[Row] = [
        ("e1", "INSERT", "a", 10, 0),
        ("e2", "REMOVE", "a", 11, 2),
        ("e3", "INSERT", "b", 12, 2),
    ]
    assert _latest(rows)["a"] == ("e2", "REMOVE", _version(2, 0))
    live = _connection(rows).execute(f"SELECT item_key FROM ({latest_sql()})").fetchall()
    assert live == [("b",)]


def test_an_item_inserted_again_after_a_remove_is_live() -> None:
    rows: list[Row] = [
        ("e1", "INSERT", "a", 10, 0),
        ("e2", "REMOVE", "a", 11, 1),
        ("e3", "INSERT", "a", 12, 1),
    ]
    assert _latest(rows)["a"] == ("e3", "INSERT", _version(1, 1))


@pytest.mark.parametrize(
    ("as_of_offset", "expected"),
    [(-1, None), (0, "e1"), (4, "e1"), (5, "e2"), (60, None)],
)
def test_as_of_ignores_later_records(as_of_offset: int, expected: str | None) -> None:
    rows: list[Row] = [
        ("e1", "INSERT", "a", 10, 0),
        ("e2", "MODIFY", "a", 11, 5),
        ("e3", "REMOVE", "a", 12, 10),
    ]
    as_of = (T0 + timedelta(seconds=as_of_offset)).isoformat()
    where = f"approximate_creation_time <= TIMESTAMPTZ '{as_of}'"
    found = _connection(rows).execute(f"SELECT event_id FROM ({latest_sql(where=where)})")
    assert [row[0] for row in found.fetchall()] == ([expected] if expected else [])


@pytest.mark.parametrize("changes", [1, 2, 3, 10])
def test_many_changes_in_one_second_are_counted_exactly(changes: int) -> None:
    rows: list[Row] = [("e0", "INSERT", "a", 1, -1)]
    rows += [(f"s{n}", "MODIFY", "a", 10 + n, 0) for n in range(changes)]
    rows += [(f"s{n}", "MODIFY", "a", 10 + n, 0) for n in range(changes)]  # all delivered twice
    assert _latest(rows)["a"] == (f"s{changes - 1}", "MODIFY", _version(0, changes - 1))


def test_an_item_seen_only_in_snapshots() -> None:
    rows: list[Row] = [
        ("s1", "SNAPSHOT", "a", None, 0),
        ("s2", "SNAPSHOT", "a", None, 0),
        ("s3", "SNAPSHOT", "a", None, 0),
        ("s0", "SNAPSHOT", "a", None, -5),
    ]
    assert _latest(rows) == {"a": ("s3", "SNAPSHOT", _version(0, 2))}


def test_snapshot_and_stream_records_in_one_second_count_together() -> None:
    rows: list[Row] = [
        ("s1", "SNAPSHOT", "a", None, 0),
        ("e1", "MODIFY", "a", 10, 0),
        ("e2", "MODIFY", "a", 11, 0),
        ("e2", "MODIFY", "a", 11, 0),
    ]
    assert _latest(rows) == {"a": ("e2", "MODIFY", _version(0, 2))}


@pytest.mark.parametrize("grouped", [False, True], ids=["ranked", "grouped"])
def test_a_remove_in_the_second_of_the_previous_change_leaves_no_image(grouped: bool) -> None:
    rows: list[Row] = [("e1", "INSERT", "a", 10, 0), ("e2", "REMOVE", "a", 11, 0)]
    records = latest_records_sql(grouped=grouped)
    result = _connection(rows).execute(
        f"SELECT event_id, event_name, new_image, version FROM ({records})"
    )
    assert result.fetchall() == [("e2", "REMOVE", None, _version(0, 1))]
    assert _connection(rows).execute(f"SELECT * FROM ({latest_sql()})").fetchall() == []


# One event: item, event name, second offset and sequence number, drawn independently, so a
# sequence number may even go backwards in time (the order is the second's first).
events = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        st.sampled_from(["INSERT", "MODIFY", "REMOVE", "SNAPSHOT"]),
        st.integers(min_value=0, max_value=2),
        st.integers(min_value=1, max_value=20),
    ),
    min_size=1,
    max_size=10,
)


@settings(max_examples=100, deadline=None)
@given(events, st.lists(st.integers(min_value=0, max_value=9), max_size=4))
def test_latest_record_is_the_last_row_of_the_history(
    drawn: list[tuple[str, str, int, int]], redelivered: list[int]
) -> None:
    rows: list[Row] = [
        (f"e{n}", name, key, None if name == "SNAPSHOT" else sequence, offset)
        for n, (key, name, offset, sequence) in enumerate(drawn)
    ]
    rows += [rows[n] for n in redelivered if n < len(rows)]
    connection = _connection(rows)
    connection.execute(
        "CREATE VIEW history_source AS SELECT *, "
        "CAST(NULL AS STRUCT(type VARCHAR, principal_id VARCHAR)) AS user_identity, "
        "CAST(NULL AS VARCHAR) AS sequence_number, CAST(NULL AS VARCHAR) AS old_image, "
        "CAST(NULL AS DATE) AS dt FROM changes"
    )
    history = connection.execute(
        f"SELECT item_key, event_id, version FROM ({history_sql('history_source')})"
    ).fetchall()
    last_rows = {key: (event_id, version) for key, event_id, version in history}
    latest = {key: (event_id, version) for key, (event_id, _, version) in _latest(rows).items()}
    assert latest == last_rows
