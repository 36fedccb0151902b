"""The ``changelake`` command."""

from __future__ import annotations

import os
import sys
import traceback
from importlib import import_module
from typing import Any

import click

from changelake import __version__
from changelake.hot_path import version_text
from changelake.redaction import redact
from changelake.schemas.exceptions import ChangelakeError

# Each command's module, imported only when the command runs (or help lists it), so that a run
# loads only what its command needs: DuckDB, the search clients and boto3 stay out of the others.
COMMAND_MODULES = {
    "archive": "changelake.commands.archive",
    "compact": "changelake.commands.compact",
    "follow": "changelake.commands.follow",
    "history": "changelake.commands.history",
    "import-export": "changelake.commands.import_export",
    "mapping": "changelake.commands.mapping",
    "poll": "changelake.commands.poll",
    "rebuild": "changelake.commands.rebuild",
    "report": "changelake.commands.report",
    "rollback": "changelake.commands.rollback",
    "snapshot": "changelake.commands.snapshot",
    "sql": "changelake.commands.sql",
    "stats": "changelake.commands.stats",
    "sync": "changelake.commands.sync",
    "verify": "changelake.commands.verify",
}


class ChangelakeGroup(click.Group):
    """Turns errors into one line on stderr and exit 1 (a traceback with --verbose).

    Commands load on demand from ``COMMAND_MODULES``.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command's name, without importing any."""
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import the command's module and return the command it defines."""
        module = COMMAND_MODULES.get(cmd_name)
        if module is None:
            return None
        command: click.Command = getattr(import_module(module), cmd_name.replace("-", "_"))
        return command

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; any error becomes one line on stderr and exit 1, secrets masked.

        With ``--verbose`` the traceback is printed instead, masked too. An error that is not
        one of changelake's own says so, since it is a bug to report.
        """
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            # The reader of stdout went away (sql ... | head): stop quietly, as a pipe does.
            _silence_stdout()
            ctx.exit(1)
        except Exception as error:
            if ctx.obj and ctx.obj.get("verbose"):
                click.echo(redact("".join(traceback.format_exception(error))), err=True)
                ctx.exit(1)
            message = " ".join(str(error).split())
            if not isinstance(error, ChangelakeError):
                message = (
                    f"unexpected {type(error).__name__}: {message} (please report it; "
                    "--verbose shows the traceback)"
                )
            raise click.ClickException(redact(message)) from None


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit raises no second broken pipe."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test runner's buffer): nothing to flush into the pipe
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(version_text(__version__))
        ctx.exit()


@click.group(cls=ChangelakeGroup, context_settings={"show_default": True})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and whether the compiled hot path or pure Python runs, and exit.",
)
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """DynamoDB Streams -> Parquet change log in S3 -> search indexes rebuilt with DuckDB."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
