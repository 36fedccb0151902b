"""The archive's newest change rows, held in DuckDB, so that a sync of the items just archived
reads no other file.

A sync over the whole archive reads every file of the table to find what changed since its
watermark. A follower knows what changed: the items in the files it just wrote. What the sync of
those items needs besides is every other record of each item's newest second, because the item's
version counts them (``changelake.schemas.sql_views.latest_records_sql``), and those can sit in
files written a moment earlier. So the follower keeps here every row whose change is at most
``HORIZON`` older than the newest change seen: seeded from the archive when it (re)starts, then
fed each file it writes. :meth:`RecentChanges.select_items_of` points the ``change_rows`` view
(and ``changes`` over it) at the rows of the items in the newest files, and the ordinary sync
runs on those views: same latest record, same version, same deletes.

The rows kept cover every change from ``covered_from`` on; a file holding an older change is
beyond them, and its items need a sync over the whole archive (:meth:`RecentChanges.covers`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from changelake.schemas.sql_views import (
    CHANGE_ROWS,
    changes_source_sql,
    create_records_view_sql,
    quote_literal,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    import pyarrow as pa
    from duckdb import DuckDBPyConnection

RECENT_TABLE = "changelake_recent"
# Longer than the stream's timestamp precision (a second on DynamoDB, a minute on DynamoDB Local)
# plus the time a page takes from its write to this table, so a page always falls inside.
HORIZON = timedelta(minutes=2)


def recent_rows_sql(since: datetime) -> str:
    """The stored rows whose change is at ``since`` or later (older days' files unopened)."""
    moment = f"TIMESTAMPTZ {quote_literal(since.replace(microsecond=0).isoformat())}"
    return (
        f"SELECT * FROM {CHANGE_ROWS} WHERE dt >= CAST({moment} AS DATE) "
        f"AND approximate_creation_time >= {moment}"
    )


class RecentChanges:
    """The newest change rows of one table in ``connection`` (a DuckDB connection that can read
    the archive's files), and the ``changes`` view a sync of the items just archived reads."""

    def __init__(self, connection: DuckDBPyConnection, horizon: timedelta = HORIZON) -> None:
        self.connection = connection
        self.horizon = horizon
        self.covered_from: datetime | None = None
        self.newest: datetime | None = None
        # A step reads a few thousand rows at most: on one thread DuckDB answers sooner than it
        # can share the work out (0.35 s against 0.6 s a step on two busy cores).
        connection.execute("SET threads = 1")
        connection.execute(f"CREATE OR REPLACE TABLE {RECENT_TABLE} AS {changes_source_sql(None)}")
        self.select_items_of([])

    def seed(self, rows: pa.Table, since: datetime) -> None:
        """Replace the rows kept with ``rows``: every archived change from ``since`` on
        (``recent_rows_sql`` over the whole archive)."""
        self.connection.execute(f"DELETE FROM {RECENT_TABLE}")
        self.connection.register("changelake_seed", rows)
        try:
            self.connection.execute(
                f"INSERT INTO {RECENT_TABLE} BY NAME SELECT * FROM changelake_seed"
            )
        finally:
            self.connection.unregister("changelake_seed")
        self.covered_from = since.replace(microsecond=0)
        self.newest = None
        self._forget_old()

    def covers(self, moment: datetime) -> bool:
        """True if every archived change of ``moment``'s second or later is kept here."""
        if self.covered_from is None:
            return False
        return moment.replace(microsecond=0) >= self.covered_from

    def add_files(self, urls: Sequence[str]) -> None:
        """Keep the rows of archive files just written (a file written again replaces its rows)."""
        if not urls:
            return
        listed = ", ".join(quote_literal(url) for url in urls)
        self.connection.execute(f"DELETE FROM {RECENT_TABLE} WHERE source_file IN ({listed})")
        self.connection.execute(
            f"INSERT INTO {RECENT_TABLE} BY NAME {changes_source_sql(list(urls))}"
        )
        row = self.connection.execute(
            f"SELECT min(approximate_creation_time) FROM {RECENT_TABLE} "
            f"WHERE source_file IN ({listed})"
        ).fetchone()
        self._forget_old(keep_from=row[0] if row else None)

    def select_items_of(self, urls: Sequence[str]) -> None:
        """Point ``change_rows`` (and ``changes``, each record once) at every row kept of the
        items that ``urls`` hold."""
        listed = ", ".join(quote_literal(url) for url in urls) or "NULL"
        self.connection.execute(
            f"CREATE OR REPLACE VIEW {CHANGE_ROWS} AS SELECT * FROM {RECENT_TABLE} "
            f"WHERE item_key IN (SELECT item_key FROM {RECENT_TABLE} "
            f"WHERE source_file IN ({listed}))"
        )
        self.connection.execute(create_records_view_sql())

    def rows(self) -> int:
        """How many rows are kept."""
        row = self.connection.execute(f"SELECT count(*) FROM {RECENT_TABLE}").fetchone()
        return int(row[0]) if row else 0

    def _forget_old(self, keep_from: datetime | None = None) -> None:
        """Drop rows more than ``horizon`` older than the newest change, but none from
        ``keep_from``'s second on (the oldest change just added, which a sync is about to read);
        what is kept still covers every change from the new ``covered_from``."""
        row = self.connection.execute(
            f"SELECT max(approximate_creation_time) FROM {RECENT_TABLE}"
        ).fetchone()
        newest = row[0] if row else None
        if newest is None:
            return
        self.newest = newest if self.newest is None else max(self.newest, newest)
        cutoff = self.newest - self.horizon
        if keep_from is not None:
            cutoff = min(cutoff, keep_from)
        cutoff = cutoff.replace(microsecond=0)
        if self.covered_from is not None and cutoff > self.covered_from:
            self.connection.execute(
                f"DELETE FROM {RECENT_TABLE} WHERE approximate_creation_time < ?", [cutoff]
            )
            self.covered_from = cutoff
