"""``changelake follow``: archive a stream and keep a search alias in step, until stopped."""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from changelake.alias_sync import SHORT_LEASE
from changelake.config import ENV_ALIAS, ENV_ES_URL, ENV_STREAM_ARN
from changelake.following import FollowSettings, FollowTotals, run_follow
from changelake.options import (
    archive_option,
    output_option,
    required_table_option,
    search_options,
    silent_option,
)
from changelake.summary_output import echo_line

if TYPE_CHECKING:
    from collections.abc import Iterator

    from changelake.following import FollowReport
    from changelake.search_options import SearchOptions


class StatusLine:
    """One line on a terminal's stderr, rewritten in place; cleared before anything is printed."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    def show(self, text: str) -> None:
        """Replace the line with ``text``."""
        if self.enabled:
            sys.stderr.write(f"\r{text}\033[K")
            sys.stderr.flush()
            self.shown = True

    def clear(self) -> None:
        """Remove the line, so that the next output starts on a clean one."""
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self.shown = False


def report_to_text(report: FollowReport) -> str:
    """One loop's report as a line of text."""
    parts = [f"{report.at:%H:%M:%S} archived {report.archived} of {report.records} records"]
    if report.archive_lag_seconds is not None:
        parts[0] += f" (lag {report.archive_lag_seconds:.1f} s)"
    if report.alias is not None:
        indexed = (
            f"indexed {report.indexed}, deleted {report.deleted}, "
            f"{report.stale_writes} stale writes rejected"
        )
        if report.index_lag_seconds is not None:
            indexed += f" (lag {report.index_lag_seconds:.1f} s)"
        parts.append(indexed)
        parts.append(f"index {report.index}, {report.waiting_records} records waiting")
    if report.quarantined:
        parts.append(f"{len(report.quarantined)} quarantined")
    return "; ".join(parts)


def totals_to_status(totals: FollowTotals, report: FollowReport) -> str:
    """The live status line: the run so far and the latest lags."""
    text = f"following {totals.table}: {totals.archived:,} archived"
    if report.alias is not None:
        text += f", {totals.indexed + totals.deleted:,} written to {report.alias}"
        if report.index_lag_seconds is not None:
            text += f", index lag {report.index_lag_seconds:.1f} s"
        if report.index != "up":
            text += f" (index {report.index}, {report.waiting_records} waiting)"
    return text


@click.command()
@required_table_option("The DynamoDB table whose stream to follow.")
@click.option(
    "--stream-arn",
    envvar=ENV_STREAM_ARN,
    help="Follow this stream instead of the table's current one (a re-enabled stream is then "
    f"not noticed). Env: {ENV_STREAM_ARN}.",
)
@archive_option
@click.option(
    "--es-url",
    envvar=ENV_ES_URL,
    help=f"Search engine URL, needed with --alias. Env: {ENV_ES_URL}.",
)
@search_options
@click.option(
    "--alias",
    envvar=ENV_ALIAS,
    help="Keep this alias in step with the archive (rebuild it first). Without it, follow "
    f"only archives. Env: {ENV_ALIAS}.",
)
@click.option(
    "--transform",
    metavar="MODULE:FUNCTION",
    help="The transform the alias was rebuilt with, e.g. "
    "changelake.examples.posts:post_document; checked against the index's recipe. "
    "Default: the recipe's.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.2),
    default=1.0,
    help="Seconds between two reads of a busy shard: lower is fresher, and writes one archive "
    "file per busy shard per read.",
)
@click.option(
    "--lease-seconds",
    type=click.IntRange(min=10),
    default=SHORT_LEASE // timedelta(seconds=1),
    help="How long the alias's sync lease lasts; it is taken for each index step, so a killed "
    "follow blocks other writers of the alias at most this long.",
)
@click.option(
    "--max-seconds",
    type=click.FloatRange(min=0),
    help="Stop cleanly after this many seconds (default: run until SIGTERM or Ctrl-C).",
)
@output_option
@silent_option
def follow(
    table_name: str,
    stream_arn: str | None,
    archive: str,
    es_url: str | None,
    search: SearchOptions,
    alias: str | None,
    transform: str | None,
    interval: float,
    lease_seconds: int,
    max_seconds: float | None,
    output: str,
    silent: bool,
) -> None:
    """Archive a table's stream and keep an alias within seconds of it, until stopped.

    One line per loop on stdout (--output json: CloudWatch embedded metrics), a status line on a
    terminal. SIGTERM finishes the page in hand, checkpoints and exits 0.
    """
    if alias is not None and es_url is None:
        raise click.UsageError("--alias needs --es-url (or CHANGELAKE_ES_URL)")
    settings = FollowSettings(
        archive=archive,
        table_name=table_name,
        stream_arn=stream_arn,
        es_url=es_url,
        search=search,
        alias=alias,
        transform=transform,
        interval=interval,
        lease=timedelta(seconds=lease_seconds),
        max_seconds=max_seconds,
    )
    status = StatusLine(enabled=not silent and sys.stderr.isatty())
    so_far = FollowTotals(table_name, alias, stream_arn or "")

    def on_report(report: FollowReport) -> None:
        so_far.add(report)
        status.clear()
        echo_line(output, report.to_emf(), report_to_text(report))
        status.show(totals_to_status(so_far, report))

    def on_notice(message: str) -> None:
        status.clear()
        click.echo(message, err=True)

    stop = threading.Event()
    with stopped_by_signals(stop):
        totals = run_follow(settings, stop=stop, on_report=on_report, on_notice=on_notice)
    status.clear()
    indexed = f", {totals.indexed} indexed and {totals.deleted} deleted in {alias}" if alias else ""
    text = (
        f"Followed {totals.stream_arn} for {totals.seconds:.0f} s ({totals.stopped}): "
        f"{totals.archived} of {totals.records} records archived in {totals.files} files{indexed}"
    )
    echo_line(output, totals.to_dict(), text)


@contextmanager
def stopped_by_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` in the ``with`` block, instead of ending the process."""
    previous: dict[signal.Signals, Any] = {}
    for number in (signal.SIGTERM, signal.SIGINT):
        previous[number] = signal.signal(number, lambda *_: stop.set())
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
