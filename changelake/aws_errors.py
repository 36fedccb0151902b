"""AWS client errors turned into changelake's: one line that says what failed and what to check."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from changelake.schemas.exceptions import TerminalError, TransientError, aws_error_code

if TYPE_CHECKING:
    from collections.abc import Iterator

# Codes that mean the request itself names something wrong; retrying cannot help.
_TERMINAL_CODES = frozenset(
    {"ResourceNotFoundException", "ValidationException", "AccessDeniedException"}
)


@contextlib.contextmanager
def explained_aws_errors(action: str) -> Iterator[None]:
    """Re-raise boto3 errors in the block as :class:`TerminalError` or :class:`TransientError`."""
    try:
        yield
    except ClientError as error:
        code = aws_error_code(error)
        message = error.response.get("Error", {}).get("Message") or code
        if code in _TERMINAL_CODES:
            raise TerminalError(
                f"{action}: {code}: {message}; check the name, the region and the endpoint "
                "(AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_DYNAMODB)"
            ) from error
        raise TransientError(f"{action}: {code}: {message}; try again later") from error
    except BotoCoreError as error:
        raise TransientError(f"{action}: {error}") from error
