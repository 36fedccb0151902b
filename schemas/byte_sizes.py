"""Sizes in bytes, read and written one way for every command.

Units follow IEC: ``KB``, ``MB``, ``GB``, ``TB`` are powers of 1000 and ``KiB``, ``MiB``, ``GiB``,
``TiB`` powers of 1024 (as DuckDB reads them). Sizes print in the binary units, so a size that
prints can be typed back as it reads.
"""

from __future__ import annotations

import re

MIB = 2**20
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)


def text_to_bytes(text: str) -> int:
    """``128MiB`` / ``1.5GB`` / ``65536`` -> bytes; a ValueError naming the value."""
    match = _SIZE.fullmatch(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(
            f"{text!r} is not a size; write bytes or a number with a unit, e.g. 512MiB or 2GB"
        )
    return int(float(match.group(1)) * _UNITS[unit])


def bytes_to_text(size: int) -> str:
    """``1536`` -> ``1.5 KiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
