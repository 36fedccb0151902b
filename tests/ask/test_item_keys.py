"""Item keys as typed: any order, one attribute at a time, a bare value, escaped characters."""

from __future__ import annotations

import duckdb
import pytest

from changelake.ask.item_keys import (
    KeyQuery,
    matching_items_sql,
    merge_key_query,
    option_to_pair,
    resolve_item_key,
    text_to_key_query,
)
from changelake.schemas.change_record import item_key_to_texts, texts_to_item_key
from changelake.schemas.exceptions import QueryError


def test_a_key_in_any_order_is_the_canonical_key() -> None:
    query = text_to_key_query("seriesId=series-7&postId=post#0001")
    assert str(query) == "postId=post#0001&seriesId=series-7"
    assert text_to_key_query("post#0001") == KeyQuery(values=("post#0001",))


@pytest.mark.parametrize("value", ["a&b", "x=y", "100%", "%26", ""])
def test_escaped_characters_round_trip(value: str) -> None:
    key = texts_to_item_key({"id": value, "k&=%": "1"})
    assert item_key_to_texts(key) == {"id": value, "k&=%": "1"}


def test_options_take_values_as_typed_and_must_agree() -> None:
    assert option_to_pair("title=a&b=c") == ("title", "a&b=c")
    with pytest.raises(ValueError, match="is not NAME=VALUE"):
        option_to_pair("=x")
    merged = merge_key_query(KeyQuery({"a": "1"}), [("b", "2"), ("a", "1")])
    assert str(merged) == "a=1&b=2"
    with pytest.raises(ValueError, match="given as '1' and '3'"):
        merge_key_query(KeyQuery({"a": "1"}), [("a", "3")])
    with pytest.raises(ValueError, match="given twice"):
        text_to_key_query("a=1&a=2")


def _items(*keys: tuple[str, str]) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("CREATE TABLE change_rows (table_name VARCHAR, item_key VARCHAR)")
    connection.executemany("INSERT INTO change_rows VALUES (?, ?)", list(keys))
    return connection


def test_a_value_matches_a_whole_attribute_value_of_its_table_only() -> None:
    connection = _items(
        ("T", "pk=a%26b&sk=1"), ("T", "pk=ab&sk=2"), ("U", "pk=a%26b&sk=9"), ("T", "pk=xa&sk=3")
    )
    assert resolve_item_key(connection, "T", KeyQuery(values=("a&b",))) == "pk=a%26b&sk=1"
    assert resolve_item_key(connection, "T", KeyQuery({"sk": "3"})) == "pk=xa&sk=3"
    sql = matching_items_sql("T", KeyQuery(values=("a",)), 10)
    assert connection.execute(sql).fetchall() == []  # 'a' is part of values, never a whole one
    with pytest.raises(QueryError, match="no item of table 'T' has the key 'pk=z'"):
        resolve_item_key(connection, "T", KeyQuery({"pk": "z"}))
    with pytest.raises(QueryError, match="table 'V' has no changes"):
        resolve_item_key(connection, "V", KeyQuery({"pk": "z"}))
