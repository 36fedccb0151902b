"""What changelake reads from DescribeTable: the key attribute names and the current stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TableDescription:
    """A table's key attribute names (partition key first) and its enabled stream's ARN."""

    key_names: list[str]
    stream_arn: str | None


def describe_table(dynamodb_client: Any, table_name: str) -> TableDescription:
    """DescribeTable: the key names, and the stream ARN when a stream is enabled (else None)."""
    table = dynamodb_client.describe_table(TableName=table_name)["Table"]
    enabled = table.get("StreamSpecification", {}).get("StreamEnabled", False)
    arn = table.get("LatestStreamArn")
    return TableDescription(
        key_names=[key["AttributeName"] for key in table["KeySchema"]],
        stream_arn=arn if enabled and isinstance(arn, str) else None,
    )
