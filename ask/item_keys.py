"""Item keys as people type them: attributes in any order, one at a time, part of a key, a value.

The archive names an item by its canonical key (``changelake.schemas.change_record``): key
attributes sorted by name, ``name=value`` joined with ``&``. Here a key typed in another order is
put in that form, and a partial key (some of the key attributes, or a bare value of one) is
matched against the items of one table, so a question about an item never looks at another
table's items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from changelake.schemas.change_record import item_key_to_texts, texts_to_item_key
from changelake.schemas.exceptions import QueryError
from changelake.schemas.sql_views import CHANGE_ROWS, quote_literal

if TYPE_CHECKING:
    from collections.abc import Iterable

    from duckdb import DuckDBPyConnection

# Items named in a message: enough to recognise the form, few enough for one line.
SHOWN_KEYS = 5


@dataclass(frozen=True)
class KeyQuery:
    """A key as typed: attributes by name, and values whose attribute is not named."""

    attributes: dict[str, str] = field(default_factory=dict)
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        return "&".join(filter(None, [texts_to_item_key(self.attributes), *self.values]))


def text_to_key_query(text: str) -> KeyQuery:
    """``b=2&a=1`` -> attributes a and b; ``post#0001`` (no ``=``) -> a value of any attribute.

    Raises :class:`ValueError` for a part that is not ``name=value`` in a key of several parts.
    """
    if "=" not in text and "&" not in text:
        return KeyQuery(values=(text,))
    return KeyQuery(item_key_to_texts(text))


def option_to_pair(text: str) -> tuple[str, str]:
    """``postId=post#0001`` -> ``("postId", "post#0001")``: the value is taken as typed.

    Raises :class:`ValueError` when there is no ``=`` or no name.
    """
    name, found, value = text.partition("=")
    if not found or not name:
        raise ValueError(f"{text!r} is not NAME=VALUE")
    return name, value


def merge_key_query(query: KeyQuery, pairs: Iterable[tuple[str, str]]) -> KeyQuery:
    """A typed key and single ``NAME=VALUE`` options, as one query.

    Raises :class:`ValueError` when one attribute is given two different values.
    """
    merged = dict(query.attributes)
    for name, value in pairs:
        if merged.get(name, value) != value:
            raise ValueError(f"key attribute {name!r} is given as {merged[name]!r} and {value!r}")
        merged[name] = value
    return KeyQuery(merged, query.values)


def matching_items_sql(table_name: str, query: KeyQuery, limit: int) -> str:
    """Distinct item keys of one table holding every attribute and value of ``query``."""
    parts = [f"&{texts_to_item_key({name: value})}&" for name, value in query.attributes.items()]
    # A bare value matches some attribute's whole value, escaped as the key escapes it.
    parts += [texts_to_item_key({"": value}) + "&" for value in query.values]
    conditions = [f"table_name = {quote_literal(table_name)}"]
    conditions += [f"contains('&' || item_key || '&', {quote_literal(part)})" for part in parts]
    return (
        f"SELECT DISTINCT item_key FROM {CHANGE_ROWS} WHERE {' AND '.join(conditions)} "
        f"ORDER BY item_key LIMIT {limit}"
    )


def resolve_item_key(connection: DuckDBPyConnection, table_name: str, query: KeyQuery) -> str:
    """The item key of the one item of ``table_name`` that has every attribute of ``query``.

    The whole key in any order names its item; part of a key names the one item it matches.
    Raises :class:`QueryError` listing the matches when there are several, or some keys of the
    table when there are none.
    """
    typed = str(query)
    if not query.values and _item_keys(connection, _exact_item_sql(table_name, typed)):
        return typed  # the whole key: found by the files' statistics, no scan of every key
    found = _item_keys(connection, matching_items_sql(table_name, query, SHOWN_KEYS + 1))
    if len(found) == 1:
        return found[0]
    if found:
        more = " and more" if len(found) > SHOWN_KEYS else ""
        raise QueryError(
            f"key {typed!r} matches several items of table {table_name!r}: "
            f"{_listed(found[:SHOWN_KEYS])}{more}; give every key attribute "
            "(the whole key, or --key NAME=VALUE once per attribute)"
        )
    examples = _item_keys(connection, matching_items_sql(table_name, KeyQuery(), 3))
    if not examples:
        raise QueryError(
            f"table {table_name!r} has no changes in this archive; check --table and --archive"
        )
    raise QueryError(
        f"no item of table {table_name!r} has the key {typed!r}; its keys look like "
        f"{_listed(examples)}"
    )


def _exact_item_sql(table_name: str, item_key: str) -> str:
    return (
        f"SELECT item_key FROM {CHANGE_ROWS} WHERE table_name = {quote_literal(table_name)} "
        f"AND item_key = {quote_literal(item_key)} LIMIT 1"
    )


def _item_keys(connection: DuckDBPyConnection, sql: str) -> list[str]:
    return [key for (key,) in connection.execute(sql).fetchall()]


def _listed(keys: list[str]) -> str:
    return ", ".join(repr(key) for key in keys)
