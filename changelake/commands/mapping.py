"""``changelake mapping``: the index body inferred from the archive's types, and the census."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from changelake.commands.rebuild import Timestamp
from changelake.options import (
    archive_option,
    output_option,
    required_table_option,
    skip_corrupt_option,
)
from changelake.rebuild.mapping_plan import infer_table_mapping
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.summary_output import echo_summary
from changelake.unreadable_files import naming_archive_files, open_command_archive

if TYPE_CHECKING:
    from datetime import datetime

    from changelake.rebuild.mapping_plan import MappingPlan


@click.command()
@archive_option
@required_table_option("DynamoDB table whose latest images to take the census of.")
@click.option(
    "--as-of", type=Timestamp(), help="Take the census of the items as of this ISO 8601 instant."
)
@skip_corrupt_option
@output_option
def mapping(
    archive: str, table_name: str, as_of: datetime | None, skip_corrupt: bool, output: str
) -> None:
    """Print the index body inferred from the archive's types (ready for --mapping), and why."""
    location = parse_archive_uri(archive)
    connection = open_command_archive(location, table_name, skip_corrupt=skip_corrupt)
    with naming_archive_files(connection, location, table_name):
        plan = infer_table_mapping(connection, table_name, as_of=as_of)
    document = {"index_body": plan.body, **plan.to_dict(with_census=True)}
    echo_summary(output, document, plan_to_text(plan))


def plan_to_text(plan: MappingPlan) -> str:
    """The census as a table, the notes, then the index body as JSON."""
    census = plan.census
    assert census is not None  # infer_table_mapping always takes one
    keys = ", ".join(census.key_names) or "none found"
    lines = [f"Census of table {census.table_name}: {census.items:,} items (key: {keys})"]
    rows = [(row.to_dict()["path"], row) for row in census.rows]
    width = max((len(path) for path, _ in rows), default=4)
    lines.append(f"  {'path':<{width}}  types (values; numbers: how many are not 64-bit integers)")
    previous = None
    for path, row in rows:
        shown = path if path != previous else ""
        detail = f"{row.tag} {row.values:,}"
        if row.tag in {"N", "NS"}:
            detail += f" ({row.not_long:,} not 64-bit integers)" if row.not_long else " (integers)"
        lines.append(f"  {shown:<{width}}  {detail}")
        previous = path
    if plan.notes:
        lines.append("Notes:")
        lines += [f"  {note.to_text()}" for note in plan.notes]
    lines.append("Index body (save it, edit it, pass it back with rebuild --mapping FILE):")
    lines.append(json.dumps(plan.body, indent=2, ensure_ascii=False))
    return "\n".join(lines)
