"""``changelake verify``: compare the index with the archive's latest state; repair the drift."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from changelake import api
from changelake.index_options import (
    max_errors_option,
    memory_limit_option,
    recipe_options,
)
from changelake.options import output_option, require_table, silent_option, skip_corrupt_option
from changelake.rebuild.verify import DRIFT_KINDS, KIND_MEANINGS, DriftReport
from changelake.summary_output import echo_summary, echo_warning

if TYPE_CHECKING:
    from collections.abc import Callable

    from changelake.api import RecipeChoices
    from changelake.search_options import SearchOptions

# Exit status when drift remains: distinct from errors (1) and usage errors (2), for alerting.
DRIFT_EXIT_CODE = 3


@click.command()
@recipe_options
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
@skip_corrupt_option
@memory_limit_option
@max_errors_option
@output_option
@silent_option
@click.option(
    "--examples",
    type=click.IntRange(min=0),
    default=5,
    help="Drifted documents to show for each kind of drift.",
)
def verify(
    es_url: str,
    search: SearchOptions,
    alias: str,
    choices: RecipeChoices,
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
    try:
        result = api.verify_index(
            es_url, alias, search=search, repair=repair, sample=sample,
            examples=examples, skip_corrupt=skip_corrupt, memory_limit=memory_limit,
            max_errors=max_errors, on_compare=None if silent else _say_comparing(alias),
            on_warning=echo_warning, **choices,
        )  # fmt: skip
    except api.MissingTableError:
        require_table(choices["table"])  # the same usage error as a rebuild without --table
        raise
    echo_summary(output, result.to_dict(), report_to_text(result.report))
    if result.remaining_drift:
        sys.exit(DRIFT_EXIT_CODE)


def _say_comparing(alias: str) -> Callable[[str, str], None]:
    def say(index: str, archive: str) -> None:
        click.echo(f"Comparing {alias} ({index}) with {archive} ...", err=True)

    return say


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
