"""Names the engines refuse are renamed by one reversible rule; every other name is kept."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from changelake.rebuild.field_names import (
    METADATA_FIELDS,
    attribute_to_field,
    field_to_attribute,
    needs_rename,
    rename_fields,
)

names = st.one_of(st.text(max_size=8), st.sampled_from(sorted(METADATA_FIELDS)))


@given(names, st.booleans())
def test_the_rename_is_undone_and_its_result_needs_none(name: str, top_level: bool) -> None:
    field = attribute_to_field(name, top_level=top_level)
    assert field_to_attribute(field) == name
    assert all(part.strip() for part in field.split("."))
    assert not (top_level and field in METADATA_FIELDS)


@given(names, names, st.booleans())
def test_two_names_never_share_a_field(first: str, second: str, top_level: bool) -> None:
    if first != second:
        assert attribute_to_field(first, top_level=top_level) != attribute_to_field(
            second, top_level=top_level
        )


def test_what_is_renamed_and_how() -> None:
    odd = ["_id", "_source", "", ".", "x.", ".x", "a..b", "$x", "50%.", "a.b", " ", "a.\t"]
    renamed = {name: attribute_to_field(name, top_level=True) for name in odd}
    assert renamed == {
        "_id": "$_id",
        "_source": "$_source",
        "": "$",
        ".": "$%2E",
        "x.": "$x%2E",
        ".x": "$%2Ex",
        "a..b": "$a%2E%2Eb",
        "$x": "$$x",
        "50%.": "$50%25%2E",
        "a.b": "a.b",
        " ": "$ ",
        "a.\t": "$a%2E\t",
    }
    assert not needs_rename("_id", top_level=False)
    assert not needs_rename("_foo", top_level=True)


def test_documents_are_renamed_at_every_depth_and_kept_when_nothing_is() -> None:
    document = {"_id": 1, "keep": {"_id": 2, "": [{"a..b": 3}, 4]}, "title": "x"}
    assert rename_fields(document) == {
        "$_id": 1,
        "keep": {"_id": 2, "$": [{"$a%2E%2Eb": 3}, 4]},
        "title": "x",
    }
    assert list(rename_fields(document)) == ["$_id", "keep", "title"]
    plain = {"title": "x", "nested": {"a.b": [1, {"c": 2}]}}
    assert rename_fields(plain) is plain
