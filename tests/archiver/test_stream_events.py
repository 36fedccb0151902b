"""Deliveries -> records, and JSON that keeps an object which repeats a key."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changelake.archiver.stream_events import DuplicateKeys, event_to_records, load_json
from tests.helpers import load_event

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(alphabet=st.characters(codec="utf-8")),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)


@given(_json_values, st.sampled_from([None, 2]), st.booleans())
def test_json_without_repeated_keys_parses_as_json_does(
    value: Any, indent: int | None, as_bytes: bool
) -> None:
    separators = (",", ":") if indent is None else None
    text = json.dumps(value, indent=indent, separators=separators, ensure_ascii=False)
    assert load_json(text.encode() if as_bytes else text) == json.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"a":1,"a":2}',  # compact, as Kinesis data is
        '{"a": 1, "a": 2}',
        '{"b":{"S":"x","S":"y"}}',
        '[{"ok":1},{"a":[],"a":[]}]',
    ],
)
def test_a_repeated_key_is_kept_with_every_pair(text: str) -> None:
    found: list[DuplicateKeys] = []

    def walk(value: Any) -> None:
        if isinstance(value, DuplicateKeys):
            found.append(value)
        elif isinstance(value, dict):
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(load_json(text.encode()))
    walk(load_json(text))
    first, repeated = found
    assert first == repeated
    assert len(repeated.pairs) == 2 and repeated.pairs[0][0] == repeated.pairs[1][0]
    assert repr(repeated) == f"a JSON object that repeats the key {repeated.pairs[0][0]!r}"


def test_a_pipes_batch_and_a_quarantine_document_hold_records() -> None:
    records = load_event("sam-dynamodb-update.json")["Records"]
    assert event_to_records(records) == records
    document = {"error": "x", "quarantined_at": "2026-11-27T12:00:00+00:00", "record": records[0]}
    assert event_to_records(document) == [records[0]]
    assert event_to_records({"Records": records}) == records
