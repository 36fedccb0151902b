"""What the Elasticsearch and OpenSearch sinks share: the calls whose shape the engines agree on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from changelake.rebuild.search_sink import StoredDocument
from changelake.schemas.exceptions import SearchRequestError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from contextlib import AbstractContextManager

T = TypeVar("T")

# A bulk response keeps only what ``changelake.rebuild.bulk.response_to_stats`` reads (each item's
# id, status and error; a whole-request error): a quarter of the bytes to send and parse, on the
# path between one request's answer and the next request.
BULK_FILTER_PATH = "error,status,errors,items.*._id,items.*.status,items.*.error"


def hit_to_document(hit: dict[str, Any]) -> StoredDocument:
    """A search hit or ``_mget`` doc (with ``_version``) as a :class:`StoredDocument`."""
    return StoredDocument(hit["_id"], int(hit["_version"]), hit["_source"])


class EngineSink:
    """The engine-neutral half of a search sink over one client (``client``).

    A subclass names its engine's error translation (``_translated``), how a response becomes a
    plain dict (``_body``), how ``_mget`` is asked (``_mget``), and the calls whose request shapes
    differ between the engines.
    """

    engine: str
    client: Any

    def _translated(self, what: str) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _body(self, response: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _mget(self, index: str, ids: list[str]) -> Any:
        raise NotImplementedError

    def _call(self, what: str, call: Callable[[], T]) -> T:
        with self._translated(what):
            return call()

    def _found_or_404(self, what: str, call: Callable[[], Any]) -> dict[str, Any] | None:
        """The call's body, or None when the engine answers 404 (no such index or alias)."""
        try:
            return self._body(self._call(what, call))
        except SearchRequestError as error:
            if error.status == 404:
                return None
            raise

    def delete_index(self, index: str) -> None:
        """Delete a concrete index; a missing one is not an error."""
        self._found_or_404(
            f"delete index {index!r}", lambda: self.client.indices.delete(index=index)
        )

    def is_concrete_index(self, name: str) -> bool:
        """True if ``name`` is a concrete index (not an alias, not missing)."""
        found = self._found_or_404(f"look up {name!r}", lambda: self.client.indices.get(index=name))
        return found is not None and name in found

    def list_indices(self, pattern: str) -> list[str]:
        """Concrete index names matching a wildcard ``pattern`` (``posts-*``), sorted."""
        found = self._call(
            f"list indexes {pattern!r}",
            lambda: self.client.indices.get(
                index=pattern, allow_no_indices=True, expand_wildcards="open"
            ),
        )
        return sorted(self._body(found))

    def refresh(self, index: str) -> None:
        """Make every write to ``index`` visible to search and count."""
        self._call(f"refresh {index!r}", lambda: self.client.indices.refresh(index=index))

    def count(self, index: str) -> int:
        """The number of searchable documents in ``index`` (an index or an alias)."""
        response = self._call(f"count {index!r}", lambda: self.client.count(index=index))
        return int(response["count"])

    def alias_targets(self, alias: str) -> list[str]:
        """The concrete indexes ``alias`` points to, sorted; empty if there is no such alias."""
        found = self._found_or_404(
            f"look up alias {alias!r}", lambda: self.client.indices.get_alias(name=alias)
        )
        return sorted(found or {})

    def get_mappings(self, index: str) -> dict[str, Any]:
        """The mappings of a concrete index (or of the one index an alias points to)."""
        found = self._body(
            self._call(
                f"read the mapping of {index!r}",
                lambda: self.client.indices.get_mapping(index=index),
            )
        )
        if len(found) != 1:
            raise SearchRequestError(
                f"{index!r} names {len(found)} indexes ({', '.join(sorted(found))}); name one index"
            )
        (mapping,) = found.values()
        mappings: dict[str, Any] = mapping.get("mappings", {})
        return mappings

    def get_meta(self, index: str) -> dict[str, Any]:
        """The mapping ``_meta`` of a concrete index (or of the one index an alias points to)."""
        meta: dict[str, Any] = self.get_mappings(index).get("_meta", {})
        return meta

    def get_documents(self, index: str, ids: Sequence[str]) -> list[StoredDocument]:
        """The documents among ``ids`` that ``index`` holds (``_mget``); absent ones left out."""
        if not ids:
            return []
        response = self._body(
            self._call(
                f"get {len(ids)} documents from {index!r}", lambda: self._mget(index, list(ids))
            )
        )
        return [hit_to_document(doc) for doc in response["docs"] if doc.get("found")]
