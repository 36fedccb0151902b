"""What a delivery holds -> the stream records in it.

Four shapes arrive: a Lambda event (``{"Records": [...]}``) of DynamoDB Streams or Kinesis
records, an EventBridge Pipes batch (a JSON array of the same records, Kinesis fields at the top
level), and a quarantine document (``{"error", "quarantined_at", "record"}``) fed back after its
record was fixed. A Kinesis Data Streams for DynamoDB record carries the change itself as base64
JSON in ``data``; :func:`kinesis_change` decodes it.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping
from typing import Any

import orjson

from changelake.schemas.exceptions import MalformedRecordError

# The fields of a quarantine document (changelake.archiver.batch.quarantine_record writes them).
QUARANTINE_FIELDS = frozenset({"error", "quarantined_at", "record"})


class DuplicateKeys:
    """A JSON object that names a key twice: kept whole, and refused wherever it is read.

    ``json.loads`` would keep the last value silently; this keeps every pair, so that the record
    can be quarantined as delivered. It is not a Mapping, so every check that wants an object
    (an image, a typed value, the record itself) rejects it and names the repeated key.
    """

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs

    @property
    def repeated(self) -> list[str]:
        """The keys named more than once, in order of first appearance."""
        seen: set[str] = set()
        repeated: list[str] = []
        for name, _ in self.pairs:
            if name in seen and name not in repeated:
                repeated.append(name)
            seen.add(name)
        return repeated

    def __repr__(self) -> str:
        names = ", ".join(repr(name) for name in self.repeated)
        return f"a JSON object that repeats the key {names}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DuplicateKeys) and self.pairs == other.pairs

    __hash__ = None  # type: ignore[assignment]


def _object(pairs: list[tuple[str, Any]]) -> Any:
    """``object_pairs_hook``: a dict, or the pairs themselves when a key repeats."""
    value = dict(pairs)
    return value if len(value) == len(pairs) else DuplicateKeys(pairs)


def load_json(text: str | bytes) -> Any:
    """Parse JSON, keeping an object that repeats a key as :class:`DuplicateKeys`."""
    try:
        data = text.encode() if isinstance(text, str) else text
        value = orjson.loads(data)
    except (UnicodeEncodeError, orjson.JSONDecodeError):
        # orjson refuses some JSON that json takes: NaN, escaped lone surrogates, huge integers.
        return json.loads(text, object_pairs_hook=_object)
    # Compact JSON (as Kinesis carries) that orjson writes back byte for byte names no key twice:
    # a repeated key would be missing from what it writes. Anything else takes the slow hook.
    if orjson.dumps(value) == data:
        return value
    return json.loads(text, object_pairs_hook=_object)


def event_to_records(event: Any) -> list[Any]:
    """The stream records of a Lambda event, a Pipes batch or a quarantine document."""
    if isinstance(event, list):
        return event
    if isinstance(event, Mapping):
        records = event.get("Records")
        if isinstance(records, list):
            return records
        if event.keys() >= QUARANTINE_FIELDS:
            return [event["record"]]
    if isinstance(event, DuplicateKeys):
        shape = repr(event)
    elif isinstance(event, Mapping):
        shape = repr(sorted(map(str, event)))
    else:
        shape = repr(type(event).__name__)
    raise MalformedRecordError(
        f"the event has no 'Records' list (got {_preview(shape)}); expected a Lambda event of "
        'DynamoDB Streams or Kinesis records {"Records": [...]}, an EventBridge Pipes batch '
        "[...], or a quarantine document with its 'record'"
    )


def kinesis_block(record: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The Kinesis fields of a record (``data``, ``sequenceNumber``...), or None if it has none.

    Lambda nests them under ``kinesis``; EventBridge Pipes puts them at the record's top level.
    """
    block = record.get("kinesis")
    if isinstance(block, Mapping):
        return block
    if record.get("eventSource") == "aws:kinesis" or "kinesisSchemaVersion" in record:
        return record
    return None


def kinesis_change(block: Mapping[str, Any]) -> Any:
    """The DynamoDB change record a Kinesis record's ``data`` holds (base64 of JSON)."""
    data = block.get("data")
    if not isinstance(data, str):
        raise MalformedRecordError(
            f"the Kinesis record's data is {_preview(data)}; expected base64 text"
        )
    try:
        return load_json(binascii.a2b_base64(data, strict_mode=True))
    except (binascii.Error, ValueError) as error:
        raise MalformedRecordError(
            f"the Kinesis record's data is not base64 of a JSON change record ({error}); "
            "is the stream a Kinesis Data Streams destination of a DynamoDB table?"
        ) from None


def _preview(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
