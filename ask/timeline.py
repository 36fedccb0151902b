"""An item's timeline: one entry per change, with what changed since the image before it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from changelake.ask.image_diff import (
    ImageDiff,
    diff_to_lines,
    images_to_diff,
    value_to_json,
)
from changelake.ask.output_formats import time_to_text
from changelake.schemas.dynamodb_types import json_to_image
from changelake.schemas.sql_views import HISTORY_COLUMNS, history_sql

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime

    from duckdb import DuckDBPyConnection

# The columns of history_sql a timeline reads: all but the partition day.
TIMELINE_COLUMNS = tuple(name for name in HISTORY_COLUMNS if name != "dt")

# What a stream of each view type leaves out of an INSERT or MODIFY record.
_MISSING_IMAGE = {
    "KEYS_ONLY": "image not in stream: a KEYS_ONLY stream carries the key only",
    "OLD_IMAGE": "image not in stream: an OLD_IMAGE stream carries the item before the change",
}


@dataclass(frozen=True)
class TimelineEntry:
    """One change of an item: when, what, who, and the diff from the image before it.

    ``note`` says why there is no diff (the stream does not carry the image) or why it is
    against nothing (the image before is not known).
    """

    time: datetime
    event: str
    who: str
    version: int
    event_id: str
    sequence_number: str | None
    diff: ImageDiff
    image: dict[str, Any] | None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "time": self.time.isoformat(),
            "event": self.event,
            "who": self.who,
            "version": self.version,
            "event_id": self.event_id,
            "sequence_number": self.sequence_number,
            "diff": value_to_json(self.diff.to_dict()),
            "image": value_to_json(self.image),
            "note": self.note,
        }


def load_timeline(
    connection: DuckDBPyConnection, table_name: str, item_key: str
) -> list[TimelineEntry]:
    """The timeline of one item of one table, from a connection with ``change_rows``."""
    sql = history_sql(where="table_name = $table AND item_key = $key")
    result = connection.execute(
        f"SELECT {', '.join(TIMELINE_COLUMNS)} FROM ({sql})", {"table": table_name, "key": item_key}
    )
    names = [column[0] for column in result.description]
    return rows_to_timeline(dict(zip(names, row, strict=True)) for row in result.fetchall())


def rows_to_timeline(rows: Iterable[Mapping[str, Any]]) -> list[TimelineEntry]:
    """History rows (oldest first) -> timeline entries with diffs.

    The diff is taken against the record's own old image when the stream carried one, else
    against the image the previous change left (streams with NEW_IMAGE only, snapshots). A record
    of a stream that does not carry new images (KEYS_ONLY, OLD_IMAGE) gets no diff but a note:
    its attributes were not removed, they are not in the stream.
    """
    entries = []
    previous: dict[str, Any] | None = None
    previous_known = True
    for row in rows:
        new = _image_or_none(row["new_image"])
        old = _image_or_none(row["old_image"])
        missing = _MISSING_IMAGE.get(row.get("stream_view_type") or "")
        note = None
        if missing is not None and row["event_name"] in ("INSERT", "MODIFY"):
            diff, note = ImageDiff(), missing
        elif old is None and not previous_known and row["event_name"] != "REMOVE":
            diff, note = images_to_diff(None, new), "the image before is not in the stream"
        else:
            diff = images_to_diff(old if old is not None else previous, new)
        entries.append(
            TimelineEntry(
                time=row["approximate_creation_time"],
                event=row["event_name"],
                who=row["who"],
                version=row["version"],
                event_id=row["event_id"],
                sequence_number=row["sequence_number"],
                diff=diff,
                image=new,
                note=note,
            )
        )
        previous = new
        previous_known = new is not None or row["event_name"] == "REMOVE"
    return entries


_REMOVED_BY = {
    "TTL": " by TTL",
    "snapshot": ": a complete snapshot did not find it (deleted while no stream was archived)",
}


def timeline_to_lines(entries: Iterable[TimelineEntry]) -> list[str]:
    """Readable lines: a header line per change, its diff indented below."""
    lines = []
    for entry in entries:
        when = time_to_text(entry.time)
        lines.append(f"{when}  {entry.event:<8}  {entry.who:<5}  version {entry.version}")
        if entry.event == "REMOVE":
            details = [f"(item removed{_REMOVED_BY.get(entry.who, '')})"]
        elif entry.note is not None and not entry.diff:
            details = [f"({entry.note})"]
        else:
            details = diff_to_lines(entry.diff) or ["(no attribute changed)"]
            if entry.note is not None:
                details.insert(0, f"({entry.note})")
        lines.extend(f"    {line}" for line in details)
    return lines


def _image_or_none(text: str | None) -> dict[str, Any] | None:
    return None if text is None else json_to_image(text)
