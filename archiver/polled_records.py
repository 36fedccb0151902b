"""GetRecords responses (as boto3 returns them) -> the Lambda event record shape."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping


def polled_record_to_lambda(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """One GetRecords record in the shape Lambda delivers, so one decoder serves both.

    boto3 gives ApproximateCreationDateTime as a datetime (Lambda: epoch seconds) and leaves out
    eventSourceARN; B values stay bytes, which the type codec accepts.
    """
    shaped = dict(record)
    block = dict(shaped.get("dynamodb") or {})
    created = block.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        block["ApproximateCreationDateTime"] = created.timestamp()
    shaped["dynamodb"] = block
    shaped.setdefault("eventSourceARN", stream_arn)
    return shaped
