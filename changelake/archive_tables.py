"""The tables an archive holds, and one clear error for an archive or a table that is not there.

Every command that reads the archive opens it through :func:`require_archive` (the openers in
``changelake/unreadable_files.py`` call it), so a mistyped ``--archive`` or ``--table`` is an
error naming what exists, never an empty answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from changelake.clients import make_store
from changelake.config import ENV_ARCHIVE
from changelake.schemas.archive_layout import CHECKPOINT_DIR
from changelake.schemas.exceptions import ArchiveNotFoundError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from changelake.archiver.object_store import ObjectStore
    from changelake.schemas.archive_layout import ArchiveLocation

_TABLE_FOLDER = "table="
# Tables listed in an error before the rest are summed up.
SHOWN_TABLES = 20


def archive_tables(store: ObjectStore) -> list[str]:
    """Every table the archive knows: with change files, or polled with none archived yet."""
    names = {
        folder[len(_TABLE_FOLDER) :]
        for prefix in ("", CHECKPOINT_DIR)
        for folder in store.list_folders(prefix)
        if folder.startswith(_TABLE_FOLDER)
    }
    return sorted(names)


def require_archive(location: ArchiveLocation, table_name: str | None = None) -> list[str]:
    """The archive's tables; raises :class:`ArchiveNotFoundError` if there is no archive at
    ``location``, or if ``table_name`` is not one of its tables."""
    try:
        tables = archive_tables(make_store(location))
    except FileNotFoundError:
        where = "bucket" if location.is_s3 else "directory"
        raise ArchiveNotFoundError(
            f"no archive at {location.uri}: the {where} does not exist; check --archive "
            f"(or {ENV_ARCHIVE})"
        ) from None
    if not tables:
        raise ArchiveNotFoundError(
            f"no archive at {location.uri}: it holds no table=<name>/ folders of change files; "
            f"check --archive (or {ENV_ARCHIVE})"
        )
    if table_name is not None and table_name not in tables:
        raise ArchiveNotFoundError(unknown_table_message(table_name, tables, location.uri))
    return tables


def unknown_table_message(table_name: str, tables: Sequence[str], archive: str) -> str:
    """Which tables the archive holds, and the one ``table_name`` was likely meant to be."""
    listed = ", ".join(tables[:SHOWN_TABLES])
    if len(tables) > SHOWN_TABLES:
        listed += f" and {len(tables) - SHOWN_TABLES} more"
    same = [name for name in tables if name.lower() == table_name.lower()]
    if same:
        return (
            f"table {table_name!r} is not in the archive {archive}; did you mean --table "
            f"{same[0]}? (table names are case-sensitive; the archive holds {listed})"
        )
    return (
        f"table {table_name!r} is not in the archive {archive}, which holds {listed}; check --table"
    )
