"""The mapping a rebuild creates its index with, and what a sync checks first: from the census.

The edge of ``changelake.rebuild.index_mapping``: the census runs on a connection whose latest
records were materialized with their image shapes (``materialize_latest(...,
typed_images=True)``), and a sync reads the live index's mapping.

* ``rebuild`` without ``--mapping`` creates the index with the census's body; with one, the
  file's fields win and the census fills in the rest (``merge_user_body``); where the file
  contradicts the archive (a ``long`` field holding 19.99) the rebuild refuses before creating
  the index. With ``--transform`` the census describes images, not documents, so only the
  dynamic templates (or the file) apply and nothing is refused.
* ``sync`` takes the census of the changed items: values a field of the live index cannot take
  are held back (up to ``--max-errors``, else the sync refuses before writing), and fields the
  index lacks are added first, numbers as ``double``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from changelake.rebuild.documents import image_as_is
from changelake.rebuild.index_mapping import census_renames, census_to_mapping, dynamic_body
from changelake.rebuild.latest_images import (
    CENSUS_IMAGES,
    Selection,
    aggregate_row,
    drop_latest,
    leave_out_items,
    materialize_latest,
)
from changelake.rebuild.mapping_fit import (
    find_misfits,
    merge_user_body,
    named_fields,
    new_properties,
)
from changelake.schemas.exceptions import MappingConflictError, RebuildError
from changelake.schemas.type_census import (
    DEFAULT_EXAMPLES,
    TypeCensus,
    key_names_sql,
    rows_to_path_types,
    type_census_sql,
)

if TYPE_CHECKING:
    from datetime import datetime

    from duckdb import DuckDBPyConnection

    from changelake.rebuild.index_mapping import MappingNote
    from changelake.rebuild.latest_images import PendingLatest
    from changelake.rebuild.mapping_fit import Misfit
    from changelake.rebuild.replay import ReplayOptions
    from changelake.rebuild.search_sink import SearchSink

# The shapes (or typed images) of the latest upserts: what a rebuild indexes, or a sync brings.
CENSUS_IMAGES_SQL = f"SELECT item_key, new_image_ddb FROM {CENSUS_IMAGES}"


def load_type_census(
    connection: DuckDBPyConnection, table_name: str, *, examples: int = 0
) -> TypeCensus:
    """The census of the materialized latest records' images (``examples`` item keys)."""
    rows = connection.execute(type_census_sql(CENSUS_IMAGES_SQL, examples)).fetchall()
    (items,) = aggregate_row(connection, f"SELECT count(*) FROM ({CENSUS_IMAGES_SQL})")
    names = connection.execute(key_names_sql(CENSUS_IMAGES_SQL)).fetchall()
    return TypeCensus(table_name, items, tuple(name for (name,) in names), rows_to_path_types(rows))


@dataclass(frozen=True)
class MappingPlan:
    """The index body of a rebuild, where it came from, and what the census found on the way.

    ``misfits`` are contradictions between a ``--mapping`` file and the archive: the rebuild
    refuses them. ``renames``: some documents hold names the engines refuse (and are built in
    Python, where they are renamed).
    """

    body: dict[str, Any]
    source: str
    census: TypeCensus | None = None
    notes: tuple[MappingNote, ...] = ()
    misfits: tuple[Misfit, ...] = ()
    renames: bool = False

    def to_dict(self, *, with_census: bool = False) -> dict[str, Any]:
        """JSON-ready form: the source, notes and misfits (and the census, when asked)."""
        result: dict[str, Any] = {
            "source": self.source,
            "notes": [note.to_dict() for note in self.notes],
            "misfits": [misfit.to_dict() for misfit in self.misfits],
        }
        if with_census and self.census is not None:
            result["census"] = self.census.to_dict()
        return result

    def to_lines(self) -> list[str]:
        """What the load will do about the mapping, one line each."""
        counted = f" of {self.census.items:,} items" if self.census is not None else ""
        lines = [f"Mapping: {self.source}{counted}"]
        lines += [f"  {note.to_text()}" for note in self.notes]
        lines += [f"  refused: {misfit.to_text()}" for misfit in self.misfits]
        return lines

    def refusal(self) -> MappingConflictError | None:
        """The error a rebuild stops with before creating its index, or None."""
        if not self.misfits:
            return None
        first, more = self.misfits[0], len(self.misfits) - 1
        also = f" (and {more} more field{'s' if more > 1 else ''}: see --dry-run)" if more else ""
        return MappingConflictError(
            f"the --mapping file contradicts the archive: {first.to_text()}{also}; change the "
            f"field's type in the file (or leave it out: the census then maps it), or fix those "
            "items; no index was created"
        )

    def replay_options(self, options: ReplayOptions) -> ReplayOptions:
        """``options``, with documents built in Python (renamed) when names need it."""
        if self.renames and options.transform is None:
            return replace(options, transform=image_as_is)
        return options


