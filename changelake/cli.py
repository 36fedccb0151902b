"""The ``changelake`` command."""

from __future__ import annotations

from typing import Any

import click

from changelake import __version__
from schemas.exceptions import ChangelakeError


class ChangelakeGroup(click.Group):
    """Turns changelake's errors into one line on stderr and exit 1 (a traceback with --verbose)."""

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


def _register() -> None:
    from changelake.commands.archive import archive
    from changelake.commands.compact import compact
    from changelake.commands.history import history
    from changelake.commands.import_export import import_export
    from changelake.commands.poll import poll
    from changelake.commands.rebuild import rebuild
    from changelake.commands.rollback import rollback
    from changelake.commands.snapshot import snapshot
    from changelake.commands.sql import sql
    from changelake.commands.stats import stats
    from changelake.commands.sync import sync
    from changelake.commands.verify import verify

    for command in (
        archive,
        compact,
        import_export,
        history,
        poll,
        rebuild,
        rollback,
        snapshot,
        sql,
        stats,
        sync,
        verify,
    ):
        cli.add_command(command)


_register()
