"""The search sink for Elasticsearch 8, over the official client (built in ``clients.py``)."""

from __future__ import annotations

from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, cast

from elastic_transport import TransportError
from elasticsearch import ApiError, NotFoundError

from changelake.rebuild.engine_sink import BULK_FILTER_PATH, EngineSink, hit_to_document
from changelake.schemas.exceptions import SearchRequestError, SearchUnavailableError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from contextlib import AbstractContextManager

    from elasticsearch import Elasticsearch

    from changelake.rebuild.search_sink import StoredDocument


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


class ElasticsearchSink(EngineSink):
    """A :class:`~changelake.rebuild.search_sink.SearchSink` over the Elasticsearch client."""

    engine = "elasticsearch"

    def __init__(self, client: Elasticsearch) -> None:
        self.client = client
        # The caller retries bulk requests itself, with backoff: the client must send each once.
        self._once = client.options(max_retries=0, retry_on_timeout=False)

    def _translated(self, what: str) -> AbstractContextManager[None]:
        return _translated(what)

    def _body(self, response: Any) -> dict[str, Any]:
        body: dict[str, Any] = response.body
        return body

    def _mget(self, index: str, ids: list[str]) -> Any:
        return self.client.mget(index=index, ids=ids)

    def create_index(self, index: str, body: Mapping[str, Any]) -> None:
        """Create ``index`` with a body of ``settings``, ``mappings`` (``_meta`` included)."""
        self._call(
            f"create index {index!r}",
            lambda: self.client.indices.create(
                index=index, settings=body.get("settings"), mappings=body.get("mappings")
            ),
        )

    def put_settings(self, index: str, settings: Mapping[str, Any]) -> None:
        """Update dynamic index settings (``{"index": {"refresh_interval": "-1"}}``)."""
        self._call(
            f"update the settings of {index!r}",
            lambda: self.client.indices.put_settings(index=index, settings=dict(settings)),
        )

    def bulk(self, index: str, body: bytes) -> dict[str, Any]:
        """Send one ``_bulk`` request of NDJSON bytes to ``index``; the parsed response."""
        # The client's NDJSON serializer passes bytes through as they are: no dict round trip.
        response = self._call(
            f"bulk-load into {index!r}",
            lambda: self._once.bulk(
                index=index, operations=cast("Any", body), filter_path=BULK_FILTER_PATH
            ),
        )
        result: dict[str, Any] = response.body
        return result

    def update_aliases(self, actions: Sequence[Mapping[str, Any]]) -> None:
        """Apply ``add`` / ``remove`` alias actions atomically, in one ``_aliases`` request."""
        self._call(
            "move the alias",
            lambda: self.client.indices.update_aliases(actions=[dict(a) for a in actions]),
        )

    def put_mapping(self, index: str, update: Mapping[str, Any]) -> None:
        """Replace the mapping ``_meta`` of a concrete index and/or add fields to its mapping."""
        self._call(
            f"update the mapping of {index!r}",
            lambda: self.client.indices.put_mapping(
                index=index, meta=update.get("_meta"), properties=update.get("properties")
            ),
        )

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
                    yield hit_to_document(hit)
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
