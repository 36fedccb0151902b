"""What an index remembers, in its mapping ``_meta`` under ``changelake``: recipe and watermark.

The watermark is the newest ``archived_at`` a rebuild or sync has read. The next sync reads
everything archived after it, minus a safety overlap (files that became visible late, clocks of
different archivers a little apart): replaying a record twice is harmless, its external version
makes the second write a counted 409. The watermark only moves after a sync has finished with
no document refused, so an interrupted or partly refused sync starts again from the same place.

Beside it: the recipe (``recipe.Recipe``), the as-of instant of an index rebuilt in the past, the
indexes the alias pointed to before this one (newest first: what ``--keep`` keeps and ``rollback``
goes back to), and the lease the index was built under.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from changelake.rebuild.recipe import Recipe
from changelake.schemas.exceptions import RebuildError

META_KEY = "changelake"
DEFAULT_OVERLAP = timedelta(minutes=10)
# Enough to roll back through a long series of rebuilds; older entries are dropped.
ALIAS_HISTORY_LENGTH = 20


@dataclass(frozen=True)
class SyncState:
    """Where an index stands: its recipe, watermark, as-of instant, alias history and lease."""

    recipe: Recipe
    watermark: datetime | None
    as_of: datetime | None = None
    alias_history: tuple[str, ...] = ()
    lease: dict[str, str] | None = field(default=None, compare=False)

    @property
    def table_name(self) -> str:
        """The table the index holds."""
        return self.recipe.table_name

    def to_meta(self) -> dict[str, Any]:
        """The ``_meta.changelake`` value, JSON-ready."""
        return {
            **self.recipe.to_meta(),
            "watermark": self.watermark.isoformat() if self.watermark else None,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "alias_history": list(self.alias_history),
            "lease": self.lease,
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
                recipe=Recipe.from_meta(value),
                watermark=_parse(value.get("watermark")),
                as_of=_parse(value.get("as_of")),
                alias_history=tuple(value.get("alias_history") or ()),
                lease=value.get("lease"),
            )
        except (ValueError, TypeError, AttributeError) as error:
            raise RebuildError(
                f"index {index!r} has an unreadable _meta.{META_KEY}: {value!r} ({error}); "
                "rebuild the alias"
            ) from None

    def since(self, overlap: timedelta) -> datetime | None:
        """Read records archived after this instant: the watermark minus the overlap."""
        return None if self.watermark is None else self.watermark - overlap


def read_state(meta: dict[str, Any], index: str) -> SyncState | None:
    """The state in ``index``'s ``_meta``, or None for an index changelake did not build."""
    return SyncState.from_meta(meta, index) if META_KEY in meta else None


def history_after_move(
    old: list[str], old_meta: dict[str, Any] | None, new: str
) -> tuple[str, ...]:
    """The alias history of ``new``: the index the alias leaves, then that index's own history."""
    earlier: list[str] = []
    if old_meta is not None and isinstance(old_meta.get(META_KEY), dict):
        earlier = list(old_meta[META_KEY].get("alias_history") or [])
    history: list[str] = []
    for name in [*old, *earlier]:
        if name != new and name not in history:
            history.append(name)
    return tuple(history[:ALIAS_HISTORY_LENGTH])


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
