"""The change record: one row of the change log per DynamoDB Streams record (or snapshot item).

The schema is versioned (``schema_version``); columns are only ever added, never renamed, so SQL
written against version 1 keeps working. Version 2 adds ``new_image_shape``, what the type census
reads; the views (``changes`` and those over it) show the version 1 columns, which every file has.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from changelake.schemas.dynamodb_types import number_to_json
from changelake.schemas.exceptions import DynamoDBTypeError

SCHEMA_VERSION = 2

# Sequence numbers are decimal strings of 21 to 40 digits (DynamoDB Streams API reference), wider
# than any integer or DECIMAL(38) column, so the ordering column is the number zero-padded to 40.
SEQUENCE_ORDER_WIDTH = 40

_TEXT = pa.string()
_TIMESTAMP = pa.timestamp("us", tz="UTC")

COLUMNS: tuple[tuple[str, pa.DataType, bool, str], ...] = (
    ("schema_version", pa.int16(), False, "Version of this schema the row was written with."),
    ("table_name", _TEXT, False, "DynamoDB table, from eventSourceARN or Kinesis tableName."),
    ("event_id", _TEXT, False, "eventID: unique per stream record; duplicates are retries."),
    ("event_name", _TEXT, False, "INSERT, MODIFY, REMOVE, or SNAPSHOT for initial loads."),
    ("item_key", _TEXT, False, "Canonical key string, the search document _id."),
    ("keys", _TEXT, False, "Key attributes as plain JSON."),
    ("keys_ddb", _TEXT, False, "Key attributes as DynamoDB-typed JSON."),
    (
        "sequence_number",
        _TEXT,
        True,
        "SequenceNumber exactly as delivered; null for Kinesis and snapshot rows.",
    ),
    ("sequence_order", _TEXT, True, "SequenceNumber zero-padded to 40 digits: sorts as a number."),
    (
        "approximate_creation_time",
        _TIMESTAMP,
        False,
        "ApproximateCreationDateTime (UTC) at its source's precision: s, ms or us.",
    ),
    (
        "user_identity",
        pa.struct([("type", _TEXT), ("principal_id", _TEXT)]),
        True,
        "Who made the change when not a user: TTL expiry is Service / dynamodb.amazonaws.com.",
    ),
    ("stream_arn", _TEXT, True, "eventSourceARN: the DynamoDB or Kinesis stream."),
    ("stream_view_type", _TEXT, True, "NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES or KEYS_ONLY."),
    ("aws_region", _TEXT, True, "awsRegion of the record."),
    ("shard_id", _TEXT, True, "Stream shard the record was read from, when known."),
    ("size_bytes", pa.int64(), True, "SizeBytes of the stream record."),
    ("new_image", _TEXT, True, "Item after the change, plain JSON (numbers keep every digit)."),
    ("old_image", _TEXT, True, "Item before the change, plain JSON."),
    ("new_image_ddb", _TEXT, True, "Item after the change, exact DynamoDB-typed JSON."),
    ("old_image_ddb", _TEXT, True, "Item before the change, exact DynamoDB-typed JSON."),
    ("archived_at", _TIMESTAMP, False, "When changelake wrote the row (UTC)."),
    (
        "new_image_shape",
        _TEXT,
        True,
        "new_image_ddb with its values blanked (type_census.image_shape_bytes); version 2 on.",
    ),
)

CHANGE_RECORD_SCHEMA = pa.schema(
    [
        pa.field(name, data_type, nullable=nullable, metadata={"description": description})
        for name, data_type, nullable, description in COLUMNS
    ],
    metadata={"changelake.schema_version": str(SCHEMA_VERSION)},
)

COLUMN_NAMES = tuple(name for name, *_ in COLUMNS)

# Read file by file, by the type census: a file written before version 2 lacks the column.
IMAGE_SHAPE_COLUMN = "new_image_shape"

# The columns every archive file has: those of version 1, what the views show.
RECORD_COLUMN_NAMES = tuple(name for name in COLUMN_NAMES if name != IMAGE_SHAPE_COLUMN)

# Columns whose text is a JSON object: what ``sql --output json`` nests rather than quotes.
JSON_COLUMNS = frozenset(
    {"keys", "keys_ddb", "new_image", "old_image", "new_image_ddb", "old_image_ddb"}
)

# The event ids of the rows a snapshot (or an export) writes: ``snapshot:<snapshot id>:<item key>``.
SNAPSHOT_EVENT_ID_PREFIX = "snapshot:"


def snapshot_event_id(snapshot_id: str, item_key: str) -> str:
    """The event id of a snapshot's row for one item: the same whenever it is written again."""
    return f"{SNAPSHOT_EVENT_ID_PREFIX}{snapshot_id}:{item_key}"


