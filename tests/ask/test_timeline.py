"""Timelines: one entry per change, diffed against the record's old image or the previous one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from changelake.ask.timeline import rows_to_timeline, timeline_to_lines

T = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _row(
    event: str,
    new: str | None,
    old: str | None = None,
    who: str = "user",
    view_type: str = "NEW_AND_OLD_IMAGES",
) -> dict[str, Any]:
    return {
        "stream_view_type": view_type,
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
        "2026-11-20 09:00:00+00:00  INSERT    user   version 7",
        '    + id: "p"',
        '    + t: "a"',
        "2026-11-20 09:00:00+00:00  MODIFY    user   version 7",
        '    ~ t: "a" -> "b"',
        "2026-11-20 09:00:00+00:00  MODIFY    user   version 7",
        '    ~ t: "x" -> "c"',
        "2026-11-20 09:00:00+00:00  REMOVE    TTL    version 7",
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
        "note": None,
    }


def test_a_stream_without_new_images_is_explained_not_diffed() -> None:
    rows = [
        _row("SNAPSHOT", '{"id":"p","t":"a"}', who="snapshot", view_type=None),  # type: ignore[arg-type]
        _row("MODIFY", None, view_type="KEYS_ONLY"),
        _row("MODIFY", None, old='{"id":"p","t":"b"}', view_type="OLD_IMAGE"),
        _row("SNAPSHOT", '{"id":"p","t":"c"}', who="snapshot", view_type=None),  # type: ignore[arg-type]
        _row("REMOVE", None, old='{"id":"p","t":"c"}', view_type="OLD_IMAGE"),
    ]
    entries = rows_to_timeline(rows)
    assert [bool(e.diff) for e in entries] == [True, False, False, True, True]
    assert entries[1].to_dict()["note"].startswith("image not in stream: a KEYS_ONLY")
    lines = timeline_to_lines(entries)
    assert lines[3:7] == [
        "2026-11-20 09:00:00+00:00  MODIFY    user   version 7",
        "    (image not in stream: a KEYS_ONLY stream carries the key only)",
        "2026-11-20 09:00:00+00:00  MODIFY    user   version 7",
        "    (image not in stream: an OLD_IMAGE stream carries the item before the change)",
    ]
    # The snapshot after them: its diff is against nothing known, and says so.
    assert lines[7:10] == [
        "2026-11-20 09:00:00+00:00  SNAPSHOT  snapshot  version 7",
        "    (the image before is not in the stream)",
        '    + id: "p"',
    ]
    assert "- " not in "\n".join(lines)


def test_a_removal_found_by_a_snapshot_says_so() -> None:
    rows = [_row("INSERT", '{"id":"p"}'), _row("REMOVE", None, who="snapshot", view_type=None)]  # type: ignore[arg-type]
    assert timeline_to_lines(rows_to_timeline(rows))[-1] == (
        "    (item removed: a complete snapshot did not find it "
        "(deleted while no stream was archived))"
    )
