"""DynamoDB-typed JSON (``{"S": "x"}``) to plain JSON, losslessly.

Numbers never pass through float: an ``N`` value is written into the JSON text with exactly the
digits DynamoDB delivered (``orjson.Fragment``), so 38 significant digits and ``-1.5E-10`` survive.
Binary values arrive as base64 text in Lambda events and as ``bytes`` from boto3; both are accepted
and written as base64 text.

This is the archiver's hot path: the happy path builds no attribute paths and checks types with
``type() is``; an error is traced back to its attribute path only when it happens. When the
compiled codec (``native/``, module ``changelake_native``) is installed, :func:`image_to_json_pair`
runs it first: it gives the same bytes as the Python code here for the input it takes, and leaves
everything else (errors, loose spellings) to it.

:func:`json_to_image` reads an archived plain-JSON image back, with the same care for numbers.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from changelake.schemas.exceptions import DynamoDBTypeError

TYPE_TAGS = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})

_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
# Other spellings of a finite decimal ('+5', '.5', '1.', '007'): valid input, rewritten to JSON.
_LOOSE_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

_Fragment = orjson.Fragment


def _compiled_encoder() -> Callable[[Any], tuple[bytes, bytes] | None] | None:
    try:
        from changelake_native import encode_image
    except ImportError:  # optional: without it the Python codec below gives the same bytes
        return None
    return encode_image


_encode_native = _compiled_encoder()


class _InvalidValue(Exception):
    """A value is wrong; ``path`` collects the attribute names on the way out (innermost first)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []


def image_to_plain_bytes(image: Mapping[str, Any], where: str = "") -> bytes:
    """Render a DynamoDB image (a map of typed attribute values) as plain JSON (UTF-8 bytes)."""
    return _dumps(_attributes(image, where), where)


def image_to_plain_json(image: Mapping[str, Any], where: str = "") -> str:
    """Render a DynamoDB image (a map of typed attribute values) as plain JSON text."""
    return image_to_plain_bytes(image, where).decode()


def image_to_json_pair(image: Mapping[str, Any], where: str = "") -> tuple[bytes, bytes]:
    """An image as plain JSON and as DynamoDB-typed JSON (UTF-8 bytes), in one walk if compiled."""
    if _encode_native is not None:
        pair = _encode_native(image)
        if pair is not None:
            return pair
    return image_to_plain_bytes(image, where), image_to_ddb_bytes(image, where)


def image_to_ddb_bytes(image: Mapping[str, Any], where: str = "") -> bytes:
    """Render an image as DynamoDB-typed JSON (UTF-8 bytes); binary values become base64."""
    return _dumps(image, where)


def image_to_ddb_json(image: Mapping[str, Any], where: str = "") -> str:
    """Render an image as DynamoDB-typed JSON text; binary values become base64 strings."""
    return image_to_ddb_bytes(image, where).decode()


def _dumps(value: Any, where: str) -> bytes:
    try:
        return orjson.dumps(value, default=_jsonable)
    except orjson.JSONEncodeError as error:
        # Lone surrogates in strings, non-string attribute names, nesting beyond orjson's limit.
        raise DynamoDBTypeError(
            f"{where or 'the image'} cannot be written as JSON: {error}; "
            "attribute names must be strings and text valid Unicode"
        ) from None


def ddb_json_to_image(text: str | bytes) -> dict[str, Any]:
    """Parse DynamoDB-typed JSON text back into the attribute map it was made from."""
    image = orjson.loads(text)
    if not isinstance(image, dict):
        raise DynamoDBTypeError(f"expected a JSON object of attributes, got {_preview(text)}")
    return image


class JsonNumber(Decimal):
    """A Decimal that remembers the JSON text it was read from (``1e5``, not ``1E+5``)."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> JsonNumber:
        """The number of ``text``, which a document written back shows as it was."""
        number = super().__new__(cls, text)
        number.text = text
        return number


_INT64_DIGITS = 18


def _parse_int(text: str) -> int | Decimal:
    # -0 as an int would come back as 0; as a JsonNumber it keeps its sign.
    if len(text.lstrip("-")) <= _INT64_DIGITS and text != "-0":
        return int(text)
    return JsonNumber(text)


# One decoder for every image: json.loads with hooks would build a new decoder per call.
_DECODER = json.JSONDecoder(parse_float=JsonNumber, parse_int=_parse_int)


def json_to_image(text: str | bytes) -> dict[str, Any]:
    """An archived plain-JSON image as a dict; numbers a float would change are ``JsonNumber``."""
    image: dict[str, Any] = _DECODER.decode(text.decode() if isinstance(text, bytes) else text)
    return image


def number_to_json(text: str, path: str = "") -> str:
    """Return a DynamoDB number as JSON number text, keeping the digits as received when valid."""
    try:
        return _number_text(text)
    except _InvalidValue as error:
        raise DynamoDBTypeError(f"attribute {path!r} {error.problem}") from None


def _number_text(text: Any) -> str:
    if type(text) is str:
        if _JSON_NUMBER.fullmatch(text):
            return text
        if _LOOSE_NUMBER.fullmatch(text):
            return str(Decimal(text))
    try:
        finite = Decimal(text).is_finite() if isinstance(text, str) else False
    except (InvalidOperation, ValueError):
        finite = False
    reason = "is not a number" if not finite else "is not written as a plain decimal"
    raise _InvalidValue(
        f"has N value {_preview(text)}, which {reason}; "
        "DynamoDB numbers are decimal strings such as '42' or '-1.5E-10'"
    )


def _attributes(attributes: Mapping[str, Any], path: str) -> dict[str, Any]:
    """Convert a map of typed values, naming the failing attribute's full path on error."""
    plain = {}
    try:
        for name, value in attributes.items():
            plain[name] = _plain(value)
    except _InvalidValue as error:
        of = f" of {path}" if path else ""
        raise DynamoDBTypeError(
            f"attribute {_full_path(name, error.path)!r}{of} {error.problem}"
        ) from None
    return plain


