"""One poll of a table's stream, with the clients built: shared by the CLI and the Lambda."""

from __future__ import annotations

from typing import TYPE_CHECKING

from changelake.archiver.stream_poller import poll_stream
from changelake.archiver.stream_records import table_name_from_arn
from changelake.archiver.stream_shards import table_stream_arn
from changelake.aws_errors import explained_aws_errors
from changelake.clients import dynamodb_client, make_store, streams_client
from changelake.config import ENV_STREAM_ARN, ENV_TABLE
from changelake.schemas.archive_layout import check_table_name, parse_archive_uri
from changelake.schemas.exceptions import MissingSettingError

if TYPE_CHECKING:
    from changelake.archiver.stream_poller import PollResult


def run_poll(
    archive: str, *, stream_arn: str | None, table_name: str | None, max_seconds: float
) -> PollResult:
    """Poll the stream named by ARN, or the current stream of a table, into the archive."""
    store = make_store(parse_archive_uri(archive))
    with explained_aws_errors(f"cannot poll the stream of {stream_arn or table_name}"):
        if stream_arn is None:
            if table_name is None:
                raise MissingSettingError(
                    "poll needs a stream: give --stream-arn ARN or --table NAME "
                    f"(in Lambda: {ENV_STREAM_ARN} or {ENV_TABLE})"
                )
            stream_arn = table_stream_arn(dynamodb_client(), check_table_name(table_name))
        return poll_stream(
            streams_client(),
            store,
            stream_arn,
            table_name=table_name or table_name_from_arn(stream_arn),
            max_seconds=max_seconds,
        )
