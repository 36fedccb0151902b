"""Latest records -> bulk entries: ids, exact numbers, transforms, the shipped Post transform."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal

import duckdb
import orjson
import pytest

from changelake.archiver.stream_records import record_to_row
from changelake.examples.posts import post_document
from changelake.rebuild.documents import (
    TransformError,
    document_to_json,
    load_transform,
    record_to_entry,
)
from changelake.rebuild.latest_images import DOCUMENT_ID_SQL, ENTRY_SQL
from changelake.schemas.dynamodb_types import json_to_image
from tests.helpers import load_event


@pytest.mark.parametrize("item_key", ["id=post#1", "id=" + "한" * 170, "id=" + "x" * 600])
def test_document_id_is_the_key_or_its_hash(item_key: str) -> None:
    found = duckdb.sql(f"SELECT {DOCUMENT_ID_SQL} FROM (SELECT ? AS item_key)", params=[item_key])
    if len(item_key.encode()) > 512:
        expected = "sha256:" + hashlib.sha256(item_key.encode()).hexdigest()
    else:
        expected = item_key
    assert found.fetchone() == (expected,)


def test_sql_entries_carry_the_image_text_unchanged() -> None:
    image = '{"id":"a\\"b","n":12345678901234567890.123456789012345678}'
    row = duckdb.sql(
        f"SELECT {ENTRY_SQL} FROM (SELECT 'id=a\"b' AS document_id, 'MODIFY' AS event_name, "
        f"7 AS version, ? AS new_image)",
        params=[image],
    ).fetchone()
    assert row is not None
    action, document, end = row[0].split("\n")
    assert orjson.loads(action) == {
        "index": {"_id": 'id=a"b', "version": 7, "version_type": "external"}
    }
    assert (document, end) == (image, "")
    remove = duckdb.sql(
        f"SELECT {ENTRY_SQL} FROM (SELECT 'k=1' AS document_id, 'REMOVE' AS event_name, "
        "8 AS version, NULL AS new_image)"
    ).fetchone()
    assert remove == ('{"delete":{"_id":"k=1","version":8,"version_type":"external"}}\n',)


def test_numbers_keep_their_digits_through_a_transform() -> None:
    text = '{"big":12345678901234567890.123456789012345678,"tiny":-1.5E-10,"n":42,"huge":' + (
        "1" * 30 + "}"
    )
    image = json_to_image(text)
    assert image["n"] == 42
    assert image["big"] == Decimal("12345678901234567890.123456789012345678")
    assert orjson.loads(document_to_json(image)) == orjson.loads(text)
    assert document_to_json(image).startswith(b'{"big":12345678901234567890.123456789012345678,')


def _record(event_name: str = "MODIFY", image: str | None = '{"keep":true}') -> dict[str, object]:
    return {
        "document_id": "id=1",
        "item_key": "id=1",
        "event_name": event_name,
        "version": 9,
        "new_image": image,
    }


def test_record_entries_through_a_transform() -> None:
    keep = record_to_entry(_record(), lambda image: image, delete_skipped=False)
    assert (
        keep == b'{"index":{"_id":"id=1","version":9,"version_type":"external"}}\n{"keep":true}\n'
    )
    skip = record_to_entry(_record(), lambda image: None, delete_skipped=False)
    assert skip is None
    deleted = record_to_entry(_record(), lambda image: None, delete_skipped=True)
    assert deleted == b'{"delete":{"_id":"id=1","version":9,"version_type":"external"}}\n'
    removed = record_to_entry(_record("REMOVE", None), lambda image: image, delete_skipped=False)
    assert removed == deleted


def test_a_failing_transform_names_the_item() -> None:
    with pytest.raises(TransformError, match="item 'id=1': KeyError"):
        record_to_entry(_record(), lambda image: {"x": image["missing"]}, delete_skipped=False)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("changelake.examples.posts", "is not module:function"),
        ("no_such_module:f", "cannot import 'no_such_module'"),
        ("changelake.examples.posts:nope", "has no function nope"),
    ],
)
def test_bad_transform_specs_are_explained(spec: str, message: str) -> None:
    with pytest.raises(TransformError, match=message):
        load_transform(spec)


def test_post_document_joins_block_texts_and_image_alts() -> None:
    record = load_event("lambda-event-posts.json")["Records"][0]
    row = record_to_row(record, archived_at=datetime.now(UTC))
    document = post_document(json_to_image(row["new_image"]))
    assert document is not None
    assert document["text"] == "Posts are stored in DynamoDB."
    assert document["image_alts"] == ["diagram"]
    assert "blocks" not in document
    assert document["score"] == Decimal("12345678901234567890.123456789012345678")
    assert load_transform("changelake.examples.posts:post_document") is post_document
    assert post_document({"title": "no blocks"}) == {"title": "no blocks"}
