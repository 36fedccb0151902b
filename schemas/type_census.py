"""The type census: the DynamoDB types each attribute path of a table's images holds.

SQL text only; the connection is made elsewhere. The census reads the DynamoDB-typed images
(``new_image_ddb``), where every value names its type (``{"N": "19.99"}``), and walks them with
DuckDB's JSON functions: each map of attributes is unnested with ``json_transform`` into a
``MAP(VARCHAR, MAP(VARCHAR, JSON))`` (name -> type -> content), one level per step of a
recursive CTE, descending only into ``M`` and ``L`` values. ``json_each`` and ``json_tree`` give
the same rows but took 3 to 10 times as long.

A path is the attribute names from the top of the item, with ``LIST_ELEMENT`` (None) for the
elements of an ``L``: ``tags[]`` is ``("tags", None)``. For each path and type the census counts
the values, and for numbers (``N``, and ``NS`` sets as a whole) those that are not an integer
written without fraction or exponent within the signed 64-bit range. On request it names a
few example item keys of each path and type.

An image's *shape* (:func:`image_shape_bytes`) is its typed JSON with every value blanked: the
same names, tags, maps and lists, each number ``"0"`` or ``"0.5"`` by whether it is a 64-bit
integer. Its census is the image's, and items of one table mostly share a few shapes, so the
archiver writes each new image's shape beside it (``new_image_shape``) and the census walks each
distinct shape once, weighted by the items that have it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from collections.abc import Mapping

LIST_ELEMENT = None

TYPE_TAGS = ("S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS")

# The largest number of example item keys a census keeps per path and type.
DEFAULT_EXAMPLES = 3

_ATTRIBUTES = """'"MAP(VARCHAR, MAP(VARCHAR, JSON))"'"""
_ELEMENTS = """'["MAP(VARCHAR, JSON)"]'"""
# An integer within the signed 64-bit range, written without fraction or exponent: the cast
# fails beyond the range, and would round 19.99 and accept 1E+2. The archive's numbers are
# decimal texts (the archiver refuses others), so no other spelling reaches it.
_LONG_TEXT = (
    "(TRY_CAST({text} AS BIGINT) IS NOT NULL AND strpos({text}, '.') = 0 "
    "AND strpos({text}, 'e') = 0 AND strpos({text}, 'E') = 0)"
)
_FITS_LONG = f"""CASE tag
    WHEN 'N' THEN {_LONG_TEXT.format(text="substr(content, 2, length(content) - 2)")}
    WHEN 'NS' THEN list_bool_and(list_transform(CAST(content AS VARCHAR[]),
        n -> {_LONG_TEXT.format(text="n")}))
    END"""


def _typed_values(key: str, parent: str, entries: str, source: str) -> str:
    """One row per typed value of ``entries`` (name -> type -> content structs) of ``source``.

    Only maps and lists keep their content (the next step reads it), so leaves stay small.
    """
    return f"""
SELECT weight, {key}parent, name, tag, CASE WHEN tag IN ('M', 'L') THEN content END AS content,
       {_FITS_LONG} AS fits_long
FROM (
    SELECT weight, {key}parent, entry.key AS name, map_keys(entry.value)[1] AS tag,
           map_values(entry.value)[1] AS content
    FROM (SELECT weight, {key}{parent} AS parent, unnest({entries}) AS entry FROM {source})
)""".strip()


def type_census_sql(images: str, examples: int = 0) -> str:
    """The census of ``images``, a relation of ``item_key`` and ``new_image_ddb`` (not null):
    each item's typed image, or its shape.

    Columns: ``path`` (VARCHAR[], null for a list's elements), ``tag``, ``"values"`` (how many
    values of that type the path holds), ``not_long`` (numbers among them that are not 64-bit
    integers), ``examples`` and ``not_long_examples``: with ``examples``, the item keys of the
    smallest that many values (an item with many values there may be listed more than once),
    else empty. Equal images are walked once, with their count as weight.
    """
    count = int(examples)
    key = "item_key, " if examples else ""
    grouped = (
        "SELECT new_image_ddb, count(*) AS weight"
        + (f", min(item_key, {count}) AS item_key" if examples else "")
        + f" FROM ({images}) GROUP BY new_image_ddb"
    )
    top = _typed_values(
        key,
        "[]::VARCHAR[]",
        f"map_entries(json_transform(new_image_ddb, {_ATTRIBUTES}))",
        "images",
    )
    children = _typed_values(
        key,
        "list_append(parent, name)",
        f"""CASE tag
            WHEN 'M' THEN map_entries(json_transform(content, {_ATTRIBUTES}))
            ELSE list_transform(json_transform(content, {_ELEMENTS}),
                                element -> {{'key': NULL::VARCHAR, 'value': element}})
            END""",
        "(SELECT * FROM nodes WHERE tag IN ('M', 'L'))",
    )
    # Each group of equal images carries its smallest item keys: the path's are the smallest
    # of those of its groups.
    smallest = f"list_slice(list_sort(flatten(list(item_key{{}}))), 1, {count})"
    keys = (
        f"{smallest.format('')} AS examples, "
        f"coalesce({smallest.format(') FILTER (WHERE NOT fits_long')}, []) AS not_long_examples"
        if examples
        else "[]::VARCHAR[] AS examples, []::VARCHAR[] AS not_long_examples"
    )
    # Grouped by the parent's path and the name, so the path list is built once per group.
    return f"""
