"""AWS Lambda entry points.

``archive`` is the trigger of a DynamoDB stream, of a Kinesis data stream that a DynamoDB table
writes to, or the target of an EventBridge Pipe from either. Configure it with
``CHANGELAKE_ARCHIVE`` (``s3://bucket/prefix``) and, optionally, ``CHANGELAKE_TABLE``; enable
ReportBatchItemFailures on the event source mapping so that the partial batch response is
honoured.

``poll`` runs on an EventBridge schedule and reads the stream itself: ``CHANGELAKE_STREAM_ARN`` or
``CHANGELAKE_TABLE`` name the stream (an event ``{"stream_arn": ...}`` or ``{"table": ...}``
overrides them); it stops before the function's timeout with everything checkpointed.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

# At init, where Lambda gives the function a full CPU, rather than at the first invocation:
# changelake.clients imports boto3 only when it builds a client.
import boto3  # noqa: F401

from changelake.archiver.batch import archive_records
from changelake.archiver.stream_events import event_to_records
from changelake.clients import make_store
from changelake.config import ENV_STREAM_ARN, ArchiveSettings
from changelake.metrics import OLDEST_UNREAD_METRIC, summary_to_emf, summary_to_log_fields
from changelake.polling import run_poll
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.exceptions import CheckpointConflictError

logger = logging.getLogger("changelake")
logger.setLevel(logging.INFO)

# Seconds kept free before Lambda's timeout for the last checkpoint and the log line.
POLL_SAFETY_SECONDS = 10.0


def archive(event: Any, context: Any) -> dict[str, Any]:
    """Archive one batch of stream records; only a record that could not be kept is a failure.

    A quarantined record is handled: it is kept raw under ``_quarantine/``, counted in the
    ``QuarantinedRecords`` metric, and not reported, so Lambda does not deliver the rest of the
    batch again for it. A record whose quarantine write failed is reported, and the batch
    stopped there, so Lambda delivers it and the records after it again. Any other storage
    failure raises, so Lambda retries the whole batch; nothing partial is visible.
    """
    settings = ArchiveSettings.from_env()
    store = make_store(parse_archive_uri(settings.archive))
    result = archive_records(event_to_records(event), store, table_name=settings.table)
    counts = {"ArchivedRecords": result.archived, "QuarantinedRecords": len(result.quarantined)}
    summary = {
        "records": result.records,
        "archived": result.archived,
        "files": result.files,
        "quarantined": [item.key for item in result.quarantined],
        "failed": [item.sequence_number or item.event_id for item in result.failed],
        "without_new_images": result.without_new_images,
    }
    # Written straight to stdout: EMF needs the log event to be the JSON document alone, and the
    # runtime's logging handler would prefix it with level, time and request id.
    sys.stdout.write(json.dumps(summary_to_emf("archive", summary_to_log_fields(summary), counts)))
    sys.stdout.write("\n")
    # Streams resume from the lowest failed sequence number (Lambda partial batch responses);
    # an empty identifier (a record without one) fails the whole batch, which is the safe reading.
    return {
        "batchItemFailures": [
            {"itemIdentifier": item.sequence_number or ""} for item in result.failed
        ]
    }


def poll(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Archive the stream's new records until shortly before the function's timeout.

    A gap raises (the invocation fails and alarms); losing a shard to another poller does not:
    that run stops and says so, and the other one goes on.
    """
    settings = ArchiveSettings.from_env()
    event = event if isinstance(event, dict) else {}
    stream_arn = event.get("stream_arn") or os.environ.get(ENV_STREAM_ARN) or None
    table_name = event.get("table") or settings.table
    remaining = context.get_remaining_time_in_millis() / 1000
    try:
        result = run_poll(
            settings.archive,
            stream_arn=stream_arn,
            table_name=table_name,
            max_seconds=max(1.0, remaining - POLL_SAFETY_SECONDS),
        )
    except CheckpointConflictError as error:
        logger.warning(json.dumps({"changelake": "poll", "stopped": str(error)}))
        return {"stopped": str(error)}
    summary = result.to_dict()
    counts = {
        "ArchivedRecords": result.archived,
        "QuarantinedRecords": len(result.quarantined),
        # The poller's IteratorAge: the alarm in poller mode reads it (deploy/template.yaml).
        OLDEST_UNREAD_METRIC: round(result.oldest_unread_seconds * 1000),
    }
    fields = summary_to_log_fields(summary)
    document = summary_to_emf("poll", fields, counts, units={OLDEST_UNREAD_METRIC: "Milliseconds"})
    sys.stdout.write(json.dumps(document) + "\n")
    return summary
