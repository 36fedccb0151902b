"""Leases: a lock object in the archive, taken and renewed with conditional writes.

Creating the object with put-if-absent lets exactly one of two writers win. The lock carries an
expiry so that a holder that died does not block forever: once it has expired, a new holder takes
it over with put-if-match on the ETag it read, so two late-comers cannot both take it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from changelake.schemas.exceptions import LockHeldError, PreconditionFailedError, StorageError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from changelake.archiver.object_store import ObjectStore

DEFAULT_LEASE = timedelta(minutes=15)


@dataclass
class Lease:
    """A held lock: renew it before ``expires_at``, release it when done."""

    store: ObjectStore
    key: str
    owner: str
    etag: str
    expires_at: datetime
    duration: timedelta

    def renew(self, now: datetime | None = None) -> None:
        """Push the expiry out; raises :class:`LockHeldError` if another holder took the lock."""
        now = now or datetime.now(UTC)
        body = lock_body(self.owner, now, now + self.duration)
        try:
            self.etag = self.store.put_if_match(self.key, body, self.etag)
        except PreconditionFailedError:
            raise LockHeldError(
                f"lost the lock {self.store.location.url(self.key)}: it expired and another "
                "process took it over; stopped before changing anything more"
            ) from None
        self.expires_at = now + self.duration

    def renew_if_due(self, now: datetime | None = None) -> None:
        """Renew once a third of the lease is used up (cheap to call often)."""
        now = now or datetime.now(UTC)
        if self.expires_at - now < self.duration * 2 / 3:
            self.renew(now)

    def release(self) -> None:
        """Delete the lock if it is still ours."""
        try:
            _, etag = self.store.get_with_etag(self.key)
        except FileNotFoundError:
            return
        if etag == self.etag:
            self.store.delete(self.key)


def default_owner() -> str:
    """``host:pid``, so a lock names the process that holds it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lock_body(owner: str, acquired_at: datetime, expires_at: datetime) -> bytes:
    """The lock object's JSON: who holds it and until when."""
    return json.dumps(
        {
            "owner": owner,
            "acquired_at": acquired_at.isoformat(),
            "expires_at": expires_at.isoformat(),
        }
    ).encode()


def acquire_lock(
    store: ObjectStore,
    key: str,
    *,
    owner: str | None = None,
    duration: timedelta = DEFAULT_LEASE,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Lease:
    """Take the lock at ``key`` or raise :class:`LockHeldError` naming its holder."""
    owner = owner or default_owner()
    for _ in range(3):
        now = clock()
        body = lock_body(owner, now, now + duration)
        try:
            etag = store.put_if_absent(key, body)
            return Lease(store, key, owner, etag, now + duration, duration)
        except PreconditionFailedError:
            pass
        try:
            data, etag = store.get_with_etag(key)
        except FileNotFoundError:
            continue  # released between our two calls: try to create it again
        holder = _parse_holder(data)
        expires_at = datetime.fromisoformat(holder.get("expires_at") or now.isoformat())
        if expires_at > now:
            raise LockHeldError(
                f"{store.location.url(key)} is held by {holder.get('owner')!r} since "
                f"{holder.get('acquired_at')} until {holder.get('expires_at')}; wait for it to "
                "finish (if that process died, the lock expires then, or delete the object)"
            )
        try:
            etag = store.put_if_match(key, body, etag)
            return Lease(store, key, owner, etag, now + duration, duration)
        except PreconditionFailedError:
            time.sleep(0.05)  # another process took the expired lock first: look again
    raise LockHeldError(f"{store.location.url(key)} is contended; try again later")


@contextmanager
def held_lock(
    store: ObjectStore,
    key: str,
    *,
    owner: str | None = None,
    duration: timedelta = DEFAULT_LEASE,
) -> Iterator[Lease]:
    """Hold the lock for the ``with`` block, releasing it however the block ends.

    If the block failed because the store is down, releasing fails too: the block's own error is
    raised (it says what went wrong), and the lock stays until it expires or is deleted.
    """
    lease = acquire_lock(store, key, owner=owner, duration=duration)
    try:
        yield lease
    except BaseException as error:
        try:
            lease.release()
        except StorageError as release_error:
            error.add_note(
                f"the lock {store.location.url(key)} was not released ({release_error}); "
                f"it expires at {lease.expires_at.isoformat()}"
            )
        raise
    lease.release()


def _parse_holder(data: bytes) -> dict[str, Any]:
    try:
        holder = json.loads(data)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}
