"""``changelake poll``: read a table's stream from its checkpoints into the archive."""

from __future__ import annotations

import click

from changelake.config import ENV_STREAM_ARN, ENV_TABLE
from changelake.options import archive_option, output_option
from changelake.polling import run_poll
from changelake.summary_output import echo_summary


@click.command()
@click.option(
    "--stream-arn",
    envvar=ENV_STREAM_ARN,
    help=f"ARN of the DynamoDB stream to read. Env: {ENV_STREAM_ARN}.",
)
@click.option(
    "--table",
    "table_name",
    envvar=ENV_TABLE,
    help=f"Read the current stream of this DynamoDB table instead. Env: {ENV_TABLE}.",
)
@archive_option
@output_option
@click.option(
    "--max-seconds",
    type=click.FloatRange(min=1),
    default=840,
    help="Stop cleanly before this many seconds, with everything read checkpointed.",
)
def poll(
    stream_arn: str | None, table_name: str | None, archive: str, max_seconds: float, output: str
) -> None:
    """Archive a stream's new records, shard by shard, resuming from the checkpoints."""
    if stream_arn is None and table_name is None:
        raise click.UsageError("name the stream: --stream-arn ARN or --table NAME")
    result = run_poll(
        archive, stream_arn=stream_arn, table_name=table_name, max_seconds=max_seconds
    )
    ending = (
        "every shard is caught up"
        if result.complete
        else f"stopped before --max-seconds {max_seconds:g} with records left to read, the oldest "
        f"at most {result.oldest_unread_seconds:.0f}s old; run again to continue"
    )
    echo_summary(
        output,
        result.to_dict(),
        f"Archived {result.archived} of {result.records} records from {len(result.shards)} "
        f"shards of {result.stream_arn} into {len(result.files)} files under {archive}; {ending}",
    )
    for key in result.quarantined:
        click.echo(f"Quarantined a record in {key}", err=True)
