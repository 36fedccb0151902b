"""``changelake import-export``: a DynamoDB export to S3, as SNAPSHOT rows of the change log."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from changelake.archiver.checkpoints import record_snapshot
from changelake.archiver.dynamodb_export import import_export as import_dynamodb_export
from changelake.archiver.dynamodb_export import load_export_manifest
from changelake.archiver.table_snapshot import snapshot_time
from changelake.aws_errors import explained_aws_errors
from changelake.clients import dynamodb_client, make_store
from changelake.options import archive_option, output_option, silent_option
from changelake.schemas.archive_layout import parse_archive_uri

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
    store = make_store(parse_archive_uri(archive))
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
            table_name=table_name,
            progress=bar.update,
        )
    record_snapshot(store, table_name, stream_arn, snapshot_time(manifest.export_time, stream_arn))
    if output == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    click.echo(
        f"Imported export {manifest.export_id} of {table_name}: {result.archived} items as of "
        f"{manifest.export_time:%Y-%m-%dT%H:%M:%SZ} in {len(result.files)} files under {archive}"
    )
    for key in result.quarantined:
        click.echo(f"Quarantined an item in {key}", err=True)
