"""CloudWatch metrics from the Lambda handlers, written as Embedded Metric Format log lines.

A JSON log line with an ``_aws`` block becomes CloudWatch metrics with no API call and no client
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
The same line keeps the batch summary, so one line per batch is both the log and the metric.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

NAMESPACE = "changelake"
FUNCTION_DIMENSION = "FunctionName"
# The poller's bound on the age of the oldest stream record it has not archived yet.
OLDEST_UNREAD_METRIC = "OldestUnreadRecordAge"

# A log line names this many entries of each list (files, quarantine keys); the rest are counted.
# CloudWatch Logs refuses events over 256 KB, and a refused line is a lost metric: details of
# every quarantined record live in its quarantine object, never here.
LISTED_PER_FIELD = 5


def summary_to_log_fields(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The summary with each list cut to a count plus its first few entries (``<name>_first``)."""
    fields: dict[str, Any] = {}
    for name, value in summary.items():
        if isinstance(value, list):
            fields[name] = len(value)
            if value:
                fields[f"{name}_first"] = value[:LISTED_PER_FIELD]
        else:
            fields[name] = value
    return fields


def summary_to_emf(
    kind: str,
    summary: Mapping[str, Any],
    counts: Mapping[str, float],
    *,
    function_name: str | None = None,
    timestamp_ms: int | None = None,
    units: Mapping[str, str] | None = None,
    dimensions: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An EMF document: ``counts`` as metrics (Count unless ``units`` names another), ``summary``
    as searchable log fields.

    ``units`` names the unit of a duration or age (``Milliseconds``, as Lambda's own
    ``IteratorAge``; ``Seconds``).
    The metrics carry one dimension, the function's name, so that two deployments in one account
    keep separate alarms; outside Lambda (no function name) they carry none, unless
    ``dimensions`` gives them their own (``changelake follow``: the table).
    """
    if dimensions is None:
        function_name = function_name or os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        dimensions = {FUNCTION_DIMENSION: function_name} if function_name else {}
    units = units or {}
    return {
        "_aws": {
            "Timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [sorted(dimensions)],
                    "Metrics": [
                        {"Name": name, "Unit": units.get(name, "Count")} for name in counts
                    ],
                }
            ],
        },
        "changelake": kind,
        **summary,
        **dimensions,
        **counts,
    }
