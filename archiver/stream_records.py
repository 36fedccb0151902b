"""One DynamoDB Streams record (Lambda event shape) -> one change row."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from changelake.schemas.archive_layout import check_table_name
from changelake.schemas.change_record import (
    SCHEMA_VERSION,
    keys_to_item_key,
    sequence_to_order,
    snapshot_event_id,
)
from changelake.schemas.dynamodb_types import (
    image_to_ddb_json,
    image_to_json_pair,
    image_to_plain_json,
)
from changelake.schemas.exceptions import MalformedRecordError, TerminalError

STREAM_EVENT_NAMES = frozenset({"INSERT", "MODIFY", "REMOVE"})

# arn:aws:dynamodb:<region>:<account>:table/<TableName>/stream/<label>
_TABLE_IN_ARN = re.compile(r":table/([^/]+)/stream/")

# Epoch seconds from 1970 up to the end of year 9999: what a date partition can hold.
_MAX_EPOCH_SECONDS = 253_402_300_800
_MAX_INT64 = 2**63 - 1


@dataclass(frozen=True)
class RejectedRecord:
    """A record that could not be turned into a change row, with why."""

    record: Any
    error: TerminalError

    @property
    def event_id(self) -> str | None:
        """The record's eventID, when it has a readable one."""
        value = self.record.get("eventID") if isinstance(self.record, Mapping) else None
        return value if isinstance(value, str) and value else None

    @property
    def sequence_number(self) -> str | None:
        """The record's SequenceNumber, when it has a readable one."""
        if not isinstance(self.record, Mapping):
            return None
        block = self.record.get("dynamodb")
        value = block.get("SequenceNumber") if isinstance(block, Mapping) else None
        return value if isinstance(value, str) and value else None

    @property
    def table_name(self) -> str | None:
        """The table named by the record's eventSourceARN, when it is a valid table name."""
        if not isinstance(self.record, Mapping):
            return None
        arn = self.record.get("eventSourceARN")
        try:
            return table_name_from_arn(arn) if isinstance(arn, str) else None
        except TerminalError:
            return None


