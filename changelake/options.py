"""Options shared by several commands, declared once."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import click

from changelake.ask.output_formats import (
    FORMAT_ALIASES,
    RESULT_FORMATS,
    SUMMARY_FORMATS,
    TEXT,
    format_name,
)
from changelake.config import (
    ENV_ALIAS,
    ENV_ARCHIVE,
    ENV_ES_URL,
    ENV_SEARCH_API_KEY,
    ENV_SEARCH_AWS_REGION,
    ENV_SEARCH_CA_CERTS,
    ENV_SEARCH_ENGINE,
    ENV_SEARCH_PASSWORD,
    ENV_SEARCH_USERNAME,
    ENV_TABLE,
)
from changelake.schemas.archive_layout import DEFAULT_ARCHIVE
from changelake.schemas.byte_sizes import bytes_to_text, text_to_bytes
from changelake.schemas.exceptions import SearchConfigError
from changelake.search_options import ENGINES, SearchOptions, check_search_url

if TYPE_CHECKING:
    from collections.abc import Callable

archive_option = click.option(
    "--archive",
    envvar=ENV_ARCHIVE,
    default=DEFAULT_ARCHIVE,
    help=f"Archive root: s3://bucket/prefix or a local directory. Env: {ENV_ARCHIVE}.",
)

table_option = click.option(
    "--table",
    "table_name",
    envvar=ENV_TABLE,
    help=f"DynamoDB table name (default: from each record's eventSourceARN). Env: {ENV_TABLE}.",
)


# How a missing --table is named, whether the option is required or a command found no table.
_TABLE_HINT = f"'--table' (or {ENV_TABLE})"


class _TableOption(click.Option):
    """``--table``: missing when empty too, and then named with its variable, as by
    ``require_table``."""

    def value_is_missing(self, value: Any) -> bool:
        """No name, or an empty one."""
        return value == "" or super().value_is_missing(value)

    def get_error_hint(self, ctx: click.Context | None) -> str:
        """``'--table' (or CHANGELAKE_TABLE)``."""
        return _TABLE_HINT


def required_table_option(help_text: str) -> Callable[..., Any]:
    """``--table NAME`` (or ``CHANGELAKE_TABLE``), required; ``help_text`` says what it is for."""
    return click.option(
        "--table",
        "table_name",
        cls=_TableOption,
        envvar=ENV_TABLE,
        required=True,
        help=f"{help_text} Env: {ENV_TABLE}.",
    )


def require_table(table_name: str | None) -> str:
    """The table of an optional ``--table`` that turned out to be needed, or click's usage error.

    The same error as a missing ``required_table_option``: for a command that can also take the
    table from elsewhere (an index's recipe) and found none.
    """
    if not table_name:
        raise click.MissingParameter(param_hint=_TABLE_HINT, param_type="option")
    return table_name


output_option = click.option(
    "--output",
    type=click.Choice(SUMMARY_FORMATS),
    default=TEXT,
    help="Print the summary as text or JSON.",
)


def result_output_option(help_text: str) -> Callable[..., Any]:
    """``--output text|csv|json|parquet`` for rows (``table``, the earlier name of ``text``,
    still works); ``help_text`` says what each means for the command."""
    return click.option(
        "--output",
        type=click.Choice([*RESULT_FORMATS, *FORMAT_ALIASES]),
        default=TEXT,
        callback=lambda ctx, param, value: format_name(value),
        help=help_text,
    )


silent_option = click.option("-s", "--silent", is_flag=True, help="Hide progress bars.")


def _checked_search_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """The URL if it has a scheme and a host; else a usage error that shows no secret."""
    try:
        return check_search_url(value)
    except SearchConfigError as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from None


es_url_option = click.option(
    "--es-url",
    envvar=ENV_ES_URL,
    required=True,
    callback=_checked_search_url,
    help="Search engine URL, e.g. https://search.example.com:9200; credentials in it "
    f"(https://user:password@host) are used for basic auth and never printed. Env: {ENV_ES_URL}.",
)

alias_option = click.option(
    "--alias",
    envvar=ENV_ALIAS,
    required=True,
    help=f"The alias searches use; rebuilt indexes are <alias>-<UTC time>. Env: {ENV_ALIAS}.",
)

skip_corrupt_option = click.option(
    "--skip-corrupt",
    is_flag=True,
    help="Read around unreadable Parquet objects of the archive and report each one on stderr, "
    "instead of stopping at the first.",
)


# The engine's credentials: (option, variable, help). Flags show in ps; variables do not.
_PREFER_VARIABLE = "prefer the variable (flags show in ps)"
_CREDENTIAL_OPTIONS = (
    ("--search-username", ENV_SEARCH_USERNAME, "User name for HTTP basic auth (both engines)."),
    ("--search-password", ENV_SEARCH_PASSWORD, f"Password for basic auth; {_PREFER_VARIABLE}."),
    ("--api-key", ENV_SEARCH_API_KEY, f"Elasticsearch API key (base64); {_PREFER_VARIABLE}."),
)


def search_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the engine, auth and TLS options; the command receives them as ``search``."""
    options = [
        click.option(
            "--engine",
            type=click.Choice(ENGINES),
            envvar=ENV_SEARCH_ENGINE,
            help=f"Search engine; detected from GET / when unset. Env: {ENV_SEARCH_ENGINE}.",
        ),
        *(
            click.option(name, envvar=variable, help=f"{text} Env: {variable}.")
            for name, variable, text in _CREDENTIAL_OPTIONS
        ),
        click.option(
            "--aws-region",
            envvar=ENV_SEARCH_AWS_REGION,
            help="Sign requests with SigV4 for Amazon OpenSearch Service in this region, with "
            f"credentials from the standard AWS chain. Env: {ENV_SEARCH_AWS_REGION}.",
        ),
        click.option(
            "--ca-certs",
            type=click.Path(exists=True, dir_okay=False),
            envvar=ENV_SEARCH_CA_CERTS,
            help=f"CA bundle to verify the engine's TLS certificate. Env: {ENV_SEARCH_CA_CERTS}.",
        ),
        click.option(
            "--no-verify-certs",
            is_flag=True,
            help="Do not verify the engine's TLS certificate (verification is on by default).",
        ),
    ]

    @functools.wraps(command)
    def with_search_options(**kwargs: Any) -> Any:
        try:
            kwargs["search"] = SearchOptions(
                engine=kwargs.pop("engine"),
                username=kwargs.pop("search_username"),
                password=kwargs.pop("search_password"),
                api_key=kwargs.pop("api_key"),
                aws_region=kwargs.pop("aws_region"),
                ca_certs=kwargs.pop("ca_certs"),
                verify_certs=not kwargs.pop("no_verify_certs"),
            )
            if kwargs.get("es_url") is not None:
                # Credentials in --es-url join the others here: the URL goes on without them.
                kwargs["es_url"], kwargs["search"] = kwargs["search"].with_url_credentials(
                    kwargs["es_url"]
                )
        except SearchConfigError as error:
            raise click.UsageError(str(error)) from None
        return command(**kwargs)

    return with_options(*options)(with_search_options)


def with_options(
    *decorators: Callable[..., Any],
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """One decorator that applies ``decorators`` as if stacked in this order, first on top."""

    def apply(command: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


# Where a search command reads (archive, table) and what it writes to (engine, alias).
archive_to_alias_options = with_options(
    archive_option,
    required_table_option("DynamoDB table whose change log to index."),
    es_url_option,
    search_options,
    alias_option,
)


class TextParamType(click.ParamType):  # type: ignore[type-arg]
    """A value read from its text by ``parse``, whose ``ValueError`` is the usage error.

    A value that is not text (a default given already parsed) is taken as it is.
    """

    def parse(self, text: str) -> Any:
        """The value ``text`` stands for; ``ValueError`` saying why when it stands for none."""
        raise NotImplementedError

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse the text, or fail with a usage error naming the option."""
        if not isinstance(value, str):
            return value
        try:
            return self.parse(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)


class ByteSize(TextParamType):
    """A size in bytes: ``512MiB``, ``2GB`` or a plain number (``schemas.byte_sizes``)."""

    name = "size"

    def __init__(self, minimum: int = 1, floor: str = "") -> None:
        self.minimum = minimum
        self.floor = floor or f"the minimum of {bytes_to_text(minimum)}"

    def parse(self, text: str) -> int:
        """``512MiB`` -> ``536870912``, if not below the minimum."""
        size = text_to_bytes(text)
        if size < self.minimum:
            raise ValueError(f"{text!r} is below {self.floor}")
        return size
