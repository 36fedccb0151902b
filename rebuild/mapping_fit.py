"""Whether a mapping can take what the archive holds: misfits, a user's body, fields to add.

Pure, over the type census (``changelake.schemas.type_census``) and index mappings as the
engines write them. ``find_misfits`` judges the fields a mapping names against the census: a
``long`` field and numbers with a fraction or beyond 64 bits (which the engines truncate, or
refuse with ``coerce: false``), a number field and strings, a scalar field and maps, ... A
rebuild refuses a ``--mapping`` file with misfits; a sync holds their items back.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from changelake.rebuild.index_mapping import TYPE_KINDS, census_path_to_field, field_to_text

if TYPE_CHECKING:
    from collections.abc import Mapping

    from changelake.schemas.type_census import PathType, TypeCensus

_OBJECT_TYPES = frozenset({"object", "nested"})
_LONG_TYPES = frozenset({"long", "integer", "short", "byte", "unsigned_long"})
_FLOAT_TYPES = frozenset({"double", "float", "half_float", "scaled_float"})
_TEXT_TYPES = frozenset(
    {"text", "keyword", "match_only_text", "wildcard", "constant_keyword", "search_as_you_type"}
)
# What each DynamoDB type is called in a message.
_TYPE_WORDS = {
    "S": "strings",
    "N": "numbers",
    "B": "binary values",
    "BOOL": "booleans",
    "M": "maps",
    "SS": "string sets",
    "NS": "number sets",
    "BS": "binary sets",
}


@dataclass(frozen=True)
class Misfit:
    """Values of one type that a field's mapping cannot take exactly, and a few item keys."""

    field: str
    mapped_as: str
    tag: str
    values: int
    examples: tuple[str, ...]
    problem: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "field": self.field,
            "mapped_as": self.mapped_as,
            "type": self.tag,
            "values": self.values,
            "examples": list(self.examples),
            "problem": self.problem,
        }

    def to_text(self) -> str:
        """One clause: ``'views' is mapped as long but holds 2 numbers that ... (id=post#3)``."""
        return (
            f"{self.field!r} is mapped as {self.mapped_as} but holds {self.values:,} "
            f"{self.problem} (e.g. {', '.join(self.examples)})"
        )


def _is_dynamic(mappings: Mapping[str, Any]) -> bool:
    return mappings.get("dynamic", True) in (True, "true")


def merge_user_body(user: Mapping[str, Any], inferred: Mapping[str, Any]) -> dict[str, Any]:
    """A user's index body, with the census filling in what it leaves to dynamic mapping.

    The user's fields, settings and top-level mapping options win. Where the user's mapping is
    dynamic (the default), fields it does not name get the census's mapping, and its dynamic
    templates and date detection are the census body's unless it sets its own; a ``strict`` or
    ``false`` mapping (or object) has said what unnamed fields do, and is left as it is.
    """
    result = copy.deepcopy(dict(user))
    mappings = result.setdefault("mappings", {})
    if not _is_dynamic(mappings):
        return result
    inferred_mappings = inferred.get("mappings", {})
    for option in ("date_detection", "dynamic_templates"):
        if option in inferred_mappings:
            mappings.setdefault(option, copy.deepcopy(inferred_mappings[option]))
    merged = _merge_properties(
        mappings.get("properties", {}), inferred_mappings.get("properties", {})
    )
    if merged:
        mappings["properties"] = merged
    return result


def _merge_properties(user: Mapping[str, Any], inferred: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(user))
    for name, mapping in inferred.items():
        mine = merged.get(name)
        if mine is None:
            merged[name] = copy.deepcopy(mapping)
        elif "properties" in mapping and _takes_new_fields(mine):
            mine["properties"] = _merge_properties(
                mine.get("properties", {}), mapping["properties"]
            )
    return merged


def _takes_new_fields(mapping: Mapping[str, Any]) -> bool:
    """An enabled, dynamic object mapping: fields it does not name may be added under it."""
    return (
        _maps_objects(mapping)
        and mapping.get("enabled", True) is not False
        and _is_dynamic(mapping)
    )


def _maps_objects(mapping: Mapping[str, Any]) -> bool:
    return mapping.get("type", "object" if "properties" in mapping else None) in _OBJECT_TYPES


def named_fields(mappings: Mapping[str, Any]) -> set[str]:
    """Every field a mapping names, as dotted paths (``author``, ``author.name``)."""
    names: set[str] = set()

    def walk(properties: Mapping[str, Any], prefix: str) -> None:
        for name, mapping in properties.items():
            path = f"{prefix}{name}"
            names.add(path)
            if isinstance(mapping, dict):
                walk(mapping.get("properties", {}), f"{path}.")

    walk(mappings.get("properties", {}), "")
    return names


