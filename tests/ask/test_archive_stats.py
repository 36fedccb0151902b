"""Record counts per day and sizes per file -> figures per table and day, and how they read."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from changelake.ask.archive_stats import (
    duration_to_text,
    rows_to_stats,
    stats_to_lines,
)
from changelake.schemas.byte_sizes import bytes_to_text

T = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _records(
    dt: date, oldest: datetime, newest: datetime, stored: int, **events: int
) -> dict[str, Any]:
    counts = {name: events.get(name, 0) for name in ("inserts", "modifies", "removes", "snapshots")}
    return {
        "table_name": "posts",
        "dt": dt,
        "records": sum(counts.values()),
        "stored_rows": stored,
        "oldest": oldest,
        "newest": newest,
        **counts,
    }


def _file(dt: date, size: int) -> dict[str, Any]:
    return {"table_name": "posts", "dt": dt, "filename": f"f{size}", "bytes": size}


def test_files_add_up_per_table_and_day() -> None:
    day, next_day = date(2026, 11, 20), date(2026, 11, 21)
    records = [
        _records(day, T - timedelta(hours=2), T + timedelta(hours=1), 8, inserts=2, modifies=4),
        _records(next_day, T + timedelta(days=1), T + timedelta(days=1), 4, snapshots=4),
    ]
    files = [_file(day, 100), _file(day, 50_000_000), _file(next_day, 10)]
    first, second = rows_to_stats(records, files, small_file_size=1_000_000)
    assert (first.dt, first.files, first.bytes, first.small_files, first.records) == (
        day,
        2,
        50_000_100,
        1,
        6,
    )
    assert first.duplicates == 2
    assert first.events == {"inserts": 2, "modifies": 4, "removes": 0, "snapshots": 0}
    assert (first.oldest, first.newest) == (T - timedelta(hours=2), T + timedelta(hours=1))
    assert second.events["snapshots"] == 4
    now = T + timedelta(days=2)
    assert first.to_dict(now)["lag_seconds"] == int(timedelta(days=2, hours=-1).total_seconds())
    assert (first.to_dict(now)["records"], first.to_dict(now)["duplicates"]) == (6, 2)
    lines = stats_to_lines([first, second], now, 1_000_000)
    assert lines[0].split()[:4] == ["table", "dt", "records", "insert"]
    assert "1 !" in lines[1]
    assert lines[1].endswith("1d 23h")
    assert lines[-1].startswith("! 2 file(s) below 976.6 KiB")


def test_sizes_and_durations_read_well() -> None:
    assert bytes_to_text(512) == "512 B"
    assert bytes_to_text(1536) == "1.5 KiB"
    assert bytes_to_text(3 * 1024**3) == "3.0 GiB"
    assert duration_to_text(timedelta(seconds=42)) == "42s"
    assert duration_to_text(timedelta(hours=26, minutes=5)) == "1d 2h"
    assert duration_to_text(timedelta(seconds=-90)) == "-1m 30s"
    assert duration_to_text(None) == ""
