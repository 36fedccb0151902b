"""AWS Lambda entry point of the sync that each new archive object starts (trigger mode).

The archive function writes an object per batch; S3 announces each one to EventBridge, and a rule
sends those of one table to an SQS FIFO queue as one message group, so Lambda hands the messages
to one invocation at a time (``deploy/sync-on-archive.yaml``). ``sync`` runs the ordinary sync of
the alias under its lease, as ``changelake sync`` does: objects announced together cost one sync,
and a sync reads whatever the archive holds when it starts, so a message that comes late finds its
object already indexed. A failed sync raises (the lease held by another writer, the engine away):
the messages come back after the queue's visibility timeout and the next try syncs them.

Settings: ``CHANGELAKE_ARCHIVE``, ``CHANGELAKE_TABLE``, ``CHANGELAKE_ALIAS``, and the search URL in
``CHANGELAKE_ES_URL`` or, credentials included, in the Secrets Manager secret that
``CHANGELAKE_ES_URL_SECRET_ARN`` names (read once per cold start).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from changelake.alias_sync import IndexTarget, alias_lease, sync_under_lease, whole_archive
from changelake.clients import make_search_sink, make_store, secret_string
from changelake.config import (
    ENV_ALIAS,
    ENV_ES_URL,
    ENV_ES_URL_SECRET_ARN,
    ENV_SEARCH_AWS_REGION,
    ENV_SEARCH_ENGINE,
    ArchiveSettings,
)
from changelake.metrics import summary_to_emf
from changelake.schemas.archive_layout import check_table_name, parse_archive_uri, table_dir
from changelake.schemas.exceptions import SearchConfigError
from changelake.search_options import SearchOptions

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from changelake.rebuild.search_sink import SearchSink


@dataclass(frozen=True)
class SyncSettings:
    """What the sync Lambda syncs, read from its environment."""

    archive: str
    table: str
    alias: str
    es_url: str
    search: SearchOptions

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] = os.environ,
        read_secret: Callable[[str], str] = secret_string,
    ) -> SyncSettings:
        """Read the settings; a missing one is named in the error."""
        archive = ArchiveSettings.from_env()
        secret_arn = environ.get(ENV_ES_URL_SECRET_ARN)
        es_url = read_secret(secret_arn) if secret_arn else environ.get(ENV_ES_URL)
        missing = [
            name
            for name, value in (
                ("CHANGELAKE_TABLE", archive.table),
                (ENV_ALIAS, environ.get(ENV_ALIAS)),
                (f"{ENV_ES_URL} or {ENV_ES_URL_SECRET_ARN}", es_url),
            )
            if not value
        ]
        if missing:
            raise SearchConfigError(
                f"the sync function needs {', '.join(missing)} in its environment; set them in "
                "its configuration (deploy/sync-on-archive.yaml does)"
            )
        search = SearchOptions(
            engine=environ.get(ENV_SEARCH_ENGINE) or None,
            aws_region=environ.get(ENV_SEARCH_AWS_REGION) or None,
        )
        return cls(archive.archive, str(archive.table), environ[ENV_ALIAS], str(es_url), search)


@cache
def _settings() -> SyncSettings:
    return SyncSettings.from_env()


@cache
def _sink(url: str, search: SearchOptions) -> SearchSink:
    """One client per warm function: built at the first invocation, then kept."""
    return make_search_sink(url, search)


def announced_objects(event: Mapping[str, Any], table_name: str) -> list[tuple[str, datetime]]:
    """The (key, creation time) of each archive object of the table that the messages announce.

    A message is an EventBridge "Object Created" event of S3 in an SQS record; anything else is
    ignored (it still starts a sync, which reads the archive as it is).
    """
    objects = []
    marker = f"{table_dir(table_name)}/"
    for record in event.get("Records", []):
        try:
            announcement = json.loads(record.get("body") or "{}")
            key = announcement["detail"]["object"]["key"]
            created = datetime.fromisoformat(announcement["time"].replace("Z", "+00:00"))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if marker in key:
            objects.append((key, created))
    return objects


def sync(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Sync the alias once for a batch of messages announcing new archive objects.

    Logs one JSON line that is also CloudWatch metrics: the items synced, the documents indexed
    and deleted, and ``ObjectToSearchSeconds``, from the oldest announced object's creation to
    searchable.
    """
    settings = _settings()
    location = parse_archive_uri(settings.archive)
    target = IndexTarget(location, check_table_name(settings.table), settings.alias)
    objects = announced_objects(event, target.table_name)
    sink = _sink(settings.es_url, settings.search)
    with alias_lease(make_store(location), target) as lease, whole_archive(target) as connection:
        summary = sync_under_lease(connection, sink, target, lease)
    counts: dict[str, float] = {
        "SyncedItems": summary.items,
        "IndexedDocuments": summary.indexed,
        "DeletedDocuments": summary.deleted,
    }
    if objects:
        oldest = min(created for _, created in objects)
        counts["ObjectToSearchSeconds"] = round(
            max(0.0, (datetime.now(UTC) - oldest).total_seconds()), 3
        )
    details = {**summary.to_dict(), "objects": len(objects)}
    line = summary_to_emf("sync", details, counts, units={"ObjectToSearchSeconds": "Seconds"})
    # Straight to stdout, as the archive handler writes its line: EMF needs the JSON alone.
    sys.stdout.write(json.dumps(line) + "\n")
    return details
