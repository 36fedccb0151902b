"""The one definition of "latest record" and its external version, on small in-memory tables."""

from __future__ import annotations

from datetime import timedelta

import pytest

from changelake.schemas.sql_views import (
    VERSION_ORDINAL_BITS,
    history_sql,
    images_not_in_stream_sql,
    latest_records_sql,
    latest_sql,
)
from tests.schemas.change_rows import SECOND, T0, Row, connect_rows


def _records_by_item(rows: list[Row], where: str, grouped: bool) -> dict[str, tuple[str, str, int]]:
    records = latest_records_sql(where=where, grouped=grouped)
    result = connect_rows(rows).execute(
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


def _batch(*rows: Row, file: str = "file-0000", archived: int = 0) -> list[Row]:
    """Rows delivered in one batch: one file, in this order."""
    return [
        Row(**{**row.__dict__, "source_file": file, "source_row": n, "archived": archived})
        for n, row in enumerate(rows)
    ]


def test_newest_record_wins_by_sequence_number() -> None:
    rows = [Row("e2", "MODIFY", sequence=20, offset=5), Row("e1", "INSERT", sequence=10)]
    assert _latest(rows) == {"a": ("e2", "MODIFY", _version(5, 0))}


def test_sequence_numbers_compare_as_numbers_not_text() -> None:
    rows = _batch(Row("e10", "MODIFY", sequence=10), Row("e9", "INSERT", sequence=9))
    assert _latest(rows)["a"][0] == "e10"


def test_duplicate_deliveries_count_once() -> None:
    once = _batch(Row("e1", "INSERT", sequence=10), Row("e2", "MODIFY", sequence=11))
    twice = once + _batch(*once, file="file-0001", archived=60)
    assert _latest(twice) == _latest(once) == {"a": ("e2", "MODIFY", _version(0, 1))}


@pytest.mark.parametrize("grouped", [False, True], ids=["ranked", "grouped"])
def test_a_redelivered_winner_comes_out_once_with_its_image(grouped: bool) -> None:
    once = _batch(Row("e1", "INSERT", sequence=10), Row("e2", "MODIFY", sequence=11, offset=1))
    rows = once + _batch(*once, file="file-0001") + _batch(*once, file="file-0002")
    result = connect_rows(rows).execute(
        f"SELECT item_key, event_id, new_image FROM ({latest_records_sql(grouped=grouped)})"
    )
    assert result.fetchall() == [("a", "e2", '{"from":"e2"}')]


def test_records_tied_in_second_and_sequence_keep_their_order_in_the_batch() -> None:
    # The published .NET sample: an INSERT, then the TTL REMOVE of that item, in one second with
    # one sequence number; event ids sort the other way.
    rows = _batch(Row("f07f-69f", "INSERT", sequence=7), Row("f07f-42f", "REMOVE", sequence=7))
    assert _latest(rows) == {"a": ("f07f-42f", "REMOVE", _version(0, 1))}
    assert connect_rows(rows).execute(f"SELECT * FROM ({latest_sql()})").fetchall() == []


def test_a_redelivery_is_ordered_by_its_first_delivery() -> None:
    first = _batch(Row("x", "INSERT", sequence=7), Row("y", "MODIFY", sequence=7))
    # x arrives again later, in a file that sorts after the first one.
    rows = [*first, first[0].redelivered("file-0009", 0, archived=30)]
    assert _latest(rows) == {"a": ("y", "MODIFY", _version(0, 1))}


def test_one_event_id_with_two_sequence_numbers_is_two_records() -> None:
    rows = _batch(Row("same", "INSERT", sequence=1), Row("same", "MODIFY", sequence=2))
    assert _latest(rows) == {"a": ("same", "MODIFY", _version(0, 1))}
    assert connect_rows(rows).execute("SELECT count(*) FROM changes").fetchone() == (2,)


def test_full_precision_times_order_records_within_a_second() -> None:
    # Kinesis records carry milliseconds and no sequence number; files may arrive out of order.
    later = Row("k2", "MODIFY", offset=0.75, source_file="file-0000")
    earlier = Row("k1", "INSERT", offset=0.25, source_file="file-0001")
    assert _latest([later, earlier]) == {"a": ("k2", "MODIFY", _version(0, 1))}


def test_several_changes_in_one_second_get_growing_versions() -> None:
    history = _batch(
        Row("e1", "INSERT", sequence=10),
        Row("e2", "MODIFY", sequence=11),
        Row("e3", "MODIFY", sequence=12),
        Row("e4", "MODIFY", sequence=13, offset=1),
    )
    versions = [_latest(history[: n + 1])["a"][2] for n in range(len(history))]
    assert versions == [_version(0, 0), _version(0, 1), _version(0, 2), _version(1, 0)]
    assert all(0 < v < 2**63 for v in versions)


def test_version_is_the_same_whenever_it_is_computed() -> None:
    history = _batch(Row("e1", "INSERT", sequence=10), Row("e2", "MODIFY", sequence=11))
    later = [*history, Row("e3", "INSERT", item_key="b", sequence=12, offset=3)]
    assert _latest(later)["a"] == _latest(history)["a"]


def test_stream_record_in_the_snapshot_second_wins_the_tie() -> None:
    snapshot = Row("snapshot:s:a", "SNAPSHOT", source_file="file-0009")
    stream = Row("e1", "MODIFY", sequence=10, source_file="file-0000")
    assert _latest([snapshot, stream]) == {"a": ("e1", "MODIFY", _version(0, 1))}
    assert _latest([stream, snapshot]) == _latest([snapshot, stream])


def test_a_snapshot_absence_is_ordered_like_its_snapshot_rows() -> None:
    absent = Row("snapshot:s:a", "REMOVE", source_file="file-0009")
    inserted = Row("e1", "INSERT", sequence=10, source_file="file-0000")
    assert _latest([inserted, absent]) == {"a": ("e1", "INSERT", _version(0, 1))}
    assert _latest([absent, Row("e0", "INSERT", sequence=9, offset=-1)])["a"][1] == "REMOVE"


def test_snapshot_after_the_stream_record_wins_by_time() -> None:
    rows = [Row("e1", "MODIFY", sequence=10), Row("s1", "SNAPSHOT", offset=1)]
    assert _latest(rows) == {"a": ("s1", "SNAPSHOT", _version(1, 0))}


def test_remove_as_latest_is_kept_with_a_version_but_absent_from_latest_sql() -> None:
    rows = _batch(
        Row("e1", "INSERT", sequence=10),
        Row("e2", "REMOVE", sequence=11, offset=2),
        Row("e3", "INSERT", item_key="b", sequence=12, offset=2),
    )
    assert _latest(rows)["a"] == ("e2", "REMOVE", _version(2, 0))
    live = connect_rows(rows).execute(f"SELECT item_key FROM ({latest_sql()})").fetchall()
    assert live == [("b",)]


def test_an_item_inserted_again_after_a_remove_is_live() -> None:
    rows = _batch(
        Row("e1", "INSERT", sequence=10),
        Row("e2", "REMOVE", sequence=11, offset=1),
        Row("e3", "INSERT", sequence=12, offset=1),
    )
    assert _latest(rows)["a"] == ("e3", "INSERT", _version(1, 1))


@pytest.mark.parametrize(
    ("as_of_offset", "expected"),
    [(-1, None), (0, "e1"), (4, "e1"), (5, "e2"), (60, None)],
)
def test_as_of_ignores_later_records(as_of_offset: int, expected: str | None) -> None:
    rows = _batch(
        Row("e1", "INSERT", sequence=10),
        Row("e2", "MODIFY", sequence=11, offset=5),
        Row("e3", "REMOVE", sequence=12, offset=10),
    )
    as_of = (T0 + timedelta(seconds=as_of_offset)).isoformat()
    where = f"approximate_creation_time <= TIMESTAMPTZ '{as_of}'"
    found = connect_rows(rows).execute(f"SELECT event_id FROM ({latest_sql(where=where)})")
    assert [row[0] for row in found.fetchall()] == ([expected] if expected else [])


@pytest.mark.parametrize("changes", [1, 2, 3, 10])
def test_many_changes_in_one_second_are_counted_exactly(changes: int) -> None:
    once = _batch(*[Row(f"s{n}", "MODIFY", sequence=10 + n) for n in range(changes)])
    rows = [Row("e0", "INSERT", sequence=1, offset=-1), *once]
    rows += _batch(*once, file="file-0001", archived=5)  # all delivered twice
    assert _latest(rows)["a"] == (f"s{changes - 1}", "MODIFY", _version(0, changes - 1))


def test_an_item_seen_only_in_snapshots() -> None:
    rows = [
        *_batch(Row("s1", "SNAPSHOT"), Row("s2", "SNAPSHOT"), Row("s3", "SNAPSHOT")),
        Row("s0", "SNAPSHOT", offset=-5),
    ]
    assert _latest(rows) == {"a": ("s3", "SNAPSHOT", _version(0, 2))}


@pytest.mark.parametrize("grouped", [False, True], ids=["ranked", "grouped"])
def test_a_remove_in_the_second_of_the_previous_change_leaves_no_image(grouped: bool) -> None:
    rows = _batch(Row("e1", "INSERT", sequence=10), Row("e2", "REMOVE", sequence=11))
    records = latest_records_sql(grouped=grouped)
    result = connect_rows(rows).execute(
        f"SELECT event_id, event_name, new_image, version FROM ({records})"
    )
    assert result.fetchall() == [("e2", "REMOVE", None, _version(0, 1))]
    assert connect_rows(rows).execute(f"SELECT * FROM ({latest_sql()})").fetchall() == []


@pytest.mark.parametrize("view_type", ["KEYS_ONLY", "OLD_IMAGE"])
def test_an_item_whose_stream_carries_no_new_image_is_not_in_latest(view_type: str) -> None:
    rows = _batch(
        Row("s0", "SNAPSHOT", item_key="a", offset=-10, stream_view_type=None),
        Row("e1", "MODIFY", item_key="a", sequence=1, stream_view_type=view_type),
        Row("e2", "INSERT", item_key="b", sequence=2, stream_view_type=view_type),
        Row("e3", "REMOVE", item_key="b", sequence=3, offset=1, stream_view_type=view_type),
        Row("e4", "INSERT", item_key="c", sequence=4),
    )
    connection = connect_rows(rows)
    assert connection.execute(f"SELECT item_key FROM ({latest_sql()})").fetchall() == [("c",)]
    assert _latest(rows)["a"] == ("e1", "MODIFY", _version(0, 0))
    missing = connection.execute(images_not_in_stream_sql()).fetchall()
    assert missing == [(view_type, 1)]


def test_history_lists_each_record_once_in_order_with_the_versions_of_latest() -> None:
    rows = _batch(
        Row("f07f-69f", "INSERT", sequence=7),
        Row("f07f-42f", "REMOVE", sequence=7),
        Row("again", "INSERT", sequence=8, offset=1),
    )
    rows += _batch(*rows[:2], file="file-0001", archived=9)
    history = connect_rows(rows).execute(
        f"SELECT event_id, event_name, version FROM ({history_sql()})"
    )
    assert history.fetchall() == [
        ("f07f-69f", "INSERT", _version(0, 0)),
        ("f07f-42f", "REMOVE", _version(0, 1)),
        ("again", "INSERT", _version(1, 0)),
    ]
