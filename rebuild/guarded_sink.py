"""A search sink that writes only while its lease holds.

Rebuild, sync and repair of one alias hold one lease (a lock object in the archive, renewed on a
timer). Each write they send to the engine first asks the lease whether it is still theirs, so a
process whose lease lapsed (paused, cut off from the archive, taken over) stops before its next
request instead of racing the new holder. Reads go through unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from datetime import datetime

    from changelake.rebuild.search_sink import SearchSink, StoredDocument


class HeldLease(Protocol):
    """What a writer needs of its lease (``changelake.archiver.locks.Lease`` is one)."""

    owner: str
    acquired_at: datetime

    @property
    def lock_url(self) -> str:
        """Where the lock object is."""
        ...

    def check(self) -> None:
        """Raise unless the lease is still held (``LockHeldError``)."""
        ...


def lease_to_meta(lease: HeldLease) -> dict[str, str]:
    """How an index names the lease it was built under, in its ``_meta``."""
    return {
        "lock": lease.lock_url,
        "owner": lease.owner,
        "acquired_at": lease.acquired_at.isoformat(),
    }


@dataclass
class GuardedSink:
    """``sink`` with ``lease.check()`` before every write request."""

    sink: SearchSink
    lease: HeldLease
    engine: str = field(init=False)

    def __post_init__(self) -> None:
        self.engine = self.sink.engine

    def create_index(self, index: str, body: Mapping[str, Any]) -> None:
        """Create ``index``, once the lease is checked."""
        self.lease.check()
        self.sink.create_index(index, body)

    def delete_index(self, index: str) -> None:
        """Delete ``index``, once the lease is checked."""
        self.lease.check()
        self.sink.delete_index(index)

    def put_settings(self, index: str, settings: Mapping[str, Any]) -> None:
        """Update settings, once the lease is checked."""
        self.lease.check()
        self.sink.put_settings(index, settings)

    def bulk(self, index: str, body: bytes) -> dict[str, Any]:
        """Send one bulk request, once the lease is checked."""
        self.lease.check()
        return self.sink.bulk(index, body)

    def update_aliases(self, actions: Sequence[Mapping[str, Any]]) -> None:
        """Move aliases, once the lease is checked."""
        self.lease.check()
        self.sink.update_aliases(actions)

    def put_mapping(self, index: str, update: Mapping[str, Any]) -> None:
        """Write ``_meta`` and/or add fields, once the lease is checked."""
        self.lease.check()
        self.sink.put_mapping(index, update)

    def get_mappings(self, index: str) -> dict[str, Any]:
        """The mappings of ``index``."""
        return self.sink.get_mappings(index)

    def refresh(self, index: str) -> None:
        """Refresh ``index`` (a read barrier, not a change: unchecked)."""
        self.sink.refresh(index)

    def is_concrete_index(self, name: str) -> bool:
        """True if ``name`` is a concrete index."""
        return self.sink.is_concrete_index(name)

    def list_indices(self, pattern: str) -> list[str]:
        """Concrete index names matching ``pattern``."""
        return self.sink.list_indices(pattern)

    def count(self, index: str) -> int:
        """The number of searchable documents in ``index``."""
        return self.sink.count(index)

    def alias_targets(self, alias: str) -> list[str]:
        """The concrete indexes ``alias`` points to."""
        return self.sink.alias_targets(alias)

    def get_meta(self, index: str) -> dict[str, Any]:
        """The mapping ``_meta`` of ``index``."""
        return self.sink.get_meta(index)

    def get_documents(self, index: str, ids: Sequence[str]) -> list[StoredDocument]:
        """The documents among ``ids`` that ``index`` holds."""
        return self.sink.get_documents(index, ids)

    def iter_documents(self, index: str, page_size: int = 1000) -> Iterator[StoredDocument]:
        """Every document of ``index``."""
        return self.sink.iter_documents(index, page_size)
