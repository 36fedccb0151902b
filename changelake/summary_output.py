"""How every command prints its summary: one JSON document, or lines of text for people."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from changelake.ask.output_formats import JSON

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from changelake.archiver.dynamodb_export import ImportResult
    from changelake.archiver.table_snapshot import SnapshotResult


def echo_summary(
    output: str, document: Any, lines: str | Iterable[str], warnings: Iterable[str] = ()
) -> None:
    """Print ``document`` as indented JSON for ``--output json``, else ``lines`` on stdout.

    With text, each of ``warnings`` follows on stderr; ``document`` carries them itself.
    """
    if output == JSON:
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    for line in [lines] if isinstance(lines, str) else lines:
        click.echo(line)
    for warning in warnings:
        echo_warning(warning)


def echo_line(output: str, document: Any, text: str) -> None:
    """Print one line of a stream: ``document`` as compact JSON for ``--output json``, else
    ``text``; a reader of JSON lines parses each line alone."""
    click.echo(json.dumps(document, ensure_ascii=False) if output == JSON else text)


def echo_warning(message: str) -> None:
    """Print one warning line on stderr, where it never mixes with a JSON summary."""
    click.echo(f"Warning: {message}", err=True)


def echo_initial_load(
    output: str,
    result: SnapshotResult | ImportResult,
    headline: str,
    as_of: datetime,
    archive: str,
    source: str,
) -> None:
    """A snapshot's or an export's summary, then each item it quarantined on stderr.

    ``source`` names what was read (``table``, ``export``) where items the archive held were not.
    """
    lines = [
        f"{headline}: {result.archived} items as of {as_of:%Y-%m-%dT%H:%M:%SZ} in "
        f"{len(result.files)} files under {archive}"
    ]
    if result.absent:
        lines.append(
            f"{result.absent} items the archive held were not in the {source}: "
            "each got a REMOVE (deleted while no stream was archived)"
        )
    echo_summary(output, result.to_dict(), lines)
    for key in result.quarantined:
        click.echo(f"Quarantined an item in {key}", err=True)
