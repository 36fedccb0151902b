"""The archive's storage: S3 or a local directory, behind one small interface.

Every write is whole: S3 PUTs are atomic, and local files are written to a temporary name and
renamed, so a reader never sees a partial object.

Conditional writes (``put_if_absent``, ``put_if_match`` with the ETag from ``get_with_etag``) let
two writers share one object, such as a checkpoint or a lock, without either overwriting the
other: the loser gets :class:`PreconditionFailedError`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from changelake.schemas.archive_layout import ArchiveLocation, join_key
from changelake.schemas.exceptions import (
    ArchiveAccessError,
    ArchiveLocationError,
    PreconditionFailedError,
    StorageError,
    aws_error_code,
)

if TYPE_CHECKING:
    from collections.abc import Iterator


class ObjectStore(Protocol):
    """Whole-object reads and writes under an archive root."""

    location: ArchiveLocation

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write an object whole, replacing any object of that key."""

    def get_bytes(self, key: str) -> bytes:
        """Read an object; raises :class:`FileNotFoundError` when it does not exist."""

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        """Read an object and its ETag; raises :class:`FileNotFoundError` when it does not exist."""

    def put_if_absent(self, key: str, data: bytes) -> str:
        """Create an object only if no object has that key; returns the new ETag.

        Raises :class:`PreconditionFailedError` when the object already exists.
        """

    def put_if_match(self, key: str, data: bytes, etag: str) -> str:
        """Replace an object only if its ETag is still ``etag``; returns the new ETag.

        Raises :class:`PreconditionFailedError` when the object changed or is gone.
        """

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Keys under a prefix, relative to the archive root, in lexical order."""

    def delete(self, key: str) -> None:
        """Delete an object; deleting a missing object is not an error."""

    def delete_if_match(self, key: str, etag: str) -> None:
        """Delete an object only if its ETag is still ``etag``.

        Raises :class:`PreconditionFailedError` when the object changed or is gone.
        """

    def list_folders(self, prefix: str) -> list[str]:
        """Names of the folders directly under a prefix (``table=posts``), sorted.

        Raises :class:`FileNotFoundError` when the archive's directory or bucket does not exist.
        """


class LocalStore:
    """An archive in a local directory."""

    def __init__(self, location: ArchiveLocation) -> None:
        self.location = location
        self.root = Path(location.prefix)

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write to a temporary file beside the target, then rename over it."""
        path = self.root / key
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            temporary.write_bytes(data)
            temporary.replace(path)
        except OSError as error:
            raise StorageError(f"cannot write {path}: {error.strerror or error}") from error

    def get_bytes(self, key: str) -> bytes:
        """Read a file's bytes; a missing file raises :class:`FileNotFoundError`."""
        path = self.root / key
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise
        except OSError as error:
            raise _unreadable(path, error) from error

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        """Read a file and its ETag (a digest of its content; renames keep reads whole)."""
        data = self.get_bytes(key)
        return data, content_etag(data)

    def put_if_absent(self, key: str, data: bytes) -> str:
        """Write a temporary file, then hard-link it to the key: linking fails if the key exists."""
        path = self.root / key
        temporary = self._write_temporary(path, data)
        try:
            os.link(temporary, path)
        except FileExistsError:
            raise PreconditionFailedError(
                f"{path} already exists: another writer created it first"
            ) from None
        except OSError as error:
            raise StorageError(f"cannot write {path}: {error.strerror or error}") from error
        finally:
            temporary.unlink(missing_ok=True)
        return content_etag(data)

    def put_if_match(self, key: str, data: bytes, etag: str) -> str:
        """Compare and replace under an exclusive lock on a lock file beside the key."""
        path = self.root / key
        temporary = self._write_temporary(path, data)
        try:
            with _locked(path.with_name(f".{path.name}{LOCK_SUFFIX}")):
                _check_etag(path, etag)
                temporary.replace(path)
        except OSError as error:
            raise StorageError(f"cannot write {path}: {error.strerror or error}") from error
        finally:
            temporary.unlink(missing_ok=True)
        return content_etag(data)

    def _write_temporary(self, path: Path, data: bytes) -> Path:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            temporary.write_bytes(data)
        except OSError as error:
            raise StorageError(f"cannot write {path}: {error.strerror or error}") from error
        return temporary

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Files under the prefix, skipping temporary files and lock files of writes."""
        base = self.root / prefix
        if not base.exists():
            return iter(())
        paths = (base,) if base.is_file() else base.rglob("*")
        try:
            keys = sorted(
                path.relative_to(self.root).as_posix()
                for path in paths
                if path.is_file() and not path.name.endswith((".tmp", LOCK_SUFFIX))
            )
        except OSError as error:
            raise _unreadable(base, error) from error
        return iter(keys)

    def delete(self, key: str) -> None:
        """Remove a file if it exists."""
        path = self.root / key
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            raise StorageError(f"cannot delete {path}: {error.strerror or error}") from error

    def delete_if_match(self, key: str, etag: str) -> None:
        """Compare and remove under the same lock file as ``put_if_match``."""
        path = self.root / key
        try:
            with _locked(path.with_name(f".{path.name}{LOCK_SUFFIX}")):
                _check_etag(path, etag)
                path.unlink()
        except OSError as error:
            raise StorageError(f"cannot delete {path}: {error.strerror or error}") from error

    def list_folders(self, prefix: str) -> list[str]:
        """Subdirectories of the prefix's directory (none if it does not exist)."""
        if not self.root.is_dir():
            raise FileNotFoundError(str(self.root))
        base = self.root / prefix
        if not base.is_dir():
            return []
        try:
            return sorted(path.name for path in base.iterdir() if path.is_dir())
        except OSError as error:
            raise _unreadable(base, error) from error