_UNNAMED, _UNJUDGED = "unnamed", "unjudged"


@dataclass(frozen=True)
class _UnderScalar:
    """A field path that runs through a scalar field (``x.y`` where ``x`` is ``text``)."""

    field: tuple[str, ...]
    mapping: Mapping[str, Any]


def _mapped_field(mappings: Mapping[str, Any], parts: tuple[str, ...]) -> Any:
    """The mapping of a field, _UNNAMED, _UNJUDGED (inside a disabled field) or _UnderScalar."""
    node: Mapping[str, Any] = mappings
    for depth, part in enumerate(parts):
        if node.get("enabled", True) is False:
            return _UNJUDGED
        properties = node.get("properties")
        if properties is None:
            if node is not mappings and not _maps_objects(node):
                return _UnderScalar(parts[:depth], node)
            return _UNNAMED
        if part not in properties:
            return _UNNAMED
        node = properties[part]
    return node


def _dotted(path: tuple[str | None, ...]) -> bool:
    """True if an attribute name on ``path`` holds a dot, which the engines read as a path."""
    return any(name is not None and "." in name for name in path)


def _problem(mapping: Mapping[str, Any], row: PathType) -> tuple[str, int, tuple[str, ...]] | None:
    """What a field's mapping cannot take among ``row``'s values: (words, count, examples)."""
    if mapping.get("enabled", True) is False or row.tag not in TYPE_KINDS:
        return None
    kind = mapping.get("type", "object" if "properties" in mapping else None)
    accepted: set[str]
    if kind in _OBJECT_TYPES:
        accepted = {"M"}
    elif kind in _LONG_TYPES:
        if row.tag in {"N", "NS"}:
            if not row.not_long:
                return None
            return "numbers that are not 64-bit integers", row.not_long, row.not_long_examples
        accepted = set()
    elif kind in _FLOAT_TYPES:
        accepted = {"N", "NS"}
    elif kind in _TEXT_TYPES:
        accepted = set(TYPE_KINDS) - {"M"}
    elif kind == "boolean":
        accepted = {"BOOL"}
    elif kind == "binary":
        accepted = {"B", "BS"}
    elif row.tag == "M":
        accepted = set()  # no scalar type takes a map
    else:
        return None  # date, ip, geo_point, ...: the census cannot tell
    if row.tag in accepted:
        return None
    return _TYPE_WORDS[row.tag], row.values, row.examples


def find_misfits(
    mappings: Mapping[str, Any], census: TypeCensus, *, examples: int = 3
) -> list[Misfit]:
    """Values the fields ``mappings`` names cannot take exactly, by field and type.

    A ``long`` field and a number with a fraction (truncated, or refused with ``coerce:
    false``), a number field and strings, a scalar field and maps, ... Fields the mapping does
    not name, and anything inside a disabled object, are not judged.
    """
    found: dict[tuple[str, str, str], list[Any]] = {}
    for row in census.rows:
        parts = census_path_to_field(row.path)
        mapping = _mapped_field(mappings, parts) if parts else _UNNAMED
        if isinstance(mapping, _UnderScalar):
            # A map's own values below a scalar field are judged once, at the map; a dotted
            # name is a path the scalar field cannot hold.
            if not _dotted(row.path):
                continue
            parts, mapping = mapping.field, mapping.mapping
            problem: tuple[str, int, tuple[str, ...]] | None = (
                "fields below it (a dotted attribute name)",
                row.values,
                row.examples,
            )
        elif isinstance(mapping, dict):
            problem = _problem(mapping, row)
        else:
            continue
        if problem is None:
            continue
        words, count, keys = problem
        kind = str(mapping.get("type", "object"))
        entry = found.setdefault((field_to_text(parts), kind, row.tag), [words, 0, set()])
        entry[1] += count
        entry[2].update(keys)
    return [
        Misfit(text, kind, tag, count, tuple(sorted(keys)[:examples]), words)
        for (text, kind, tag), (words, count, keys) in sorted(found.items())
    ]


def new_properties(live: Mapping[str, Any], inferred: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``inferred`` (properties) that the ``live`` mappings lack, nested as needed.

    Nothing is added under a disabled, scalar or non-dynamic field of ``live``.
    """
    added: dict[str, Any] = {}
    live_properties = live.get("properties", {})
    for name, mapping in inferred.items():
        mine = live_properties.get(name)
        if mine is None:
            added[name] = copy.deepcopy(mapping)
        elif "properties" in mapping and _takes_new_fields(mine):
            inner = new_properties(mine, mapping["properties"])
            if inner:
                added[name] = {"properties": inner}
    return added
