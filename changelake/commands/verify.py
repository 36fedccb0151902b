"""``changelake verify``: compare the index with the archive's latest state; repair the drift."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from typing import TYPE_CHECKING

import click

from changelake.archiver.locks import held_lock
from changelake.clients import make_search_sink, make_store
from changelake.commands.rebuild import (
    max_errors_option,
    memory_limit_option,
    require_table,
    transform_option,
)
from changelake.options import (
    archive_to_alias_options,
    output_option,
    silent_option,
    skip_corrupt_option,
)
from changelake.rebuild.aliases import single_alias_target
from changelake.rebuild.documents import load_transform
from changelake.rebuild.verify import (
    DRIFT_KINDS,
    KIND_MEANINGS,
    DriftReport,
    drop_verify_tables,
    repair_drift,
    verify_alias,
)
from changelake.rebuild.watermark import META_KEY, SyncState
from changelake.schemas.archive_layout import lock_key, parse_archive_uri
from changelake.schemas.exceptions import RebuildError
from changelake.unreadable_files import (
    naming_archive_files,
    open_readable_archive,
    warn_skipped,
)

if TYPE_CHECKING:
    from datetime import datetime

    from changelake.rebuild.search_sink import SearchSink
    from changelake.search_options import SearchOptions

# Exit status when drift remains: distinct from errors (1) and usage errors (2), for alerting.
DRIFT_EXIT_CODE = 3


@click.command()
@archive_to_alias_options
@transform_option
@click.option(
    "--repair",
    is_flag=True,
    help="Rewrite exactly the drifted documents from the archive, with external versions.",
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
    archive: str,
    table_name: str | None,
    es_url: str,
    search: SearchOptions,
    alias: str,
    transform: str | None,
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

    Exits 0 when they agree (after --repair: when the repair left nothing), 3 when drift remains.
    """
    table = require_table(table_name)
    location = parse_archive_uri(archive)
    document = load_transform(transform) if transform else None
    sink = make_search_sink(es_url, search)
    index = single_alias_target(sink, alias, "verify")
    as_of = _index_as_of(sink, index, table)
    with ExitStack() as stack:
        lease = None
        if repair:
            # A repair writes like a sync, so it takes the sync's lock before reading the archive
            # (see "Deletes and tombstones" in the README).
            lease = stack.enter_context(
                held_lock(make_store(location), lock_key(table, f"sync-{alias}"))
            )
        connection, skipped = open_readable_archive(
            location, table, skip_corrupt=skip_corrupt, memory_limit=memory_limit
        )
        warn_skipped(skipped)
        stack.enter_context(naming_archive_files(connection, location, table))
        if not silent:
            click.echo(f"Comparing {alias} ({index}) with {archive} ...", err=True)
        report = verify_alias(
            connection, sink, table_name=table, alias=alias, index=index, transform=document,
            examples=examples, sample=sample, as_of=as_of,
        )  # fmt: skip
        if lease is not None and report.drifted:
            stats = repair_drift(
                connection, sink, index, transform=document, max_errors=max_errors,
                on_progress=lambda actions: lease.renew_if_due(),
            )  # fmt: skip
            drop_verify_tables(connection, keep_sample=True)
            after = verify_alias(
                connection, sink, table_name=table, alias=alias, index=index, transform=document,
                examples=examples, sample=sample, same_sample=True,
            )  # fmt: skip
            report.repair = {
                "indexed": stats.indexed,
                "deleted": stats.deleted,
                "version_conflicts": stats.version_conflicts,
                "failed": len(stats.failures),
                "retries": stats.retries,
                "remaining": after.counts,
                "remaining_drifted": after.drifted,
            }
        drop_verify_tables(connection)
    if output == "json":
        skipped_files = [item.to_dict() for item in skipped]
        click.echo(json.dumps({**report.to_dict(), "skipped_files": skipped_files}, indent=2))
    else:
        click.echo(report_to_text(report))
    remaining = report.repair["remaining_drifted"] if report.repair else report.drifted
    if remaining:
        sys.exit(DRIFT_EXIT_CODE)


def _index_as_of(sink: SearchSink, index: str, table: str) -> datetime | None:
    """The instant a rebuilt index shows (None: now); checks that it holds ``table``.

    An index changelake never rebuilt (no ``_meta``) is compared with the latest state.
    """
    meta = sink.get_meta(index)
    if META_KEY not in meta:
        return None
    state = SyncState.from_meta(meta, index)
    if state.table_name != table:
        raise RebuildError(
            f"index {index!r} holds table {state.table_name!r}, not {table!r}; "
            "check --table and --alias"
        )
    return state.as_of


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
    elif report.counts["ahead"]:
        lines.append("Documents ahead of the archive are not repaired: rebuild to reset them.")
    return "\n".join(lines)
