"""Latest records -> search documents -> NDJSON bulk entries.

By default the document is the item's plain JSON image as archived, byte for byte, and DuckDB
builds the entries (``changelake.rebuild.latest_images.ENTRY_SQL``). A user transform
(``module:function``) maps the image, as a dict, to a document or to None (skip); this module
runs it. Numbers keep their digits both ways: decimals and integers beyond 64 bits are
``Decimal`` in the dict. Every document built here has the names the engines refuse renamed
(``changelake.rebuild.field_names``); an image with such names goes through here, with
``image_as_is`` as its transform, rather than through DuckDB.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import marshal
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from changelake.rebuild.field_names import rename_fields
from changelake.schemas.dynamodb_types import JsonNumber, json_to_image
from changelake.schemas.exceptions import TerminalError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import pyarrow as pa


class TransformError(TerminalError):
    """A ``--transform`` cannot be loaded, or failed on an image."""


def load_transform(spec: str) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """Import ``module:function`` (``changelake.examples.posts:post_document``)."""
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise TransformError(
            f"--transform {spec!r} is not module:function; "
            "e.g. changelake.examples.posts:post_document"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise TransformError(
            f"--transform {spec!r}: cannot import {module_name!r} ({error}); is it on PYTHONPATH?"
        ) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise TransformError(f"--transform {spec!r}: {module_name} has no function {function_name}")
    return function  # type: ignore[no-any-return]


def transform_digest(function: Callable[..., Any]) -> str | None:
    """SHA-256 of the code of a transform's module (its function alone if it has no file).

    The whole module counts: a helper the function calls changes the documents as much as the
    function itself. None for a callable without Python code.
    """
    try:
        source = inspect.getsourcefile(function)
        if source is not None:
            return hashlib.sha256(Path(source).read_bytes()).hexdigest()
    except (OSError, TypeError):
        pass
    code = getattr(function, "__code__", None)
    return None if code is None else hashlib.sha256(marshal.dumps(code)).hexdigest()


def image_as_is(image: dict[str, Any]) -> dict[str, Any]:
    """The identity transform: the image is the document (through Python, names renamed)."""
    return image


def _exact_number(value: Any) -> Any:
    if isinstance(value, JsonNumber):
        return orjson.Fragment(value.text)
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))
    raise TypeError(f"cannot put a {type(value).__name__} into a JSON document: {value!r}")


def document_to_json(document: dict[str, Any]) -> bytes:
    """A document as compact JSON bytes (Decimal numbers with their digits)."""
    return orjson.dumps(document, default=_exact_number)


def _action(kind: str, document_id: str, version: int) -> bytes:
    action = {kind: {"_id": document_id, "version": version, "version_type": "external"}}
    return orjson.dumps(action) + b"\n"


def record_to_entry(
    record: dict[str, Any],
    transform: Callable[[dict[str, Any]], dict[str, Any] | None],
    *,
    delete_skipped: bool,
) -> bytes | None:
    """The bulk entry of one latest record through a transform; None when there is nothing to do.

    A skipped image (the transform returned None) becomes a delete when ``delete_skipped``
    (sync: the item may be in the index from before), and nothing otherwise (a fresh index).
    An upsert without an image is left alone.
    """
    document_id, version = record["document_id"], record["version"]
    if record["event_name"] == "REMOVE":
        return _action("delete", document_id, version)
    if record["new_image"] is None:
        return None
    try:
        document = transform(json_to_image(record["new_image"]))
    except Exception as error:
        raise TransformError(
            f"the transform failed on item {record['item_key']!r}: {type(error).__name__}: {error}"
        ) from error
    if document is None:
        return _action("delete", document_id, version) if delete_skipped else None
    return (
        _action("index", document_id, version) + document_to_json(rename_fields(document)) + b"\n"
    )


def iter_transformed_entries(
    batches: Iterator[pa.RecordBatch],
    transform: Callable[[dict[str, Any]], dict[str, Any] | None],
    *,
    delete_skipped: bool,
) -> Iterator[bytes | None]:
    """One bulk entry (or None for a skipped image) per latest record of the batches."""
    for batch in batches:
        for record in batch.to_pylist():
            yield record_to_entry(record, transform, delete_skipped=delete_skipped)
