"""changelake: DynamoDB changes as a durable, queryable log, and search indexes rebuilt from it.

The Python API (``changelake.open_archive``, ``changelake.rebuild_index``, ...) lives in
:mod:`changelake.api`; its names are imported here on first use, so that ``import changelake``
(the archive Lambda, a command that needs none of them) loads neither DuckDB nor a search client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Archive",
    "ItemHistory",
    "RebuildResult",
    "VerifyResult",
    "__version__",
    "archive_event",
    "archive_records",
    "history",
    "open_archive",
    "rebuild_index",
    "sync_index",
    "verify_index",
]

if TYPE_CHECKING:
    from changelake.api import (
        Archive,
        ItemHistory,
        RebuildResult,
        VerifyResult,
        archive_event,
        archive_records,
        history,
        open_archive,
        rebuild_index,
        sync_index,
        verify_index,
    )


def __getattr__(name: str) -> Any:
    if name in __all__:
        from changelake import api

        return getattr(api, name)
    raise AttributeError(f"module 'changelake' has no attribute {name!r}")
