"""Index bodies (settings and mappings) for ``--mapping``: a user's JSON file, or an example's.

The examples' bodies sit beside their transforms in ``changelake/examples/``: ``posts`` maps the
documents of ``changelake.examples.posts:post_document``. Without a body, a rebuild infers one
from the archive's types (``changelake.rebuild.index_mapping``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from changelake.schemas.exceptions import TerminalError

SHIPPED = Path(__file__).parent / "examples"


class MappingFileError(TerminalError):
    """An index mapping file cannot be read or is not an index body."""


def shipped_mappings() -> list[str]:
    """Names of the shipped index bodies."""
    return sorted(path.stem for path in SHIPPED.glob("*.json"))


def load_index_body(spec: str) -> dict[str, Any]:
    """The index body of a shipped name (``posts``) or a JSON file path."""
    path = SHIPPED / f"{spec}.json" if spec in shipped_mappings() else Path(spec)
    try:
        body = json.loads(path.read_text())
    except OSError as error:
        raise MappingFileError(
            f"--mapping {spec!r}: cannot read it ({error.strerror}); give a JSON file or one of "
            f"{', '.join(shipped_mappings())}"
        ) from None
    except ValueError as error:
        raise MappingFileError(f"--mapping {spec!r} is not JSON: {error}") from None
    if not isinstance(body, dict) or not set(body) <= {"settings", "mappings", "aliases"}:
        raise MappingFileError(
            f"--mapping {spec!r} must be an index body: a JSON object with 'settings' and/or "
            "'mappings'"
        )
    if "aliases" in body:
        raise MappingFileError(
            f"--mapping {spec!r} declares aliases; changelake moves the alias itself, remove them"
        )
    return body
