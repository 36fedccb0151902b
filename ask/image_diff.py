"""What changed between two item images: attributes added, removed and changed.

Images are the archive's plain JSON. Nested maps are compared attribute by attribute and named
by their path (``author.name``); lists and sets are compared whole. Numbers are read as exact
decimals, so ``1.0`` -> ``1.00`` is no change but 38-digit numbers keep every digit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

# A value longer than this is cut in the text diff (the JSON output keeps it whole).
MAX_VALUE_WIDTH = 80


@dataclass(frozen=True)
class ImageDiff:
    """Attribute paths added, removed and changed (old, new) between two images."""

    added: dict[str, Any] = field(default_factory=dict)
    removed: dict[str, Any] = field(default_factory=dict)
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: ``{"added": {...}, "removed": {...}, "changed": {p: {old, new}}}``."""
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": {
                path: {"old": old, "new": new} for path, (old, new) in self.changed.items()
            },
        }


def images_to_diff(old: dict[str, Any] | None, new: dict[str, Any] | None) -> ImageDiff:
    """Compare two images (either may be missing: an insert or a remove)."""
    before = dict(_flatten(old or {}))
    after = dict(_flatten(new or {}))
    return ImageDiff(
        added={path: after[path] for path in sorted(after.keys() - before.keys())},
        removed={path: before[path] for path in sorted(before.keys() - after.keys())},
        changed={
            path: (before[path], after[path])
            for path in sorted(before.keys() & after.keys())
            if not _same(before[path], after[path])
        },
    )


def diff_to_lines(diff: ImageDiff) -> list[str]:
    """Readable lines: ``+ path: value``, ``- path: value``, ``~ path: old -> new``."""
    lines = [f"+ {path}: {value_to_json_text(value)}" for path, value in diff.added.items()]
    lines += [f"- {path}: {value_to_json_text(value)}" for path, value in diff.removed.items()]
    lines += [
        f"~ {path}: {value_to_json_text(old)} -> {value_to_json_text(new)}"
        for path, (old, new) in diff.changed.items()
    ]
    return lines


def value_to_json_text(value: Any, width: int = MAX_VALUE_WIDTH) -> str:
    """A value as compact JSON text (exact numbers), cut to ``width`` characters."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_exact_number)
    text = text.replace('"__number__:', "").replace(':__number__"', "")
    return text if len(text) <= width else text[: width - 1] + "…"


def value_to_json(value: Any) -> Any:
    """A value ready for a JSON document: decimals as numbers when exact, else as strings."""
    if isinstance(value, Decimal):
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, dict):
        return {k: value_to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [value_to_json(v) for v in value]
    return value


def _flatten(image: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    for name, value in image.items():
        path = f"{prefix}{name}"
        if isinstance(value, dict) and value:
            pairs.extend(_flatten(value, path + "."))
        else:
            pairs.append((path, value))
    return pairs


def _same(a: Any, b: Any) -> bool:
    # bool is an int in Python: True == 1 must still count as a change.
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def _exact_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"__number__:{value}:__number__"
    raise TypeError(f"cannot show {type(value).__name__}")
