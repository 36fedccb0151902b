"""The archive's storage: S3 or a local directory, behind one small interface.

Every write is whole: S3 PUTs are atomic, and local files are written to a temporary name and
renamed, so a reader never sees a partial object.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from schemas.archive_layout import ArchiveLocation, join_key
from schemas.exceptions import StorageError

if TYPE_CHECKING:
    from collections.abc import Iterator


class ObjectStore(Protocol):
    """Whole-object reads and writes under an archive root."""

    location: ArchiveLocation

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write an object whole, replacing any object of that key."""

    def get_bytes(self, key: str) -> bytes:
        """Read an object; raises :class:`FileNotFoundError` when it does not exist."""

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Keys under a prefix, relative to the archive root, in lexical order."""

    def delete(self, key: str) -> None:
        """Delete an object; deleting a missing object is not an error."""


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
        """Read a file's bytes."""
        return (self.root / key).read_bytes()

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Files under the prefix, skipping temporary files of writes in progress."""
        base = self.root / prefix
        if not base.exists():
            return iter(())
        paths = (base,) if base.is_file() else base.rglob("*")
        return iter(
            sorted(
                path.relative_to(self.root).as_posix()
                for path in paths
                if path.is_file() and not path.name.endswith(".tmp")
            )
        )

    def delete(self, key: str) -> None:
        """Remove a file if it exists."""
        (self.root / key).unlink(missing_ok=True)


class S3Store:
    """An archive under ``s3://bucket/prefix``; the boto3 client is passed in."""

    def __init__(self, location: ArchiveLocation, client: Any) -> None:
        if location.bucket is None:
            raise ValueError(f"{location.uri} is not an S3 archive")
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
        full_key = join_key(self.location.prefix, key)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=full_key)
        except self.client.exceptions.NoSuchKey:
            raise FileNotFoundError(f"s3://{self.bucket}/{full_key}") from None
        except Exception as error:
            raise StorageError(f"cannot read s3://{self.bucket}/{full_key}: {error}") from error
        body: bytes = response["Body"].read()
        return body

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

    def delete(self, key: str) -> None:
        """DELETE the object."""
        full_key = join_key(self.location.prefix, key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=full_key)
        except Exception as error:
            raise StorageError(f"cannot delete s3://{self.bucket}/{full_key}: {error}") from error
