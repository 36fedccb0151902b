"""Index names under an alias, the one-call alias move, keeping previous indexes, and rollback."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from changelake.rebuild.watermark import META_KEY
from changelake.schemas.exceptions import RebuildError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from changelake.rebuild.search_sink import SearchSink

# <alias>-<UTC timestamp to the millisecond>: index names must be lower case, and these sort in
# time order, which is what keeping and rolling back rely on.
_STAMP = r"\d{8}t\d{6}\.\d{3}z"


def new_index_name(alias: str, now: datetime) -> str:
    """``<alias>-20261127t113200.123z``: the alias and the UTC time of the rebuild."""
    return f"{alias}-{now:%Y%m%dt%H%M%S}.{now.microsecond // 1000:03d}z"


def is_rebuilt_index(alias: str, name: str) -> bool:
    """True if ``name`` is an index a rebuild created for ``alias``."""
    return re.fullmatch(re.escape(alias) + "-" + _STAMP, name) is not None


def list_rebuilt_indexes(sink: SearchSink, alias: str) -> list[str]:
    """The indexes rebuilds created for ``alias``, oldest first."""
    return [name for name in sink.list_indices(f"{alias}-*") if is_rebuilt_index(alias, name)]


# Written into an index's mapping _meta once its load has finished and been checked, just before
# the alias moves to it. A rebuilt index without it was left by a rebuild that was killed.
LOADED_KEY = "changelake_loaded"


def is_loaded(sink: SearchSink, index: str) -> bool:
    """True once a rebuild finished loading ``index`` (see ``LOADED_KEY``)."""
    return bool(sink.get_meta(index).get(LOADED_KEY))


def list_orphan_indexes(sink: SearchSink, alias: str) -> list[str]:
    """Rebuilt indexes of ``alias`` whose load never finished and that no alias points to."""
    current = set(sink.alias_targets(alias))
    return [
        name
        for name in list_rebuilt_indexes(sink, alias)
        if name not in current and not is_loaded(sink, name)
    ]


def check_alias(sink: SearchSink, alias: str) -> list[str]:
    """The indexes ``alias`` points to now; raise if ``alias`` is a concrete index."""
    if sink.is_concrete_index(alias):
        raise RebuildError(
            f"{alias!r} is a concrete index, not an alias, and changelake never deletes an index "
            f"it did not create. To migrate: rebuild under a new alias (--alias {alias}-live) and "
            f"point readers at it; or, after that rebuild, replace the index by the alias in one "
            f'_aliases call: {{"remove_index": {{"index": "{alias}"}}}} + '
            f'{{"add": {{"index": "<the new index>", "alias": "{alias}"}}}}'
        )
    return sink.alias_targets(alias)


def single_alias_target(sink: SearchSink, alias: str, command: str) -> str:
    """The one index ``alias`` points to; raise, naming ``command``, if it is not exactly one."""
    targets = check_alias(sink, alias)
    if len(targets) != 1:
        raise RebuildError(
            f"alias {alias!r} points to {len(targets)} indexes ({', '.join(targets) or 'none'}); "
            f"{command} needs an alias on one index: run changelake rebuild first"
        )
    (index,) = targets
    return index


def alias_move_actions(alias: str, old: list[str], new: str) -> list[dict[str, Any]]:
    """Remove the alias from every old index and add it to the new one (one atomic request)."""
    removes = [{"remove": {"index": index, "alias": alias}} for index in old if index != new]
    return [*removes, {"add": {"index": new, "alias": alias}}]


def indexes_to_keep(
    alias: str, loaded: list[str], current: str, keep: int, history: Sequence[str]
) -> list[str]:
    """The ``keep`` indexes to keep besides ``current``: the alias's previous targets, newest first.

    ``history`` is the alias history of ``current`` (``_meta``). Where it names fewer than
    ``keep`` loaded indexes (indexes built before the history was kept), the newest others by
    name fill the rest.
    """
    previous = [name for name in loaded if is_rebuilt_index(alias, name) and name != current]
    kept = [name for name in history if name in previous][:keep]
    for name in sorted(previous, reverse=True):
        if len(kept) >= keep:
            break
        if name not in kept:
            kept.append(name)
    return kept


def indexes_to_delete(
    alias: str, loaded: list[str], current: str, keep: int, history: Sequence[str] = ()
) -> list[str]:
    """Loaded rebuilt indexes other than ``current`` and the ``keep`` it keeps, oldest first."""
    kept = set(indexes_to_keep(alias, loaded, current, keep, history))
    return sorted(
        name
        for name in loaded
        if is_rebuilt_index(alias, name) and name != current and name not in kept
    )


def rollback_target(
    alias: str, indexes: list[str], current: list[str], history: Sequence[str] = ()
) -> str:
    """Where rollback goes: the alias's previous target, or (before history) the newest older."""
    if len(current) != 1:
        raise RebuildError(
            f"alias {alias!r} points to {len(current)} indexes ({', '.join(current) or 'none'}); "
            "rollback needs it on exactly one"
        )
    for name in history:
        if name in indexes and name != current[0]:
            return name
    older = sorted(name for name in indexes if is_rebuilt_index(alias, name) and name < current[0])
    if not older:
        raise RebuildError(
            f"alias {alias!r} is on {current[0]!r} and no previous index is kept to roll back "
            "to; rebuild with --keep N to keep previous indexes"
        )
    return older[-1]


def alias_history(meta: dict[str, Any]) -> list[str]:
    """The indexes an alias pointed to before the index of this ``_meta``, newest first."""
    state = meta.get(META_KEY)
    return list(state.get("alias_history") or []) if isinstance(state, dict) else []


def rollback(sink: SearchSink, alias: str) -> tuple[str, str, dict[str, Any]]:
    """Point ``alias`` back at the index it pointed to before; (from, to, the target's _meta).

    The target keeps its own alias history, so a second rollback goes one step further back.
    """
    current = check_alias(sink, alias)
    metas = {name: sink.get_meta(name) for name in list_rebuilt_indexes(sink, alias)}
    loaded = [name for name, meta in metas.items() if meta.get(LOADED_KEY)]
    history = alias_history(metas.get(current[0]) or sink.get_meta(current[0])) if current else []
    target = rollback_target(alias, loaded, current, history)
    sink.update_aliases(alias_move_actions(alias, current, target))
    return current[0], target, metas[target]
