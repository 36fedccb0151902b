"""Every view tells one story: generated histories against the rule stated in Python.

Histories mix stream records (sequence numbers that tie, event ids shared by records with other
sequence numbers), Kinesis-like records (sub-second times, no sequence number), snapshot rows,
the REMOVE rows a complete snapshot writes for items it did not find, KEYS_ONLY records,
redeliveries in later files, and two tables that share item keys.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from changelake.ask.archive_stats import partition_stats_sql
from changelake.schemas.sql_views import history_sql, latest_records_sql, latest_sql
from tests.schemas.change_rows import (
    T0,
    Row,
    connect_rows,
    first_deliveries,
    has_live_image,
    ordered_records,
    reference_history,
)

FILES = ("f0", "f1", "f2", "f3")


@st.composite
def records(draw: st.DrawFn, index: int) -> Row:
    """One record of a generated history, not yet placed in a file."""
    table = draw(st.sampled_from(["t1", "t2"]))
    item = draw(st.sampled_from(["a", "b"]))
    second = draw(st.integers(min_value=0, max_value=2))
    kind = draw(st.sampled_from(["stream", "stream", "stream", "kinesis", "snapshot", "absent"]))
    if kind == "stream":
        return Row(
            draw(st.sampled_from(["e1", "e2", f"e-{index}"])),
            draw(st.sampled_from(["INSERT", "MODIFY", "REMOVE"])),
            item,
            sequence=draw(st.integers(min_value=1, max_value=4)),
            offset=second,
            table_name=table,
            stream_view_type=draw(st.sampled_from(["NEW_AND_OLD_IMAGES"] * 3 + ["KEYS_ONLY"])),
        )
    if kind == "kinesis":
        fraction = draw(st.sampled_from([0.0, 0.25, 0.5, 0.75]))
        name = draw(st.sampled_from(["INSERT", "MODIFY", "REMOVE"]))
        return Row(f"k-{index}", name, item, offset=second + fraction, table_name=table)
    snapshot = f"snapshot:s{draw(st.integers(min_value=1, max_value=2))}:{item}"
    name = "SNAPSHOT" if kind == "snapshot" else "REMOVE"
    return Row(snapshot, name, item, offset=second, table_name=table, stream_view_type=None)


@st.composite
def histories(draw: st.DrawFn) -> list[Row]:
    """Records placed in files (in batch order), some of them delivered again later."""
    drawn = [draw(records(n)) for n in range(draw(st.integers(min_value=1, max_value=12)))]
    # One identity is one record: it names one item at one time.
    unique: dict[tuple[str, str, int | None], Row] = {}
    for row in drawn:
        unique.setdefault((row.table_name, row.event_id, row.sequence), row)
    rows, rows_in_file = [], dict.fromkeys(FILES, 0)
    for row in unique.values():
        file = draw(st.sampled_from(FILES))
        rows.append(row.redelivered(file, rows_in_file[file], archived=FILES.index(file) * 10))
        rows_in_file[file] += 1
    again = draw(st.lists(st.integers(min_value=0, max_value=len(rows) - 1), max_size=4))
    for n, index in enumerate(again):
        # Later, or at the same time in a file that sorts after: the first delivery is kept.
        archived = draw(st.sampled_from([rows[index].archived, 100]))
        rows.append(rows[index].redelivered("f9", n, archived=archived))
    return rows


def _history(rows: list[Row]) -> dict[tuple[str, str], list[tuple[str, int]]]:
    found: dict[tuple[str, str], list[tuple[str, int]]] = {}
    query = f"SELECT table_name, item_key, event_id, version FROM ({history_sql()})"
    for table, item, event_id, version in connect_rows(rows).execute(query).fetchall():
        found.setdefault((table, item), []).append((event_id, version))
    return found


@settings(max_examples=100, deadline=None)
@given(histories())
def test_history_follows_the_rule(rows: list[Row]) -> None:
    assert _history(rows) == reference_history(rows)


@settings(max_examples=100, deadline=None)
@given(histories())
def test_latest_is_the_last_row_of_history_in_both_forms(rows: list[Row]) -> None:
    last = {item: entries[-1] for item, entries in reference_history(rows).items()}
    for grouped in (False, True):
        query = (
            "SELECT table_name, item_key, event_id, version "
            f"FROM ({latest_records_sql(grouped=grouped)})"
        )
        found = connect_rows(rows).execute(query).fetchall()
        assert {(t, i): (e, v) for t, i, e, v in found} == last


@settings(max_examples=100, deadline=None)
@given(histories(), st.sampled_from([0.0, 0.25, 1.0, 1.5, 2.0, 2.75]))
def test_as_of_is_latest_over_the_records_until_then(rows: list[Row], seconds: float) -> None:
    at = T0 + timedelta(seconds=seconds)
    where = f"approximate_creation_time <= TIMESTAMPTZ '{at.isoformat()}'"
    as_of = connect_rows(rows).execute(
        f"SELECT table_name, item_key, event_id, version FROM ({latest_sql(where=where)})"
    )
    whole = reference_history(rows)
    expected = {}
    for item, entries in ordered_records([r for r in rows if r.time <= at]).items():
        record, version = entries[-1]
        assert (record.event_id, version) in whole[item]  # its version in the whole history
        if has_live_image(record):
            expected[item] = (record.event_id, version)
    assert {(t, i): (e, v) for t, i, e, v in as_of.fetchall()} == expected


@settings(max_examples=100, deadline=None)
@given(histories())
def test_changes_and_stats_count_each_record_once(rows: list[Row]) -> None:
    connection = connect_rows(rows)
    records = first_deliveries(rows)
    assert connection.execute("SELECT count(*) FROM changes").fetchone() == (len(records),)
    shown = connection.execute(
        "SELECT table_name, event_id, sequence_number, source_file, source_row FROM changes"
    ).fetchall()
    assert sorted(shown, key=str) == sorted(
        (
            (
                r.table_name,
                r.event_id,
                None if r.sequence is None else str(r.sequence),
                r.source_file,
                r.source_row,
            )
            for r in records
        ),
        key=str,
    )
    stats = connection.execute(partition_stats_sql()).fetchall()
    per_table = {row[0]: (row[2], row[-1]) for row in stats}  # records, stored rows
    for table in {r.table_name for r in rows}:
        expected_records = sum(r.table_name == table for r in records)
        expected_rows = sum(r.table_name == table for r in rows)
        assert per_table[table] == (expected_records, expected_rows)
