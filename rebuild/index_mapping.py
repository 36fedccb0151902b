"""Index mappings from the archive's types: type census -> index body, and notes on its choices.

Pure: census rows in, a body and lists of notes out. Rule by rule (``docs/index-mappings.md``):

* a path's field is its attribute names, renamed where the engines refuse them
  (``changelake.rebuild.field_names``), with list levels left out (a list is many values of
  one field) and dotted names split (the engines read ``a.b`` as the path a -> b);
* ``N`` and ``NS``: ``long`` (``coerce: false``, so a fraction is refused, never truncated)
  when every value is an integer within 64 bits, otherwise ``double``;
* ``S``: ``text`` with a ``keyword`` subfield (``ignore_above`` 256, as the engines' own
  dynamic mapping); key attributes: ``keyword``; ``SS`` alone: ``keyword``;
* ``BOOL``: ``boolean``; ``B`` and ``BS``: ``binary``; ``M``: an object, its attributes
  mapped the same way; ``L``: what its elements map to; ``NULL`` and empty lists: no mapping;
* a field holding maps and other values (``S`` and ``M``, ``N`` and ``M``, ...): an object with
  ``enabled: false``, which the engines keep in ``_source`` without indexing (a *conflict*);
* a field holding several scalar types (``N`` and ``S``, ``BOOL`` and ``S``): ``text`` with
  a ``keyword`` subfield, which takes numbers and booleans as text (a *mix*).

Dynamic templates map what the census has not seen (attributes added later, by a sync): numbers
to ``double``, strings to ``text`` + ``keyword``; dates are never detected from strings. So
the engine never guesses a type a later value contradicts.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from changelake.rebuild.field_names import attribute_to_field, needs_rename
from changelake.schemas.type_census import LIST_ELEMENT, path_to_text

if TYPE_CHECKING:
    from collections.abc import Iterable

    from changelake.schemas.type_census import PathType, TypeCensus

# The engines' own dynamic mapping keeps strings up to 256 characters as keywords too.
SUBFIELD_IGNORE_ABOVE = 256
# Lucene refuses a term over 32,766 bytes; 8,191 characters of up to 4 bytes always fit.
KEYWORD_IGNORE_ABOVE = 8191
SETTINGS = {"index": {"number_of_shards": 1}}

TEXT_WITH_KEYWORD: dict[str, Any] = {
    "type": "text",
    "fields": {"keyword": {"type": "keyword", "ignore_above": SUBFIELD_IGNORE_ABOVE}},
}
DISABLED: dict[str, Any] = {"type": "object", "enabled": False}
DYNAMIC_TEMPLATES: list[dict[str, Any]] = [
    # Integers beyond 64 bits arrive as "long" too: double takes 20 digits, 1E+125 and -1E-130.
    {"integers_as_double": {"match_mapping_type": "long", "mapping": {"type": "double"}}},
    {"decimals_as_double": {"match_mapping_type": "double", "mapping": {"type": "double"}}},
    {"strings_as_text": {"match_mapping_type": "string", "mapping": TEXT_WITH_KEYWORD}},
]

# What each DynamoDB type is to a search engine (NULL and L are neither: a list is its elements).
TYPE_KINDS = {
    "N": "number",
    "NS": "number",
    "S": "string",
    "SS": "string",
    "B": "binary",
    "BS": "binary",
    "BOOL": "boolean",
    "M": "object",
}


@dataclass(frozen=True)
class TypeSeen:
    """One DynamoDB type at one field: how many values, a few item keys holding one."""

    tag: str
    values: int
    examples: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"type": self.tag, "values": self.values, "examples": list(self.examples)}


@dataclass(frozen=True)
class MappingNote:
    """A field the census maps in a way worth knowing before the load.

    ``kind``: ``conflict`` (maps and other values: kept in ``_source``, not indexed), ``mix``
    (several scalar types: indexed as text) or ``renamed`` (a name the engines refuse).
    """

    kind: str
    field: str
    paths: tuple[str, ...]
    types: tuple[TypeSeen, ...]
    action: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self) | {"types": [seen.to_dict() for seen in self.types]}

    def to_text(self) -> str:
        """One line: the field, its types with counts and example keys, what the load does."""
        seen = ", ".join(
            f"{s.tag} in {s.values:,} ({', '.join(s.examples)})" for s in self.types if s.values
        )
        return f"{self.kind}: {self.field}: {seen}: {self.action}"


@dataclass(frozen=True)
class InferredMapping:
    """The index body the census gives, and the notes on the fields it had to decide."""

    body: dict[str, Any]
    notes: tuple[MappingNote, ...]


def dynamic_body() -> dict[str, Any]:
    """The body with no census: dynamic templates only (numbers double, strings text)."""
    return {
        "settings": copy.deepcopy(SETTINGS),
        "mappings": {
            "dynamic": True,
            "date_detection": False,
            "dynamic_templates": copy.deepcopy(DYNAMIC_TEMPLATES),
        },
    }


def census_path_to_field(path: tuple[str | None, ...]) -> tuple[str, ...]:
    """The field an attribute path is indexed under: names renamed, lists dropped, dots split."""
    names = [name for name in path if name is not LIST_ELEMENT]
    return tuple(
        part
        for depth, name in enumerate(names)
        for part in attribute_to_field(name, top_level=depth == 0).split(".")
    )


def field_to_text(parts: Iterable[str]) -> str:
    """A field path as the engines write it: ``author.name``."""
    return ".".join(parts)


def census_renames(census: TypeCensus) -> bool:
    """True if some attribute name must be renamed in the documents (``field_names``)."""
    return any(
        name is not LIST_ELEMENT and needs_rename(name, top_level=depth == 0)
        for row in census.rows
        for depth, name in enumerate(row.path)
    )


@dataclass
class _Field:
    """Everything the census saw at one field, merged over the paths that lead there."""

    paths: set[str] = field(default_factory=set)
    seen: dict[str, list[Any]] = field(default_factory=dict)  # tag -> [values, not_long, ex]
    children: dict[str, _Field] = field(default_factory=dict)

    def add(self, row: PathType) -> None:
        self.paths.add(path_to_text(row.path))
        values, not_long, examples = self.seen.setdefault(row.tag, [0, 0, set()])
        self.seen[row.tag] = [values + row.values, not_long + row.not_long, examples]
        examples.update(row.examples)

    def kinds(self) -> set[str]:
        kinds = {TYPE_KINDS[tag] for tag in self.seen if tag in TYPE_KINDS}
        return kinds | {"object"} if self.children else kinds

    def types(self, examples: int = 3) -> tuple[TypeSeen, ...]:
        return tuple(
            TypeSeen(tag, values, tuple(sorted(keys)[:examples]))
            for tag, (values, _, keys) in sorted(self.seen.items())
            if tag in TYPE_KINDS
        )

    def note(self, kind: str, name: str, action: str) -> MappingNote:
        """A :class:`MappingNote` of ``kind`` on this field (``name``): its paths and types."""
        return MappingNote(kind, name, tuple(sorted(self.paths)), self.types(), action)


def _field_tree(census: TypeCensus) -> dict[str, _Field]:
    root: dict[str, _Field] = {}
    for row in census.rows:
        parts = census_path_to_field(row.path)
        if not parts:
            continue
        fields = root
        for part in parts[:-1]:
            fields = fields.setdefault(part, _Field()).children
        fields.setdefault(parts[-1], _Field()).add(row)
    return root


def census_to_mapping(census: TypeCensus, *, long_numbers: bool = True) -> InferredMapping:
    """The index body for ``census`` and the notes on conflicts, mixes and renamed names.

    ``long_numbers=False`` maps every number to ``double`` (fields a sync adds: a later value
    may be a fraction, and a sync cannot change a field's type).
    """
    keys = {attribute_to_field(name, top_level=True) for name in census.key_names}
    notes: list[MappingNote] = []
    properties = _properties(_field_tree(census), (), keys, long_numbers, notes)
    notes.extend(_rename_notes(census))
    body = dynamic_body()
    body["mappings"]["properties"] = properties
    return InferredMapping(body, tuple(notes))


def _properties(
    fields: dict[str, _Field],
    parent: tuple[str, ...],
    keys: set[str],
    long_numbers: bool,
    notes: list[MappingNote],
) -> dict[str, Any]:
    properties = {}
    for name in sorted(fields):
        mapping = _field_mapping(fields[name], (*parent, name), keys, long_numbers, notes)
        if mapping is not None:
            properties[name] = mapping
    return properties


def _field_mapping(
    node: _Field,
    parts: tuple[str, ...],
    keys: set[str],
    long_numbers: bool,
    notes: list[MappingNote],
) -> dict[str, Any] | None:
    kinds = node.kinds()
    if not kinds:
        return None
    text = field_to_text(parts)
    if "object" in kinds:
        if len(kinds) > 1:
            notes.append(
                node.note("conflict", text, "not indexed (enabled: false), kept in _source")
            )
            return copy.deepcopy(DISABLED)
        properties = _properties(node.children, parts, keys, long_numbers, notes)
        return {"properties": properties} if properties else {"type": "object"}
    if len(parts) == 1 and parts[0] in keys:
        return {"type": "keyword"}
    if len(kinds) > 1:
        notes.append(
            node.note(
                "mix",
                text,
                "indexed as text with a keyword subfield (numbers and booleans as text)",
            )
        )
        return copy.deepcopy(TEXT_WITH_KEYWORD)
    (kind,) = kinds
    if kind == "number":
        all_long = all(not_long == 0 for _, not_long, _ in node.seen.values())
        return (
            {"type": "long", "coerce": False} if long_numbers and all_long else {"type": "double"}
        )
    if kind == "string":
        if "S" not in node.seen:
            return {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}
        return copy.deepcopy(TEXT_WITH_KEYWORD)
    return {"type": kind}


def _rename_notes(census: TypeCensus) -> list[MappingNote]:
    renamed: dict[tuple[str, str], _Field] = {}
    for row in census.rows:
        names = [name for name in row.path if name is not LIST_ELEMENT]
        last = row.path[-1] if row.path else LIST_ELEMENT
        if last is not LIST_ELEMENT and needs_rename(last, top_level=len(names) == 1):
            key = (path_to_text(row.path), field_to_text(census_path_to_field(row.path)))
            renamed.setdefault(key, _Field()).add(row)
    # Each node holds the rows of one original path, so its paths are that path alone.
    return [
        node.note("renamed", text, f"the engines refuse the name here: indexed as {text!r}")
        for (_, text), node in sorted(renamed.items())
    ]
