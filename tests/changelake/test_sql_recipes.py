"""The recipes of docs/sql.md print what the page shows, on the archive `make demo` writes."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from changelake.cli import cli
from changelake.config import ENV_ARCHIVE

ROOT = Path(__file__).resolve().parents[2]
RECIPES = (ROOT / "docs" / "sql.md").read_text().split("\n## Recipes\n", 1)[1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"```\n\$ (changelake [^\n]+)\n(.*?)```", RECIPES, re.DOTALL)
EVENTS = sorted((ROOT / "tests" / "events").glob("lambda-event-*.json"))


def test_there_are_five_recipes() -> None:
    assert len(BLOCKS) == 5


@pytest.mark.parametrize(("command", "shown"), BLOCKS, ids=[c for c, _ in BLOCKS])
def test_recipe_prints_what_the_page_shows(command: str, shown: str, tmp_path: Path) -> None:
    archive = str(tmp_path / "changelake-data")
    runner = CliRunner(env={ENV_ARCHIVE: archive})
    archived = runner.invoke(cli, ["archive", *map(str, EVENTS)])
    assert archived.exit_code == 0, archived.output
    result = runner.invoke(cli, shlex.split(command)[1:])
    assert result.exit_code == 0, result.output
    assert _without_lag(result.output) == _without_lag(shown)


def _without_lag(text: str) -> str:
    # The lag column (and file sizes, which carry the write time) change from run to run.
    return re.sub(r"\s+\d+(\.\d)? KiB .*$", "", text, flags=re.MULTILINE)
