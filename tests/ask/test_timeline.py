"""Timelines: one entry per change, diffed against the record's old image or the previous one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from changelake.ask.timeline import rows_to_timeline, timeline_to_lines

T = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _row(event: str, new: str | None, old: str | None = None, who: str = "user") -> dict[str, Any]:
    return {
        "approximate_creation_time": T,
        "event_name": event,
        "who": who,
        "version": 7,
        "event_id": f"e-{event}",
        "sequence_number": "1",
        "new_image": new,
        "old_image": old,
    }


def test_diff_uses_the_old_image_or_else_the_previous_new_image() -> None:
    rows = [
        _row("INSERT", '{"id":"p","t":"a"}'),
        _row("MODIFY", '{"id":"p","t":"b"}'),  # NEW_IMAGE stream: no old image
        _row("MODIFY", '{"id":"p","t":"c"}', old='{"id":"p","t":"x"}'),
        _row("REMOVE", None, old='{"id":"p","t":"c"}', who="TTL"),
    ]
    entries = rows_to_timeline(rows)
    assert [e.diff.changed for e in entries[1:3]] == [{"t": ("a", "b")}, {"t": ("x", "c")}]
    assert entries[3].diff.removed == {"id": "p", "t": "c"}
    assert timeline_to_lines(entries) == [
        "2026-11-20 09:00:00  INSERT    user   version 7",
        '    + id: "p"',
        '    + t: "a"',
        "2026-11-20 09:00:00  MODIFY    user   version 7",
        '    ~ t: "a" -> "b"',
        "2026-11-20 09:00:00  MODIFY    user   version 7",
        '    ~ t: "x" -> "c"',
        "2026-11-20 09:00:00  REMOVE    TTL    version 7",
        "    (item removed by TTL)",
    ]


def test_a_change_that_changed_nothing_says_so() -> None:
    rows = [_row("INSERT", '{"id":"p"}'), _row("MODIFY", '{"id":"p"}', old='{"id":"p"}')]
    assert timeline_to_lines(rows_to_timeline(rows))[-1] == "    (no attribute changed)"


def test_json_form_keeps_whole_values() -> None:
    (entry,) = rows_to_timeline([_row("INSERT", '{"id":"p","n":1.5}')])
    assert entry.to_dict() == {
        "time": "2026-11-20T09:00:00+00:00",
        "event": "INSERT",
        "who": "user",
        "version": 7,
        "event_id": "e-INSERT",
        "sequence_number": "1",
        "diff": {"added": {"id": "p", "n": 1.5}, "removed": {}, "changed": {}},
        "image": {"id": "p", "n": 1.5},
    }
