"""An item's timeline: one entry per change, with what changed since the image before it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from changelake.ask.image_diff import (
    ImageDiff,
    diff_to_lines,
    images_to_diff,
    json_to_image,
    value_to_json,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime

# Columns of changelake.schemas.sql_views.history_sql that a timeline needs, in this order.
TIMELINE_COLUMNS = (
    "table_name",
    "item_key",
    "approximate_creation_time",
    "event_name",
    "who",
    "version",
    "event_id",
    "sequence_number",
    "old_image",
    "new_image",
)


@dataclass(frozen=True)
class TimelineEntry:
    """One change of an item: when, what, who, and the diff from the image before it."""

    time: datetime
    event: str
    who: str
    version: int
    event_id: str
    sequence_number: str | None
    diff: ImageDiff
    image: dict[str, Any] | None

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
        }


def rows_to_timeline(rows: Iterable[Mapping[str, Any]]) -> list[TimelineEntry]:
    """History rows (oldest first) -> timeline entries with diffs.

    The diff is taken against the record's own old image when the stream carried one, else
    against the image the previous change left (streams with NEW_IMAGE only, snapshots).
    """
    entries = []
    previous: dict[str, Any] | None = None
    for row in rows:
        new = json_to_image(row["new_image"])
        old = json_to_image(row["old_image"])
        before = old if old is not None else previous
        entries.append(
            TimelineEntry(
                time=row["approximate_creation_time"],
                event=row["event_name"],
                who=row["who"],
                version=row["version"],
                event_id=row["event_id"],
                sequence_number=row["sequence_number"],
                diff=images_to_diff(before, new),
                image=new,
            )
        )
        previous = new
    return entries


def timeline_to_lines(entries: Iterable[TimelineEntry]) -> list[str]:
    """Readable lines: a header line per change, its diff indented below."""
    lines = []
    for entry in entries:
        when = entry.time.strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f"{when}  {entry.event:<8}  {entry.who:<5}  version {entry.version}")
        if entry.event == "REMOVE":
            details = [f"(item removed{' by TTL' if entry.who == 'TTL' else ''})"]
        else:
            details = diff_to_lines(entry.diff) or ["(no attribute changed)"]
        lines.extend(f"    {line}" for line in details)
    return lines
