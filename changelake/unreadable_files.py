"""Find the Parquet objects of an archive that cannot be read, and read around them on request.

Every command that reads the archive (rebuild, sync, verify, sql, compact) goes through here when
a read fails: the error then names the object instead of a DuckDB message about a page. With
``--skip-corrupt`` the readable files are read and the others are reported, never dropped
silently.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click
import duckdb

from changelake.archive_tables import require_archive
from changelake.clients import connect_duckdb, open_archive
from changelake.schemas.archive_layout import parquet_glob
from changelake.schemas.exceptions import CorruptArchiveError, StorageError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from duckdb import DuckDBPyConnection

    from changelake.schemas.archive_layout import ArchiveLocation

# DuckDB raises these for a network or permission problem, which says nothing about the file.
_STORAGE_ERRORS = ("IOException", "HTTPException", "PermissionException")


@dataclass(frozen=True)
class UnreadableFile:
    """A Parquet object that cannot be read, and DuckDB's reason."""

    url: str
    error: str

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready form."""
        return {"url": self.url, "error": self.error}


def list_archive_files(
    connection: DuckDBPyConnection, location: ArchiveLocation, table_name: str | None
) -> list[str]:
    """Every Parquet object of one table (or of all tables), in name order."""
    rows = connection.execute(
        "SELECT file FROM glob(?) ORDER BY file", [parquet_glob(location, table_name)]
    ).fetchall()
    return [row[0] for row in rows]


def iter_unreadable_files(
    connection: DuckDBPyConnection, urls: Iterable[str], *, full_scan: bool = False
) -> Iterator[UnreadableFile]:
    """The files whose footer (or, with ``full_scan``, any page) DuckDB cannot read.

    A network failure is not a verdict on the file: it raises :class:`StorageError`.
    """
    check = (
        "SELECT sum(hash(COLUMNS(*))) FROM read_parquet(?)"
        if full_scan
        else "SELECT num_rows FROM parquet_file_metadata(?)"
    )
    for url in urls:
        try:
            connection.execute(check, [url]).fetchall()
        except Exception as error:
            if type(error).__name__ in _STORAGE_ERRORS:
                raise StorageError(f"cannot read {url}: {_first_line(error)}") from error
            yield UnreadableFile(url, _first_line(error))


def corrupt_archive_error(
    unreadable: Sequence[UnreadableFile], *, can_skip: bool = True
) -> CorruptArchiveError:
    """The error naming the unreadable files and what to do (``can_skip``: the command has
    ``--skip-corrupt``)."""
    first = unreadable[0]
    more = f" and {len(unreadable) - 1} more" if len(unreadable) > 1 else ""
    skip = " or pass --skip-corrupt to read around it" if can_skip else ""
    return CorruptArchiveError(
        f"{first.url} is not a readable Parquet file ({first.error}){more}; move it out of the "
        f"archive (changelake never deletes it for you){skip}"
    )


def explain_read_error(
    connection: DuckDBPyConnection, urls: Sequence[str], error: Exception, *, can_skip: bool = True
) -> Exception:
    """Turn a failed read of the archive into an error naming the unreadable file.

    Footers are checked first (cheap); if they are all fine, every page is read. When no file is
    to blame the original error is returned unchanged.
    """
    if type(error).__name__ in _STORAGE_ERRORS:
        return StorageError(f"reading the archive failed: {_first_line(error)}")
    for full_scan in (False, True):
        unreadable = list(iter_unreadable_files(connection, urls, full_scan=full_scan))
        if unreadable:
            return corrupt_archive_error(unreadable, can_skip=can_skip)
    return error


@contextmanager
def naming_unreadable_files(
    connection: DuckDBPyConnection, urls: Callable[[], Sequence[str]], *, can_skip: bool = True
) -> Iterator[None]:
    """Run a block that reads the archive; a DuckDB failure comes out naming the bad file.

    ``urls`` lists the files the block reads; it is only called when the block fails.
    """
    try:
        yield
    except duckdb.Error as error:
        explained = explain_read_error(connection, urls(), error, can_skip=can_skip)
        if explained is error:
            raise
        raise explained from error


def open_readable_archive(
    location: ArchiveLocation,
    table_name: str | None = None,
    *,
    skip_corrupt: bool = False,
    opener: Callable[[list[str] | None], DuckDBPyConnection] | None = None,
    memory_limit: int | None = None,
) -> tuple[DuckDBPyConnection, list[UnreadableFile]]:
    """A DuckDB connection with a ``changes`` view, and the files left out of it.

    An archive or table that is not there is an error naming what is (``require_archive``).

    Creating the view opens no file (so that a ``dt`` filter prunes partitions unopened): a file
    cut short or a damaged page is named when a query reads it (wrap the query in
    :func:`naming_unreadable_files`), as a :class:`CorruptArchiveError`. With ``skip_corrupt``
    every file is read once up front and the view covers only the readable ones. ``opener``
    builds the connection from the list of files (None: all of them); by default
    ``open_archive``. ``memory_limit``: DuckDB's, as in ``connect_duckdb``.
    """
    require_archive(location, table_name)
    probe = connect_duckdb(location, memory_limit)
    urls = list_archive_files(probe, location, table_name)
    unreadable = list(iter_unreadable_files(probe, urls, full_scan=True)) if skip_corrupt else []
    skipped = {item.url for item in unreadable}
    files = [url for url in urls if url not in skipped] if skip_corrupt else None
    with naming_unreadable_files(probe, lambda: urls):
        if opener is not None:
            return opener(files), unreadable
        return open_archive(location, table_name, files, memory_limit), unreadable


def warn_skipped(skipped: Iterable[UnreadableFile]) -> None:
    """Name each file ``--skip-corrupt`` read around, one warning a line on stderr."""
    for item in skipped:
        click.echo(f"Warning: skipped unreadable {item.url}: {item.error}", err=True)


def open_command_archive(
    location: ArchiveLocation,
    table_name: str | None,
    *,
    skip_corrupt: bool,
    memory_limit: int | None = None,
) -> DuckDBPyConnection:
    """:func:`open_readable_archive`'s connection; each file it read around warned about."""
    connection, skipped = open_readable_archive(
        location, table_name, skip_corrupt=skip_corrupt, memory_limit=memory_limit
    )
    warn_skipped(skipped)
    return connection


def naming_archive_files(
    connection: DuckDBPyConnection, location: ArchiveLocation, table_name: str
) -> AbstractContextManager[None]:
    """:func:`naming_unreadable_files` over every Parquet file of ``table_name``'s archive."""
    return naming_unreadable_files(
        connection, lambda: list_archive_files(connection, location, table_name)
    )


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
