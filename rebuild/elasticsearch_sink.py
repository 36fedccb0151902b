"""The search sink for Elasticsearch 8, over the official client (built in ``clients.py``)."""

from __future__ import annotations

from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, TypeVar, cast

from elastic_transport import TransportError
from elasticsearch import ApiError, NotFoundError

from rebuild.search_sink import StoredDocument
from schemas.exceptions import SearchRequestError, SearchUnavailableError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from elasticsearch import Elasticsearch

T = TypeVar("T")


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """Turn the client's exceptions into changelake's transient / terminal search errors."""
    try:
        yield
    except ApiError as error:
        status = error.meta.status
        message = f"Elasticsearch refused to {what}: {status} {error.message}"
        if status == 429 or status >= 500:
            raise SearchUnavailableError(f"{message}; retry later", status) from None
        raise SearchRequestError(message, status) from None
    except TransportError as error:
        raise SearchUnavailableError(
            f"Elasticsearch could not be reached to {what}: {error}; check --es-url"
        ) from None


class ElasticsearchSink:
    """A :class:`~rebuild.search_sink.SearchSink` over ``elasticsearch.Elasticsearch``."""

    engine = "elasticsearch"

    def __init__(self, client: Elasticsearch) -> None:
        self.client = client
        # The caller retries bulk requests itself, with backoff: the client must send each once.
        self._once = client.options(max_retries=0, retry_on_timeout=False)

    def _call(self, what: str, call: Callable[[], T]) -> T:
        with _translated(what):
            return call()

    def create_index(self, index: str, body: Mapping[str, Any]) -> None:
        """Create ``index`` with a body of ``settings``, ``mappings`` (``_meta`` included)."""
        self._call(
            f"create index {index!r}",
            lambda: self.client.indices.create(
                index=index, settings=body.get("settings"), mappings=body.get("mappings")
            ),
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
            found = self._call(
                f"look up {name!r}", lambda: self.client.indices.get(index=name).body
            )
        except SearchRequestError as error:
            if error.status == 404:
                return False
            raise
        return name in found

    def list_indices(self, pattern: str) -> list[str]:
        """Concrete index names matching a wildcard ``pattern`` (``posts-*``), sorted."""
        found = self._call(
            f"list indexes {pattern!r}",
            lambda: (
                self.client.indices.get(
                    index=pattern, allow_no_indices=True, expand_wildcards="open"
                ).body
            ),
        )
        return sorted(found)

    def put_settings(self, index: str, settings: Mapping[str, Any]) -> None:
        """Update dynamic index settings (``{"index": {"refresh_interval": "-1"}}``)."""
        self._call(
            f"update the settings of {index!r}",
            lambda: self.client.indices.put_settings(index=index, settings=dict(settings)),
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
        # The client's NDJSON serializer passes bytes through as they are: no dict round trip.
        response = self._call(
            f"bulk-load into {index!r}",
            lambda: self._once.bulk(index=index, operations=cast("Any", body)),
        )
        result: dict[str, Any] = response.body
        return result

    def alias_targets(self, alias: str) -> list[str]:
        """The concrete indexes ``alias`` points to, sorted; empty if there is no such alias."""
        try:
            found = self._call(
                f"look up alias {alias!r}", lambda: self.client.indices.get_alias(name=alias).body
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
            lambda: self.client.indices.update_aliases(actions=[dict(a) for a in actions]),
        )

    def get_meta(self, index: str) -> dict[str, Any]:
        """The mapping ``_meta`` of a concrete index (or of the one index an alias points to)."""
        found = self._call(
            f"read the mapping of {index!r}",
            lambda: self.client.indices.get_mapping(index=index).body,
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
            lambda: self.client.indices.put_mapping(index=index, meta=dict(meta)),
        )

    def get_documents(self, index: str, ids: Sequence[str]) -> list[StoredDocument]:
        """The documents among ``ids`` that ``index`` holds (``_mget``); absent ones left out."""
        if not ids:
            return []
        response = self._call(
            f"get {len(ids)} documents from {index!r}",
            lambda: self.client.mget(index=index, ids=list(ids)).body,
        )
        return [
            StoredDocument(doc["_id"], int(doc["_version"]), doc["_source"])
            for doc in response["docs"]
            if doc.get("found")
        ]

    def iter_documents(self, index: str, page_size: int = 1000) -> Iterator[StoredDocument]:
        """Every document of ``index`` in the engine's stable order, paged with a point in time."""
        pit = self._call(
            f"open a point in time on {index!r}",
            lambda: self.client.open_point_in_time(index=index, keep_alive="1m"),
        )
        pit_id: str = pit["id"]
        try:
            after: list[Any] | None = None
            while True:
                page = self._search_page(pit_id, page_size, after)
                for hit in page:
                    yield StoredDocument(hit["_id"], int(hit["_version"]), hit["_source"])
                if len(page) < page_size:
                    return
                after = page[-1]["sort"]
        finally:
            # A point in time left open expires by itself after keep_alive.
            with suppress(ApiError, TransportError, NotFoundError):
                self.client.close_point_in_time(id=pit_id)

    def _search_page(
        self, pit_id: str, page_size: int, after: list[Any] | None
    ) -> list[dict[str, Any]]:
        response = self._call(
            "page through documents",
            lambda: self.client.search(
                pit={"id": pit_id, "keep_alive": "1m"},
                sort=["_shard_doc"],
                size=page_size,
                search_after=after,
                version=True,
                track_total_hits=False,
            ),
        )
        hits: list[dict[str, Any]] = response["hits"]["hits"]
        return hits
