"""The recipe an index was built by, kept in its ``_meta`` so that sync and verify follow it.

A rebuild records the table and archive it read, the transform (its ``module:function`` and a
digest of its module's code), the index body (where it came from and a digest), the document id
rule and the TTL policy. A sync or verify of the alias then needs none of them again; a flag
that says otherwise is refused, naming both values, and a transform whose code changed since the
rebuild is refused unless the caller accepts the change.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from changelake.rebuild.document_ids import CANONICAL_ID, template_attributes
from changelake.rebuild.documents import load_transform, transform_digest
from changelake.rebuild.latest_images import TTL_POLICIES, Selection
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.exceptions import RebuildError

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    Transform = Callable[[dict[str, Any]], dict[str, Any] | None]


def body_digest(body: dict[str, Any]) -> str:
    """SHA-256 of an index body as canonical JSON (keys sorted, no spaces)."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def archive_url(archive: str) -> str:
    """An archive as the recipe records it: ``s3://bucket/prefix`` or an absolute path."""
    return parse_archive_uri(archive).url()


@dataclass(frozen=True)
class Recipe:
    """How an index is built from the archive.

    Stored in the index's ``_meta`` at rebuild; sync, verify and rollback read it back and
    refuse a flag that contradicts it.
    """

    table_name: str
    archive: str
    id_rule: str = CANONICAL_ID
    ttl_deletes: str = "delete"
    transform: str | None = None
    transform_sha256: str | None = None
    mapping_source: str | None = None
    mapping_sha256: str | None = None
    # False for an index rebuilt before the recipe was kept: its transform is not known, and
    # the --transform of its syncs is taken (and recorded) as the recipe's.
    transform_recorded: bool = True

    def __post_init__(self) -> None:
        template_attributes(self.id_rule)  # a bad template is refused before anything runs
        if self.ttl_deletes not in TTL_POLICIES:
            raise RebuildError(
                f"--ttl-deletes {self.ttl_deletes!r} is not one of {', '.join(TTL_POLICIES)}"
            )

    def selection(
        self, *, as_of: datetime | None = None, since: datetime | None = None
    ) -> Selection:
        """The records this recipe reads, named by its id rule."""
        return Selection(
            self.table_name, as_of=as_of, since=since, ttl_deletes=self.ttl_deletes,
            id_rule=self.id_rule,
        )  # fmt: skip

    def to_meta(self) -> dict[str, Any]:
        """The recipe's part of ``_meta.changelake``, JSON-ready."""
        transform = (
            None if self.transform is None
            else {"spec": self.transform, "sha256": self.transform_sha256}
        )  # fmt: skip
        mapping = (
            None if self.mapping_source is None and self.mapping_sha256 is None
            else {"source": self.mapping_source, "sha256": self.mapping_sha256}
        )  # fmt: skip
        return {
            "table": self.table_name,
            "archive": self.archive,
            "transform": transform,
            "mapping": mapping,
            "id": self.id_rule,
            "ttl_deletes": self.ttl_deletes,
        }

    @classmethod
    def from_meta(cls, value: dict[str, Any]) -> Recipe:
        """Read the recipe from ``_meta.changelake`` (fields an older rebuild lacks: defaults)."""
        transform = value.get("transform") or {}
        mapping = value.get("mapping") or {}
        return cls(
            table_name=value["table"],
            archive=value.get("archive") or "",
            transform=transform.get("spec"),
            transform_sha256=transform.get("sha256"),
            mapping_source=mapping.get("source"),
            mapping_sha256=mapping.get("sha256"),
            id_rule=value.get("id") or CANONICAL_ID,
            ttl_deletes=value.get("ttl_deletes") or "delete",
            transform_recorded="transform" in value,
        )


@dataclass(frozen=True)
class RecipeFlags:
    """What the command line says about a recipe: None where a flag was not given."""

    table_name: str | None = None
    archive: str | None = None
    transform: str | None = None
    id_rule: str | None = None
    ttl_deletes: str | None = None
    accept_transform_change: bool = False


def follow_recipe(stored: Recipe, flags: RecipeFlags, index: str) -> Recipe:
    """The stored recipe, once every flag given is checked to agree with it."""
    archive = archive_url(flags.archive) if flags.archive is not None else None
    if not stored.transform_recorded:
        stored = replace(stored, transform=flags.transform, transform_recorded=True)
    checks = (
        ("--table", flags.table_name, stored.table_name),
        ("--archive", archive, stored.archive or archive),
        ("--transform", flags.transform, stored.transform),
        ("--id", flags.id_rule, stored.id_rule),
        ("--ttl-deletes", flags.ttl_deletes, stored.ttl_deletes),
    )
    for flag, given, recorded in checks:
        if given is not None and given != recorded:
            shown = "no transform" if recorded is None else f"{flag} {recorded}"
            raise RebuildError(
                f"{flag} {given} contradicts index {index!r}, which was rebuilt with {shown}; "
                f"leave {flag} out to follow the index's recipe, or rebuild with {flag} {given}"
            )
    if not stored.archive and archive is not None:
        return replace(stored, archive=archive)  # an index from before the recipe was kept
    return stored


def load_recipe_transform(
    recipe: Recipe, index: str, *, accept_change: bool = False
) -> tuple[Recipe, Transform | None]:
    """The recipe's transform, loaded; refused if its code changed since the rebuild.

    With ``accept_change`` the new code is used and the returned recipe records its digest.
    """
    if recipe.transform is None:
        return recipe, None
    function = load_transform(recipe.transform)
    digest = transform_digest(function)
    recorded = recipe.transform_sha256
    if recorded is not None and digest != recorded and not accept_change:
        raise RebuildError(
            f"the code of --transform {recipe.transform} changed since index {index!r} was "
            f"rebuilt with it (sha256 {recorded[:12]} then, {(digest or 'unknown')[:12]} now); "
            "rebuild the alias to apply it to every document, or pass "
            "--accept-transform-change to apply it to the documents written from now on"
        )
    return replace(recipe, transform_sha256=digest), function