def plan_index_body(
    census: TypeCensus | None, user_body: dict[str, Any] | None, user_spec: str | None
) -> MappingPlan:
    """The body to create the index with: the census's, a user's file over it, or templates.

    No census (a ``--transform`` run): the file, or the dynamic templates alone.
    """
    if census is None:
        if user_body is None:
            return MappingPlan(
                dynamic_body(), "dynamic templates (documents come from a transform)"
            )
        return MappingPlan(merge_user_body(user_body, dynamic_body()), f"{user_spec}")
    inferred = census_to_mapping(census)
    renames = census_renames(census)
    if user_body is None:
        return MappingPlan(inferred.body, "census", census, inferred.notes, (), renames)
    user_mappings = user_body.get("mappings", {})
    named = named_fields(user_mappings)
    notes = tuple(note for note in inferred.notes if note.field not in named)
    misfits = tuple(find_misfits(user_mappings, census))
    body = merge_user_body(user_body, inferred.body)
    return MappingPlan(body, f"{user_spec} over the census", census, notes, misfits, renames)


def plan_rebuild_mapping(
    connection: DuckDBPyConnection,
    latest: PendingLatest,
    *,
    table_name: str,
    user_body: dict[str, Any] | None,
    user_spec: str | None,
    transform: bool,
) -> MappingPlan:
    """Wait for the latest records (with image shapes unless ``transform``), then plan."""
    if transform:
        return plan_index_body(None, user_body, user_spec)
    latest.counts.result()
    plan = plan_index_body(load_type_census(connection, table_name), user_body, user_spec)
    if plan.notes or plan.misfits:
        # The keys that name them, read in a second pass: most tables need none.
        census = load_type_census(connection, table_name, examples=DEFAULT_EXAMPLES)
        plan = plan_index_body(census, user_body, user_spec)
    return plan


def infer_table_mapping(
    connection: DuckDBPyConnection, table_name: str, *, as_of: datetime | None = None
) -> MappingPlan:
    """The census of a table's latest images (``as_of`` an instant) and the body it gives."""
    counts = materialize_latest(connection, Selection(table_name, as_of=as_of), typed_images=True)
    try:
        if counts.upserts + counts.removes == 0:
            raise RebuildError(
                f"the archive holds no changes of table {table_name!r}"
                + (f" up to {as_of.isoformat()}" if as_of else "")
                + "; check --archive, --table and --as-of"
            )
        census = load_type_census(connection, table_name, examples=DEFAULT_EXAMPLES)
    finally:
        drop_latest(connection)
    return plan_index_body(census, None, None)


@dataclass(frozen=True)
class SyncFit:
    """What a sync does about the mapping before it writes: items held back, fields added."""

    held_back: tuple[str, ...] = ()
    misfits: tuple[Misfit, ...] = ()
    added_fields: tuple[str, ...] = ()
    renames: bool = False
    warnings: list[str] = field(default_factory=list)

    def replay_options(self, options: ReplayOptions) -> ReplayOptions:
        """``options``, with documents built in Python (renamed) when names need it."""
        if self.renames and options.transform is None:
            return replace(options, transform=image_as_is)
        return options


def fit_changes_to_index(
    connection: DuckDBPyConnection,
    sink: SearchSink,
    index: str,
    *,
    table_name: str,
    max_errors: int,
    transform: bool,
) -> SyncFit:
    """Check the changed items (materialized with image shapes) against the live mapping.

    Values a mapped field cannot take exactly are held back from the replay, up to
    ``max_errors`` items; beyond, :class:`RebuildError` before anything is written. Fields the
    index does not map yet are added from the census (numbers as ``double``), so that the engine
    never guesses them from whichever document comes first. With a ``transform`` the census
    describes images, not documents: nothing is checked.
    """
    if transform:
        return SyncFit()
    # Enough example keys to name every item a sync may hold back.
    examples = max(DEFAULT_EXAMPLES, max_errors + 1)
    census = load_type_census(connection, table_name, examples=examples)
    if not census.rows:
        return SyncFit()
    live = sink.get_mappings(index)
    misfits = find_misfits(live, census, examples=examples)
    held = sorted({key for misfit in misfits for key in misfit.examples})
    if misfits:
        # Each value's item is among the examples only when there are no more values than that.
        complete = all(misfit.values <= examples for misfit in misfits)
        if not complete or len(held) > max_errors:
            raise RebuildError(_sync_refusal(index, misfits, max_errors))
        leave_out_items(connection, held)
        # The fields to add come from what is sent: a held-back value must not shape them.
        census = load_type_census(connection, table_name)
    added = {}
    if live.get("dynamic", True) in (True, "true"):
        inferred = census_to_mapping(census, long_numbers=False).body["mappings"]["properties"]
        added = new_properties(live, inferred)
        if added:
            sink.put_mapping(index, {"properties": added})
    warnings = [
        f"held back {misfit.to_text()}: the index keeps the earlier version; rebuild to map "
        "the field from the archive"
        for misfit in misfits
    ]
    return SyncFit(
        tuple(held), tuple(misfits), tuple(sorted(added)), census_renames(census), warnings
    )


def _sync_refusal(index: str, misfits: list[Misfit], max_errors: int) -> str:
    first, more = misfits[0], len(misfits) - 1
    also = f" (and {more} more field{'s' if more > 1 else ''})" if more else ""
    items = sum(misfit.values for misfit in misfits)
    return (
        f"index {index!r} cannot take what changed: {first.to_text()}{also}; nothing was "
        "written. Rebuild (the census then maps the field to fit), or pass --max-errors "
        f"{max(items, max_errors + 1)} to hold these items back and sync the others"
    )
