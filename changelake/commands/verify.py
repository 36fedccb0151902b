"""``changelake verify``: compare the index with the archive's latest state; repair the drift."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from typing import TYPE_CHECKING

import click

from changelake.archive_tables import require_archive
from changelake.clients import make_search_sink
from changelake.index_options import (
    accept_transform_change_option,
    alias_lease,
    id_option,
    max_errors_option,
    memory_limit_option,
    recipe_to_alias_options,
    transform_option,
    ttl_deletes_option,
)
from changelake.options import output_option, require_table, silent_option, skip_corrupt_option
from changelake.rebuild.aliases import single_alias_target
from changelake.rebuild.document_ids import CANONICAL_ID
from changelake.rebuild.guarded_sink import GuardedSink
from changelake.rebuild.recipe import (
    Recipe,
    RecipeFlags,
    archive_url,
    follow_recipe,
    load_recipe_transform,
)
from changelake.rebuild.repair import verify_index
from changelake.rebuild.verify import DRIFT_KINDS, KIND_MEANINGS, DriftReport
from changelake.rebuild.watermark import read_state
from changelake.schemas.archive_layout import DEFAULT_ARCHIVE, parse_archive_uri
from changelake.summary_output import echo_summary
from changelake.unreadable_files import (
    naming_archive_files,
    open_readable_archive,
    warn_skipped,
)

if TYPE_CHECKING:
    from changelake.search_options import SearchOptions

# Exit status when drift remains: distinct from errors (1) and usage errors (2), for alerting.
DRIFT_EXIT_CODE = 3


@click.command()
@recipe_to_alias_options
@transform_option
@id_option(None)
@ttl_deletes_option(None)
@accept_transform_change_option
@click.option(
    "--repair",
    is_flag=True,
    help="Rewrite exactly the drifted documents from the archive, at versions no lower than "
    "the engine's.",
)
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    help="Compare only N items of the archive, chosen at random, fetched from the index by id: "
    "quick, but blind to documents the archive never held.",
)
@click.option(
    "--examples",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="Drifted documents to show for each kind of drift.",
)
@skip_corrupt_option
@memory_limit_option
@max_errors_option
@output_option
@silent_option
def verify(
    archive: str | None,
    table_name: str | None,
    es_url: str,
    search: SearchOptions,
    alias: str,
    transform: str | None,
    id_rule: str | None,
    ttl_deletes: str | None,
    accept_transform_change: bool,
    repair: bool,
    sample: int | None,
    examples: int,
    skip_corrupt: bool,
    memory_limit: int | None,
    max_errors: int,
    output: str,
    silent: bool,
) -> None:
    """Compare the index behind --alias with the archive: missing, extra, stale, different.

    Follows the recipe the index was rebuilt by, and the instant of an index rebuilt --as-of.
    Exits 0 when they agree (after --repair: when the repair left nothing), 3 when drift remains.
    """
    if archive is not None:  # a mistyped --archive or --table is named before the engine
        require_archive(parse_archive_uri(archive), table_name)
    sink = make_search_sink(es_url, search)
    index = single_alias_target(sink, alias, "verify")
    state = read_state(sink.get_meta(index), index)
    flags = RecipeFlags(table_name, archive, transform, id_rule, ttl_deletes)
    if state is not None:
        recipe, as_of = follow_recipe(state.recipe, flags, index), state.as_of
    else:  # an index changelake did not build: compared with the latest state, as the flags say
        recipe = Recipe(
            require_table(table_name), archive_url(archive or DEFAULT_ARCHIVE),
            transform=transform, id_rule=id_rule or CANONICAL_ID,
            ttl_deletes=ttl_deletes or "delete",
        )  # fmt: skip
        as_of = None
    recipe, function = load_recipe_transform(recipe, index, accept_change=accept_transform_change)
    location = parse_archive_uri(recipe.archive)
    table = recipe.table_name
    require_archive(location, table)
    with ExitStack() as stack:
        writer = sink
        if repair:
            # A repair writes like a sync, so it holds the alias's lease before reading the
            # archive (see docs/rebuild-sync-verify.md); a plain verify only reads.
            writer = GuardedSink(sink, stack.enter_context(alias_lease(location, table, alias)))
        connection, skipped = open_readable_archive(
            location, table, skip_corrupt=skip_corrupt, memory_limit=memory_limit
        )
        warn_skipped(skipped)
        stack.enter_context(naming_archive_files(connection, location, table))
        if not silent:
            click.echo(f"Comparing {alias} ({index}) with {recipe.archive} ...", err=True)
        report = verify_index(
            connection, writer, alias=alias, index=index, recipe=recipe, transform=function,
            as_of=as_of, examples=examples, sample=sample, repair=repair, max_errors=max_errors,
        )  # fmt: skip
    skipped_files = [item.to_dict() for item in skipped]
    echo_summary(
        output, {**report.to_dict(), "skipped_files": skipped_files}, report_to_text(report)
    )
    remaining = report.repair["remaining_drifted"] if report.repair else report.drifted
    if remaining:
        sys.exit(DRIFT_EXIT_CODE)


def report_to_text(report: DriftReport) -> str:
    """The drift report as a few lines: totals, counts per kind, first examples, the repair."""
    lines = [
        f"Compared {report.index_documents} documents in {report.index} (alias {report.alias}) "
        f"with {report.archive_items} live items in the archive"
        + (f" (a sample of {report.sampled} items)" if report.sampled else "")
        + ": "
        + (f"{report.drifted} drifted" if report.drifted else "no drift")
    ]
    for kind in DRIFT_KINDS:
        count = report.counts[kind]
        if not count:
            continue
        shown = ", ".join(
            f"{e['id']} (archive {e['archive_version']}, index {e['index_version']})"
            for e in report.examples.get(kind, [])
        )
        lines.append(f"  {kind}: {count} ({KIND_MEANINGS[kind]}); e.g. {shown}")
    if report.repair is not None:
        repair = report.repair
        lines.append(
            f"Repaired: {repair['indexed']} indexed, {repair['deleted']} deleted, "
            f"{repair['version_conflicts']} refused as stale, {repair['failed']} failed; "
            + (
                f"{repair['remaining_drifted']} still drifted"
                if repair["remaining_drifted"]
                else "no drift left"
            )
        )
    elif report.drifted:
        lines.append("Run again with --repair to restore the archive's content.")
    return "\n".join(lines)