def event_to_records(event: Any) -> list[Any]:
    """The records of a Lambda DynamoDB Streams event (``{"Records": [...]}``)."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list):
        shape = sorted(map(str, event)) if isinstance(event, Mapping) else type(event).__name__
        raise MalformedRecordError(
            f"the event has no 'Records' list (got {_preview(shape)}); "
            'expected a DynamoDB Streams event: {"Records": [...]}'
        )
    return records


@lru_cache(maxsize=64)
def table_name_from_arn(arn: str) -> str:
    """The table name inside a stream ARN (``...:table/<name>/stream/<label>``)."""
    match = _TABLE_IN_ARN.search(arn)
    if not match:
        raise MalformedRecordError(
            f"eventSourceARN {arn!r} is not a DynamoDB stream ARN "
            "(arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL); "
            "pass --table to name the table"
        )
    return check_table_name(match.group(1))


def record_to_row(
    record: Mapping[str, Any],
    *,
    archived_at: datetime,
    table_name: str | None = None,
    shard_id: str | None = None,
) -> dict[str, Any]:
    """Turn one Lambda-shaped stream record into a change row (a dict keyed by column name).

    JSON columns hold UTF-8 bytes, as orjson writes them (``json.loads`` takes them as they are),
    which :func:`changelake.archiver.parquet_files.rows_to_table` turns into Arrow without a copy
    per value.
    ``table_name`` overrides the name read from ``eventSourceARN``. Raises a
    :class:`TerminalError` naming the record when it is malformed.
    """
    if not isinstance(record, Mapping):
        raise MalformedRecordError(f"stream record is {_preview(record)}, not a JSON object")
    event_id = record.get("eventID")
    if not isinstance(event_id, str) or not event_id:
        raise MalformedRecordError(
            f"stream record has no eventID ({_preview(record)}); is this a DynamoDB Streams event?"
        )
    try:
        return _row(record, event_id, archived_at, table_name, shard_id)
    except TerminalError as error:
        raise type(error)(f"record {event_id}: {error}") from None


def _row(
    record: Mapping[str, Any],
    event_id: str,
    archived_at: datetime,
    table_name: str | None,
    shard_id: str | None,
) -> dict[str, Any]:
    event_name = record.get("eventName")
    if event_name not in STREAM_EVENT_NAMES:
        raise MalformedRecordError(
            f"eventName is {_preview(event_name)}; expected one of INSERT, MODIFY, REMOVE"
        )
    block = record.get("dynamodb")
    if not isinstance(block, Mapping):
        raise MalformedRecordError(
            f"the record has no 'dynamodb' block with Keys and images (got {_preview(block)})"
        )
    keys = block.get("Keys")
    if not isinstance(keys, Mapping) or not keys:
        raise MalformedRecordError(
            f"the 'dynamodb' block has no Keys map (got {_preview(keys)}); "
            "every stream record names its item's key"
        )
    sequence_number = block.get("SequenceNumber")
    if not isinstance(sequence_number, str):
        raise MalformedRecordError(
            f"SequenceNumber is {_preview(sequence_number)}; expected a decimal string"
        )
    arn = record.get("eventSourceARN")
    if arn is not None and not isinstance(arn, str):
        raise MalformedRecordError(f"eventSourceARN is {_preview(arn)}; expected a string")
    if table_name is None:
        if arn is None:
            raise MalformedRecordError("the record has no eventSourceARN; pass --table NAME")
        table_name = table_name_from_arn(arn)
    keys_plain, keys_ddb = image_to_json_pair(keys, "Keys")
    new_image, new_image_ddb = _image(block, "NewImage")
    old_image, old_image_ddb = _image(block, "OldImage")
    return {
        "schema_version": SCHEMA_VERSION,
        "table_name": table_name,
        "event_id": event_id,
        "event_name": event_name,
        "item_key": keys_to_item_key(keys),
        "keys": keys_plain,
        "keys_ddb": keys_ddb,
        "sequence_number": sequence_number,
        "sequence_order": sequence_to_order(sequence_number),
        "approximate_creation_time": creation_time(block.get("ApproximateCreationDateTime")),
        "user_identity": _user_identity(record.get("userIdentity")),
        "stream_arn": arn,
        "stream_view_type": _optional_str(block, "StreamViewType"),
        "aws_region": _optional_str(record, "awsRegion"),
        "shard_id": shard_id,
        "size_bytes": _size_bytes(block.get("SizeBytes")),
        "new_image": new_image,
        "old_image": old_image,
        "new_image_ddb": new_image_ddb,
        "old_image_ddb": old_image_ddb,
        "archived_at": archived_at,
    }


def item_to_snapshot_row(
    item: Mapping[str, Any],
    *,
    key_names: Sequence[str],
    table_name: str,
    snapshot_id: str,
    snapshot_at: datetime,
    archived_at: datetime,
) -> dict[str, Any]:
    """Turn one item of a table scan or export into a SNAPSHOT change row.

    The row has no sequence number; its time is the snapshot's, so any stream record at or after
    that time wins over it (see ``latest_records_sql``). Its event id, ``snapshot:<id>:<item
    key>``, is the same whenever the same snapshot is archived again.
    """
    if not isinstance(item, Mapping):
        raise MalformedRecordError(f"snapshot item is {_preview(item)}, not a map of attributes")
    missing = [name for name in key_names if name not in item]
    if missing:
        raise MalformedRecordError(
            f"snapshot item {_preview(item)} lacks key attribute(s) {', '.join(missing)} "
            f"of table {table_name}"
        )
    keys = {name: item[name] for name in key_names}
    item_key = keys_to_item_key(keys)
    return {
        "schema_version": SCHEMA_VERSION,
        "table_name": table_name,
        "event_id": snapshot_event_id(snapshot_id, item_key),
        "event_name": "SNAPSHOT",
        "item_key": item_key,
        "keys": image_to_plain_json(keys),
        "keys_ddb": image_to_ddb_json(keys),
        "sequence_number": None,
        "sequence_order": None,
        "approximate_creation_time": snapshot_at,
        "user_identity": None,
        "stream_arn": None,
        "stream_view_type": None,
        "aws_region": None,
        "shard_id": None,
        "size_bytes": None,
        "new_image": image_to_plain_json(item),
        "old_image": None,
        "new_image_ddb": image_to_ddb_json(item),
        "old_image_ddb": None,
        "archived_at": archived_at,
    }


def creation_time(value: Any) -> datetime:
    """ApproximateCreationDateTime (epoch seconds, or a datetime from boto3) as a UTC datetime."""
    if type(value) is int and 0 <= value < _MAX_EPOCH_SECONDS:
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and 0 <= value < _MAX_EPOCH_SECONDS
    ):
        return datetime.fromtimestamp(value, UTC)
    raise MalformedRecordError(
        f"ApproximateCreationDateTime is {_preview(value)}; expected epoch seconds "
        "(a number between 1970 and 9999)"
    )


def _image(block: Mapping[str, Any], name: str) -> tuple[bytes | None, bytes | None]:
    """An image of the block as plain and typed JSON, or two Nones when the record has none."""
    image = block.get(name)
    if image is None:
        return None, None
    if isinstance(image, Mapping):
        return image_to_json_pair(image, name)
    raise MalformedRecordError(f"{name} is {_preview(image)}; expected a map of attributes")


def _user_identity(value: Any) -> dict[str, str | None] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        kind, principal = value.get("type"), value.get("principalId")
        if (kind is None or isinstance(kind, str)) and (
            principal is None or isinstance(principal, str)
        ):
            return {"type": kind, "principal_id": principal}
    raise MalformedRecordError(
        f"userIdentity is {_preview(value)}; expected an object with string type and principalId"
    )


def _size_bytes(value: Any) -> int | None:
    if value is None or (type(value) is int and 0 <= value <= _MAX_INT64):
        return value
    raise MalformedRecordError(f"SizeBytes is {_preview(value)}; expected a non-negative integer")


def _optional_str(block: Mapping[str, Any], name: str) -> str | None:
    value = block.get(name)
    if value is None or type(value) is str:
        return value
    raise MalformedRecordError(f"{name} is {_preview(value)}; expected a string")


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
