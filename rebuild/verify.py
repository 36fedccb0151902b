"""Verify: compare the index behind an alias with the archive's latest state, and repair drift.

Both sides are reduced to ``(document_id, version, content hash)`` rows, streamed into local
Parquet files (the index page by page through a point in time, the archive in Arrow batches from
the latest-record SQL), and joined by DuckDB, which spills to disk: neither side is ever held in
Python memory. Elasticsearch 8 refuses to sort on ``_id``, so the index cannot be streamed in
``_id`` order; the join does the ordering instead.

Content is compared through a hash of the document in a canonical form: keys sorted, every number
as a 64-bit float. Engines that re-encode numbers (and the Python client, which parses them into
floats) then compare equal to the archive; a difference below float precision is not seen.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from changelake.rebuild.field_names import rename_fields
from changelake.rebuild.latest_images import (
    LATEST_IMAGES,
    LATEST_TABLE,
    drop_latest,
    materialize_latest,
)
from changelake.schemas.dynamodb_types import json_to_image
from changelake.schemas.sql_views import quote_literal

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from duckdb import DuckDBPyConnection

    from changelake.rebuild.recipe import Recipe
    from changelake.rebuild.search_sink import SearchSink

DRIFT_KINDS = ("missing", "extra", "stale", "ahead", "different")
DRIFT_TABLE = "changelake_drift"
SAMPLE_TABLE = "changelake_sample"
_SIDE_SCHEMA = pa.schema(
    [("document_id", pa.string()), ("version", pa.int64()), ("content_hash", pa.string())]
)
_PAGE = 5000

# Why each kind is drift, for the report.
KIND_MEANINGS = {
    "missing": "live in the archive, absent from the index",
    "extra": "in the index, removed from or unknown to the archive",
    "stale": "the index holds an older version than the archive",
    "ahead": "the index holds a newer version with other content (written by something else)",
    "different": "same version, different content",
}


@dataclass
class DriftReport:
    """What differs between the index and the archive, with the first examples of each kind."""

    alias: str
    index: str
    archive_items: int
    index_documents: int
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DRIFT_KINDS, 0))
    sampled: int | None = None
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    repair: dict[str, Any] | None = None

    @property
    def drifted(self) -> int:
        """Documents that differ in any way."""
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready report."""
        return {**self.__dict__, "drifted": self.drifted}


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        number = float(value) + 0.0  # -0 and 0 are one number, whichever way a side wrote it
        return number if math.isfinite(number) else str(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return str(value)


def document_hash(document: Mapping[str, Any]) -> str:
    """A hash of a document's content: keys sorted, numbers as 64-bit floats."""
    text = json.dumps(
        _canonical(document), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def write_index_side(sink: SearchSink, index: str, path: Path) -> int:
    """Stream every document of ``index`` into a Parquet file of (id, version, hash) rows."""
    count = 0
    with pq.ParquetWriter(path, _SIDE_SCHEMA) as writer:
        page: list[tuple[str, int, str]] = []
        for document in sink.iter_documents(index):
            page.append((document.id, document.version, document_hash(document.source)))
            if len(page) >= _PAGE:
                writer.write_table(_side_table(page))
                count += len(page)
                page = []
        if page:
            writer.write_table(_side_table(page))
            count += len(page)
    return count


def write_archive_side(
    connection: DuckDBPyConnection,
    path: Path,
    transform: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
    *,
    sampled: bool = False,
) -> int:
    """Stream the materialized latest records into (id, version, hash) rows; live items only.

    An item whose latest record is a REMOVE, has no image, or that the transform skips is left
    out: the index should not hold it. With ``sampled``, only the items of ``SAMPLE_TABLE``.
    """
    count = 0
    only_sample = f" AND document_id IN (SELECT document_id FROM {SAMPLE_TABLE})" if sampled else ""
    reader = connection.execute(
        f"SELECT document_id, version, new_image FROM {LATEST_IMAGES} "
        f"WHERE event_name <> 'REMOVE' AND new_image IS NOT NULL{only_sample}"
    ).to_arrow_reader(_PAGE)
    with pq.ParquetWriter(path, _SIDE_SCHEMA) as writer:
        for batch in reader:
            rows = []
            for document_id, version, image_json in zip(
                *(batch.column(i).to_pylist() for i in range(3)), strict=True
            ):
                image = json_to_image(image_json)
                document = transform(image) if transform else image
                if document is not None:
                    rows.append((document_id, version, document_hash(rename_fields(document))))
            if rows:
                writer.write_table(_side_table(rows))
                count += len(rows)
    return count


def write_sampled_index_side(
    connection: DuckDBPyConnection, sink: SearchSink, index: str, path: Path
) -> int:
    """Fetch the sampled items' documents by id (``_mget``), page by page, into the Parquet file."""
    count = 0
    reader = connection.execute(f"SELECT document_id FROM {SAMPLE_TABLE}").to_arrow_reader(1000)
    with pq.ParquetWriter(path, _SIDE_SCHEMA) as writer:
        for batch in reader:
            found = sink.get_documents(index, batch.column(0).to_pylist())
            if found:
                rows = [(d.id, d.version, document_hash(d.source)) for d in found]
                writer.write_table(_side_table(rows))
                count += len(rows)
    return count


def _side_table(rows: list[tuple[str, int, str]]) -> pa.Table:
    ids, versions, hashes = zip(*rows, strict=True)
    return pa.table([list(ids), list(versions), list(hashes)], schema=_SIDE_SCHEMA)


def drift_sql(archive_path: Path, index_path: Path) -> str:
    """Every drifted document: its id, the kind of drift and both versions.

    A document with the archive's content at a higher version is not drift: a repair restores
    the content at the engine's version when a foreign write left that higher (versions never
    go down), and later syncs write above it.
    """
    archive = f"read_parquet({quote_literal(str(archive_path))})"
    index = f"read_parquet({quote_literal(str(index_path))})"
    return f"""
SELECT coalesce(a.document_id, i.document_id) AS document_id,
       CASE WHEN i.document_id IS NULL THEN 'missing'
            WHEN a.document_id IS NULL THEN 'extra'
            WHEN i.version < a.version THEN 'stale'
            WHEN i.version > a.version THEN 'ahead'
            ELSE 'different' END AS kind,
       a.version AS archive_version, i.version AS index_version
FROM {archive} a FULL OUTER JOIN {index} i ON a.document_id = i.document_id
WHERE a.document_id IS NULL OR i.document_id IS NULL
   OR i.version < a.version OR a.content_hash <> i.content_hash
""".strip()


def verify_alias(
    connection: DuckDBPyConnection,
    sink: SearchSink,
    *,
    recipe: Recipe,
    alias: str,
    index: str,
    transform: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
    examples: int = 5,
    sample: int | None = None,
    same_sample: bool = False,
    as_of: datetime | None = None,
) -> DriftReport:
    """Compare ``index`` (behind ``alias``) with the archive by ``recipe``; leaves the drift table.

    ``transform`` is the loaded ``recipe.transform``.

    With ``sample``, only that many items of the archive, chosen at random (removed ones
    included), are compared, their documents fetched by id: a quick check that cannot see
    documents the archive never held. The latest records stay materialized (``LATEST_TABLE``)
    and the drifted ids in ``DRIFT_TABLE``, so that :func:`repair_drift` can fix exactly those;
    call :func:`drop_verify_tables` when done. ``same_sample`` compares the sample of the last
    call again (after a repair); ``as_of`` compares with the state at that instant (an index
    rebuilt with ``--as-of``).
    """
    materialize_latest(connection, recipe.selection(as_of=as_of))
    if sample is not None and not same_sample:
        connection.execute(
            f"CREATE OR REPLACE TEMP TABLE {SAMPLE_TABLE} AS SELECT document_id FROM "
            f"{LATEST_TABLE} USING SAMPLE reservoir({int(sample)} ROWS)"
        )
    with tempfile.TemporaryDirectory(prefix="changelake-verify-") as workdir:
        archive_path, index_path = Path(workdir, "archive.parquet"), Path(workdir, "index.parquet")
        archive_items = write_archive_side(
            connection, archive_path, transform, sampled=sample is not None
        )
        if sample is None:
            index_documents = write_index_side(sink, index, index_path)
        else:
            index_documents = write_sampled_index_side(connection, sink, index, index_path)
        connection.execute(
            f"CREATE OR REPLACE TEMP TABLE {DRIFT_TABLE} AS {drift_sql(archive_path, index_path)}"
        )
    report = DriftReport(alias, index, archive_items, index_documents, sampled=sample)
    for kind, count in connection.execute(
        f"SELECT kind, count(*) FROM {DRIFT_TABLE} GROUP BY kind"
    ).fetchall():
        report.counts[kind] = count
    for kind in DRIFT_KINDS:
        if report.counts[kind]:
            rows = connection.execute(
                f"SELECT document_id, archive_version, index_version FROM {DRIFT_TABLE} "
                "WHERE kind = ? ORDER BY document_id LIMIT ?",
                [kind, examples],
            ).fetchall()
            report.examples[kind] = [
                {"id": i, "archive_version": a, "index_version": v} for i, a, v in rows
            ]
    return report


def drop_verify_tables(connection: DuckDBPyConnection, *, keep_sample: bool = False) -> None:
    """Free the temporary tables of a verify (the sample's too, unless ``keep_sample``)."""
    drop_latest(connection)
    connection.execute(f"DROP TABLE IF EXISTS {DRIFT_TABLE}")
    if not keep_sample:
        connection.execute(f"DROP TABLE IF EXISTS {SAMPLE_TABLE}")
