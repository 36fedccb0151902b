"""The change-record schema helpers: canonical item keys and sequence ordering."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changelake.schemas.change_record import (
    CHANGE_RECORD_SCHEMA,
    COLUMN_NAMES,
    keys_to_item_key,
    sequence_to_order,
)
from changelake.schemas.exceptions import DynamoDBTypeError


def test_item_key_sorts_key_attributes_by_name() -> None:
    keys = {"seriesId": {"S": "series-7"}, "postId": {"S": "post#0001"}}
    assert keys_to_item_key(keys) == "postId=post#0001&seriesId=series-7"


@pytest.mark.parametrize(
    ("keys", "item_key"),
    [
        ({"id": {"S": "a&b=c%d"}}, "id=a%26b%3Dc%25d"),
        ({"a=b": {"S": "x"}}, "a%3Db=x"),
        ({"id": {"N": "42"}}, "id=42"),
        ({"id": {"N": "-1.5E-10"}}, "id=-1.5E-10"),
        ({"id": {"B": "AAEC"}}, "id=AAEC"),
        ({"id": {"B": b"\x00\x01\x02"}}, "id=AAEC"),
        ({"id": {"S": "검색"}}, "id=검색"),
    ],
)
def test_item_key_values_and_escaping(keys: dict[str, Any], item_key: str) -> None:
    assert keys_to_item_key(keys) == item_key


@given(
    st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=12), min_size=1, max_size=2),
    st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=12), min_size=1, max_size=2),
)
def test_item_key_is_unambiguous(first: dict[str, str], second: dict[str, str]) -> None:
    def item_key(values: dict[str, str]) -> str:
        return keys_to_item_key({name: {"S": value} for name, value in values.items()})

    assert (item_key(first) == item_key(second)) == (first == second)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({}, "has no Keys"),
        ({"id": {"L": []}}, "keys must be S, N or B"),
        ({"id": "plain"}, "not a typed value"),
        ({"id": {"N": "abc"}}, "not a number"),
    ],
)
def test_item_key_errors(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(DynamoDBTypeError, match=message):
        keys_to_item_key(keys)


@given(
    st.integers(min_value=0, max_value=10**40 - 1), st.integers(min_value=0, max_value=10**40 - 1)
)
def test_sequence_order_sorts_as_numbers(first: int, second: int) -> None:
    a, b = sequence_to_order(str(first)), sequence_to_order(str(second))
    assert len(a) == len(b) == 40
    assert (a < b) == (first < second)
    assert int(a) == first


@pytest.mark.parametrize("bad", ["", "12a", "-1", "1" * 41, "١٢٣", " 12"])
def test_sequence_order_rejects_non_decimal_strings(bad: str) -> None:
    with pytest.raises(DynamoDBTypeError, match="not a decimal string of at most 40 digits"):
        sequence_to_order(bad)


def test_schema_columns_have_descriptions_and_a_version() -> None:
    assert CHANGE_RECORD_SCHEMA.names == list(COLUMN_NAMES)
    assert all(field.metadata[b"description"] for field in CHANGE_RECORD_SCHEMA)
    assert CHANGE_RECORD_SCHEMA.metadata[b"changelake.schema_version"] == b"2"
