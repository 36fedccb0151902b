"""``changelake stats``: what the archive holds, per table and day, and how fresh it is."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from changelake import api
from changelake.archiver.stream_gaps import iter_stream_statuses
from changelake.ask.archive_stats import (
    DEFAULT_SMALL_FILE_SIZE,
    stats_to_lines,
)
from changelake.clients import make_store
from changelake.options import ByteSize, archive_option, output_option
from changelake.schemas.byte_sizes import bytes_to_text
from changelake.summary_output import echo_summary


@click.command()
@archive_option
@click.option("--table", "table_name", default=None, help="Only this table (default: every table).")
@click.option(
    "--small-file-size",
    type=ByteSize(),
    default=DEFAULT_SMALL_FILE_SIZE,
    show_default=bytes_to_text(DEFAULT_SMALL_FILE_SIZE),
    help="Flag files smaller than this (e.g. 16MiB); `changelake compact` merges them.",
)
@output_option
def stats(archive: str, table_name: str | None, small_file_size: int, output: str) -> None:
    """Per table and day: records by event, files, bytes, oldest and newest record, and lag."""
    with api.open_archive(archive, table=table_name) as opened:
        report = opened.stats(table_name, small_file_size)
    now = datetime.now(UTC)
    streams = list(iter_stream_statuses(make_store(opened.location), table_name))
    for name, status in streams:
        if status["gap"]:
            click.echo(f"Gap in {name}: {status['gap']}", err=True)
    lines = (
        stats_to_lines(report, now, small_file_size)
        if report
        else [f"no change files under {archive}"]
    )
    for name, status in streams:
        snapshot = f", snapshot as of {status['snapshot_at']}" if status["snapshot_at"] else ""
        lines.append(
            f"Stream of {name}: {status['stream_arn']}, archive complete until "
            f"{status['covered_until']}{snapshot}{'; GAP (see above)' if status['gap'] else ''}"
        )
    echo_summary(output, [s.to_dict(now) for s in report], lines)
