"""The mapping rules, rule by rule, on hand-made censuses; merging a user's body; misfits."""

from __future__ import annotations

from typing import Any

from changelake.rebuild.index_mapping import (
    DISABLED,
    DYNAMIC_TEMPLATES,
    KEYWORD_IGNORE_ABOVE,
    TEXT_WITH_KEYWORD,
    census_renames,
    census_to_mapping,
)
from changelake.rebuild.mapping_fit import find_misfits, merge_user_body, new_properties
from changelake.schemas.type_census import PathType, TypeCensus

E = None  # a list's elements


def census(*rows: PathType, keys: tuple[str, ...] = ("id",)) -> TypeCensus:
    return TypeCensus("posts", 10, keys, rows)


def row(path: tuple[str | None, ...], tag: str, values: int = 1, not_long: int = 0) -> PathType:
    examples = tuple(f"id=post#{n}" for n in range(min(values, 3)))
    return PathType(path, tag, values, not_long, examples, examples[:not_long])


def properties(*rows: PathType, keys: tuple[str, ...] = ("id",)) -> dict[str, Any]:
    mapped: dict[str, Any] = census_to_mapping(census(*rows, keys=keys)).body["mappings"][
        "properties"
    ]
    return mapped


def test_numbers_are_long_when_every_one_is_a_64_bit_integer_else_double() -> None:
    assert properties(row(("views",), "N", 5)) == {"views": {"type": "long", "coerce": False}}
    assert properties(row(("price",), "N", 5, not_long=1)) == {"price": {"type": "double"}}
    assert properties(row(("ranks",), "NS", 2), row(("ranks",), "N", 1, 1)) == {
        "ranks": {"type": "double"}
    }
    assert census_to_mapping(census(row(("v",), "N")), long_numbers=False).body["mappings"][
        "properties"
    ] == {"v": {"type": "double"}}


def test_strings_keys_sets_binary_booleans_and_nulls() -> None:
    assert properties(
        row(("id",), "N"),
        row(("title",), "S"),
        row(("tags",), "SS"),
        row(("thumbnail",), "B"),
        row(("hashes",), "BS"),
        row(("published",), "BOOL"),
        row(("deletedAt",), "NULL"),
        row(("empty",), "L"),
    ) == {
        "id": {"type": "keyword"},
        "title": TEXT_WITH_KEYWORD,
        "tags": {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE},
        "thumbnail": {"type": "binary"},
        "hashes": {"type": "binary"},
        "published": {"type": "boolean"},
    }


def test_maps_recurse_and_lists_take_their_elements_types() -> None:
    assert properties(
        row(("author",), "M"),
        row(("author", "name"), "S"),
        row(("author", "id"), "N"),
        row(("blocks",), "L"),
        row(("blocks", E), "M", 3),
        row(("blocks", E, "text"), "S", 2),
        row(("matrix",), "L"),
        row(("matrix", E), "L"),
        row(("matrix", E, E), "N", 4),
        row(("nothing",), "M"),
    ) == {
        "author": {
            "properties": {"id": {"type": "long", "coerce": False}, "name": TEXT_WITH_KEYWORD}
        },
        "blocks": {"properties": {"text": TEXT_WITH_KEYWORD}},
        "matrix": {"type": "long", "coerce": False},
        "nothing": {"type": "object"},
    }


def test_maps_mixed_with_other_values_are_not_indexed_and_named() -> None:
    inferred = census_to_mapping(
        census(row(("meta",), "M", 2), row(("meta", "a"), "S"), row(("meta",), "S", 3))
    )
    assert inferred.body["mappings"]["properties"] == {"meta": DISABLED}
    (note,) = inferred.notes
    assert (note.kind, note.field, note.paths) == ("conflict", "meta", ("meta",))
    assert [(seen.tag, seen.values) for seen in note.types] == [("M", 2), ("S", 3)]
    assert "enabled: false" in note.action
    assert "id=post#0" in note.to_text()


def test_scalar_mixes_become_text_with_a_keyword() -> None:
    inferred = census_to_mapping(census(row(("v",), "N", 2), row(("v",), "S"), row(("v",), "BOOL")))
    assert inferred.body["mappings"]["properties"] == {"v": TEXT_WITH_KEYWORD}
    assert [note.kind for note in inferred.notes] == ["mix"]


def test_dotted_names_are_paths_and_refused_names_are_renamed() -> None:
    rows = (
        row(("a.b",), "N"),
        row(("a",), "M"),
        row(("a", "c"), "S"),
        row(("_id",), "S"),
        row(("x.",), "BOOL"),
    )
    inferred = census_to_mapping(census(*rows))
    assert inferred.body["mappings"]["properties"] == {
        "$_id": TEXT_WITH_KEYWORD,
        "$x%2E": {"type": "boolean"},
        "a": {"properties": {"b": {"type": "long", "coerce": False}, "c": TEXT_WITH_KEYWORD}},
    }
    assert {(note.kind, note.field) for note in inferred.notes} == {
        ("renamed", "$_id"),
        ("renamed", "$x%2E"),
    }
    assert census_renames(census(*rows))
    assert not census_renames(census(row(("a.b",), "N"), row(("m",), "M"), row(("m", "_id"), "S")))
    # A dotted name and a scalar of the same name: the engines see an object and a value.
    clash = census_to_mapping(census(row(("a.b",), "N"), row(("a",), "S")))
    assert clash.body["mappings"]["properties"] == {"a": DISABLED}


