"""AWS Lambda entry points.

``archive`` is the DynamoDB Streams trigger. Configure it with ``CHANGELAKE_ARCHIVE``
(``s3://bucket/prefix``) and, optionally, ``CHANGELAKE_TABLE``; enable ReportBatchItemFailures on
the event source mapping so that the partial batch response is honoured.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from archiver.batch import archive_records
from archiver.stream_records import event_to_records
from changelake.clients import make_store
from changelake.config import ArchiveSettings
from changelake.metrics import summary_to_emf
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
    counts = {"ArchivedRecords": result.archived, "QuarantinedRecords": len(result.quarantined)}
    # Written straight to stdout: EMF needs the log event to be the JSON document alone, and the
    # runtime's logging handler would prefix it with level, time and request id.
    sys.stdout.write(json.dumps(summary_to_emf("archive", result.to_dict(), counts)) + "\n")
    # Streams resume from the lowest failed sequence number (Lambda partial batch responses);
    # a record without one fails the whole batch, which is the safe reading.
    return {
        "batchItemFailures": [
            {"itemIdentifier": q.sequence_number or q.event_id or ""} for q in result.quarantined
        ]
    }
