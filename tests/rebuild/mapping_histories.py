"""Generated histories whose attributes change type between items, and how to read them back.

Shared by the default-mapping tests: a strategy of change records (Lambda-shaped, on the
``posts`` table) with huge and tiny numbers, 20-digit numeric keys, names the engines refuse and
dotted names; the documents a rebuild should hold, written independently of the code under
test; and the raw ``_source`` of every document of an alias, numbers as written.
"""

from __future__ import annotations

import json
import math
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from changelake.rebuild.field_names import rename_fields
from changelake.schemas.dynamodb_types import image_to_plain_json
from tests.helpers import POSTS_STREAM_ARN
from tests.schemas.strategies import names, scalar_values

AT = 1_764_288_000
# Attribute names the items share, so that their types collide; some the engines refuse.
SHARED_NAMES = ["a", "b", "meta", "n", "x", "x.y", "_id", "_source", ".", "$d"]
# DynamoDB's extremes: 38 digits, 1E+125, -1E-130; a 20-digit integer; a price and a count.
NUMBERS = [
    "1E+125",
    "-1E-130",
    "12345678901234567890123456789012345678",
    "100000000000000348436",
    "19.99",
    "20",
    "-0",
]
NUMERIC_KEY_BASE = 100000000000000348436


def _unique_numbers(values: list[str]) -> list[str]:
    return list({Decimal(value): value for value in values}.values())


_scalars = st.one_of(
    scalar_values(),
    st.sampled_from(NUMBERS).map(lambda n: {"N": n}),
    st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=3)
    .map(_unique_numbers)
    .map(lambda v: {"NS": v}),
)
_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.dictionaries(st.sampled_from(SHARED_NAMES) | names, children, max_size=3).map(
            lambda m: {"M": m}
        ),
        st.lists(children, max_size=3).map(lambda items: {"L": items}),
    ),
    max_leaves=6,
)
images = st.dictionaries(st.sampled_from(SHARED_NAMES), _values, max_size=4)


@dataclass(frozen=True)
class Change:
    """One change of one item: its image, or None for a REMOVE."""

    item: int
    image: dict[str, Any] | None


@dataclass(frozen=True)
class History:
    """Changes in time order (one second apart), on string or 20-digit numeric keys."""

    changes: tuple[Change, ...]
    numeric_keys: bool

    def key(self, item: int) -> dict[str, Any]:
        """The typed key of an item."""
        if self.numeric_keys:
            return {"id": {"N": str(NUMERIC_KEY_BASE + item)}}
        return {"id": {"S": f"post#{item}"}}

    def item_key(self, item: int) -> str:
        """The canonical item key, the document ``_id``."""
        ((_, value),) = self.key(item)["id"].items()
        return f"id={value}"

    def records(self, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
        """Lambda-shaped stream records of ``changes[start:stop]``."""
        records = []
        for n, change in list(enumerate(self.changes))[start:stop]:
            block: dict[str, Any] = {
                "ApproximateCreationDateTime": AT + n,
                "Keys": self.key(change.item),
                "SequenceNumber": str(n + 1).zfill(21),
                "SizeBytes": 100,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            }
            if change.image is not None:
                block["NewImage"] = {**change.image, **self.key(change.item)}
            records.append(
                {
                    "eventID": f"event-{n}",
                    "eventName": "MODIFY" if change.image is not None else "REMOVE",
                    "eventVersion": "1.1",
                    "eventSource": "aws:dynamodb",
                    "awsRegion": "us-east-1",
                    "dynamodb": block,
                    "eventSourceARN": POSTS_STREAM_ARN,
                }
            )
        return records

    def latest_images(self, stop: int | None = None) -> dict[str, dict[str, Any]]:
        """Each live item's last typed image among ``changes[:stop]``, by item key."""
        latest: dict[str, dict[str, Any] | None] = {}
        for change in self.changes[:stop]:
            image = None if change.image is None else {**change.image, **self.key(change.item)}
            latest[self.item_key(change.item)] = image
        return {key: image for key, image in latest.items() if image is not None}

    def documents(self, stop: int | None = None) -> dict[str, Any]:
        """The documents an index of ``changes[:stop]`` holds: plain images, names renamed."""
        return {
            key: rename_fields(raw_json(image_to_plain_json(image)))
            for key, image in self.latest_images(stop).items()
        }


@st.composite
def histories(draw: st.DrawFn, max_changes: int = 12) -> History:
    """A history of up to six items, some changes REMOVEs."""
    changes = draw(
        st.lists(
            st.builds(Change, st.integers(0, 5), st.one_of(images, images, images, st.none())),
            min_size=1,
            max_size=max_changes,
        )
    )
    return History(tuple(changes), draw(st.booleans()))


class RawNumber(str):
    """A JSON number as it was written."""


def raw_json(text: str | bytes) -> Any:
    """Parse JSON keeping every number's text (``RawNumber``)."""
    return json.loads(text, parse_float=RawNumber, parse_int=RawNumber)


def same(stored: Any, expected: Any, *, exact: bool) -> bool:
    """Equal values: numbers by their text (``exact``), else as 64-bit floats within 1e-15.

    The Elasticsearch-API emulator re-serializes ``_source`` through floats, and not always to
    the nearest one (-1E-130 comes back as -9.999999999999999e-131), with keys sorted.
    """
    if isinstance(expected, RawNumber):
        if not isinstance(stored, RawNumber):
            return False
        if exact:
            return str(stored) == str(expected)
        return math.isclose(float(stored), float(expected), rel_tol=1e-15)
    if isinstance(expected, dict):
        return (
            isinstance(stored, dict)
            and (list(stored) == list(expected) if exact else set(stored) == set(expected))
            and all(same(stored[name], expected[name], exact=exact) for name in expected)
        )
    if isinstance(expected, list):
        return (
            isinstance(stored, list)
            and len(stored) == len(expected)
            and all(same(a, b, exact=exact) for a, b in zip(stored, expected, strict=True))
        )
    return bool(type(stored) is type(expected) and stored == expected)


def stored_sources(url: str, alias: str) -> dict[str, Any]:
    """Each document's ``_source`` behind ``alias`` by ``_id``, numbers as the engine wrote them."""
    request = urllib.request.Request(
        f"{url}/{alias}/_search?size=10000",
        data=json.dumps({"query": {"match_all": {}}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        hits = raw_json(response.read())["hits"]["hits"]
    return {hit["_id"]: hit["_source"] for hit in hits}


def assert_documents(url: str, alias: str, expected: dict[str, Any], engine: str) -> None:
    """The alias holds exactly ``expected``: digit for digit on OpenSearch, as floats on the
    Elasticsearch-API emulator (which re-serializes ``_source`` through 64-bit floats)."""
    exact = engine == "opensearch"
    stored = stored_sources(url, alias)
    assert set(stored) == set(expected)
    for key, document in expected.items():
        assert same(stored[key], document, exact=exact), (key, stored[key], document)
