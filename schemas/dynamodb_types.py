"""DynamoDB-typed JSON (``{"S": "x"}``) to plain JSON, losslessly.

Numbers never pass through float: an ``N`` value is written into the JSON text with exactly the
digits DynamoDB delivered (``orjson.Fragment``), so 38 significant digits and ``-1.5E-10`` survive.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from schemas.exceptions import DynamoDBTypeError

TYPE_TAGS = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})

_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def image_to_plain_json(image: Mapping[str, Any]) -> str:
    """Render a DynamoDB image (a map of typed attribute values) as plain JSON text."""
    return orjson.dumps({name: _plain(value, name) for name, value in image.items()}).decode()


def image_to_ddb_json(image: Mapping[str, Any]) -> str:
    """Render an image as DynamoDB-typed JSON text; binary values become base64 strings."""
    return orjson.dumps(image, default=_bytes_to_base64).decode()


def ddb_json_to_image(text: str) -> dict[str, Any]:
    """Parse DynamoDB-typed JSON text back into the attribute map it was made from."""
    image = orjson.loads(text)
    if not isinstance(image, dict):
        raise DynamoDBTypeError(f"expected a JSON object of attributes, got {text[:80]!r}")
    return image


def number_to_json(text: str, path: str = "") -> str:
    """Return a DynamoDB number as JSON number text, keeping the digits as received when valid."""
    if isinstance(text, str) and _JSON_NUMBER.fullmatch(text):
        return text
    try:
        number = Decimal(text)
    except (InvalidOperation, TypeError, ValueError):
        number = Decimal("NaN")
    if not number.is_finite():
        raise DynamoDBTypeError(
            f"attribute {path!r} has N value {text!r}, which is not a number; "
            "DynamoDB numbers are decimal strings such as '42' or '-1.5E-10'"
        )
    return str(number)


def _plain(value: Any, path: str) -> Any:
    if not isinstance(value, Mapping) or len(value) != 1:
        raise DynamoDBTypeError(
            f"attribute {path!r} is {_preview(value)}, not a typed value; "
            'expected one type tag such as {"S": "text"}'
        )
    ((tag, inner),) = value.items()
    convert = _CONVERTERS.get(tag)
    if convert is None:
        raise DynamoDBTypeError(
            f"unknown DynamoDB type tag {tag!r} in attribute {path!r}; "
            f"valid tags are {', '.join(sorted(TYPE_TAGS))}"
        )
    return convert(inner, path)


def _string(inner: Any, path: str) -> str:
    if not isinstance(inner, str):
        raise _wrong(path, "S", "a string", inner)
    return inner


def _number(inner: Any, path: str) -> orjson.Fragment:
    if not isinstance(inner, str):
        raise _wrong(path, "N", "a decimal string", inner)
    return orjson.Fragment(number_to_json(inner, path))


def _binary(inner: Any, path: str) -> str:
    return base64.b64encode(_binary_bytes(inner, path)).decode()


def _binary_bytes(inner: Any, path: str) -> bytes:
    if isinstance(inner, bytes | bytearray):
        return bytes(inner)
    if isinstance(inner, str):
        try:
            return base64.b64decode(inner, validate=True)
        except (binascii.Error, ValueError):
            pass
    raise _wrong(path, "B", "base64 text or bytes", inner)


def _bool(inner: Any, path: str) -> bool:
    if not isinstance(inner, bool):
        raise _wrong(path, "BOOL", "true or false", inner)
    return inner


def _null(inner: Any, path: str) -> None:
    if inner is not True:
        raise _wrong(path, "NULL", "true", inner)
    return None


def _map(inner: Any, path: str) -> dict[str, Any]:
    if not isinstance(inner, Mapping):
        raise _wrong(path, "M", "an object of attributes", inner)
    return {name: _plain(value, f"{path}.{name}") for name, value in inner.items()}


def _list(inner: Any, path: str) -> list[Any]:
    if not isinstance(inner, list):
        raise _wrong(path, "L", "an array of typed values", inner)
    return [_plain(value, f"{path}[{index}]") for index, value in enumerate(inner)]


def _string_set(inner: Any, path: str) -> list[str]:
    if not isinstance(inner, list) or not all(isinstance(s, str) for s in inner):
        raise _wrong(path, "SS", "an array of strings", inner)
    return sorted(inner)


def _number_set(inner: Any, path: str) -> list[orjson.Fragment]:
    if not isinstance(inner, list) or not all(isinstance(n, str) for n in inner):
        raise _wrong(path, "NS", "an array of decimal strings", inner)
    numbers = sorted((Decimal(number_to_json(n, path)), n) for n in inner)
    return [orjson.Fragment(number_to_json(n, path)) for _, n in numbers]


def _binary_set(inner: Any, path: str) -> list[str]:
    if not isinstance(inner, list):
        raise _wrong(path, "BS", "an array of base64 strings", inner)
    return [base64.b64encode(b).decode() for b in sorted(_binary_bytes(b, path) for b in inner)]


_CONVERTERS: dict[str, Callable[[Any, str], Any]] = {
    "S": _string,
    "N": _number,
    "B": _binary,
    "BOOL": _bool,
    "NULL": _null,
    "M": _map,
    "L": _list,
    "SS": _string_set,
    "NS": _number_set,
    "BS": _binary_set,
}


def _bytes_to_base64(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot serialize {type(value).__name__} value {_preview(value)}")


def _wrong(path: str, tag: str, expected: str, inner: Any) -> DynamoDBTypeError:
    return DynamoDBTypeError(
        f"attribute {path!r} has type {tag} but its value is {_preview(inner)}; "
        f"{tag} needs {expected}"
    )


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
