"""Gaps: changes that left the stream before they were archived, detected and kept on record.

DynamoDB Streams keeps records for 24 hours; a stream that was disabled and enabled again is a new
stream, and the old one's unread records are gone. Either way the archive can no longer rebuild the
table from the log alone, and only a fresh snapshot closes the gap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from changelake.archiver.checkpoints import load_stream_state
from changelake.schemas.archive_layout import CHECKPOINT_DIR, table_dir

if TYPE_CHECKING:
    from collections.abc import Iterator

    from changelake.archiver.checkpoints import StreamState
    from changelake.archiver.object_store import ObjectStore

# Stream records are removed after 24 hours (DynamoDB Streams developer guide, "Data retention").
TRIM_HORIZON = timedelta(hours=24)


@dataclass(frozen=True)
class StreamGap:
    """A span of changes the archive missed, why, and what fixes it."""

    table_name: str
    reason: str
    lost_from: datetime
    lost_until: datetime
    stream_arn: str
    detected_at: datetime

    def message(self) -> str:
        """What was lost and the remedy, in one line."""
        return (
            f"table {self.table_name}: changes between {_iso(self.lost_from)} and "
            f"{_iso(self.lost_until)} may be missing from the archive ({self.reason}); "
            f"take a fresh snapshot (changelake snapshot --table {self.table_name} --archive "
            "...), which records the current stream, then poll again"
        )

    def still_open_after(self, what: str, taken_at: datetime) -> str:
        """Why a snapshot or export taken at ``taken_at`` left the gap open, and the remedy."""
        return (
            f"{what} of table {self.table_name} is as of {_iso(taken_at)}, before the end of the "
            f"gap ({_iso(self.lost_until)}): its items were archived, but changes between "
            f"{_iso(self.lost_from)} and {_iso(self.lost_until)} may still be missing; take a "
            f"snapshot (changelake snapshot --table {self.table_name} --archive ...) or import "
            f"an export taken after {_iso(self.lost_until)}"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, kept in the stream state."""
        return {
            name: _iso(value) if isinstance(value, datetime) else value
            for name, value in asdict(self).items()
        }


def find_gap(state: StreamState | None, stream_arn: str, now: datetime) -> StreamGap | None:
    """The gap between the archive's stream state and the table's current stream, if any."""
    if state is None:
        return None
    if state.gap is not None:
        return gap_from_dict(state.gap)
    if state.stream_arn != stream_arn:
        return StreamGap(
            table_name=state.table_name,
            reason=(
                f"the table's stream changed from {state.stream_arn} to {stream_arn} (streams "
                "disabled and enabled again); the old stream's unread records are gone"
            ),
            lost_from=state.covered_until,
            lost_until=now,
            stream_arn=stream_arn,
            detected_at=now,
        )
    horizon = now - TRIM_HORIZON
    if state.covered_until < horizon:
        return StreamGap(
            table_name=state.table_name,
            reason=(
                f"the archive is complete only until {_iso(state.covered_until)}, more than "
                "24 h ago, and the stream keeps records for 24 h"
            ),
            lost_from=state.covered_until,
            lost_until=horizon,
            stream_arn=stream_arn,
            detected_at=now,
        )
    return None


def gap_from_dict(fields: dict[str, Any]) -> StreamGap:
    """A gap as kept in the stream state."""
    return StreamGap(
        table_name=fields["table_name"],
        reason=fields["reason"],
        lost_from=datetime.fromisoformat(fields["lost_from"]),
        lost_until=datetime.fromisoformat(fields["lost_until"]),
        stream_arn=fields["stream_arn"],
        detected_at=datetime.fromisoformat(fields["detected_at"]),
    )


def stream_status(store: ObjectStore, table_name: str) -> dict[str, Any] | None:
    """The table's stream state for reports: stream, complete-until time, snapshot, gap."""
    state = load_stream_state(store, table_name)
    if state is None:
        return None
    return {
        "stream_arn": state.stream_arn,
        "covered_until": _iso(state.covered_until),
        "snapshot_at": _iso(state.snapshot_at) if state.snapshot_at else None,
        "gap": gap_from_dict(state.gap).message() if state.gap else None,
    }


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def iter_stream_statuses(
    store: ObjectStore, table_name: str | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(table, stream_status)`` for every table the poller or a snapshot has state for."""
    prefix = f"{CHECKPOINT_DIR}/{table_dir(table_name)}/" if table_name else f"{CHECKPOINT_DIR}/"
    for key in store.list_keys(prefix):
        parts = key.split("/")
        if len(parts) == 3 and parts[1].startswith("table=") and parts[2] == "stream.json":
            name = parts[1].removeprefix("table=")
            status = stream_status(store, name)
            if status is not None:
                yield name, status
