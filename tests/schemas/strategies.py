"""Hypothesis strategies for DynamoDB values, in Lambda (base64) and boto3 (bytes) form."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

names = st.text(max_size=12)
texts = st.text(max_size=40)


@st.composite
def number_texts(draw: st.DrawFn) -> str:
    """Decimal strings in JSON number grammar: up to 38 significant digits, exponent forms."""
    sign = draw(st.sampled_from(["", "-"]))
    integer = str(draw(st.integers(min_value=0, max_value=10**38 - 1)))
    fraction = ""
    if draw(st.booleans()):
        fraction = "." + str(draw(st.integers(min_value=0, max_value=10**20))).zfill(
            draw(st.integers(min_value=1, max_value=20))
        )
    exponent = ""
    if draw(st.booleans()):
        exponent = draw(st.sampled_from(["e", "E"])) + draw(st.sampled_from(["", "+", "-"]))
        exponent += str(draw(st.integers(min_value=0, max_value=125)))
    return f"{sign}{integer}{fraction}{exponent}"


def _unique_numbers(values: list[str]) -> list[str]:
    seen: dict[Decimal, str] = {}
    for value in values:
        seen.setdefault(Decimal(value), value)
    return list(seen.values())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def scalar_values(binary_as_bytes: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """S, N, B, BOOL, NULL, SS, NS and BS values."""
    binary = st.binary(max_size=24)
    encode = (lambda b: b) if binary_as_bytes else _b64
    return st.one_of(
        texts.map(lambda s: {"S": s}),
        number_texts().map(lambda n: {"N": n}),
        binary.map(lambda b: {"B": encode(b)}),
        st.booleans().map(lambda b: {"BOOL": b}),
        st.just({"NULL": True}),
        st.lists(texts, min_size=1, max_size=5, unique=True).map(lambda v: {"SS": v}),
        st.lists(number_texts(), min_size=1, max_size=5)
        .map(_unique_numbers)
        .map(lambda v: {"NS": v}),
        st.lists(binary, min_size=1, max_size=4, unique=True).map(
            lambda v: {"BS": [encode(b) for b in v]}
        ),
    )


def attribute_values(binary_as_bytes: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """Any of the ten types, nested through M and L, empty containers included."""
    return st.recursive(
        scalar_values(binary_as_bytes),
        lambda children: st.one_of(
            st.dictionaries(names, children, max_size=4).map(lambda m: {"M": m}),
            st.lists(children, max_size=4).map(lambda items: {"L": items}),
        ),
        max_leaves=12,
    )


def images(binary_as_bytes: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """An item image: a map of attribute names to typed values."""
    return st.dictionaries(names, attribute_values(binary_as_bytes), max_size=6)


def expected_plain(value: dict[str, Any]) -> Any:
    """The plain form of a typed value, written independently of the code under test.

    Numbers stay strings here: compare with JSON parsed by ``parse_json_keeping_numbers``.
    """
    ((tag, inner),) = value.items()
    if tag in {"S", "N", "BOOL"}:
        return inner
    if tag == "NULL":
        return None
    if tag == "B":
        return inner if isinstance(inner, str) else _b64(inner)
    if tag == "M":
        return {name: expected_plain(v) for name, v in inner.items()}
    if tag == "L":
        return [expected_plain(v) for v in inner]
    if tag == "SS":
        return sorted(inner)
    if tag == "NS":
        return sorted(inner, key=Decimal)
    if tag == "BS":
        raw = [base64.b64decode(b) if isinstance(b, str) else b for b in inner]
        return [_b64(b) for b in sorted(raw)]
    raise AssertionError(tag)
