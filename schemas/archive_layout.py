"""Where things live in an archive: ``<archive>/table=<name>/dt=YYYY-MM-DD/<file>.parquet``.

An archive is ``s3://bucket/prefix`` or a local directory. Keys below are always relative to the
archive root and use ``/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from changelake.schemas.exceptions import ArchiveLocationError

if TYPE_CHECKING:
    from datetime import date

DEFAULT_ARCHIVE = "./changelake-data"
QUARANTINE_DIR = "_quarantine"
CHECKPOINT_DIR = "_checkpoints"
LOCK_DIR = "_locks"
# Names of compaction's outputs, which hold their rows sorted by item key.
COMPACTED_PREFIX = "compacted-"

# What reads as a URL rather than a path: "s3:/bucket", "s3:bucket", "S3://", "https:/x".
_URL_LIKE = re.compile(r"(?i)^(s3:|[a-z][a-z0-9+.-]+:/)")
# DynamoDB table names: 3-255 characters of a-z, A-Z, 0-9, '_', '-', '.'.
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.\-]{3,255}")


@dataclass(frozen=True)
class ArchiveLocation:
    """A parsed archive URI: an S3 bucket and prefix, or a local directory."""

    uri: str
    bucket: str | None
    prefix: str

    @property
    def is_s3(self) -> bool:
        """True when the archive is in S3."""
        return self.bucket is not None

    def url(self, key: str = "") -> str:
        """The full URL (``s3://...``) or absolute path of a key inside the archive."""
        if self.bucket is not None:
            return f"s3://{self.bucket}/{join_key(self.prefix, key)}".rstrip("/")
        return str(Path(self.prefix, key)) if key else self.prefix


def parse_archive_uri(uri: str) -> ArchiveLocation:
    """Parse ``s3://bucket/prefix`` or a local path into an :class:`ArchiveLocation`."""
    if uri.startswith("s3://"):
        bucket, _, prefix = uri[len("s3://") :].partition("/")
        if not bucket:
            raise ArchiveLocationError(
                f"archive URI {uri!r} has no bucket; use s3://bucket/prefix or a local directory"
            )
        return ArchiveLocation(uri=uri, bucket=bucket, prefix=prefix.strip("/"))
    if "://" in uri or _URL_LIKE.match(uri):
        raise ArchiveLocationError(
            f"archive URI {uri!r} is not supported; use s3://bucket/prefix (lower case, two "
            "slashes) or a local directory"
        )
    return ArchiveLocation(uri=uri, bucket=None, prefix=str(Path(uri).expanduser().resolve()))


def join_key(*parts: str) -> str:
    """Join key parts with '/', skipping empty ones."""
    return "/".join(part.strip("/") for part in parts if part.strip("/"))


def check_table_name(table_name: str) -> str:
    """Return the table name if DynamoDB would accept it, else raise with the rule."""
    if not _TABLE_NAME.fullmatch(table_name):
        raise ArchiveLocationError(
            f"table name {table_name!r} is not a DynamoDB table name "
            "(3-255 characters of letters, digits, '_', '-' and '.')"
        )
    return table_name


def table_dir(table_name: str) -> str:
    """Key prefix of one table's change log."""
    return f"table={check_table_name(table_name)}"


def partition_dir(table_name: str, dt: date) -> str:
    """Key prefix of one table's partition for one UTC day."""
    return f"{table_dir(table_name)}/dt={dt.isoformat()}"


def parquet_glob(location: ArchiveLocation, table_name: str | None = None) -> str:
    """Glob matching every Parquet file of one table (or of all tables) for DuckDB."""
    tables = table_dir(table_name) if table_name else "table=*"
    return location.url(f"{tables}/dt=*/*.parquet")


def quarantine_key(table_name: str | None, day: date, name: str) -> str:
    """Key of a quarantined raw record."""
    return f"{QUARANTINE_DIR}/table={table_name or '_unknown'}/dt={day.isoformat()}/{name}.json"


def lock_key(table_name: str, purpose: str) -> str:
    """Key of the lock object that serializes one kind of work on a table (``compaction``)."""
    return f"{LOCK_DIR}/{table_dir(table_name)}/{purpose}.json"


def stream_label(stream_arn: str) -> str:
    """The label ending a stream ARN (``...:table/NAME/stream/<label>``), unique per stream."""
    _, found, label = stream_arn.rpartition("/stream/")
    if not found or not label:
        raise ArchiveLocationError(
            f"{stream_arn!r} is not a DynamoDB stream ARN "
            "(arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL)"
        )
    return label


def stream_state_key(table_name: str) -> str:
    """Key of a table's stream state: which stream is polled, how far the archive is complete."""
    return f"{CHECKPOINT_DIR}/{table_dir(table_name)}/stream.json"


def shard_checkpoint_key(table_name: str, stream_arn: str, shard_id: str) -> str:
    """Key of one shard's checkpoint: the last sequence number durably archived."""
    return (
        f"{CHECKPOINT_DIR}/{table_dir(table_name)}/stream={stream_label(stream_arn)}/"
        f"{shard_id}.json"
    )


def snapshot_checkpoint_key(table_name: str, scan_id: str, segment: int | None = None) -> str:
    """Key of a snapshot's plan (no segment) or of one scan segment's progress."""
    base = f"{CHECKPOINT_DIR}/{table_dir(table_name)}/snapshot={scan_id}"
    return f"{base}/plan.json" if segment is None else f"{base}/segment={segment:05d}.json"
