"""One stream record -> one change row.

Records come from DynamoDB Streams (Lambda events, EventBridge Pipes, the poller's GetRecords)
and from Kinesis Data Streams for DynamoDB, whose records carry the same change as base64 JSON
(see :mod:`changelake.archiver.stream_events`). Both become rows of one change log.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property, lru_cache
from typing import Any

from changelake.archiver.stream_events import kinesis_block, kinesis_change
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
from changelake.schemas.type_census import image_shape_bytes

STREAM_EVENT_NAMES = frozenset({"INSERT", "MODIFY", "REMOVE"})

# arn:aws:dynamodb:<region>:<account>:table/<TableName>/stream/<label>, or the table's own ARN
# (EventBridge Pipes' published sample names the table rather than its stream).
_TABLE_IN_ARN = re.compile(r":table/([^/]+)(?:/stream/|\Z)")

# Epoch numbers are read by magnitude: seconds (DynamoDB Streams), milliseconds or microseconds
# (Kinesis Data Streams for DynamoDB, as its ApproximateCreationDateTimePrecision says). Each
# unit's range starts in 1973 and ends in 5138, so no value is ambiguous.
_MILLISECONDS_FROM = 10**11
_MICROSECONDS_FROM = 10**14
_MICROSECONDS_UNTIL = 10**17
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_INT64 = 2**63 - 1


@dataclass(frozen=True)
class RejectedRecord:
    """A record that could not be turned into a change row, with why."""

    record: Any
    error: TerminalError

    @cached_property
    def change(self) -> Mapping[str, Any] | None:
        """The DynamoDB change the record holds (a Kinesis record's decoded data), if readable."""
        if not isinstance(self.record, Mapping):
            return None
        kinesis = kinesis_block(self.record)
        if kinesis is None:
            return self.record
        try:
            change = kinesis_change(kinesis)
        except TerminalError:
            return None
        return change if isinstance(change, Mapping) else None

    @property
    def event_id(self) -> str | None:
        """The change's eventID, when it has a readable one."""
        value = self.change.get("eventID") if self.change is not None else None
        return value if _is_text(value) and value else None

    @property
    def sequence_number(self) -> str | None:
        """Where the record sits in its stream: its DynamoDB or Kinesis sequence number."""
        if not isinstance(self.record, Mapping):
            return None
        kinesis = kinesis_block(self.record)
        if kinesis is not None:
            value = kinesis.get("sequenceNumber")
        else:
            block = self.record.get("dynamodb")
            value = block.get("SequenceNumber") if isinstance(block, Mapping) else None
        return value if _is_text(value) and value else None

    @property
    def table_name(self) -> str | None:
        """The change's table (from its stream ARN or Kinesis tableName), if a valid name."""
        if self.change is None:
            return None
        try:
            if self.change is not self.record:
                name = self.change.get("tableName")
                return check_table_name(name) if isinstance(name, str) else None
            arn = self.record.get("eventSourceARN")
            return table_name_from_arn(arn) if isinstance(arn, str) else None
        except TerminalError:
            return None

    @property
    def day(self) -> date | None:
        """The UTC day of the change, or of a Kinesis record's arrival; None if it has neither."""
        block = self.change.get("dynamodb") if self.change is not None else None
        times = [block.get("ApproximateCreationDateTime")] if isinstance(block, Mapping) else []
        kinesis = kinesis_block(self.record) if isinstance(self.record, Mapping) else None
        if kinesis is not None:
            times.append(kinesis.get("approximateArrivalTimestamp"))
        for value in times:
            try:
                return creation_time(value).date()
            except TerminalError:
                continue
        return None


@lru_cache(maxsize=64)
def table_name_from_arn(arn: str) -> str:
    """The table name inside a stream ARN (``...:table/<name>/stream/<label>``) or table ARN."""
    match = _TABLE_IN_ARN.search(arn)
    if not match:
        raise MalformedRecordError(
            f"eventSourceARN {arn!r} is not a DynamoDB stream or table ARN "
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
    """Turn one stream record (DynamoDB Streams or Kinesis) into a change row.

    JSON columns hold UTF-8 bytes, as orjson writes them (``json.loads`` takes them as they are),
    which :func:`changelake.archiver.parquet_files.rows_to_table` turns into Arrow without a copy
    per value.
    ``table_name`` overrides the name read from ``eventSourceARN`` (or Kinesis' ``tableName``).
    Raises a :class:`TerminalError` naming the record when it is malformed.
    """
    if not isinstance(record, Mapping):
        raise MalformedRecordError(f"stream record is {_preview(record)}; expected a JSON object")
    kinesis = kinesis_block(record)
    change: Any = record
    if kinesis is not None:
        try:
            change = kinesis_change(kinesis)
            if not isinstance(change, Mapping):
                raise MalformedRecordError(
                    f"the Kinesis record's data holds {_preview(change)}; "
                    "expected a DynamoDB change record (a JSON object)"
                )
        except TerminalError as error:
            raise type(error)(f"record {_event_id_of(record)}: {error}") from None
    event_id = change.get("eventID") if isinstance(change, Mapping) else None
    if not isinstance(event_id, str) or not event_id:
        raise MalformedRecordError(
            f"stream record has no eventID ({_preview(change)}); is this a DynamoDB Streams event?"
        )
    if not _is_text(event_id):
        raise MalformedRecordError(f"stream record's eventID {_not_text(event_id)}")
    try:
        return _row(record, change, kinesis, event_id, archived_at, table_name, shard_id)
    except TerminalError as error:
        raise type(error)(f"record {event_id}: {error}") from None


def _row(
    record: Mapping[str, Any],
    change: Mapping[str, Any],
    kinesis: Mapping[str, Any] | None,
    event_id: str,
    archived_at: datetime,
    table_name: str | None,
    shard_id: str | None,
) -> dict[str, Any]:
    event_name = change.get("eventName")
    if event_name not in STREAM_EVENT_NAMES:
        raise MalformedRecordError(
            f"eventName is {_preview(event_name)}; expected one of INSERT, MODIFY, REMOVE"
        )
    block = change.get("dynamodb")
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
    arn = _optional_text(record, "eventSourceARN")
    region = _optional_text(change, "awsRegion")
    if kinesis is None:
        sequence_number = block.get("SequenceNumber")
        if not isinstance(sequence_number, str):
            raise MalformedRecordError(
                f"SequenceNumber is {_preview(sequence_number)}; expected a decimal string"
            )
        sequence_order: str | None = sequence_to_order(sequence_number)
        if table_name is None:
            if arn is None:
                raise MalformedRecordError("the record has no eventSourceARN; pass --table NAME")
            table_name = table_name_from_arn(arn)
    else:
        # Kinesis Data Streams for DynamoDB: no DynamoDB sequence number; the change names its
        # table, and the record names the Kinesis stream and shard it was read from.
        sequence_number = sequence_order = None
        if table_name is None:
            name = change.get("tableName")
            if not isinstance(name, str):
                raise MalformedRecordError(
                    f"tableName is {_preview(name)}; a Kinesis change record names its table "
                    "(or pass --table NAME)"
                )
            table_name = check_table_name(name)
        shard_id = shard_id or _kinesis_shard(record)
        region = region or _optional_text(record, "awsRegion")
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
        "sequence_order": sequence_order,
        "approximate_creation_time": creation_time(block.get("ApproximateCreationDateTime")),
        "user_identity": _user_identity(change.get("userIdentity")),
        "stream_arn": arn,
        "stream_view_type": _optional_text(block, "StreamViewType"),
        "aws_region": region,
        "shard_id": shard_id,
        "size_bytes": _size_bytes(block.get("SizeBytes")),
        "new_image": new_image,
        "old_image": old_image,
        "new_image_ddb": new_image_ddb,
        "old_image_ddb": old_image_ddb,
        "archived_at": archived_at,
        "new_image_shape": None if new_image is None else image_shape_bytes(block["NewImage"]),
    }


def _kinesis_shard(record: Mapping[str, Any]) -> str | None:
    """The shard in a Kinesis record's eventID (``shardId-000000000006:<sequence number>``)."""
    event_id = record.get("eventID")
    if isinstance(event_id, str) and _is_text(event_id) and event_id.startswith("shardId-"):
        return event_id.partition(":")[0]
    return None


def _event_id_of(record: Mapping[str, Any]) -> str:
    value = record.get("eventID")
    return value if _is_text(value) and value else _preview(record)


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
        "new_image_shape": image_shape_bytes(item),
    }


