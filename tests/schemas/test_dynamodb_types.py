"""The DynamoDB type codec: lossless typed JSON, plain JSON with exact numbers, clear errors."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings

from changelake.schemas.dynamodb_types import (
    ddb_json_to_image,
    image_to_ddb_json,
    image_to_plain_json,
    number_to_json,
)
from changelake.schemas.exceptions import DynamoDBTypeError
from tests.schemas.strategies import expected_plain, images, number_texts


def parse_json_keeping_numbers(text: str) -> Any:
    """Parse JSON, keeping every number as the exact text it was written with."""
    return json.loads(text, parse_int=str, parse_float=str)


def _to_lambda_form(value: Any) -> Any:
    """bytes -> base64 text, as a Lambda event spells binary values."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _to_lambda_form(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_lambda_form(v) for v in value]
    return value


@settings(max_examples=200)
@given(images())
def test_ddb_json_round_trips_exactly(image: dict[str, Any]) -> None:
    assert ddb_json_to_image(image_to_ddb_json(image)) == image


@settings(max_examples=100)
@given(images(binary_as_bytes=True))
def test_ddb_json_of_boto3_bytes_round_trips_to_lambda_form(image: dict[str, Any]) -> None:
    assert ddb_json_to_image(image_to_ddb_json(image)) == _to_lambda_form(image)


@settings(max_examples=200)
@given(images())
def test_plain_json_keeps_digits_sorts_sets_and_base64s_binary(image: dict[str, Any]) -> None:
    plain = parse_json_keeping_numbers(image_to_plain_json(image))
    assert plain == {name: expected_plain(value) for name, value in image.items()}


@settings(max_examples=100)
@given(images(binary_as_bytes=True))
def test_plain_json_accepts_boto3_bytes(image: dict[str, Any]) -> None:
    plain = parse_json_keeping_numbers(image_to_plain_json(image))
    assert plain == {name: expected_plain(value) for name, value in image.items()}


@given(number_texts())
def test_numbers_keep_the_digits_received(text: str) -> None:
    assert number_to_json(text) == text
    assert image_to_plain_json({"n": {"N": text}}) == f'{{"n":{text}}}'


@pytest.mark.parametrize(
    ("received", "written"),
    [
        ("12345678901234567890.123456789012345678", "12345678901234567890.123456789012345678"),
        ("100000000000000000000000000000000000000", "100000000000000000000000000000000000000"),
        ("-1.5E-10", "-1.5E-10"),
        (
            "9.9999999999999999999999999999999999999E+125",
            "9.9999999999999999999999999999999999999E+125",
        ),
        ("1E-130", "1E-130"),
        ("0", "0"),
        ("-0", "-0"),
        # Other spellings of a finite decimal become valid JSON with the same value.
        ("+5", "5"),
        (".5", "0.5"),
        ("007", "7"),
    ],
)
def test_number_spellings(received: str, written: str) -> None:
    assert image_to_plain_json({"n": {"N": received}}) == f'{{"n":{written}}}'


def test_all_ten_types_and_empty_values() -> None:
    image = {
        "s": {"S": ""},
        "n": {"N": "-1.5E-10"},
        "b": {"B": "AAEC"},
        "bytes": {"B": b"\x00\x01\x02"},
        "t": {"BOOL": True},
        "null": {"NULL": True},
        "m": {"M": {}},
        "l": {"L": []},
        "ss": {"SS": ["b", "a", "é", "Z"]},
        "ns": {"NS": ["10", "-2", "1.5E1", "3"]},
        "bs": {"BS": ["AwQF", "AAEC"]},
        "한글": {"S": "검색 🔍"},
    }
    assert json.loads(image_to_plain_json(image), parse_float=str, parse_int=str) == {
        "s": "",
        "n": "-1.5E-10",
        "b": "AAEC",
        "bytes": "AAEC",
        "t": True,
        "null": None,
        "m": {},
        "l": [],
        "ss": ["Z", "a", "b", "é"],
        "ns": ["-2", "3", "10", "1.5E1"],
        "bs": ["AAEC", "AwQF"],
        "한글": "검색 🔍",
    }
    assert "검색 🔍" in image_to_plain_json(image)  # UTF-8, not \u escapes


@pytest.mark.parametrize(
    ("image", "fragments"),
    [
        (
            {"tags": {"SSX": ["a"]}},
            ["attribute 'tags'", "unknown DynamoDB type tag 'SSX'", "valid tags are B, BOOL"],
        ),
        (
            {"a": {"M": {"b": {"L": [{"S": "x"}, {"M": {"c": {"Q": "1"}}}]}}}},
            ["attribute 'a.b[1].c'", "unknown DynamoDB type tag 'Q'"],
        ),
        ({"views": {"N": 5}}, ["attribute 'views'", "has type N but its value is 5"]),
        ({"views": {"N": "NaN"}}, ["attribute 'views'", "'NaN', which is not a number"]),
        ({"views": {"N": "1_000"}}, ["'1_000'", "not written as a plain decimal"]),
        ({"x": "plain"}, ["attribute 'x'", "is 'plain', not a typed value"]),
        ({"x": {"S": "a", "N": "1"}}, ["attribute 'x'", "not a typed value"]),
        ({"x": {"BOOL": "yes"}}, ["has type BOOL but its value is 'yes'", "true or false"]),
        ({"x": {"NULL": False}}, ["has type NULL but its value is False"]),
        ({"x": {"B": "not base64!"}}, ["has type B", "base64 text or bytes"]),
        ({"x": {"SS": ["a", 1]}}, ["has type SS", "an array of strings"]),
        ({"x": {"NS": ["1", "x"]}}, ["has N value 'x'"]),
        ({"x": {"L": {"S": "a"}}}, ["has type L", "an array of typed values"]),
        ({"x": {"M": ["a"]}}, ["has type M", "an object of attributes"]),
    ],
)
def test_errors_name_the_attribute_path_and_the_problem(
    image: dict[str, Any], fragments: list[str]
) -> None:
    with pytest.raises(DynamoDBTypeError) as caught:
        image_to_plain_json(image, "NewImage")
    for fragment in fragments:
        assert fragment in str(caught.value)
    assert "of NewImage" in str(caught.value)


def test_lone_surrogates_are_a_clear_error() -> None:
    image = json.loads('{"x": {"S": "\\ud800"}}')
    with pytest.raises(DynamoDBTypeError, match="NewImage cannot be written as JSON"):
        image_to_plain_json(image, "NewImage")
    with pytest.raises(DynamoDBTypeError, match="cannot be written as JSON"):
        image_to_ddb_json(image)


def test_ddb_json_to_image_rejects_non_objects() -> None:
    with pytest.raises(DynamoDBTypeError, match="expected a JSON object"):
        ddb_json_to_image("[1, 2]")
