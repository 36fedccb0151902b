"""Archive statistics per table and day: records by event, files, bytes, age of the newest record.

Records are counted once each (``changes``), however often they were delivered; the rows stored
beyond that are ``duplicates`` (compaction drops them). A report is a list of
:class:`PartitionStats`; the text and JSON forms come from ``COLUMNS``, so a new figure
(checkpoint gaps, say) is one field and one column more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from changelake.ask.output_formats import time_to_text
from changelake.schemas.byte_sizes import bytes_to_text
from changelake.schemas.sql_views import CHANGE_ROWS, grouped_first_deliveries_sql, quote_literal

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import date, datetime, timedelta

    from duckdb import DuckDBPyConnection

EVENT_COUNTS = ("inserts", "modifies", "removes", "snapshots")

# Files below this are flagged: compaction targets 128 MiB files, and many small files make
# every scan slower (one request and one footer each).
DEFAULT_SMALL_FILE_SIZE = 16 * 1024 * 1024


@dataclass
class PartitionStats:
    """One table's figures for one UTC day."""

    table_name: str
    dt: date
    files: int = 0
    bytes: int = 0
    small_files: int = 0
    records: int = 0
    duplicates: int = 0
    events: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVENT_COUNTS, 0))
    oldest: datetime | None = None
    newest: datetime | None = None

    def lag(self, now: datetime) -> timedelta | None:
        """Age of the newest record at ``now``."""
        return None if self.newest is None else now - self.newest

    def to_dict(self, now: datetime) -> dict[str, Any]:
        """A JSON-ready form."""
        lag = self.lag(now)
        return {
            "table": self.table_name,
            "dt": self.dt.isoformat(),
            "records": self.records,
            **self.events,
            "duplicates": self.duplicates,
            "files": self.files,
            "bytes": self.bytes,
            "small_files": self.small_files,
            "oldest": self.oldest.isoformat() if self.oldest else None,
            "newest": self.newest.isoformat() if self.newest else None,
            "lag_seconds": None if lag is None else int(lag.total_seconds()),
        }


def rows_to_stats(
    record_rows: Iterable[Mapping[str, Any]],
    file_rows: Iterable[Mapping[str, Any]],
    small_file_size: int = DEFAULT_SMALL_FILE_SIZE,
) -> list[PartitionStats]:
    """Per-partition record rows (``partition_stats_sql``) and per-file rows (``file_sizes_sql``)
    -> one :class:`PartitionStats` per table and day."""
    partitions: dict[tuple[str, date], PartitionStats] = {}
    for row in record_rows:
        key = (row["table_name"], row["dt"])
        stats = partitions.setdefault(key, PartitionStats(*key))
        stats.records += row["records"]
        stats.duplicates += row["stored_rows"] - row["records"]
        for name in EVENT_COUNTS:
            stats.events[name] += row[name]
        stats.oldest = _earliest(stats.oldest, row["oldest"])
        stats.newest = _latest(stats.newest, row["newest"])
    for row in file_rows:
        key = (row["table_name"], row["dt"])
        stats = partitions.setdefault(key, PartitionStats(*key))
        stats.files += 1
        stats.bytes += row["bytes"]
        stats.small_files += row["bytes"] < small_file_size
    return [partitions[key] for key in sorted(partitions)]


def load_partition_stats(
    connection: DuckDBPyConnection,
    parquet_glob: str,
    small_file_size: int = DEFAULT_SMALL_FILE_SIZE,
) -> list[PartitionStats]:
    """The stats of an archive opened with ``change_rows`` over the files of ``parquet_glob``."""
    # The command reports progress itself; DuckDB's bar would print into the output.
    connection.execute("SET enable_progress_bar = false")
    records = _dicts(connection.execute(partition_stats_sql()))
    files = _dicts(connection.execute(file_sizes_sql(parquet_glob))) if records else []
    return rows_to_stats(records, files, small_file_size)


def _dicts(result: Any) -> list[dict[str, Any]]:
    names = [column[0] for column in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def partition_stats_sql() -> str:
    """Per table and day: records by event (each record once), stored rows, oldest and newest.

    Reads ``change_rows``: ``event_name``, the creation time and the columns of a record's
    identity, for every row.
    """
    columns = ("event_name", "approximate_creation_time")
    return f"""
WITH records AS (
    SELECT table_name, dt,
           count(*) AS records,
           count(*) FILTER (event_name = 'INSERT') AS inserts,
           count(*) FILTER (event_name = 'MODIFY') AS modifies,
           count(*) FILTER (event_name = 'REMOVE') AS removes,
           count(*) FILTER (event_name = 'SNAPSHOT') AS snapshots,
           min(approximate_creation_time) AS oldest,
           max(approximate_creation_time) AS newest
    FROM ({grouped_first_deliveries_sql(CHANGE_ROWS, columns)}) GROUP BY table_name, dt
), stored AS (
    SELECT table_name, dt, count(*) AS stored_rows FROM {CHANGE_ROWS} GROUP BY table_name, dt
)
SELECT * FROM records JOIN stored USING (table_name, dt) ORDER BY table_name, dt
""".strip()


def file_sizes_sql(parquet_glob: str) -> str:
    """Per Parquet file of the glob: its table and day (from its path) and its size in bytes.

    Sizes come from ``read_blob`` without reading the contents.
    """
    glob = quote_literal(parquet_glob)
    parts = r"'/table=([^/]+)/dt=([0-9]{4}-[0-9]{2}-[0-9]{2})/[^/]+$'"
    return f"""
SELECT regexp_extract(filename, {parts}, 1) AS table_name,
       CAST(regexp_extract(filename, {parts}, 2) AS DATE) AS dt, filename, size AS bytes
FROM read_blob({glob}) ORDER BY table_name, dt, filename
""".strip()


Column = tuple[str, Callable[[PartitionStats, "datetime"], str]]

COLUMNS: list[Column] = [
    ("table", lambda s, now: s.table_name),
    ("dt", lambda s, now: s.dt.isoformat()),
    ("records", lambda s, now: str(s.records)),
    ("insert", lambda s, now: str(s.events["inserts"])),
    ("modify", lambda s, now: str(s.events["modifies"])),
    ("remove", lambda s, now: str(s.events["removes"])),
    ("snapshot", lambda s, now: str(s.events["snapshots"])),
    ("files", lambda s, now: str(s.files)),
    ("bytes", lambda s, now: bytes_to_text(s.bytes)),
    ("small files", lambda s, now: f"{s.small_files} !" if s.small_files else "0"),
    ("oldest", lambda s, now: _time_text(s.oldest)),
    ("newest", lambda s, now: _time_text(s.newest)),
    ("lag", lambda s, now: duration_to_text(s.lag(now))),
]


def stats_to_lines(stats: list[PartitionStats], now: datetime, small_file_size: int) -> list[str]:
    """An aligned table, one line per table and day, and a note on small files."""
    cells = [[header for header, _ in COLUMNS]]
    cells += [[render(s, now) for _, render in COLUMNS] for s in stats]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    small = sum(s.small_files for s in stats)
    if small:
        lines.append(
            f"! {small} file(s) below {bytes_to_text(small_file_size)}: "
            "run `changelake compact` to merge them"
        )
    return lines


def duration_to_text(duration: timedelta | None) -> str:
    """``timedelta(hours=26)`` -> ``1d 2h``; the two largest units."""
    if duration is None:
        return ""
    seconds = int(duration.total_seconds())
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    parts: list[str] = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return sign + " ".join(parts[:2])


def _time_text(value: datetime | None) -> str:
    return time_to_text(value) if value else ""


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)