def creation_time(value: Any) -> datetime:
    """ApproximateCreationDateTime as a UTC datetime, at the precision it was given.

    Epoch seconds (DynamoDB Streams), milliseconds or microseconds (Kinesis Data Streams for
    DynamoDB), told apart by magnitude; or a datetime, as boto3 hands it over.
    """
    if type(value) is int and 0 <= value < _MICROSECONDS_UNTIL:
        if value < _MILLISECONDS_FROM:
            return datetime.fromtimestamp(value, UTC)
        micros = value * 1000 if value < _MICROSECONDS_FROM else value
        return _EPOCH + timedelta(microseconds=micros)
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and 0 <= value < _MICROSECONDS_UNTIL
    ):
        if value < _MILLISECONDS_FROM:
            return datetime.fromtimestamp(value, UTC)
        # round() is half-to-even on the float, as the compiled path rounds.
        micros = round(value * 1000) if value < _MICROSECONDS_FROM else round(value)
        return _EPOCH + timedelta(microseconds=micros)
    raise MalformedRecordError(
        f"ApproximateCreationDateTime is {_preview(value)}; expected epoch seconds, milliseconds "
        "or microseconds (a number for a time between 1970 and 5138)"
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
        kind = _optional_text(value, "userIdentity.type")
        principal = _optional_text(value, "userIdentity.principalId")
        return {"type": kind, "principal_id": principal}
    raise MalformedRecordError(
        f"userIdentity is {_preview(value)}; expected an object with string type and principalId"
    )


def _size_bytes(value: Any) -> int | None:
    if value is None or (type(value) is int and 0 <= value <= _MAX_INT64):
        return value
    raise MalformedRecordError(f"SizeBytes is {_preview(value)}; expected a non-negative integer")


def _optional_text(mapping: Mapping[str, Any], name: str) -> str | None:
    """A string field, or None; ``userIdentity.type`` reads ``type`` of the identity."""
    value = mapping.get(name.rpartition(".")[2])
    if value is None or _is_text(value):
        return value
    if type(value) is str:
        raise MalformedRecordError(f"{name} {_not_text(value)}")
    raise MalformedRecordError(f"{name} is {_preview(value)}; expected a string")


def _is_text(value: Any) -> bool:
    """True for a string that UTF-8 (and so Arrow) can hold: no lone surrogate in it."""
    if type(value) is not str:
        return False
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _not_text(value: str) -> str:
    return (
        f"{_preview(value)} holds a lone surrogate: not valid Unicode, which UTF-8 and so "
        "Parquet cannot hold"
    )


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
