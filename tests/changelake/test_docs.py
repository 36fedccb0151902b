"""Every command and option is documented: in its help text, in the README and in docs/."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from changelake import config
from changelake.cli import cli

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
# The pages that explain commands; docs/cli.md only repeats their --help.
EXPLAINING_PAGES = {
    page.name: page.read_text() for page in (ROOT / "docs").glob("*.md") if page.name != "cli.md"
}
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text()
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
def test_commands_are_in_the_readme_command_table(name: str) -> None:
    assert re.search(rf"^\| `changelake {re.escape(name)}` \|", README, re.MULTILINE), (
        f"README.md's command table has no row for changelake {name}"
    )


@pytest.mark.parametrize("name", COMMANDS)
def test_commands_are_explained_in_the_docs(name: str) -> None:
    pages = [
        page
        for page, text in EXPLAINING_PAGES.items()
        if re.search(rf"changelake {re.escape(name)}(?![\w-])", text)
    ]
    assert pages, f"no page of docs/ (besides cli.md) explains changelake {name}"


def _variable_rows() -> dict[str, str]:
    section = CONFIGURATION.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(CHANGELAKE_\w+)` \|(.*)$", section, re.MULTILINE)
    return dict(rows)


def test_every_environment_variable_is_documented() -> None:
    declared = {value for name, value in vars(config).items() if name.startswith("ENV_")}
    read = {
        variable
        for folder in ("changelake", "archiver", "rebuild", "schemas", "ask")
        for source in (ROOT / folder).rglob("*.py")
        for variable in re.findall(r"\bCHANGELAKE_[A-Z0-9_]+\b", source.read_text())
    }
    documented = set(_variable_rows())
    assert declared <= documented, f"not in docs/configuration.md: {declared - documented}"
    assert read <= documented, (
        f"read by the code, not in docs/configuration.md: {read - documented}"
    )
    assert documented <= declared, (
        f"documented, not in changelake/config.py: {documented - declared}"
    )


@pytest.mark.parametrize(
    ("name", "option"),
    [
        (name, param.name)
        for name in COMMANDS
        for param in _command(name).params
        if isinstance(param, click.Option) and isinstance(param.envvar, str)
    ],
)
def test_the_variable_table_names_each_variables_flag(name: str, option: str) -> None:
    (param,) = [p for p in _command(name).params if p.name == option]
    assert isinstance(param.envvar, str)
    row = _variable_rows().get(param.envvar, "")
    assert f"`{param.opts[-1]}`" in row, (
        f"docs/configuration.md: the row of {param.envvar} does not name {param.opts[-1]}"
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
