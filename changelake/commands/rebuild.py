"""``changelake rebuild``: replay the change log into a fresh index and move the alias."""

from __future__ import annotations

import json
from contextlib import ExitStack
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import click

from changelake.archive_tables import require_archive
from changelake.clients import make_search_sink
from changelake.config import ENV_SPARK_MASTER
from changelake.index_options import (
    alias_lease,
    bulk_bytes_option,
    bulk_in_flight_option,
    id_option,
    max_errors_option,
    memory_limit_option,
    replay_options,
    transform_option,
    ttl_deletes_option,
)
from changelake.options import (
    archive_to_alias_options,
    output_option,
    require_table,
    silent_option,
    skip_corrupt_option,
)
from changelake.progress import progress
from changelake.rebuild.document_ids import CANONICAL_ID
from changelake.rebuild.documents import load_transform, transform_digest
from changelake.rebuild.latest_images import check_images_in_stream, latest_in_background
from changelake.rebuild.rebuild_index import RebuildSummary, rebuild_index
from changelake.rebuild.recipe import Recipe, archive_url
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.index_mappings import DEFAULT_MAPPING, load_index_body, shipped_mappings
from changelake.unreadable_files import naming_archive_files, open_command_archive

if TYPE_CHECKING:
    from changelake.search_options import SearchOptions


class Timestamp(click.ParamType):  # type: ignore[type-arg]
    """An ISO 8601 instant, not in the future; without a time zone it is taken as UTC."""

    name = "timestamp"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse ``2026-11-20T09:00:00Z``."""
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time, e.g. 2026-11-20T09:00:00Z", param, ctx)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        now = datetime.now(UTC)
        if moment > now:
            # The archive holds nothing after now: a future time is a mistake, not "latest".
            self.fail(
                f"{value!r} is in the future (it is now {now:%Y-%m-%dT%H:%M:%SZ}); leave the "
                "option out for the latest state",
                param,
                ctx,
            )
        return moment


runner_option = click.option(
    "--runner",
    type=click.Choice(["duckdb", "spark"]),
    default="duckdb",
    show_default=True,
    help="What computes the latest records and sends the documents: DuckDB in this process, or "
    "Spark (pip install changelake[spark]) from its executors in parallel.",
)
spark_master_option = click.option(
    "--spark-master",
    envvar=ENV_SPARK_MASTER,
    default=None,
    help="Spark master for --runner spark, e.g. local[4]. Default: the cluster's under "
    f"spark-submit, else local[*]. Env: {ENV_SPARK_MASTER}.",
)


@click.command()
@archive_to_alias_options
@click.option("--as-of", type=Timestamp(), help="Rebuild the state as of this ISO 8601 instant.")
@transform_option
@click.option(
    "--mapping",
    default=DEFAULT_MAPPING,
    show_default=True,
    help=f"Index body (settings, mappings): a JSON file or one of {', '.join(shipped_mappings())}.",
)
@id_option(CANONICAL_ID)
@ttl_deletes_option("delete")
@click.option("--dry-run", is_flag=True, help="Print the plan and write nothing.")
@click.option(
    "--keep",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Previous targets of the alias to keep for rollback; other rebuilt indexes are deleted.",
)
@max_errors_option
@bulk_bytes_option
@bulk_in_flight_option
@skip_corrupt_option
@memory_limit_option
@runner_option
@spark_master_option
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
    mapping: str,
    id_rule: str,
    ttl_deletes: str,
    dry_run: bool,
    keep: int,
    max_errors: int,
    bulk_bytes: int,
    bulk_in_flight: int,
    skip_corrupt: bool,
    memory_limit: int | None,
    runner: str,
    spark_master: str | None,
    output: str,
    silent: bool,
) -> None:
    """Rebuild the index behind --alias from the change log, then move the alias atomically.

    The index remembers its recipe (table, archive, transform, mapping, --id, --ttl-deletes) in
    its _meta; sync, verify and rollback follow it. The rebuild holds the alias's sync lease, so
    rebuild, sync and repair of one alias never run at once.
    """
    table = require_table(table_name)
    index_body = load_index_body(mapping)
    function = load_transform(transform) if transform else None
    recipe = Recipe(
        table, archive_url(archive), transform=transform,
        transform_sha256=transform_digest(function) if function else None,
        mapping_source=mapping, id_rule=id_rule, ttl_deletes=ttl_deletes,
    )  # fmt: skip
    options = replay_options(function, max_errors, bulk_bytes, bulk_in_flight)
    location = parse_archive_uri(archive)
    require_archive(location, table)  # before the lease: a mistyped archive gets no lock object
    if runner == "spark" and skip_corrupt:
        raise click.UsageError(
            "--skip-corrupt reads the archive with DuckDB; drop it with --runner spark"
        )
    selection = recipe.selection(as_of=as_of)
    rebuild_into = partial(
        rebuild_index, recipe=recipe, alias=alias, index_body=index_body, now=datetime.now(UTC),
        as_of=as_of, keep=keep, dry_run=dry_run, options=options,
    )  # fmt: skip
    with ExitStack() as stack:
        lease = None if dry_run else stack.enter_context(alias_lease(location, table, alias))
        if runner == "spark":
            from changelake.spark_session import spark_rebuild_runner

            sink = make_search_sink(es_url, search)
            spark_runner = spark_rebuild_runner(
                location, selection, es_url, search, sink, spark_master
            )
            with progress(f"Indexing {alias}", silent or dry_run) as bar:
                summary = rebuild_into(
                    None, sink, runner=spark_runner, lease=lease, on_start=bar.start,
                    on_progress=bar.advance,
                )  # fmt: skip
        else:
            connection = open_command_archive(
                location, table, skip_corrupt=skip_corrupt, memory_limit=memory_limit
            )
            stack.enter_context(naming_archive_files(connection, location, table))
            check_images_in_stream(connection, selection)
            # DuckDB works out the latest records while the search client is imported and set up.
            latest = stack.enter_context(latest_in_background(connection, selection))
            sink = make_search_sink(es_url, search)
            with progress(f"Indexing {alias}", silent or dry_run) as bar:
                summary = rebuild_into(
                    connection, sink, latest=latest, lease=lease, on_start=bar.start,
                    on_progress=bar.advance,
                )  # fmt: skip
    if output == "json":
        click.echo(json.dumps(summary.to_dict(), indent=2))
        return
    click.echo(summary_to_text(summary))
    for warning in summary.warnings:
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
