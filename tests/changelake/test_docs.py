"""Every command and option is documented: in its help text and in the README."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from changelake.cli import cli

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
_CONTEXT = click.Context(cli)
COMMANDS = {name: cli.get_command(_CONTEXT, name) for name in cli.list_commands(_CONTEXT)}


def test_there_are_commands() -> None:
    assert "archive" in COMMANDS
    # Each name loads the command of that name.
    assert all(command and command.name == name for name, command in COMMANDS.items())


def _command(name: str) -> click.Command:
    command = COMMANDS[name]
    assert command is not None
    return command


@pytest.mark.parametrize("name", COMMANDS)
def test_commands_have_help(name: str) -> None:
    assert (_command(name).help or "").strip(), f"changelake {name} has no help text"


@pytest.mark.parametrize(
    ("name", "option"),
    [
        (name, param.name)
        for name in COMMANDS
        for param in _command(name).params
        if isinstance(param, click.Option)
    ],
)
def test_options_have_help(name: str, option: str) -> None:
    (param,) = [p for p in _command(name).params if p.name == option]
    assert isinstance(param, click.Option)
    assert (param.help or "").strip(), f"changelake {name}: option {param.opts} has no help text"


@pytest.mark.parametrize("name", COMMANDS)
def test_commands_are_in_the_readme(name: str) -> None:
    assert re.search(rf"changelake {re.escape(name)}\b", README), (
        f"README.md does not mention changelake {name}"
    )


def test_group_options_have_help() -> None:
    for param in cli.params:
        if isinstance(param, click.Option):
            assert (param.help or "").strip(), f"changelake option {param.opts} has no help text"


def test_the_command_line_loads_only_the_command_it_runs() -> None:
    probe = (
        "import sys; from changelake.cli import cli; "
        "print(sorted(m for m in ('duckdb', 'elasticsearch', 'opensearchpy', 'boto3') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"
