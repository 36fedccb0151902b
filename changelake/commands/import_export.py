"""``changelake import-export``: a DynamoDB export to S3, as SNAPSHOT rows of the change log."""

from __future__ import annotations

import click

from changelake.archiver.dynamodb_export import import_export as import_dynamodb_export
from changelake.archiver.dynamodb_export import load_export_manifest
from changelake.archiver.table_description import describe_table
from changelake.aws_errors import explained_aws_errors
from changelake.clients import dynamodb_client, make_store, open_archive
from changelake.options import archive_option, output_option, silent_option
from changelake.progress import progress
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.exceptions import StreamGapError
from changelake.summary_output import echo_initial_load


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
        table = describe_table(dynamodb_client(), table_name)
    archive_location = parse_archive_uri(archive)
    store = make_store(archive_location)
    with progress(f"Importing export {manifest.export_id}", silent, unit="items") as bar:
        bar.start(manifest.item_count)
        result = import_dynamodb_export(
            bucket,
            location.prefix,
            store,
            key_names=table.key_names,
            stream_arn=table.stream_arn,
            connect_archive=lambda: open_archive(archive_location, table_name),
            table_name=table_name,
            progress=bar.advance,
        )
    load = f"export {manifest.export_id}"
    headline = f"Imported {load} of {table_name}"
    echo_initial_load(output, result, headline, manifest.export_time, archive, "export")
    if result.open_gap is not None:
        raise StreamGapError(result.open_gap.still_open_after(load, manifest.export_time))
