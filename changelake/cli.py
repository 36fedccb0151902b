"""The ``changelake`` command."""

from __future__ import annotations

from importlib import import_module
from typing import Any

import click

from changelake import __version__
from changelake.schemas.exceptions import ChangelakeError

# Each command's module, imported only when the command runs (or help lists it), so that a run
# loads only what its command needs: DuckDB, the search clients and boto3 stay out of the others.
COMMAND_MODULES = {
    "archive": "changelake.commands.archive",
    "compact": "changelake.commands.compact",
    "follow": "changelake.commands.follow",
    "history": "changelake.commands.history",
    "import-export": "changelake.commands.import_export",
    "poll": "changelake.commands.poll",
    "rebuild": "changelake.commands.rebuild",
    "rollback": "changelake.commands.rollback",
    "snapshot": "changelake.commands.snapshot",
    "sql": "changelake.commands.sql",
    "stats": "changelake.commands.stats",
    "sync": "changelake.commands.sync",
    "verify": "changelake.commands.verify",
}


class ChangelakeGroup(click.Group):
    """Turns changelake's errors into one line on stderr and exit 1 (a traceback with --verbose).

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
        """Run the subcommand, translating expected errors."""
        try:
            return super().invoke(ctx)
        except ChangelakeError as error:
            if ctx.obj and ctx.obj.get("verbose"):
                raise
            raise click.ClickException(str(error)) from error


@click.group(cls=ChangelakeGroup)
@click.version_option(__version__, prog_name="changelake")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """DynamoDB Streams -> Parquet change log in S3 -> search indexes rebuilt with DuckDB."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
