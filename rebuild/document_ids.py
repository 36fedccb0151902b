"""Document ids: the one rule that names an item's document, written as DuckDB SQL.

The Spark runner's form (``spark_latest.document_id_column``) is built from the same pieces
(``template_pieces``, ``key_value_pattern``, ``UNESCAPES``) and held to this definition by
``tests/rebuild/test_spark_document_ids.py``.

The default rule, ``item_key``, is the item's canonical key (``id=post#9``: names and values
joined as ``schemas.change_record.keys_to_item_key`` writes them). A template over the key
attributes names documents the way an application fetches them: ``{postId}`` gives ``post#9``,
``{seriesId}/{postId}`` gives ``series-7/post#9``. Values are the keys' text as DynamoDB delivers
it (S as is, N as its digits, B as base64). Either way, an id longer than the engines' 512 bytes
becomes ``sha256:`` and the id's SHA-256 in hex.

Rebuild, sync (deletes included), verify and repair all take ``_id`` from
:func:`document_id_sql`; a template is checked before a load for attributes the keys lack and
for two items that would share one id (:func:`check_document_ids`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from changelake.rebuild.search_sink import MAX_ID_BYTES
from changelake.schemas.exceptions import RebuildError
from changelake.schemas.sql_views import quote_literal

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

CANONICAL_ID = "item_key"
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


def template_attributes(rule: str) -> list[str]:
    """The key attributes a template names, in order; empty for the canonical rule.

    Raises :class:`RebuildError` for a template without placeholders or with stray braces.
    """
    if rule == CANONICAL_ID:
        return []
    names = _PLACEHOLDER.findall(rule)
    if not names or "{" in _PLACEHOLDER.sub("", rule) or "}" in _PLACEHOLDER.sub("", rule):
        raise RebuildError(
            f"--id {rule!r} is not an id template: name key attributes in braces, e.g. "
            f"--id '{{postId}}' or --id '{{seriesId}}/{{postId}}' (or {CANONICAL_ID}, the default)"
        )
    return names


# How the item key spells '%', '&' and '=' in names and values (``keys_to_item_key``), in the
# order that undoes it: '%25' last, since the other two sequences never contain a bare '%'.
UNESCAPES = (("%3D", "="), ("%26", "&"), ("%25", "%"))


def _escaped(text: str) -> str:
    """A key name or value as the item key spells it (``keys_to_item_key``'s escaping)."""
    for escaped, character in reversed(UNESCAPES):
        text = text.replace(character, escaped)
    return text


def key_value_pattern(name: str) -> str:
    """The regular expression whose group 1 is key attribute ``name``'s escaped text in
    ``'&' || item_key`` (RE2 and Java read it alike)."""
    return "&" + re.escape(_escaped(name)) + "=([^&]*)"


def key_present_text(name: str) -> str:
    """The text ``'&' || item_key`` contains when the key has attribute ``name``."""
    return "&" + _escaped(name) + "="


def template_pieces(rule: str) -> list[str]:
    """A template split into literal text (even positions) and attribute names (odd ones)."""
    template_attributes(rule)  # validates
    return _PLACEHOLDER.split(rule)


def key_value_sql(name: str, item_key: str = "item_key") -> str:
    """SQL for the text of key attribute ``name`` read back from an item key ('' if absent)."""
    text = f"regexp_extract('&' || {item_key}, {quote_literal(key_value_pattern(name))}, 1)"
    for escaped, character in UNESCAPES:
        text = f"replace({text}, {quote_literal(escaped)}, {quote_literal(character)})"
    return text


def _hashed_if_long(text_sql: str) -> str:
    return (
        f"CASE WHEN strlen({text_sql}) > {MAX_ID_BYTES} THEN 'sha256:' || sha256({text_sql}) "
        f"ELSE {text_sql} END"
    )


def document_id_sql(rule: str = CANONICAL_ID, item_key: str = "item_key") -> str:
    """SQL for the ``_id`` of the item whose canonical key is in column ``item_key``."""
    if rule == CANONICAL_ID:
        return _hashed_if_long(item_key)
    parts = []
    for position, piece in enumerate(template_pieces(rule)):
        if position % 2:
            parts.append(key_value_sql(piece, item_key))
        elif piece:
            parts.append(quote_literal(piece))
    return _hashed_if_long("(" + " || ".join(parts) + ")")


def key_attribute_names(item_key: str) -> list[str]:
    """The key attribute names of a canonical item key (``postId=1&seriesId=a``)."""
    names = (pair.partition("=")[0] for pair in item_key.split("&"))
    return [n.replace("%3D", "=").replace("%26", "&").replace("%25", "%") for n in names]


def check_document_ids(
    connection: DuckDBPyConnection, rule: str, keys_sql: str, *, among_sql: str | None = None
) -> None:
    """Refuse a template that some item keys of ``keys_sql`` cannot fill, or fill alike.

    ``keys_sql`` is a query of ``item_key`` rows: the items to be written. Their ids must also be
    unique among the keys of ``among_sql`` (a sync's items among every key of the archive; by
    default, among themselves). The canonical rule needs no check: it is the key itself.
    """
    names = template_attributes(rule)
    if not names:
        return
    present = " AND ".join(
        f"contains('&' || item_key, {quote_literal(key_present_text(name))})" for name in names
    )
    row = connection.execute(
        f"SELECT item_key FROM ({keys_sql}) WHERE NOT ({present}) ORDER BY item_key LIMIT 1"
    ).fetchone()
    if row is not None:
        raise missing_attribute_error(rule, row[0])
    document_id = document_id_sql(rule)
    # Distinct keys first: the id is computed once per item, not once per change.
    row = connection.execute(
        f"WITH written AS (SELECT DISTINCT {document_id} AS document_id FROM ({keys_sql})), "
        f"keys AS (SELECT item_key, {document_id} AS document_id FROM "
        f"(SELECT DISTINCT item_key FROM ({among_sql or keys_sql}))) "
        "SELECT document_id, min(item_key), max(item_key) FROM keys "
        "WHERE document_id IN (SELECT document_id FROM written) "
        "GROUP BY document_id HAVING count(*) > 1 ORDER BY document_id LIMIT 1"
    ).fetchone()
    if row is not None:
        raise shared_id_error(rule, *row)


def missing_attribute_error(rule: str, item_key: str) -> RebuildError:
    """The refusal of a template naming an attribute that item ``item_key`` lacks."""
    return RebuildError(
        f"--id {rule!r} names {', '.join(template_attributes(rule))}, but item {item_key!r} has "
        f"key attributes {', '.join(key_attribute_names(item_key))} only; name those in the "
        "template"
    )


def shared_id_error(rule: str, document_id: str, first: str, second: str) -> RebuildError:
    """The refusal of a template that gives items ``first`` and ``second`` one ``_id``."""
    every = "/".join(f"{{{name}}}" for name in key_attribute_names(first))
    return RebuildError(
        f"--id {rule!r} gives items {first!r} and {second!r} the same _id {document_id!r}; "
        f"name every key attribute in the template, e.g. --id '{every}'"
    )