WITH RECURSIVE images AS ({grouped}),
nodes(weight, {key}parent, name, tag, content, fits_long) AS (
{top}
UNION ALL
{children}
)
SELECT list_append(parent, name) AS path, tag, sum(weight)::BIGINT AS "values",
       coalesce(sum(weight) FILTER (WHERE NOT fits_long), 0)::BIGINT AS not_long, {keys}
FROM nodes GROUP BY parent, name, tag ORDER BY path, tag
""".strip()


# A shape's values: one constant per tag, numbers by whether they are 64-bit integers.
_BLANK_VALUES: dict[str, dict[str, Any]] = {
    "S": {"S": ""},
    "B": {"B": ""},
    "BOOL": {"BOOL": False},
    "NULL": {"NULL": True},
    "SS": {"SS": []},
    "BS": {"BS": []},
}
_LONG = {"N": "0"}
_NOT_LONG = {"N": "0.5"}
_LONG_SET = {"NS": ["0"]}
_NOT_LONG_SET = {"NS": ["0.5"]}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def image_shape_bytes(image: Mapping[str, Any]) -> bytes:
    """The shape of a valid DynamoDB image (typed values): its typed JSON, values blanked.

    ``{"views": {"N": "19.99"}, "tags": {"L": [{"S": "a"}]}}`` has the shape
    ``{"views":{"N":"0.5"},"tags":{"L":[{"S":""}]}}``. The compiled converter (``native/``)
    writes the same bytes.
    """
    return orjson.dumps({name: _shape(value) for name, value in image.items()})


def _shape(value: Mapping[str, Any]) -> dict[str, Any]:
    ((tag, inner),) = value.items()
    if tag == "M":
        return {"M": {name: _shape(element) for name, element in inner.items()}}
    if tag == "L":
        return {"L": [_shape(element) for element in inner]}
    if tag == "N":
        return _LONG if fits_long(inner) else _NOT_LONG
    if tag == "NS":
        return _LONG_SET if all(fits_long(number) for number in inner) else _NOT_LONG_SET
    return _BLANK_VALUES[tag]


def fits_long(text: str) -> bool:
    """Whether a DynamoDB number's text is an integer without fraction or exponent within the
    signed 64-bit range: ``_LONG_TEXT``'s rule."""
    if "." in text or "e" in text or "E" in text:
        return False
    try:
        return _INT64_MIN <= int(text) <= _INT64_MAX
    except ValueError:
        return False


def key_names_sql(images: str) -> str:
    """The key attribute names of ``images``' items, read back from their canonical item keys."""
    # keys_to_item_key writes name=value pairs joined by '&', with '%', '&' and '=' escaped.
    name = "split_part(pair, '=', 1)"
    unescaped = f"replace(replace(replace({name}, '%3D', '='), '%26', '&'), '%25', '%')"
    return (
        f"SELECT DISTINCT {unescaped} AS name FROM (SELECT unnest(string_split(item_key, '&')) "
        f"AS pair FROM (SELECT item_key FROM ({images}) LIMIT 1000)) ORDER BY name"
    )


@dataclass(frozen=True)
class PathType:
    """One type seen at one attribute path: how many values, how many not 64-bit integers."""

    path: tuple[str | None, ...]
    tag: str
    values: int
    not_long: int = 0
    examples: tuple[str, ...] = ()
    not_long_examples: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, the path as text (``author.name``, ``tags[]``)."""
        result: dict[str, Any] = {
            "path": path_to_text(self.path),
            "type": self.tag,
            "values": self.values,
            "examples": list(self.examples),
        }
        if self.tag in {"N", "NS"}:
            result["not_long"] = self.not_long
            if self.not_long:
                result["not_long_examples"] = list(self.not_long_examples)
        return result


@dataclass(frozen=True)
class TypeCensus:
    """The census of one table's images: how many, their key attributes, and the path types."""

    table_name: str
    items: int
    key_names: tuple[str, ...]
    rows: tuple[PathType, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "table": self.table_name,
            "items": self.items,
            "key_attributes": list(self.key_names),
            "paths": [row.to_dict() for row in self.rows],
        }


def rows_to_path_types(rows: list[tuple[Any, ...]]) -> tuple[PathType, ...]:
    """The rows of ``type_census_sql`` as :class:`PathType` values, in path order."""
    return tuple(
        PathType(
            tuple(path),
            tag,
            values,
            not_long,
            tuple(dict.fromkeys(examples)),  # an item with many values is listed once
            tuple(dict.fromkeys(not_long_examples)),
        )
        for path, tag, values, not_long, examples, not_long_examples in rows
    )


def path_to_text(path: tuple[str | None, ...]) -> str:
    """A path for people: names joined by dots, ``[]`` for list elements, odd names quoted."""
    text = ""
    for part in path:
        if part is LIST_ELEMENT:
            text += "[]"
            continue
        plain = part and all(ch.isalnum() or ch in "_-@$#" for ch in part)
        name = part if plain else '"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"'
        text += f".{name}" if text else name
    return text