def keys_to_item_key(keys: Mapping[str, Any]) -> str:
    """Canonical item key: ``name=value`` pairs sorted by attribute name, joined with ``&``.

    Values are the key's text as DynamoDB delivers it (S as is, N as its digits, B as base64);
    ``%``, ``&`` and ``=`` inside values or names are percent-encoded, so the string is unambiguous.
    ``{"seriesId": {"S": "series-7"}, "postId": {"S": "post#0001"}}`` gives
    ``postId=post#0001&seriesId=series-7``.
    """
    if not keys:
        raise DynamoDBTypeError("the record has no Keys; every stream record names its item's key")
    parts = []
    for name in sorted(keys):
        value = keys[name]
        if not isinstance(value, Mapping) or len(value) != 1:
            raise DynamoDBTypeError(
                f"key attribute {name!r} is {_preview(value)}, not a typed value such as "
                '{"S": "text"}'
            )
        ((tag, inner),) = value.items()
        if tag == "S" and type(inner) is str:
            text = inner
        elif tag == "N" and isinstance(inner, str):
            text = number_to_json(inner, name)
        elif tag == "B" and isinstance(inner, str):
            text = inner
        elif tag == "B" and isinstance(inner, bytes | bytearray):
            text = base64.b64encode(inner).decode()
        else:
            raise DynamoDBTypeError(
                f"key attribute {name!r} has value {_preview(value)}; keys must be S, N or B"
            )
        parts.append((name, text))
    return texts_to_item_key(dict(parts))


def texts_to_item_key(texts: Mapping[str, str]) -> str:
    """The item key of key attributes given as text: ``{"id": "post-1"}`` -> ``id=post-1``."""
    return "&".join(f"{_escape(name)}={_escape(texts[name])}" for name in sorted(texts))


def item_key_to_texts(item_key: str) -> dict[str, str]:
    """The key attributes of an item key, in any order, as text: ``id=post-1`` -> ``{"id": ...}``.

    Raises :class:`ValueError` for a part that is not ``name=value`` or a name given twice.
    """
    texts: dict[str, str] = {}
    for part in item_key.split("&"):
        name, found, value = part.partition("=")
        if not found or not name:
            raise ValueError(f"{part!r} is not name=value")
        name = _unescape(name)
        if name in texts:
            raise ValueError(f"key attribute {name!r} is given twice")
        texts[name] = _unescape(value)
    return texts


def sequence_to_order(sequence_number: str) -> str:
    """Zero-pad a sequence number so that text order equals numeric order."""
    if (
        not isinstance(sequence_number, str)
        or not (sequence_number.isdigit() and sequence_number.isascii())
        or len(sequence_number) > SEQUENCE_ORDER_WIDTH
    ):
        raise DynamoDBTypeError(
            f"SequenceNumber {sequence_number!r} is not a decimal string of at most "
            f"{SEQUENCE_ORDER_WIDTH} digits"
        )
    return sequence_number.zfill(SEQUENCE_ORDER_WIDTH)


def _escape(text: str) -> str:
    if "%" not in text and "&" not in text and "=" not in text:
        return text
    return text.replace("%", "%25").replace("&", "%26").replace("=", "%3D")


def _unescape(text: str) -> str:
    if "%" not in text:
        return text
    return text.replace("%3D", "=").replace("%26", "&").replace("%25", "%")


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
