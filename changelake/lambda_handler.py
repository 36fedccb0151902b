"""AWS Lambda entry points.

``archive`` is the DynamoDB Streams trigger. Configure it with ``CHANGELAKE_ARCHIVE``
(``s3://bucket/prefix``) and, optionally, ``CHANGELAKE_TABLE``; enable ReportBatchItemFailures on
the event source mapping so that the partial batch response is honoured.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from archiver.batch import archive_records
from archiver.stream_records import event_to_records
from changelake.clients import make_store
from changelake.config import ArchiveSettings
from schemas.archive_layout import parse_archive_uri

logger = logging.getLogger("changelake")
logger.setLevel(logging.INFO)


def archive(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Archive one batch of stream records and report the quarantined ones as item failures.

    A storage failure raises, so Lambda retries the whole batch; nothing partial is visible.
    """
    settings = ArchiveSettings.from_env()
    store = make_store(parse_archive_uri(settings.archive))
    result = archive_records(event_to_records(event), store, table_name=settings.table)
    logger.info(json.dumps({"changelake": "archive", **result.to_dict()}))
    # Streams resume from the lowest failed sequence number (Lambda partial batch responses);
    # a record without one fails the whole batch, which is the safe reading.
    return {
        "batchItemFailures": [
            {"itemIdentifier": q.sequence_number or q.event_id or ""} for q in result.quarantined
        ]
    }
