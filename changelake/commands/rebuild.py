"""``changelake rebuild``: replay the change log into a fresh index and move the alias."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from changelake.clients import make_search_sink
from changelake.options import (
    archive_to_alias_options,
    output_option,
    silent_option,
    skip_corrupt_option,
)
from changelake.progress import progress
from changelake.rebuild.bulk import DEFAULT_IN_FLIGHT, DEFAULT_MAX_BYTES
from changelake.rebuild.documents import load_transform
from changelake.rebuild.latest_images import Selection, latest_in_background
from changelake.rebuild.mapping_plan import plan_rebuild_mapping
from changelake.rebuild.rebuild_index import RebuildSummary, rebuild_index
from changelake.rebuild.replay import ReplayOptions
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.index_mappings import load_index_body, shipped_mappings
from changelake.unreadable_files import naming_archive_files, open_command_archive

if TYPE_CHECKING:
    from changelake.search_options import SearchOptions


class Timestamp(click.ParamType):  # type: ignore[type-arg]
    """An ISO 8601 instant; without a time zone it is taken as UTC."""

    name = "timestamp"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse ``2026-11-20T09:00:00Z``."""
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time, e.g. 2026-11-20T09:00:00Z", param, ctx)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def require_table(table_name: str | None) -> str:
    """The table name, or a usage error saying how to give it."""
    if not table_name:
        raise click.UsageError("--table is required (or set CHANGELAKE_TABLE)")
    return table_name


def replay_options(
    transform: str | None,
    max_errors: int,
    bulk_bytes: int = DEFAULT_MAX_BYTES,
    bulk_in_flight: int = DEFAULT_IN_FLIGHT,
) -> ReplayOptions:
    """Replay options from the command line."""
    return ReplayOptions(
        transform=load_transform(transform) if transform else None,
        max_bytes=bulk_bytes,
        max_errors=max_errors,
        in_flight=bulk_in_flight,
    )


transform_option = click.option(
    "--transform",
    metavar="MODULE:FUNCTION",
    help="Map each image (a dict) to a document, or None to skip it, "
    "e.g. changelake.rebuild.transforms:post_document. Default: the image as it is.",
)
max_errors_option = click.option(
    "--max-errors",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Documents the engine may refuse before the run fails.",
)
bulk_bytes_option = click.option(
    "--bulk-bytes",
    type=click.IntRange(min=1024),
    default=DEFAULT_MAX_BYTES,
    show_default=True,
    help="Largest bulk request body in bytes (a larger single document goes alone).",
)
bulk_in_flight_option = click.option(
    "--bulk-in-flight",
    type=click.IntRange(min=1),
    default=DEFAULT_IN_FLIGHT,
    show_default=True,
    help="Bulk requests sent at once while the next is prepared (1: one after the other).",
)


@click.command()
@archive_to_alias_options
@click.option("--as-of", type=Timestamp(), help="Rebuild the state as of this ISO 8601 instant.")
@transform_option
@click.option(
    "--mapping",
    default=None,
    help="Index body (settings, mappings): a JSON file or one of "
    f"{', '.join(shipped_mappings())}; its fields win, the archive's types map the rest. "
    "Default: the mapping inferred from the archive's types (see changelake mapping).",
)
@click.option("--dry-run", is_flag=True, help="Print the plan and write nothing.")
@click.option(
    "--keep",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Previous rebuilt indexes to keep for rollback; older ones are deleted.",
)
@max_errors_option
@bulk_bytes_option
@bulk_in_flight_option
@skip_corrupt_option
@output_option
@silent_option
def rebuild(
    archive: str,
    table_name: str | None,
    es_url: str,
    search: SearchOptions,
    alias: str,
    as_of: datetime | None,
    transform: str | None,
    mapping: str | None,
    dry_run: bool,
    keep: int,
    max_errors: int,
    bulk_bytes: int,
    bulk_in_flight: int,
    skip_corrupt: bool,
    output: str,
    silent: bool,
) -> None:
    """Rebuild the index behind --alias from the change log, then move the alias atomically."""
    table = require_table(table_name)
    user_body = load_index_body(mapping) if mapping else None
    options = replay_options(transform, max_errors, bulk_bytes, bulk_in_flight)
    location = parse_archive_uri(archive)
    connection = open_command_archive(location, table, skip_corrupt=skip_corrupt)
    census = transform is None  # with a transform, the images' types say little of the documents
    with (
        naming_archive_files(connection, location, table),
        # DuckDB works out the latest records while the search client is imported and set up.
        latest_in_background(
            connection, Selection(table, as_of=as_of), typed_images=census
        ) as latest,
    ):
        sink = make_search_sink(es_url, search)
        plan = plan_rebuild_mapping(
            connection,
            latest,
            table_name=table,
            user_body=user_body,
            user_spec=mapping,
            transform=not census,
        )
        refusal = plan.refusal()
        if refusal is not None and not dry_run:
            raise refusal
        options = plan.replay_options(options)
        with progress(f"Indexing {alias}", silent or dry_run) as bar:
            summary = rebuild_index(
                connection,
                sink,
                archive_uri=archive,
                table_name=table,
                alias=alias,
                index_body=plan.body,
                now=datetime.now(UTC),
                as_of=as_of,
                keep=keep,
                dry_run=dry_run,
                options=options,
                latest=latest,
                on_start=bar.start,
                on_progress=bar.advance,
            )
    if output == "json":
        click.echo(json.dumps({**summary.to_dict(), "mapping": plan.to_dict()}, indent=2))
        return
    click.echo(summary_to_text(summary))
    if dry_run:
        click.echo("\n".join(plan.to_lines()))
    warnings = [*summary.warnings, *([] if dry_run else (n.to_text() for n in plan.notes))]
    for warning in warnings:
        click.echo(f"Warning: {warning}", err=True)


def summary_to_text(summary: RebuildSummary) -> str:
    """One or two lines saying what the rebuild did or would do."""
    old = ", ".join(summary.alias_from) or "nothing"
    as_of = f" as of {summary.as_of}" if summary.as_of else ""
    if summary.dry_run:
        return (
            f"Would index {summary.documents} documents{as_of} into {summary.index} and move "
            f"alias {summary.alias} from {old} ({summary.removed_items} removed items left out, "
            f"{summary.skipped} without an image skipped)"
        )
    lines = [
        f"Indexed {summary.documents} documents{as_of} into {summary.index} and moved alias "
        f"{summary.alias} from {old} in {summary.seconds:.1f}s"
    ]
    details = [
        f"{summary.skipped} skipped" if summary.skipped else "",
        f"{summary.failed} refused" if summary.failed else "",
        f"{summary.retries} requests retried" if summary.retries else "",
        f"deleted {', '.join(summary.deleted_indexes)}" if summary.deleted_indexes else "",
    ]
    if any(details):
        lines.append("; ".join(d for d in details if d))
    return "\n".join(lines)
