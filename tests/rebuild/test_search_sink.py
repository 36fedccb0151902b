"""The search sink protocol against each real search engine."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import orjson
import pytest

from changelake.schemas.exceptions import SearchRequestError

if TYPE_CHECKING:
    from tests.conftest import SearchEngine

pytestmark = pytest.mark.es


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _ndjson(*lines: dict[str, object]) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def test_index_lifecycle_and_bulk(search_engine: SearchEngine) -> None:
    sink = search_engine.sink
    index = _name("sink")
    sink.create_index(
        index,
        {
            "settings": {"number_of_shards": 1},
            "mappings": {"_meta": {"changelake": {"watermark": "x"}}},
        },
    )
    try:
        assert sink.is_concrete_index(index)
        assert index in sink.list_indices(index.rsplit("-", 1)[0] + "-*")
        sink.put_settings(index, {"index": {"refresh_interval": "-1"}})
        action = {"_id": "a", "version": 5, "version_type": "external"}
        response = sink.bulk(
            index,
            _ndjson(
                {"index": action},
                {"title": "first"},
                {"index": {**action, "_id": "b"}},
                {"title": "second"},
                {"index": {**action, "version": 4}},
                {"title": "stale"},
            ),
        )
        statuses = [next(iter(item.values()))["status"] for item in response["items"]]
        assert statuses == [201, 201, 409]
        sink.refresh(index)
        assert sink.count(index) == 2
        documents = list(sink.iter_documents(index, page_size=1))
        assert sorted((d.id, d.version, d.source["title"]) for d in documents) == [
            ("a", 5, "first"),
            ("b", 5, "second"),
        ]
        assert sink.get_meta(index) == {"changelake": {"watermark": "x"}}
        sink.put_mapping(index, {"_meta": {"changelake": {"watermark": "y"}}})
        assert sink.get_meta(index) == {"changelake": {"watermark": "y"}}
    finally:
        sink.delete_index(index)
    assert not sink.is_concrete_index(index)
    sink.delete_index(index)  # a missing index is not an error


def test_aliases_move_in_one_call(search_engine: SearchEngine) -> None:
    sink = search_engine.sink
    alias, old, new = _name("alias"), _name("old"), _name("new")
    for index in (old, new):
        sink.create_index(index, {})
    try:
        assert sink.alias_targets(alias) == []
        sink.update_aliases([{"add": {"index": old, "alias": alias}}])
        assert sink.alias_targets(alias) == [old]
        assert not sink.is_concrete_index(alias)
        assert sink.get_meta(alias) == {}
        sink.update_aliases(
            [{"remove": {"index": old, "alias": alias}}, {"add": {"index": new, "alias": alias}}]
        )
        assert sink.alias_targets(alias) == [new]
    finally:
        sink.delete_index(old)
        sink.delete_index(new)


def test_rejected_request_names_the_index(search_engine: SearchEngine) -> None:
    index = _name("dup")
    search_engine.sink.create_index(index, {})
    try:
        with pytest.raises(SearchRequestError, match=index) as raised:
            search_engine.sink.create_index(index, {})
        assert raised.value.status == 400
    finally:
        search_engine.sink.delete_index(index)
