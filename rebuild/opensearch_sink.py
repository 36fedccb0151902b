"""The search sink for OpenSearch (1.x to 3.x), over opensearch-py (built in ``clients.py``)."""

from __future__ import annotations

from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from opensearchpy import ConnectionError as OpenSearchConnectionError
from opensearchpy import TransportError

from changelake.rebuild.engine_sink import BULK_FILTER_PATH, EngineSink, hit_to_document
from changelake.schemas.exceptions import SearchRequestError, SearchUnavailableError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from contextlib import AbstractContextManager

    from opensearchpy import OpenSearch

    from changelake.rebuild.search_sink import StoredDocument

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


class OpenSearchSink(EngineSink):
    """A :class:`~changelake.rebuild.search_sink.SearchSink` over ``opensearchpy.OpenSearch``.

    ``once`` is a client for the same cluster that never retries: bulk requests go through it,
    since the caller retries them itself, with backoff.
    """

    engine = "opensearch"

    def __init__(self, client: OpenSearch, once: OpenSearch | None = None) -> None:
        self.client = client
        self._once = once if once is not None else client

    def _translated(self, what: str) -> AbstractContextManager[None]:
        return _translated(what)

    def _body(self, response: Any) -> dict[str, Any]:
        body: dict[str, Any] = response
        return body

    def _mget(self, index: str, ids: list[str]) -> Any:
        return self.client.mget(index=index, body={"ids": ids})

    def create_index(self, index: str, body: Mapping[str, Any]) -> None:
        """Create ``index`` with a body of ``settings``, ``mappings`` (``_meta`` included)."""
        self._call(
            f"create index {index!r}",
            lambda: self.client.indices.create(index=index, body=dict(body)),
        )

    def put_settings(self, index: str, settings: Mapping[str, Any]) -> None:
        """Update dynamic index settings (``{"index": {"refresh_interval": "-1"}}``)."""
        self._call(
            f"update the settings of {index!r}",
            lambda: self.client.indices.put_settings(index=index, body=dict(settings)),
        )

    def bulk(self, index: str, body: bytes) -> dict[str, Any]:
        """Send one ``_bulk`` request of NDJSON bytes to ``index``; the parsed response."""
        # opensearch-py sends bytes as they are: no dict round trip.
        result: dict[str, Any] = self._call(
            f"bulk-load into {index!r}",
            lambda: self._once.bulk(index=index, body=body, filter_path=BULK_FILTER_PATH),
        )
        return result

    def update_aliases(self, actions: Sequence[Mapping[str, Any]]) -> None:
        """Apply ``add`` / ``remove`` alias actions atomically, in one ``_aliases`` request."""
        self._call(
            "move the alias",
            lambda: self.client.indices.update_aliases(
                body={"actions": [dict(action) for action in actions]}
            ),
        )

    def put_mapping(self, index: str, update: Mapping[str, Any]) -> None:
        """Replace the mapping ``_meta`` of a concrete index and/or add fields to its mapping."""
        self._call(
            f"update the mapping of {index!r}",
            lambda: self.client.indices.put_mapping(index=index, body=dict(update)),
        )

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
                    yield hit_to_document(hit)
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
