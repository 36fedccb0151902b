"""The search engine as rebuild and sync see it: a small, engine-neutral protocol.

Implementations wrap one engine's official client, which is built in ``changelake/clients.py``
and passed in (``rebuild/elasticsearch_sink.py``). Index bodies, alias actions and bulk bodies use
the request shapes Elasticsearch and OpenSearch share. Every method raises
:class:`~changelake.schemas.exceptions.SearchUnavailableError` when the engine cannot answer now
(connection refused, 429, 5xx: worth retrying) and
:class:`~changelake.schemas.exceptions.SearchRequestError` when it rejects the request itself
(any other 4xx).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

# Elasticsearch and OpenSearch refuse a document _id longer than 512 bytes.
MAX_ID_BYTES = 512


@dataclass(frozen=True)
class StoredDocument:
    """A document as the index holds it: its ``_id``, external ``_version`` and ``_source``."""

    id: str
    version: int
    source: dict[str, Any]


class SearchSink(Protocol):
    """What rebuild, sync, rollback and verify need from a search engine."""

    engine: str

    def create_index(self, index: str, body: Mapping[str, Any]) -> None:
        """Create ``index`` with a body of ``settings``, ``mappings`` (``_meta`` included)."""
        ...

    def delete_index(self, index: str) -> None:
        """Delete a concrete index; a missing one is not an error."""
        ...

    def is_concrete_index(self, name: str) -> bool:
        """True if ``name`` is a concrete index (not an alias, not missing)."""
        ...

    def list_indices(self, pattern: str) -> list[str]:
        """Concrete index names matching a wildcard ``pattern`` (``posts-*``), sorted."""
        ...

    def put_settings(self, index: str, settings: Mapping[str, Any]) -> None:
        """Update dynamic index settings (``{"index": {"refresh_interval": "-1"}}``)."""
        ...

    def refresh(self, index: str) -> None:
        """Make every write to ``index`` visible to search and count."""
        ...

    def count(self, index: str) -> int:
        """The number of searchable documents in ``index`` (an index or an alias)."""
        ...

    def bulk(self, index: str, body: bytes) -> dict[str, Any]:
        """Send one ``_bulk`` request of NDJSON bytes to ``index``; the parsed response.

        Sent once, without retries of its own: the caller decides what to retry. Per-item
        failures (409 included) are in the response's ``items``, not raised; each item keeps only
        its ``_id``, ``status`` and ``error`` (``engine_sink.BULK_FILTER_PATH``).
        """
        ...

    def alias_targets(self, alias: str) -> list[str]:
        """The concrete indexes ``alias`` points to, sorted; empty if there is no such alias."""
        ...

    def update_aliases(self, actions: Sequence[Mapping[str, Any]]) -> None:
        """Apply ``add`` / ``remove`` alias actions atomically, in one ``_aliases`` request."""
        ...

    def get_meta(self, index: str) -> dict[str, Any]:
        """The mapping ``_meta`` of a concrete index (or of the one index an alias points to)."""
        ...

    def get_mappings(self, index: str) -> dict[str, Any]:
        """The mappings (``properties``, ``dynamic``, ``_meta``, ...) of one index or alias."""
        ...

    def put_mapping(self, index: str, update: Mapping[str, Any]) -> None:
        """Apply ``{"_meta": ...}`` (replaces it: durable, survives restarts) and/or
        ``{"properties": ...}`` (adds fields; existing fields cannot change type) to ``index``."""
        ...

    def get_documents(self, index: str, ids: Sequence[str]) -> list[StoredDocument]:
        """The documents among ``ids`` that ``index`` holds (one request); absent ones left out."""
        ...

    def iter_documents(self, index: str, page_size: int = 1000) -> Iterator[StoredDocument]:
        """Every document of ``index``, paged with a point in time and ``search_after``.

        The order is the engine's stable index order, not ``_id`` order (Elasticsearch 8 refuses
        to sort on ``_id``): a verifier compares by ``_id`` itself, e.g. in DuckDB.
        """
        ...
