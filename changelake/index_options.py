"""What the index commands (rebuild, sync, verify) share: their options and the alias's lease."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import click

from changelake.config import ENV_ARCHIVE, ENV_DUCKDB_MEMORY_LIMIT, ENV_TABLE
from changelake.memory_limit import MINIMUM, PER_THREAD_CAP
from changelake.options import (
    ByteSize,
    alias_option,
    es_url_option,
    search_options,
    with_options,
)
from changelake.rebuild.bulk import DEFAULT_IN_FLIGHT, DEFAULT_MAX_BYTES
from changelake.rebuild.document_ids import CANONICAL_ID
from changelake.rebuild.latest_images import TTL_POLICIES
from changelake.schemas.byte_sizes import bytes_to_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from changelake.api import RecipeChoices


transform_option = click.option(
    "--transform",
    metavar="MODULE:FUNCTION",
    help="Map each image (a dict) to a document, or None to skip it, "
    "e.g. changelake.examples.posts:post_document. Default: the image as it is; "
    "sync and verify use the one the index was rebuilt with.",
)
accept_transform_change_option = click.option(
    "--accept-transform-change",
    is_flag=True,
    help="Go on although the transform's code changed since the rebuild: the documents written "
    "from now on use the new code (rebuild to apply it to every document).",
)
max_errors_option = click.option(
    "--max-errors",
    type=click.IntRange(min=0),
    default=0,
    help="Documents the engine may refuse before the run fails.",
)
bulk_bytes_option = click.option(
    "--bulk-bytes",
    type=click.IntRange(min=1024),
    default=DEFAULT_MAX_BYTES,
    help="Largest bulk request body in bytes (a larger single document goes alone).",
)
bulk_in_flight_option = click.option(
    "--bulk-in-flight",
    type=click.IntRange(min=1),
    default=DEFAULT_IN_FLIGHT,
    help="Bulk requests sent at once while the next is prepared (1: one after the other).",
)


def id_option(default: str | None) -> Callable[..., Any]:
    """``--id TEMPLATE``: how documents are named; rebuild's default is the canonical key."""
    return click.option(
        "--id",
        "id_rule",
        metavar="TEMPLATE",
        default=default,
        show_default=default is not None,
        help="Document _id: a template over key attributes, e.g. '{postId}' or "
        f"'{{seriesId}}/{{postId}}', or {CANONICAL_ID} (the canonical key, e.g. id=post#9)."
        + ("" if default else " Default: the index's recipe."),
    )


def ttl_deletes_option(default: str | None) -> Callable[..., Any]:
    """``--ttl-deletes delete|keep``: what an item expired by TTL does to its document."""
    return click.option(
        "--ttl-deletes",
        type=click.Choice(TTL_POLICIES),
        default=default,
        show_default=default is not None,
        help="delete: a REMOVE by TTL expiry deletes the document; keep: the document stays "
        "with the item's last image." + ("" if default else " Default: the index's recipe."),
    )


recipe_archive_option = click.option(
    "--archive",
    envvar=ENV_ARCHIVE,
    help="Archive root: s3://bucket/prefix or a local directory. Default: the archive the index "
    f"was rebuilt from. Env: {ENV_ARCHIVE}.",
)

recipe_table_option = click.option(
    "--table",
    "table_name",
    envvar=ENV_TABLE,
    help=f"DynamoDB table name. Default: the table the index was rebuilt from. Env: {ENV_TABLE}.",
)


def recipe_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The alias sync and verify work on, and what they follow: the index's recipe, unless given.

    The command receives ``es_url``, ``search``, ``alias``, and the recipe flags as ``choices``.
    """

    @functools.wraps(command)
    def with_choices(**kwargs: Any) -> Any:
        choices: RecipeChoices = {
            "archive": kwargs.pop("archive"),
            "table": kwargs.pop("table_name"),
            "transform": kwargs.pop("transform"),
            "id_rule": kwargs.pop("id_rule"),
            "ttl_deletes": kwargs.pop("ttl_deletes"),
            "accept_transform_change": kwargs.pop("accept_transform_change"),
        }
        return command(choices=choices, **kwargs)

    return with_options(
        recipe_archive_option,
        recipe_table_option,
        es_url_option,
        search_options,
        alias_option,
        transform_option,
        id_option(None),
        ttl_deletes_option(None),
        accept_transform_change_option,
    )(with_choices)


memory_limit_option = click.option(
    "--memory-limit",
    type=ByteSize(MINIMUM, f"DuckDB's useful minimum of {bytes_to_text(MINIMUM)}"),
    envvar=ENV_DUCKDB_MEMORY_LIMIT,
    help="Memory DuckDB may use before it spills to a temporary directory, e.g. 2GB. Default: a "
    f"quarter of the machine's or container's memory, at most {bytes_to_text(PER_THREAD_CAP)} per "
    f"core. Env: {ENV_DUCKDB_MEMORY_LIMIT}.",
)
