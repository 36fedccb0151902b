"""Errors shared by every changelake package.

Terminal errors mean the input itself is wrong: retrying cannot help, so the record is quarantined
and the batch goes on. Transient errors mean a dependency failed (S3 down, 429): retry, then fail.
"""


class ChangelakeError(Exception):
    """Base class of every error changelake raises on purpose."""


class TerminalError(ChangelakeError):
    """The input is wrong; retrying the same input fails again."""


class TransientError(ChangelakeError):
    """A dependency failed; the same call may succeed later."""


class DynamoDBTypeError(TerminalError):
    """An attribute value is not valid DynamoDB-typed JSON."""


class MalformedRecordError(TerminalError):
    """A stream record lacks a field it must have, or has one of the wrong type."""


class ArchiveLocationError(TerminalError):
    """An archive URI cannot be understood."""


class ArchiveNotFoundError(TerminalError):
    """There is no archive where ``--archive`` points, or it holds no table of that name."""


class ArchiveAccessError(TerminalError):
    """The archive's directory cannot be read: permissions, or a file where a folder belongs."""


class StorageError(TransientError):
    """Reading or writing the archive's object store failed."""


class PreconditionFailedError(ChangelakeError):
    """A conditional write lost: another writer created or changed the object first.

    Neither terminal nor transient: the input is fine, but retrying the same write fails again;
    the caller re-reads the object and decides, or stops.
    """


class SearchUnavailableError(TransientError):
    """The search engine could not answer now (unreachable, 429 or 5xx); ``status`` if it did."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SearchRequestError(TerminalError):
    """The search engine rejected a request (a 4xx other than 429)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RebuildError(TerminalError):
    """A rebuild, sync or rollback cannot go on; the alias was left as it was."""


class LockHeldError(ChangelakeError):
    """Another process holds the lock for this work (a compaction of the same table, say)."""


class CheckpointConflictError(PreconditionFailedError):
    """Another poller advanced a checkpoint this one was about to advance: this run stops."""


class StreamGapError(ChangelakeError):
    """Changes were lost between the archive and the stream: a fresh snapshot is needed."""


class StreamReadError(TransientError):
    """Reading the stream kept failing (throttled or unavailable) after every retry."""


def aws_error_code(error: BaseException) -> str:
    """The error code of an AWS client error (``ThrottlingException``, ``412``), or ``""``."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return ""
    code = response.get("Error", {}).get("Code")
    if code:
        return str(code)
    return str(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or "")


class CorruptArchiveError(TerminalError):
    """A Parquet object in the archive cannot be read; it is named, never skipped silently."""


class SearchConfigError(TerminalError):
    """The options for reaching the search engine contradict each other or name no engine."""


class ReadOnlyError(TerminalError):
    """A statement given to ``changelake sql`` would write; the archive is read-only there."""


class QueryError(TerminalError):
    """DuckDB rejected a query given to ``changelake sql`` (syntax, unknown column, ...)."""


class NothingArchivedError(TerminalError):
    """Input held no stream record that could be archived: every record was quarantined."""


class MissingSettingError(TerminalError):
    """A command needs a setting (a flag, an environment variable, credentials) it was not given."""


class MissingExtraError(TerminalError):
    """A feature needs a package that is not installed; the message names the extra to add."""


class MappingConflictError(TerminalError):
    """The archive holds values an index mapping cannot take exactly; nothing was written."""
