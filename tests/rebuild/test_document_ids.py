"""Document id rules in DuckDB: the canonical key, templates over key attributes, clashes."""

from __future__ import annotations

import hashlib
from typing import Any

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from changelake.rebuild.document_ids import (
    check_document_ids,
    document_id_sql,
    key_attribute_names,
    template_attributes,
)
from changelake.schemas.change_record import keys_to_item_key
from changelake.schemas.exceptions import RebuildError


def _id(rule: str, item_key: str) -> str:
    row = duckdb.sql(
        f"SELECT {document_id_sql(rule)} FROM (SELECT ? AS item_key)", params=[item_key]
    )
    found = row.fetchone()
    assert found is not None
    return str(found[0])


_TEXT = st.text(st.sampled_from("ab&=%/#한 9"), min_size=1, max_size=12)


@given(st.dictionaries(_TEXT, _TEXT, min_size=1, max_size=3))
def test_a_template_of_every_key_attribute_reads_each_value_back(keys: dict[str, str]) -> None:
    names = sorted(keys)
    item_key = keys_to_item_key({name: {"S": value} for name, value in keys.items()})
    assert key_attribute_names(item_key) == names
    template = "/".join(f"{{{name}}}" for name in names)
    expected = "/".join(keys[name] for name in names)
    assert _id(template, item_key) == expected


def test_numbers_and_binary_keys_give_their_text() -> None:
    item_key = keys_to_item_key({"n": {"N": "100000000000000348436"}, "b": {"B": "AAE="}})
    assert _id("{n}-{b}", item_key) == "100000000000000348436-AAE="


def test_an_id_over_512_bytes_is_hashed_whatever_the_rule() -> None:
    item_key = keys_to_item_key({"postId": {"S": "x" * 600}})
    assert _id("{postId}", item_key) == "sha256:" + hashlib.sha256(b"x" * 600).hexdigest()
    assert _id("item_key", item_key).startswith("sha256:")
    assert _id("{postId}", "postId=short") == "short"


@pytest.mark.parametrize("template", ["postId", "{postId", "{postId}}", "{}", "a{b}c}"])
def test_a_template_without_placeholders_or_with_stray_braces_is_refused(template: str) -> None:
    with pytest.raises(RebuildError, match="is not an id template"):
        template_attributes(template)


def _keys(*item_keys: str) -> tuple[Any, str]:
    connection = duckdb.connect()
    connection.execute("CREATE TABLE k (item_key VARCHAR)")
    connection.executemany("INSERT INTO k VALUES (?)", [[key] for key in item_keys])
    return connection, "SELECT item_key FROM k"


def test_a_template_that_two_items_fill_alike_is_refused_naming_both() -> None:
    connection, keys = _keys(
        "postId=p1&seriesId=s1", "postId=p2&seriesId=s1", "postId=p1&seriesId=s2"
    )
    check_document_ids(connection, "{seriesId}/{postId}", keys)
    with pytest.raises(RebuildError) as refused:
        check_document_ids(connection, "{postId}", keys)
    assert str(refused.value) == (
        "--id '{postId}' gives items 'postId=p1&seriesId=s1' and 'postId=p1&seriesId=s2' the "
        "same _id 'p1'; name every key attribute in the template, e.g. --id '{postId}/{seriesId}'"
    )
    # A sync's items among every key: p2 clashes with nothing, p1 with another item.
    connection.execute("CREATE TABLE new (item_key VARCHAR)")
    connection.execute("INSERT INTO new VALUES ('postId=p2&seriesId=s1')")
    check_document_ids(connection, "{postId}", "SELECT item_key FROM new", among_sql=keys)
    connection.execute("INSERT INTO new VALUES ('postId=p1&seriesId=s2')")
    with pytest.raises(RebuildError, match="'postId=p1&seriesId=s1' and 'postId=p1&seriesId=s2'"):
        check_document_ids(connection, "{postId}", "SELECT item_key FROM new", among_sql=keys)


def test_a_template_naming_an_attribute_the_keys_lack_is_refused() -> None:
    connection, keys = _keys("id=post#1")
    with pytest.raises(
        RebuildError, match="names slug, but item 'id=post#1' has key attributes id"
    ):
        check_document_ids(connection, "{slug}", keys)