def test_the_body_has_templates_and_no_date_detection() -> None:
    mappings = census_to_mapping(census(row(("t",), "S"))).body["mappings"]
    assert mappings["dynamic"] is True
    assert mappings["date_detection"] is False
    assert mappings["dynamic_templates"] == DYNAMIC_TEMPLATES


def test_a_users_fields_win_and_the_census_fills_in_the_rest() -> None:
    inferred = census_to_mapping(
        census(
            row(("views",), "N", 1, 1),
            row(("author",), "M"),
            row(("author", "id"), "N"),
            row(("author", "name"), "S"),
            row(("title",), "S"),
        )
    ).body
    user = {
        "settings": {"index": {"number_of_shards": 2}},
        "mappings": {
            "properties": {"views": {"type": "long"}, "author": {"properties": {"id": {}}}},
            "dynamic_templates": [],
        },
    }
    merged = merge_user_body(user, inferred)
    assert merged["settings"] == {"index": {"number_of_shards": 2}}
    assert merged["mappings"]["dynamic_templates"] == []
    assert merged["mappings"]["date_detection"] is False
    assert merged["mappings"]["properties"] == {
        "views": {"type": "long"},
        "author": {"properties": {"id": {}, "name": TEXT_WITH_KEYWORD}},
        "title": TEXT_WITH_KEYWORD,
    }
    strict = {"mappings": {"dynamic": "strict", "properties": {"id": {"type": "keyword"}}}}
    assert merge_user_body(strict, inferred) == strict


def test_misfits_name_the_field_the_type_and_a_few_items() -> None:
    mappings = {
        "properties": {
            "views": {"type": "long"},
            "score": {"type": "double"},
            "title": {"type": "keyword"},
            "published": {"type": "boolean"},
            "meta": {"type": "object", "enabled": False},
            "author": {"properties": {"name": {"type": "text"}}},
            "when": {"type": "date"},
        }
    }
    found = find_misfits(
        mappings,
        census(
            row(("views",), "N", 4, not_long=2),
            row(("score",), "N", 3),
            row(("score",), "S", 1),
            row(("title",), "N", 2),
            row(("title",), "M", 1),
            row(("title", "x"), "S", 1),
            row(("published",), "S", 2),
            row(("meta",), "S", 2),
            row(("meta",), "M", 2),
            row(("author",), "S", 1),
            row(("author", "name"), "S", 1),
            row(("when",), "S", 1),
            row(("unnamed",), "M", 1),
        ),
    )
    assert [(m.field, m.mapped_as, m.tag, m.values) for m in found] == [
        ("author", "object", "S", 1),
        ("published", "boolean", "S", 2),
        ("score", "double", "S", 1),
        ("title", "keyword", "M", 1),
        ("views", "long", "N", 2),
    ]
    views = found[-1]
    assert views.examples == ("id=post#0", "id=post#1")
    assert views.to_text() == (
        "'views' is mapped as long but holds 2 numbers that are not 64-bit integers "
        "(e.g. id=post#0, id=post#1)"
    )


def test_a_sync_adds_only_the_fields_the_index_lacks() -> None:
    live = {
        "properties": {
            "title": {"type": "text"},
            "author": {"properties": {"name": {"type": "text"}}},
            "off": {"type": "object", "enabled": False},
        }
    }
    inferred = {
        "title": {"type": "keyword"},
        "author": {"properties": {"name": {"type": "keyword"}, "id": {"type": "double"}}},
        "off": {"properties": {"x": {"type": "double"}}},
        "new": DISABLED,
    }
    assert new_properties(live, inferred) == {
        "author": {"properties": {"id": {"type": "double"}}},
        "new": DISABLED,
    }


def test_a_dotted_name_below_a_scalar_field_is_a_misfit_and_a_maps_values_are_not() -> None:
    mappings = {"properties": {"x": {"type": "text"}, "title": {"type": "keyword"}}}
    found = find_misfits(
        mappings,
        census(row(("x.y",), "S", 2), row(("title",), "M", 1), row(("title", "z"), "S", 1)),
    )
    assert [(m.field, m.mapped_as, m.tag, m.values) for m in found] == [
        ("title", "keyword", "M", 1),
        ("x", "text", "S", 2),
    ]
    assert found[1].to_text().startswith("'x' is mapped as text but holds 2 fields below it")
