"""The search sink for OpenSearch (1.x to 3.x), over opensearch-py (built in ``clients.py``)."""

from __future__ import annotations

from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, TypeVar

from opensearchpy import ConnectionError as OpenSearchConnectionError
from opensearchpy import TransportError

from rebuild.search_sink import StoredDocument
from schemas.exceptions import SearchRequestError, SearchUnavailableError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from opensearchpy import OpenSearch

T = TypeVar("T")

SCROLL_KEEP_ALIVE = "2m"


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """Turn the client's exceptions into changelake's transient / terminal search errors."""
    try:
        yield
    except OpenSearchConnectionError as error:
        raise SearchUnavailableError(
            f"OpenSearch could not be reached to {what}: {error}; check --es-url"
        ) from None
    except TransportError as error:
        status = error.status_code if isinstance(error.status_code, int) else 0
        message = f"OpenSearch refused to {what}: {status} {error.error}"
        if status == 429 or status >= 500 or status == 0:
            raise SearchUnavailableError(f"{message}; retry later", status or None) from None
        raise SearchRequestError(message, status) from None


class OpenSearchSink:
    """A :class:`~rebuild.search_sink.SearchSink` over ``opensearchpy.OpenSearch``.

    ``once`` is a client for the same cluster that never retries: bulk requests go through it,
    since the caller retries them itself, with backoff.
    """

    engine = "opensearch"

    def __init__(self, client: OpenSearch, once: OpenSearch | None = None) -> None:
        self.client = client
        self._once = once if once is not None else client

    def _call(self, what: str, call: Callable[[], T]) -> T:
        with _translated(what):
            return call()

    def create_index(self, index: str, body: Mapping[str, Any]) -> None:
        """Create ``index`` with a body of ``settings``, ``mappings`` (``_meta`` included)."""
        self._call(
            f"create index {index!r}",
            lambda: self.client.indices.create(index=index, body=dict(body)),
        )

    def delete_index(self, index: str) -> None:
        """Delete a concrete index; a missing one is not an error."""
        try:
            self._call(f"delete index {index!r}", lambda: self.client.indices.delete(index=index))
        except SearchRequestError as error:
            if error.status != 404:
                raise

    def index_exists(self, name: str) -> bool:
        """True if ``name`` is a concrete index or an alias."""
        return bool(self._call(f"look up {name!r}", lambda: self.client.indices.exists(index=name)))

    def is_concrete_index(self, name: str) -> bool:
        """True if ``name`` is a concrete index (not an alias, not missing)."""
        try:
            found = self._call(f"look up {name!r}", lambda: self.client.indices.get(index=name))
        except SearchRequestError as error:
            if error.status == 404:
                return False
            raise
        return name in found

    def list_indices(self, pattern: str) -> list[str]:
        """Concrete index names matching a wildcard ``pattern`` (``posts-*``), sorted."""
        found = self._call(
            f"list indexes {pattern!r}",
            lambda: self.client.indices.get(
                index=pattern, allow_no_indices=True, expand_wildcards="open"
            ),
        )
        return sorted(found)

    def put_settings(self, index: str, settings: Mapping[str, Any]) -> None:
        """Update dynamic index settings (``{"index": {"refresh_interval": "-1"}}``)."""
        self._call(
            f"update the settings of {index!r}",
            lambda: self.client.indices.put_settings(index=index, body=dict(settings)),
        )

    def refresh(self, index: str) -> None:
        """Make every write to ``index`` visible to search and count."""
        self._call(f"refresh {index!r}", lambda: self.client.indices.refresh(index=index))

    def count(self, index: str) -> int:
        """The number of searchable documents in ``index`` (an index or an alias)."""
        response = self._call(f"count {index!r}", lambda: self.client.count(index=index))
        return int(response["count"])

    def bulk(self, index: str, body: bytes) -> dict[str, Any]:
        """Send one ``_bulk`` request of NDJSON bytes to ``index``; the parsed response."""
        # opensearch-py sends bytes as they are: no dict round trip.
        result: dict[str, Any] = self._call(
            f"bulk-load into {index!r}", lambda: self._once.bulk(index=index, body=body)
        )
        return result

    def alias_targets(self, alias: str) -> list[str]:
        """The concrete indexes ``alias`` points to, sorted; empty if there is no such alias."""
        try:
            found = self._call(
                f"look up alias {alias!r}", lambda: self.client.indices.get_alias(name=alias)
            )
        except SearchRequestError as error:
            if error.status == 404:
                return []
            raise
        return sorted(found)

    def update_aliases(self, actions: Sequence[Mapping[str, Any]]) -> None:
        """Apply ``add`` / ``remove`` alias actions atomically, in one ``_aliases`` request."""
        self._call(
            "move the alias",
            lambda: self.client.indices.update_aliases(
                body={"actions": [dict(action) for action in actions]}
            ),
        )

    def get_meta(self, index: str) -> dict[str, Any]:
        """The mapping ``_meta`` of a concrete index (or of the one index an alias points to)."""
        found = self._call(
            f"read the mapping of {index!r}", lambda: self.client.indices.get_mapping(index=index)
        )
        if len(found) != 1:
            raise SearchRequestError(
                f"{index!r} names {len(found)} indexes ({', '.join(sorted(found))}); name one index"
            )
        (mapping,) = found.values()
        meta: dict[str, Any] = mapping.get("mappings", {}).get("_meta", {})
        return meta

    def put_meta(self, index: str, meta: Mapping[str, Any]) -> None:
        """Replace the mapping ``_meta`` of a concrete index: durable, survives restarts."""
        self._call(
            f"write the _meta of {index!r}",
            lambda: self.client.indices.put_mapping(index=index, body={"_meta": dict(meta)}),
        )

    def get_documents(self, index: str, ids: Sequence[str]) -> list[StoredDocument]:
        """The documents among ``ids`` that ``index`` holds (``_mget``); absent ones left out."""
        if not ids:
            return []
        response = self._call(
            f"get {len(ids)} documents from {index!r}",
            lambda: self.client.mget(index=index, body={"ids": list(ids)}),
        )
        return [
            StoredDocument(doc["_id"], int(doc["_version"]), doc["_source"])
            for doc in response["docs"]
            if doc.get("found")
        ]

    def iter_documents(self, index: str, page_size: int = 1000) -> Iterator[StoredDocument]:
        """Every document of ``index`` in the engine's stable order, from one consistent view.

        A scroll sorted by ``_doc``: OpenSearch 2.x has points in time but no ``_shard_doc``
        tiebreaker, and ``_doc`` alone repeats across shards, so ``search_after`` over a point in
        time could skip or repeat documents of a multi-shard index; a scroll cannot.
        """
        response = self._call(
            f"page through {index!r}",
            lambda: self.client.search(
                index=index,
                body={"sort": ["_doc"], "size": page_size, "version": True},
                scroll=SCROLL_KEEP_ALIVE,
            ),
        )
        scroll_id: str | None = response.get("_scroll_id")
        try:
            while True:
                hits: list[dict[str, Any]] = response["hits"]["hits"]
                for hit in hits:
                    yield StoredDocument(hit["_id"], int(hit["_version"]), hit["_source"])
                if len(hits) < page_size or scroll_id is None:
                    return
                response = self._next_page(index, scroll_id)
                scroll_id = response.get("_scroll_id", scroll_id)
        finally:
            # A scroll left open expires by itself after its keep-alive.
            if scroll_id is not None:
                with suppress(TransportError):
                    self.client.clear_scroll(body={"scroll_id": [scroll_id]})

    def _next_page(self, index: str, scroll_id: str) -> dict[str, Any]:
        page: dict[str, Any] = self._call(
            f"page through {index!r}",
            lambda: self.client.scroll(body={"scroll_id": scroll_id, "scroll": SCROLL_KEEP_ALIVE}),
        )
        return page