def _plain(value: Any) -> Any:
    if type(value) is not dict:
        if not isinstance(value, Mapping):
            raise _not_typed(value)
        value = dict(value)
    if len(value) != 1:
        raise _not_typed(value)
    ((tag, inner),) = value.items()
    kind = type(inner)
    # The common tags first, each with its fast check; anything unexpected falls to _slow.
    if tag == "S":
        if kind is str:
            return inner
    elif tag == "N":
        if kind is not str:
            raise _wrong("N", "a decimal string", inner)
        if inner.isdigit() and inner.isascii() and (inner[0] != "0" or inner == "0"):
            return _Fragment(inner)
        return _Fragment(_number_text(inner))
    elif tag == "M":
        if kind is dict:
            return _map(inner)
    elif tag == "BOOL":
        if kind is bool:
            return inner
    elif tag == "L":
        if kind is list:
            return _list(inner)
    elif tag == "NULL" and inner is True:
        return None
    return _slow(tag, inner)


def _map(inner: dict[str, Any]) -> dict[str, Any]:
    plain = {}
    try:
        for name, value in inner.items():
            plain[name] = _plain(value)
    except _InvalidValue as error:
        error.path.append(f".{name}")
        raise
    return plain


def _list(inner: list[Any]) -> list[Any]:
    try:
        return [_plain(value) for value in inner]
    except _InvalidValue as error:
        index = next(i for i, value in enumerate(inner) if not _is_valid(value))
        error.path.append(f"[{index}]")
        raise


def _is_valid(value: Any) -> bool:
    try:
        _plain(value)
    except _InvalidValue:
        return False
    return True


def _slow(tag: str, inner: Any) -> Any:
    """Every tag with every accepted input shape, and the errors."""
    if tag == "S":
        raise _wrong("S", "a string", inner)
    if tag == "M":
        if not isinstance(inner, Mapping):
            raise _wrong("M", "an object of attributes", inner)
        return _map(dict(inner))
    if tag == "BOOL":
        raise _wrong("BOOL", "true or false", inner)
    if tag == "L":
        if not isinstance(inner, list | tuple):
            raise _wrong("L", "an array of typed values", inner)
        return _list(list(inner))
    if tag == "NULL":
        raise _wrong("NULL", "true", inner)
    if tag == "B":
        return base64.b64encode(_binary_bytes(inner, "B")).decode()
    if tag == "SS":
        if not isinstance(inner, list | tuple | set | frozenset) or not all(
            type(s) is str for s in inner
        ):
            raise _wrong("SS", "an array of strings", inner)
        return sorted(inner)
    if tag == "NS":
        if not isinstance(inner, list | tuple | set | frozenset) or not all(
            type(n) is str for n in inner
        ):
            raise _wrong("NS", "an array of decimal strings", inner)
        texts = [_number_text(n) for n in inner]
        return [_Fragment(text) for _, text in sorted((Decimal(t), t) for t in texts)]
    if tag == "BS":
        if not isinstance(inner, list | tuple | set | frozenset):
            raise _wrong("BS", "an array of base64 strings or bytes", inner)
        return [base64.b64encode(b).decode() for b in sorted(_binary_bytes(b, "BS") for b in inner)]
    raise _InvalidValue(
        f"has unknown DynamoDB type tag {_preview(tag)}; "
        f"valid tags are {', '.join(sorted(TYPE_TAGS))}"
    )


def _binary_bytes(inner: Any, tag: str) -> bytes:
    if isinstance(inner, bytes | bytearray):
        return bytes(inner)
    if isinstance(inner, str):
        try:
            return base64.b64decode(inner, validate=True)
        except (binascii.Error, ValueError):
            pass
    raise _wrong(tag, "base64 text or bytes", inner)


def _full_path(name: str, inner: list[str]) -> str:
    return name + "".join(reversed(inner))


def _not_typed(value: Any) -> _InvalidValue:
    return _InvalidValue(
        f'is {_preview(value)}, not a typed value; expected one type tag such as {{"S": "text"}}'
    )


def _wrong(tag: str, expected: str, inner: Any) -> _InvalidValue:
    return _InvalidValue(
        f"has type {tag} but its value is {_preview(inner)}; {tag} needs {expected}"
    )


def _jsonable(value: Any) -> Any:
    """orjson's fallback for what boto3 may hand us: bytes, other mappings and sequences."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot serialize {type(value).__name__} value {_preview(value)}")


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
