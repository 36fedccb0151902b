"""The type census SQL against a census written independently in Python, on generated images."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

import duckdb
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from changelake.schemas.dynamodb_types import image_to_ddb_json
from changelake.schemas.type_census import (
    image_shape_bytes,
    key_names_sql,
    path_to_text,
    rows_to_path_types,
    type_census_sql,
)
from tests.schemas.strategies import images

INT64 = range(-(2**63), 2**63)


def written_as_long(text: str) -> bool:
    return re.fullmatch(r"-?[0-9]+", text) is not None and int(text) in INT64


def expected_census(items: dict[str, dict[str, Any]]) -> dict[tuple[Any, str], tuple[int, int]]:
    """(path, tag) -> (values, values not 64-bit integers), walking the typed values."""
    values: Counter[tuple[Any, str]] = Counter()
    not_long: Counter[tuple[Any, str]] = Counter()

    def walk(value: dict[str, Any], path: tuple[str | None, ...]) -> None:
        ((tag, inner),) = value.items()
        values[path, tag] += 1
        if (tag == "N" and not written_as_long(inner)) or (
            tag == "NS" and not all(written_as_long(n) for n in inner)
        ):
            not_long[path, tag] += 1
        if tag == "M":
            for name, child in inner.items():
                walk(child, (*path, name))
        elif tag == "L":
            for child in inner:
                walk(child, (*path, None))

    for image in items.values():
        for name, value in image.items():
            walk(value, (name,))
    return {key: (count, not_long[key]) for key, count in values.items()}


def census_of(items: dict[str, dict[str, Any]], examples: int = 3) -> list[Any]:
    """The census SQL's rows for ``items`` (item key -> typed image)."""
    connection = duckdb.connect()
    connection.execute("CREATE TABLE images (item_key VARCHAR, new_image_ddb VARCHAR)")
    connection.executemany(
        "INSERT INTO images VALUES (?, ?)",
        [[key, image_to_ddb_json(image)] for key, image in items.items()],
    )
    return connection.execute(type_census_sql("SELECT * FROM images", examples)).fetchall()


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=6), images(), min_size=1, max_size=6))
def test_the_census_counts_every_type_at_every_path(items: dict[str, dict[str, Any]]) -> None:
    rows = rows_to_path_types(census_of(items))
    expected = expected_census(items)
    assert {(row.path, row.tag): (row.values, row.not_long) for row in rows} == expected
    bare = rows_to_path_types(census_of(items, examples=0))
    assert {(row.path, row.tag): (row.values, row.not_long) for row in bare} == expected
    assert all(row.examples == row.not_long_examples == () for row in bare)
    holders: defaultdict[tuple[Any, str], set[str]] = defaultdict(set)
    for key, image in items.items():
        for found in expected_census({key: image}):
            holders[found].add(key)
    for row in rows:
        held = holders[row.path, row.tag]
        assert set(row.examples) <= held
        assert min(held) in row.examples
        assert len(row.examples) <= 3
        assert set(row.not_long_examples) <= set(row.examples) | held


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=6), images(), min_size=1, max_size=6))
def test_the_census_of_shapes_is_the_census_of_the_images(items: dict[str, Any]) -> None:
    shapes = {key: orjson.loads(image_shape_bytes(image)) for key, image in items.items()}
    assert census_of(shapes) == census_of(items)
    assert census_of(shapes, examples=0) == census_of(items, examples=0)


def test_items_of_one_shape_count_once_each() -> None:
    items = {
        f"id={n:02}": {"views": {"N": str(n * 7)}, "tags": {"SS": ["a", str(n)]}} for n in range(30)
    }
    items["id=99"] = {"views": {"N": "19.99"}, "tags": {"SS": ["b"]}}
    shapes = {image_shape_bytes(image) for image in items.values()}
    assert shapes == {
        b'{"views":{"N":"0"},"tags":{"SS":[]}}',
        b'{"views":{"N":"0.5"},"tags":{"SS":[]}}',
    }
    rows = {(row.path, row.tag): row for row in rows_to_path_types(census_of(items, examples=3))}
    assert rows[("views",), "N"].values == 31
    assert rows[("views",), "N"].examples == ("id=00", "id=01", "id=02")
    assert rows[("views",), "N"].not_long_examples == ("id=99",)


def test_numbers_are_long_only_as_integers_within_64_bits() -> None:
    numbers = {
        "a": "9223372036854775807",
        "b": "-9223372036854775808",
        "c": "9223372036854775808",
        "d": "19.99",
        "e": "1E+2",
        "f": "100000000000000348436",
        "g": "-1E-130",
        "h": "12345678901234567890123456789012345678",
        "i": "20",
    }
    items = {f"id={name}": {"n": {"N": text}} for name, text in numbers.items()}
    items["id=set"] = {"n": {"NS": ["1", "2"]}}
    items["id=set2"] = {"n": {"NS": ["1", "2.5"]}}
    rows = {row.tag: row for row in rows_to_path_types(census_of(items, examples=10))}
    assert rows["N"].values == 9
    assert set(rows["N"].not_long_examples) == {"id=c", "id=d", "id=e", "id=f", "id=g", "id=h"}
    assert (rows["NS"].values, rows["NS"].not_long_examples) == (2, ("id=set2",))


def test_paths_name_list_elements_and_quote_odd_names() -> None:
    items = {"k": {"a.b": {"L": [{"M": {'c"d': {"S": "x"}}}, {"N": "1"}]}}}
    texts = {(path_to_text(row.path), row.tag) for row in rows_to_path_types(census_of(items))}
    assert texts == {('"a.b"', "L"), ('"a.b"[]', "M"), ('"a.b"[]', "N"), ('"a.b"[]."c\\"d"', "S")}


def test_key_names_come_back_from_canonical_item_keys() -> None:
    connection = duckdb.connect()
    keys = "SELECT * FROM (VALUES ('a%3Db=1&c%26%25=2'), ('a%3Db=2&c%26%25=3')) t(item_key)"
    assert connection.execute(key_names_sql(keys)).fetchall() == [("a=b",), ("c&%",)]
