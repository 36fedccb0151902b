"""``changelake import-export``: a DynamoDB export to S3, as SNAPSHOT rows of the change log."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from changelake.archiver.dynamodb_export import import_export as import_dynamodb_export
from changelake.archiver.dynamodb_export import load_export_manifest
from changelake.aws_errors import explained_aws_errors
from changelake.clients import dynamodb_client, make_store, open_archive
from changelake.options import archive_option, output_option, silent_option
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.exceptions import StreamGapError

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar


@click.command("import-export")
@click.option(
    "--export",
    "export_uri",
    required=True,
    help="The export's folder: s3://BUCKET/PREFIX/AWSDynamoDB/<export id>/.",
)
@archive_option
@click.option(
    "--table",
    "table_name",
    default=None,
    help="Table to describe and archive under (default: the table named in the export).",
)
@output_option
@silent_option
def import_export(
    export_uri: str, archive: str, table_name: str | None, output: str, silent: bool
) -> None:
    """Archive a DynamoDB export (DYNAMODB_JSON) as SNAPSHOT rows stamped with its export time."""
    if not export_uri.startswith("s3://"):
        raise click.BadParameter(
            f"{export_uri!r} is not an S3 URI; pass s3://BUCKET/PREFIX/AWSDynamoDB/<export id>/",
            param_hint="--export",
        )
    location = parse_archive_uri(export_uri)
    bucket = make_store(parse_archive_uri(f"s3://{location.bucket}"))
    manifest = load_export_manifest(bucket, location.prefix)
    table_name = table_name or manifest.table_name
    # The export holds no key schema; the table's stream is the one to follow afterwards.
    with explained_aws_errors(f"cannot describe table {table_name}"):
        table = dynamodb_client().describe_table(TableName=table_name)["Table"]
    key_names = [key["AttributeName"] for key in table["KeySchema"]]
    stream_on = table.get("StreamSpecification", {}).get("StreamEnabled", False)
    stream_arn = table.get("LatestStreamArn") if stream_on else None
    archive_location = parse_archive_uri(archive)
    store = make_store(archive_location)
    bar: ProgressBar[int]
    with click.progressbar(
        length=manifest.item_count or None,
        label=f"Importing export {manifest.export_id}",
        file=sys.stderr,
        hidden=silent,
        show_pos=True,
    ) as bar:
        result = import_dynamodb_export(
            bucket,
            location.prefix,
            store,
            key_names=key_names,
            stream_arn=stream_arn,
            connect_archive=lambda: open_archive(archive_location, table_name),
            table_name=table_name,
            progress=bar.update,
        )
    if output == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(
            f"Imported export {manifest.export_id} of {table_name}: {result.archived} items as of "
            f"{manifest.export_time:%Y-%m-%dT%H:%M:%SZ} in {len(result.files)} files under "
            f"{archive}"
        )
        if result.absent:
            click.echo(
                f"{result.absent} items the archive held were not in the export: "
                "each got a REMOVE (deleted while no stream was archived)"
            )
    for key in result.quarantined:
        click.echo(f"Quarantined an item in {key}", err=True)
    if result.open_gap is not None:
        what = f"export {manifest.export_id}"
        raise StreamGapError(result.open_gap.still_open_after(what, manifest.export_time))
