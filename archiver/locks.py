"""Leases: a lock object in the archive, taken, renewed and released with conditional writes.

Creating the object with put-if-absent lets exactly one of two writers win. The lock carries an
expiry so that a holder that died does not block forever: once it has expired, a new holder takes
it over with put-if-match on the ETag it read, so two late-comers cannot both take it.

A holder renews its lease on a timer thread (every third of the lease), whatever its main thread
is busy with, and asks :meth:`Lease.check` before each write it makes elsewhere: once the lease is
lost, or could not be renewed in time, the holder stops before sending anything more. Releasing
deletes the object only if its ETag is still the holder's (a conditional DELETE), so a holder
whose lease was taken over never removes the new holder's lock.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from changelake.schemas.exceptions import LockHeldError, PreconditionFailedError, StorageError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from changelake.archiver.object_store import ObjectStore

DEFAULT_LEASE = timedelta(minutes=15)


@dataclass
class Lease:
    """A held lock: renewed on a timer by :func:`held_lock`, checked before each outside write."""

    store: ObjectStore
    key: str
    owner: str
    etag: str
    acquired_at: datetime
    expires_at: datetime
    duration: timedelta
    lost: str | None = None
    last_error: str | None = None
    _mutex: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def lock_url(self) -> str:
        """Where the lock object is: ``s3://bucket/prefix/_locks/...`` or a local path."""
        return self.store.location.url(self.key)

    def renew(self, now: datetime | None = None) -> None:
        """Push the expiry out; raises :class:`LockHeldError` if another holder took the lock."""
        with self._mutex:
            if self.lost is not None:
                raise LockHeldError(self.lost)
            now = now or datetime.now(UTC)
            body = lock_body(self.owner, self.acquired_at, now + self.duration)
            try:
                self.etag = self.store.put_if_match(self.key, body, self.etag)
            except PreconditionFailedError:
                self.lost = (
                    f"lost the lock {self.lock_url}: it expired and another process took it "
                    "over; stopped before changing anything more"
                )
                raise LockHeldError(self.lost) from None
            self.expires_at = now + self.duration
            self.last_error = None

    def renew_if_due(self, now: datetime | None = None) -> None:
        """Renew once a third of the lease is used up (cheap to call often)."""
        now = now or datetime.now(UTC)
        if self.expires_at - now < self.duration * 2 / 3:
            self.renew(now)

    def check(self, now: datetime | None = None) -> None:
        """Raise :class:`LockHeldError` unless the lease is still ours for a while.

        With less than a third of the lease left (the timer's renewals failed), one renewal is
        tried here; if it fails too, the holder must stop before its next write.
        """
        if self.lost is not None:
            raise LockHeldError(self.lost)
        now = now or datetime.now(UTC)
        if self.expires_at - now >= self.duration / 3:
            return
        try:
            self.renew(now)
        except StorageError as error:
            raise LockHeldError(
                f"could not renew the lock {self.lock_url} (it expires at "
                f"{self.expires_at.isoformat()}): {error}; stopped before changing anything more"
            ) from None

    def release(self) -> None:
        """Delete the lock if it is still ours: a DELETE conditional on our ETag."""
        with self._mutex:
            if self.lost is not None:
                return
            # Taken over (or deleted) by someone else meanwhile: theirs now, left alone.
            with suppress(PreconditionFailedError):
                self.store.delete_if_match(self.key, self.etag)

    @contextmanager
    def kept_alive(self, every: timedelta | None = None) -> Iterator[Lease]:
        """Renew the lease on a daemon thread for the ``with`` block (every third by default)."""
        interval = (every or self.duration / 3).total_seconds()
        stop = threading.Event()

        def renew_until_stopped() -> None:
            while not stop.wait(interval):
                try:
                    self.renew()
                except LockHeldError:
                    return  # lost: check() says so before the holder's next write
                except Exception as error:  # the store is down: try again next time
                    self.last_error = str(error)

        thread = threading.Thread(target=renew_until_stopped, name="lease", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()


def default_owner() -> str:
    """``host:pid``, so a lock names the process that holds it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lock_body(owner: str, acquired_at: datetime, expires_at: datetime) -> bytes:
    """The lock object's JSON: who holds it, since when and until when."""
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
            return Lease(store, key, owner, etag, now, now + duration, duration)
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
            return Lease(store, key, owner, etag, now, now + duration, duration)
        except PreconditionFailedError:
            time.sleep(0.05)  # another process took the expired lock first: look again
    raise LockHeldError(f"{store.location.url(key)} is contended; try again later")


def wait_for_lock(
    store: ObjectStore, key: str, *, owner: str | None, duration: timedelta, wait: timedelta
) -> Lease:
    """``acquire_lock``, tried again every quarter second while the lock is held, up to ``wait``."""
    give_up_at = time.monotonic() + wait.total_seconds()
    while True:
        try:
            return acquire_lock(store, key, owner=owner, duration=duration)
        except LockHeldError:
            if time.monotonic() >= give_up_at:
                raise
            time.sleep(0.25)


@contextmanager
def held_lock(
    store: ObjectStore,
    key: str,
    *,
    owner: str | None = None,
    duration: timedelta = DEFAULT_LEASE,
    wait: timedelta = timedelta(0),
) -> Iterator[Lease]:
    """Hold the lock for the ``with`` block, renewed on a timer, released however the block ends.

    A held lock is tried again for up to ``wait`` before :class:`LockHeldError`. If the block
    failed because the store is down, releasing fails too: the block's own error is raised (it
    says what went wrong), and the lock stays until it expires or is deleted.
    """
    lease = wait_for_lock(store, key, owner=owner, duration=duration, wait=wait)
    try:
        with lease.kept_alive():
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
