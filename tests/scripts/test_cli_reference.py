"""docs/cli.md and the option table of docs/configuration.md match the commands as they are."""

from __future__ import annotations

import click

from changelake.cli import cli
from scripts.cli_reference import (
    CLI_PAGE,
    CONFIGURATION_PAGE,
    cli_reference_markdown,
    configuration_markdown,
    option_rows,
)

REGENERATE = "run .venv/bin/python -m scripts.cli_reference and commit the result"


def test_the_cli_reference_is_current() -> None:
    assert CLI_PAGE.read_text() == cli_reference_markdown(), f"docs/cli.md is stale: {REGENERATE}"


def test_the_option_table_is_current() -> None:
    page = CONFIGURATION_PAGE.read_text()
    assert page == configuration_markdown(page), (
        f"the option table in docs/configuration.md is stale: {REGENERATE}"
    )


def _commands() -> dict[str, click.Command]:
    context = click.Context(cli)
    commands = {name: cli.get_command(context, name) for name in cli.list_commands(context)}
    return {name: command for name, command in commands.items() if command is not None}


def test_the_reference_holds_every_command_and_option() -> None:
    reference = cli_reference_markdown()
    for name, command in _commands().items():
        assert f"## changelake {name}\n" in reference
        for param in command.params:
            if isinstance(param, click.Option):
                assert all(flag in reference for flag in param.opts), (name, param.opts)


def test_the_option_table_has_a_row_for_every_declaration() -> None:
    rows = option_rows()
    declared = sum(
        isinstance(param, click.Option)
        for command in _commands().values()
        for param in command.params
    )
    # Each option of each command is counted in exactly one row (plus the group's --verbose).
    assert sum(len(commands) for commands in rows.values()) == declared + 1
    # --archive defaults to ./changelake-data, except where the index's recipe names the archive.
    archive_rows = {
        row.default: commands for row, commands in rows.items() if row.flags == "`--archive`"
    }
    assert "`archive`" in archive_rows["`./changelake-data`"]
    assert {row.envvar for row in rows if row.flags == "`--archive`"} == {"`CHANGELAKE_ARCHIVE`"}
