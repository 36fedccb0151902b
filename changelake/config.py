"""Configuration: every environment variable changelake reads, declared once.

Precedence is flag > ``CHANGELAKE_*`` environment variable > default. AWS settings use the
standard AWS variables (``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL_S3``, the credentials chain),
read by boto3 itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

from changelake.schemas.archive_layout import DEFAULT_ARCHIVE

ENV_ARCHIVE = "CHANGELAKE_ARCHIVE"
ENV_TABLE = "CHANGELAKE_TABLE"
ENV_STREAM_ARN = "CHANGELAKE_STREAM_ARN"
ENV_S3_ADDRESSING_STYLE = "CHANGELAKE_S3_ADDRESSING_STYLE"
ENV_ES_URL = "CHANGELAKE_ES_URL"
ENV_ES_URL_SECRET_ARN = "CHANGELAKE_ES_URL_SECRET_ARN"
ENV_ALIAS = "CHANGELAKE_ALIAS"
ENV_SEARCH_ENGINE = "CHANGELAKE_SEARCH_ENGINE"
ENV_SEARCH_USERNAME = "CHANGELAKE_SEARCH_USERNAME"
ENV_SEARCH_PASSWORD = "CHANGELAKE_SEARCH_PASSWORD"
ENV_SEARCH_API_KEY = "CHANGELAKE_SEARCH_API_KEY"
ENV_SEARCH_AWS_REGION = "CHANGELAKE_SEARCH_AWS_REGION"
ENV_SEARCH_CA_CERTS = "CHANGELAKE_SEARCH_CA_CERTS"
ENV_SQL_HISTORY = "CHANGELAKE_SQL_HISTORY"
ENV_LEASE_SECONDS = "CHANGELAKE_LEASE_SECONDS"
ENV_DUCKDB_MEMORY_LIMIT = "CHANGELAKE_MEMORY_LIMIT"
ENV_SPARK_MASTER = "CHANGELAKE_SPARK_MASTER"
ENV_SPARK_JARS = "CHANGELAKE_SPARK_JARS"


@dataclass(frozen=True)
class ArchiveSettings:
    """Where the archive is, read from the environment (used by the Lambda handlers)."""

    archive: str = DEFAULT_ARCHIVE
    table: str | None = None

    @classmethod
    def from_env(cls) -> ArchiveSettings:
        """Read ``CHANGELAKE_ARCHIVE`` and ``CHANGELAKE_TABLE``."""
        return cls(
            archive=os.environ.get(ENV_ARCHIVE, DEFAULT_ARCHIVE),
            table=os.environ.get(ENV_TABLE) or None,
        )


def s3_addressing_style() -> str:
    """``path``, ``virtual`` or ``auto`` (default): path style suits local S3 servers."""
    return os.environ.get(ENV_S3_ADDRESSING_STYLE, "auto")


def lease_duration(default: timedelta) -> timedelta:
    """How long the lease of a sync, rebuild or repair lasts between renewals.

    ``CHANGELAKE_LEASE_SECONDS`` shortens it, so that a killed process blocks the next one for
    less time; the holder renews it every third of that on a timer thread.
    """
    text = os.environ.get(ENV_LEASE_SECONDS)
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        raise ValueError(f"{ENV_LEASE_SECONDS}={text!r} is not a positive number of seconds")
    return timedelta(seconds=seconds)