class S3Store:
    """An archive under ``s3://bucket/prefix``; the boto3 client is passed in."""

    def __init__(self, location: ArchiveLocation, client: Any) -> None:
        if location.bucket is None:
            raise ArchiveLocationError(
                f"{location.uri} is not an S3 archive; give s3://bucket/prefix"
            )
        self.location = location
        self.bucket = location.bucket
        self.client = client

    def put_bytes(self, key: str, data: bytes) -> None:
        """PUT the object; S3 makes it visible whole or not at all."""
        full_key = join_key(self.location.prefix, key)
        try:
            self.client.put_object(Bucket=self.bucket, Key=full_key, Body=data)
        except Exception as error:
            raise StorageError(f"cannot write s3://{self.bucket}/{full_key}: {error}") from error

    def get_bytes(self, key: str) -> bytes:
        """GET the object's bytes."""
        return self.get_with_etag(key)[0]

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        """GET the object's bytes and the ETag of exactly those bytes."""
        full_key = join_key(self.location.prefix, key)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=full_key)
        except self.client.exceptions.NoSuchKey:
            raise FileNotFoundError(f"s3://{self.bucket}/{full_key}") from None
        except Exception as error:
            raise StorageError(f"cannot read s3://{self.bucket}/{full_key}: {error}") from error
        body: bytes = response["Body"].read()
        return body, str(response["ETag"])

    def put_if_absent(self, key: str, data: bytes) -> str:
        """PUT with ``If-None-Match: *``: S3 answers 412 when the key exists."""
        return self._put_conditional(key, data, {"IfNoneMatch": "*"}, "already exists")

    def put_if_match(self, key: str, data: bytes, etag: str) -> str:
        """PUT with ``If-Match: <etag>``: S3 answers 412 when the object changed."""
        return self._put_conditional(
            key, data, {"IfMatch": etag}, f"changed or is gone (expected ETag {etag})"
        )

    def _put_conditional(self, key: str, data: bytes, condition: dict[str, str], lost: str) -> str:
        full_key = join_key(self.location.prefix, key)
        url = f"s3://{self.bucket}/{full_key}"
        try:
            response = self.client.put_object(
                Bucket=self.bucket, Key=full_key, Body=data, **condition
            )
        except Exception as error:
            code = aws_error_code(error)
            # 409 ConditionalRequestConflict: a concurrent conditional write to the same key
            # is in flight; S3 lets one of them win (AWS S3 conditional writes guide).
            if code in {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}:
                raise PreconditionFailedError(
                    f"{url} {lost}: another writer got there first"
                ) from None
            raise StorageError(f"cannot write {url}: {error}") from error
        return str(response["ETag"])

    def list_keys(self, prefix: str) -> Iterator[str]:
        """List keys page by page (ListObjectsV2 returns them in lexical order)."""
        root = join_key(self.location.prefix, "")
        full_prefix = join_key(self.location.prefix, prefix)
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
                for item in page.get("Contents", []):
                    yield item["Key"][len(root) + 1 :] if root else item["Key"]
        except Exception as error:
            raise StorageError(f"cannot list s3://{self.bucket}/{full_prefix}: {error}") from error

    def list_folders(self, prefix: str) -> list[str]:
        """The common prefixes under the prefix, with '/' as the delimiter."""
        full_prefix = join_key(self.location.prefix, prefix)
        start = f"{full_prefix}/" if full_prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            pages = paginator.paginate(Bucket=self.bucket, Prefix=start, Delimiter="/")
            found = [
                common["Prefix"][len(start) :].rstrip("/")
                for page in pages
                for common in page.get("CommonPrefixes", [])
            ]
        except Exception as error:
            if aws_error_code(error) == "NoSuchBucket":
                raise FileNotFoundError(f"s3://{self.bucket}") from None
            raise StorageError(f"cannot list s3://{self.bucket}/{start}: {error}") from error
        return sorted(found)

    def delete(self, key: str) -> None:
        """DELETE the object."""
        full_key = join_key(self.location.prefix, key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=full_key)
        except Exception as error:
            raise StorageError(f"cannot delete s3://{self.bucket}/{full_key}: {error}") from error

    def delete_if_match(self, key: str, etag: str) -> None:
        """DELETE with ``If-Match: <etag>``: S3 answers 412 when the object changed."""
        full_key = join_key(self.location.prefix, key)
        url = f"s3://{self.bucket}/{full_key}"
        try:
            self.client.delete_object(Bucket=self.bucket, Key=full_key, IfMatch=etag)
        except Exception as error:
            # 404: the object is gone, which for a conditional delete is a lost precondition too.
            if aws_error_code(error) in {"PreconditionFailed", "412", "NoSuchKey", "404"}:
                raise PreconditionFailedError(
                    f"{url} changed or is gone (expected ETag {etag})"
                ) from None
            raise StorageError(f"cannot delete {url}: {error}") from error


LOCK_SUFFIX = ".lock"


def _check_etag(path: Path, etag: str) -> None:
    """Raise :class:`PreconditionFailedError` unless the file is there with this ETag."""
    try:
        current = content_etag(path.read_bytes())
    except FileNotFoundError:
        raise PreconditionFailedError(
            f"{path} is gone: another writer deleted it (expected ETag {etag})"
        ) from None
    if current != etag:
        raise PreconditionFailedError(
            f"{path} changed: its ETag is {current}, not {etag}; another writer updated it first"
        )


def _unreadable(path: Path, error: OSError) -> ArchiveAccessError:
    return ArchiveAccessError(
        f"cannot read {path}: {error.strerror or error}; give the archive's directory "
        "read permission for this user, or point --archive at the archive's root"
    )


def content_etag(data: bytes) -> str:
    """The ETag of a local object: a quoted MD5 of its bytes, as S3 gives single-part objects."""
    return '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on a lock file (released when it is closed)."""
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
