"""Every command and option is documented: in its help text and in the README."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from changelake.cli import cli

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
COMMANDS = sorted(cli.commands)


def test_there_are_commands() -> None:
    assert "archive" in COMMANDS


@pytest.mark.parametrize("name", COMMANDS)
def test_commands_have_help(name: str) -> None:
    assert (cli.commands[name].help or "").strip(), f"changelake {name} has no help text"


@pytest.mark.parametrize(
    ("name", "option"),
    [
        (name, param.name)
        for name in COMMANDS
        for param in cli.commands[name].params
        if isinstance(param, click.Option)
    ],
)
def test_options_have_help(name: str, option: str) -> None:
    (param,) = [p for p in cli.commands[name].params if p.name == option]
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
