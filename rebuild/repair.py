"""Repair: put the archive's content back into exactly the drifted documents, then look again.

Whatever wrote to the index (an old live indexer, a manual fix), the archive is the truth: each
drifted document gets the archive's latest content, or is deleted if the archive has none. It is
written with ``version_type: external_gte`` at the higher of the archive's version and the one
the engine holds, so it always lands and versions never go down: later syncs, whose records are
newer than the archive's, still write above it.

A document deleted by another writer is gone from the index, but the engine keeps its delete
(a tombstone, for ``index.gc_deletes``) at a version the index can no longer show: the first
write is refused with a 409 that names it ("current version [N] is higher than the one provided
[M]"), and the document is written again at N.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from changelake.rebuild.bulk import (
    BULK_RETRY,
    BulkLoader,
    BulkStats,
    bytes_to_blocks,
    iter_chunks,
)
from changelake.rebuild.documents import record_to_entry
from changelake.rebuild.latest_images import LATEST_IMAGES
from changelake.rebuild.verify import DRIFT_TABLE, DriftReport, drop_verify_tables, verify_alias

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from datetime import datetime

    from duckdb import DuckDBPyConnection

    from changelake.rebuild.recipe import Recipe
    from changelake.rebuild.search_sink import SearchSink
    from changelake.schemas.backoff import Backoff

    Transform = Callable[[dict[str, Any]], dict[str, Any] | None]

ENGINE_VERSIONS_TABLE = "changelake_engine_versions"
_PAGE = 5000
# Both engines word a version conflict this way (Lucene's VersionConflictEngineException).
_CURRENT_VERSION = re.compile(r"current version \[(\d+)\]")


def iter_repair_entries(
    connection: DuckDBPyConnection, transform: Transform | None, *, only_retried: bool = False
) -> Iterator[bytes | None]:
    """Bulk entries that bring every drifted document to the archive's content.

    Each is written at ``max(archive version, version the index holds)`` with ``external_gte``;
    a document the archive does not hold is deleted at the version the index holds. With
    ``only_retried``, only the documents of ``ENGINE_VERSIONS_TABLE``.
    """
    where = (
        f"WHERE d.document_id IN (SELECT document_id FROM {ENGINE_VERSIONS_TABLE})"
        if only_retried
        else ""
    )
    reader = connection.execute(
        f"SELECT d.document_id, l.item_key, l.event_name, "
        f"greatest(l.version, d.index_version) AS version, l.new_image, d.index_version "
        f"FROM {DRIFT_TABLE} d LEFT JOIN {LATEST_IMAGES} l ON d.document_id = l.document_id "
        f"{where} ORDER BY d.document_id"
    ).to_arrow_reader(_PAGE)
    for batch in reader:
        for record in batch.to_pylist():
            if record["event_name"] is None:
                action = {
                    "delete": {
                        "_id": record["document_id"],
                        "version": record["index_version"],
                        "version_type": "external_gte",
                    }
                }
                yield json.dumps(action).encode() + b"\n"
                continue
            entry = record_to_entry(record, transform or _as_is, delete_skipped=True)
            yield (
                None
                if entry is None
                else entry.replace(
                    b'"version_type":"external"', b'"version_type":"external_gte"', 1
                )
            )


def _as_is(image: dict[str, Any]) -> dict[str, Any]:
    return image


def repair_drift(
    connection: DuckDBPyConnection,
    sink: SearchSink,
    index: str,
    *,
    transform: Transform | None = None,
    retry: Backoff = BULK_RETRY,
    max_errors: int = 0,
    on_progress: Callable[[int], None] = lambda actions: None,
) -> BulkStats:
    """Send the repair entries for the drift found by ``verify_alias``; refresh the index.

    Documents refused because the engine holds a higher version (a foreign delete's tombstone)
    are sent once more at that version; ``version_conflicts`` counts only those still refused.
    """

    def send(only_retried: bool) -> BulkStats:
        loader = BulkLoader(
            sink, index, max_errors=max_errors, retry=retry,
            on_progress=on_progress, keep_conflicts=True,
        )  # fmt: skip
        entries = iter_repair_entries(connection, transform, only_retried=only_retried)
        return loader.load(iter_chunks(bytes_to_blocks(entries)))

    stats = send(only_retried=False)
    engine_versions = [
        (conflict.document_id, int(found.group(1)))
        for conflict in stats.conflicts or []
        if (found := _CURRENT_VERSION.search(conflict.reason))
    ]
    if engine_versions:
        connection.execute(
            f"CREATE OR REPLACE TEMP TABLE {ENGINE_VERSIONS_TABLE} "
            "(document_id VARCHAR, engine_version BIGINT)"
        )
        connection.executemany(
            f"INSERT INTO {ENGINE_VERSIONS_TABLE} VALUES (?, ?)", engine_versions
        )
        connection.execute(
            f"UPDATE {DRIFT_TABLE} SET index_version = v.engine_version "
            f"FROM {ENGINE_VERSIONS_TABLE} v WHERE {DRIFT_TABLE}.document_id = v.document_id"
        )
        stats.version_conflicts -= len(engine_versions)
        stats.add(send(only_retried=True))
        connection.execute(f"DROP TABLE {ENGINE_VERSIONS_TABLE}")
    sink.refresh(index)
    return stats


def verify_index(
    connection: DuckDBPyConnection,
    sink: SearchSink,
    *,
    alias: str,
    index: str,
    recipe: Recipe,
    transform: Transform | None = None,
    as_of: datetime | None = None,
    examples: int = 5,
    sample: int | None = None,
    repair: bool = False,
    max_errors: int = 0,
    on_progress: Callable[[int], None] = lambda actions: None,
) -> DriftReport:
    """Compare ``index`` with the archive by ``recipe``; with ``repair``, repair and compare again.

    The second comparison looks at the same instant (``as_of``) and the same sample as the first.
    """
    report = verify_alias(
        connection, sink, recipe=recipe, alias=alias, index=index, transform=transform,
        examples=examples, sample=sample, as_of=as_of,
    )  # fmt: skip
    if repair and report.drifted:
        stats = repair_drift(
            connection, sink, index, transform=transform, max_errors=max_errors,
            on_progress=on_progress,
        )  # fmt: skip
        drop_verify_tables(connection, keep_sample=True)
        after = verify_alias(
            connection, sink, recipe=recipe, alias=alias, index=index, transform=transform,
            examples=examples, sample=sample, same_sample=True, as_of=as_of,
        )  # fmt: skip
        report.repair = {
            "indexed": stats.indexed,
            "deleted": stats.deleted,
            "version_conflicts": stats.version_conflicts,
            "failed": len(stats.failures),
            "retries": stats.retries,
            "remaining": after.counts,
            "remaining_drifted": after.drifted,
        }
    drop_verify_tables(connection)
    return report
