"""Attribute names as document field names: the ones the engines refuse, and a reversible rename.

Elasticsearch and OpenSearch refuse a document whose top level holds one of their metadata fields
(``_id``, ``_source``, ``_routing``, ...) and, at any depth, a name that is not a dotted path:
empty, or with an empty or blank part between dots (``""``, ``" "``, ``"."``, ``".x"``,
``"x."``, ``"a..b"``). DynamoDB allows all of them. Such a name is renamed in the document by
one reversible rule:

* ``$`` is put before it, and in the rest ``%`` becomes ``%25`` and ``.`` becomes ``%2E``:
  ``_id`` -> ``$_id``, ``a..b`` -> ``$a%2E%2Eb``, ``""`` -> ``$``;
* a name that already starts with ``$`` is renamed the same way (``$x`` -> ``$$x``), so a renamed
  name never equals an attribute's own name, and ``field_to_attribute`` undoes the rule.

Every other name, dotted ones included (``a.b``, which the engines read as the path a -> b), is
kept as it is. ``_source`` holds the renamed document; the archive keeps the original.
"""

from __future__ import annotations

from typing import Any

# Metadata fields of Elasticsearch 8 and OpenSearch 2 (mapper plugins' included): a document
# cannot hold them at its top level, or, as with ``_doc_count``, they would change its meaning.
METADATA_FIELDS = frozenset(
    {
        "_data_stream_timestamp",
        "_doc_count",
        "_feature",
        "_field_names",
        "_id",
        "_ignored",
        "_ignored_source",
        "_index",
        "_nested_path",
        "_primary_term",
        "_routing",
        "_seq_no",
        "_size",
        "_source",
        "_tier",
        "_ts_routing_hash",
        "_tsid",
        "_type",
        "_version",
    }
)
RENAME_MARK = "$"


def needs_rename(name: str, *, top_level: bool) -> bool:
    """True if the engines cannot take ``name`` as a field name at this depth, as it is."""
    if name.startswith(RENAME_MARK) or any(not part.strip() for part in name.split(".")):
        return True
    return top_level and name in METADATA_FIELDS


def attribute_to_field(name: str, *, top_level: bool) -> str:
    """The field name an attribute gets in a search document (``_id`` -> ``$_id``)."""
    if not needs_rename(name, top_level=top_level):
        return name
    return RENAME_MARK + name.replace("%", "%25").replace(".", "%2E")


def field_to_attribute(field: str) -> str:
    """The attribute name a document field stands for: ``attribute_to_field`` undone."""
    if not field.startswith(RENAME_MARK):
        return field
    return field[len(RENAME_MARK) :].replace("%2E", ".").replace("%25", "%")


def rename_fields(document: dict[str, Any]) -> dict[str, Any]:
    """The document with every name the engines refuse renamed; itself when there is none."""
    return _renamed_map(document, top_level=True)


def _renamed_map(values: dict[str, Any], *, top_level: bool) -> dict[str, Any]:
    renamed: dict[str, Any] | None = None
    for name, value in values.items():
        new_value = _renamed(value)
        new_name = attribute_to_field(name, top_level=top_level)
        if renamed is None and (new_name != name or new_value is not value):
            renamed = {}
            for earlier, kept in values.items():
                if earlier == name:
                    break
                renamed[earlier] = kept
        if renamed is not None:
            renamed[new_name] = new_value
    return values if renamed is None else renamed


def _renamed(value: Any) -> Any:
    if isinstance(value, dict):
        return _renamed_map(value, top_level=False)
    if isinstance(value, list):
        items = [_renamed(item) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value
