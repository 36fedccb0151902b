"""Index names under an alias, the one-call alias move, keeping N old indexes, and rollback."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from changelake.schemas.exceptions import RebuildError

if TYPE_CHECKING:
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


def indexes_to_delete(alias: str, indexes: list[str], current: str, keep: int) -> list[str]:
    """Rebuilt indexes beyond the ``keep`` newest ones before ``current`` (never ``current``)."""
    previous = sorted(name for name in indexes if is_rebuilt_index(alias, name) and name != current)
    return previous[: max(0, len(previous) - keep)]


def rollback_target(alias: str, indexes: list[str], current: list[str]) -> str:
    """The newest rebuilt index older than the one the alias points to."""
    if len(current) != 1:
        raise RebuildError(
            f"alias {alias!r} points to {len(current)} indexes ({', '.join(current) or 'none'}); "
            "rollback needs it on exactly one"
        )
    older = sorted(name for name in indexes if is_rebuilt_index(alias, name) and name < current[0])
    if not older:
        raise RebuildError(
            f"alias {alias!r} is on {current[0]!r} and no older rebuilt index is kept to roll back "
            "to; rebuild with --keep N to keep previous indexes"
        )
    return older[-1]


def rollback(sink: SearchSink, alias: str) -> tuple[str, str]:
    """Point ``alias`` back at the previous rebuilt index; (from, to)."""
    current = check_alias(sink, alias)
    orphans = set(list_orphan_indexes(sink, alias))
    loaded = [name for name in list_rebuilt_indexes(sink, alias) if name not in orphans]
    target = rollback_target(alias, loaded, current)
    sink.update_aliases(alias_move_actions(alias, current, target))
    return current[0], target
