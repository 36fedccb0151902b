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
from changelake.rebuild.latest_images import latest_in_background
from changelake.rebuild.mapping_plan import plan_index_body, plan_rebuild_mapping
from changelake.rebuild.rebuild_index import RebuildSummary, rebuild_index
from changelake.rebuild.recipe import Recipe, archive_url
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.index_mappings import load_index_body, shipped_mappings
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
    default=None,
    help="Index body (settings, mappings): a JSON file or one of "
    f"{', '.join(shipped_mappings())}; its fields win, the archive's types map the rest. "
    "Default: the mapping inferred from the archive's types (see changelake mapping).",
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
    mapping: str | None,
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
    user_body = load_index_body(mapping) if mapping else None
    function = load_transform(transform) if transform else None
    recipe = Recipe(
        table, archive_url(archive), transform=transform,
        transform_sha256=transform_digest(function) if function else None,
        mapping_source=mapping or _default_mapping_source(function, runner),
        id_rule=id_rule, ttl_deletes=ttl_deletes,
    )  # fmt: skip
    options = replay_options(function, max_errors, bulk_bytes, bulk_in_flight)
    location = parse_archive_uri(archive)
    require_archive(location, table)  # before the lease: a mistyped archive gets no lock object
    if runner == "spark" and skip_corrupt:
        raise click.UsageError(
            "--skip-corrupt reads the archive with DuckDB; drop it with --runner spark"
        )
    selection = recipe.selection(as_of=as_of)
    census = function is None  # with a transform, the images' types say little of the documents
    rebuild_into = partial(
        rebuild_index, recipe=recipe, alias=alias, now=datetime.now(UTC), as_of=as_of,
        keep=keep, dry_run=dry_run,
    )  # fmt: skip
    with ExitStack() as stack:
        lease = None if dry_run else stack.enter_context(alias_lease(location, table, alias))
        if runner == "spark":
            from changelake.spark_session import spark_rebuild_runner

            # The census is DuckDB SQL over the latest images: Spark builds with the given
            # body, or the dynamic templates.
            plan = plan_index_body(None, user_body, mapping)
            sink = make_search_sink(es_url, search)
            spark_runner = spark_rebuild_runner(
                location, selection, es_url, search, sink, spark_master
            )
            with progress(f"Indexing {alias}", silent or dry_run) as bar:
                summary = rebuild_into(
                    None, sink, index_body=plan.body, options=plan.replay_options(options),
                    runner=spark_runner, lease=lease, on_start=bar.start,
                    on_progress=bar.advance,
                )  # fmt: skip
        else:
            connection = open_command_archive(
                location, table, skip_corrupt=skip_corrupt, memory_limit=memory_limit
            )
            stack.enter_context(naming_archive_files(connection, location, table))
            # DuckDB works out the latest records while the search client is imported and set up.
            latest = stack.enter_context(
                latest_in_background(connection, selection, typed_images=census)
            )
            sink = make_search_sink(es_url, search)
            plan = plan_rebuild_mapping(
                connection, latest, table_name=table, user_body=user_body, user_spec=mapping,
                transform=not census,
            )  # fmt: skip
            refusal = plan.refusal()
            if refusal is not None and not dry_run:
                raise refusal
            with progress(f"Indexing {alias}", silent or dry_run) as bar:
                summary = rebuild_into(
                    connection, sink, index_body=plan.body,
                    options=plan.replay_options(options), latest=latest, lease=lease,
                    on_start=bar.start, on_progress=bar.advance,
                )  # fmt: skip
    if output == "json":
        click.echo(json.dumps({**summary.to_dict(), "mapping": plan.to_dict()}, indent=2))
        return
    click.echo(summary_to_text(summary))
    if dry_run:
        click.echo("\n".join(plan.to_lines()))
    warnings = [*summary.warnings, *([] if dry_run else (n.to_text() for n in plan.notes))]
    for warning in warnings:
        click.echo(f"Warning: {warning}", err=True)


def _default_mapping_source(function: object, runner: str) -> str:
    """How an index without --mapping is mapped: by the census, or by the dynamic templates."""
    return "inferred" if function is None and runner == "duckdb" else "dynamic"


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
