"""The sync watermark, kept durably in the index's mapping ``_meta`` under ``changelake``.

The watermark is the newest ``archived_at`` a rebuild or sync has read. The next sync reads
everything archived after it, minus a safety overlap (files that became visible late, clocks of
different archivers a little apart): replaying a record twice is harmless, its external version
makes the second write a counted 409. The watermark only moves after a sync has finished, so an
interrupted sync starts again from the same place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from changelake.schemas.exceptions import RebuildError

META_KEY = "changelake"
DEFAULT_OVERLAP = timedelta(minutes=10)


@dataclass(frozen=True)
class SyncState:
    """Where an index stands: its table, archive, watermark, and the as-of instant if any."""

    table_name: str
    archive: str
    watermark: datetime | None
    as_of: datetime | None = None

    def to_meta(self) -> dict[str, Any]:
        """The ``_meta`` value, JSON-ready."""
        return {
            "table": self.table_name,
            "archive": self.archive,
            "watermark": self.watermark.isoformat() if self.watermark else None,
            "as_of": self.as_of.isoformat() if self.as_of else None,
        }

    @classmethod
    def from_meta(cls, meta: dict[str, Any], index: str) -> SyncState:
        """Read the state a rebuild or sync left in ``index``'s ``_meta``."""
        value = meta.get(META_KEY)
        if not isinstance(value, dict) or "table" not in value:
            raise RebuildError(
                f"index {index!r} was not built by changelake (no _meta.{META_KEY}); "
                "run changelake rebuild for this alias first"
            )
        try:
            return cls(
                table_name=value["table"],
                archive=value.get("archive", ""),
                watermark=_parse(value.get("watermark")),
                as_of=_parse(value.get("as_of")),
            )
        except ValueError as error:
            raise RebuildError(
                f"index {index!r} has an unreadable _meta.{META_KEY}: {value!r} ({error}); "
                "rebuild the alias"
            ) from None

    def since(self, overlap: timedelta) -> datetime | None:
        """Read records archived after this instant: the watermark minus the overlap."""
        return None if self.watermark is None else self.watermark - overlap


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
