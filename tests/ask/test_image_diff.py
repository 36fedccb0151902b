"""Diffs between item images: added, removed, changed, by path, with exact numbers."""

from __future__ import annotations

from decimal import Decimal

from changelake.ask.image_diff import (
    diff_to_lines,
    images_to_diff,
    value_to_json,
    value_to_json_text,
)
from changelake.schemas.dynamodb_types import json_to_image


def test_added_removed_and_changed_attributes() -> None:
    old = json_to_image('{"id":"p1","title":"a","views":1,"draft":true}')
    new = json_to_image('{"id":"p1","title":"b","views":1,"tags":["x"]}')
    diff = images_to_diff(old, new)
    assert diff.added == {"tags": ["x"]}
    assert diff.removed == {"draft": True}
    assert diff.changed == {"title": ("a", "b")}
    assert diff_to_lines(diff) == ['+ tags: ["x"]', "- draft: true", '~ title: "a" -> "b"']


def test_nested_maps_are_compared_by_path_and_lists_whole() -> None:
    old = json_to_image('{"author":{"name":"Kim","id":1},"blocks":[1,2]}')
    new = json_to_image('{"author":{"name":"Lee","id":1},"blocks":[1,2,3]}')
    assert images_to_diff(old, new).changed == {
        "author.name": ("Kim", "Lee"),
        "blocks": ([1, 2], [1, 2, 3]),
    }


def test_numbers_are_exact_and_equal_values_are_no_change() -> None:
    big = "12345678901234567890.123456789012345678"
    old = json_to_image(f'{{"score":{big},"ratio":1.0}}')
    new = json_to_image(f'{{"score":{big}1,"ratio":1.00}}')
    diff = images_to_diff(old, new)
    assert list(diff.changed) == ["score"]
    assert diff_to_lines(diff) == [f"~ score: {big} -> {big}1"]
    assert value_to_json(Decimal(big)) == big
    assert value_to_json(Decimal("2.5")) == 2.5


def test_a_boolean_is_not_equal_to_a_number() -> None:
    diff = images_to_diff({"flag": 1}, {"flag": True})
    assert diff.changed == {"flag": (1, True)}


def test_insert_and_remove_compare_against_nothing() -> None:
    assert images_to_diff(None, {"id": "p1"}).added == {"id": "p1"}
    assert images_to_diff({"id": "p1"}, None).removed == {"id": "p1"}
    assert not images_to_diff({"id": "p1"}, {"id": "p1"})


def test_long_values_are_cut_for_reading() -> None:
    text = value_to_json_text("x" * 200, width=20)
    assert len(text) == 20
    assert text.endswith("…")
