"""``changelake rebuild``: replay the change log into a fresh index and move the alias."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from changelake import api
from changelake.config import ENV_SPARK_MASTER
from changelake.index_bodies import shipped_mappings
from changelake.index_options import (
    bulk_bytes_option,
    bulk_in_flight_option,
    id_option,
    max_errors_option,
    memory_limit_option,
    transform_option,
    ttl_deletes_option,
)
from changelake.options import (
    TextParamType,
    archive_to_alias_options,
    output_option,
    silent_option,
    skip_corrupt_option,
)
from changelake.progress import progress
from changelake.rebuild.document_ids import CANONICAL_ID
from changelake.summary_output import echo_summary, echo_warning

if TYPE_CHECKING:
    from changelake.rebuild.rebuild_index import RebuildSummary
    from changelake.search_options import SearchOptions


class Timestamp(TextParamType):
    """An ISO 8601 instant, not in the future; without a time zone it is taken as UTC."""

    name = "timestamp"

    def parse(self, text: str) -> datetime:
        """Parse ``2026-11-20T09:00:00Z``."""
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{text!r} is not an ISO 8601 time, e.g. 2026-11-20T09:00:00Z"
            ) from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        now = datetime.now(UTC)
        if moment > now:
            # The archive holds nothing after now: a future time is a mistake, not "latest".
            raise ValueError(
                f"{text!r} is in the future (it is now {now:%Y-%m-%dT%H:%M:%SZ}); leave the "
                "option out for the latest state"
            )
        return moment


runner_option = click.option(
    "--runner",
    type=click.Choice(["duckdb", "spark"]),
    default="duckdb",
    help="What computes the latest records and sends the documents: DuckDB in this process, or "
    "Spark (pip install changelake[spark]) from its executors in parallel.",
)
spark_master_option = click.option(
    "--spark-master",
    envvar=ENV_SPARK_MASTER,
    help="Spark master for --runner spark, e.g. local[4]. Default: the cluster's under "
    f"spark-submit, else local[*]. Env: {ENV_SPARK_MASTER}.",
)


@click.command()
@archive_to_alias_options
@click.option("--as-of", type=Timestamp(), help="Rebuild the state as of this ISO 8601 instant.")
@transform_option
@click.option(
    "--mapping",
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
    table_name: str,
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
    if runner == "spark" and skip_corrupt:
        raise click.UsageError(
            "--skip-corrupt reads the archive with DuckDB; drop it with --runner spark"
        )
    with progress(f"Indexing {alias}", silent or dry_run) as bar:
        result = api.rebuild_index(
            archive, table_name, es_url, alias, search=search, as_of=as_of, transform=transform,
            mapping=mapping, id_rule=id_rule, ttl_deletes=ttl_deletes, dry_run=dry_run,
            keep=keep, max_errors=max_errors, bulk_bytes=bulk_bytes,
            bulk_in_flight=bulk_in_flight, skip_corrupt=skip_corrupt,
            memory_limit=memory_limit, runner=runner, spark_master=spark_master,
            on_start=bar.start, on_progress=bar.advance, on_warning=echo_warning,
        )  # fmt: skip
    lines = [summary_to_text(result.summary), *(result.mapping.to_lines() if dry_run else [])]
    echo_summary(output, result.to_dict(), lines, result.warnings)


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
