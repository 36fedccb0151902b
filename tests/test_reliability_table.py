"""The reliability table in docs/reliability.md names, in each row, tests that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "reliability.md"
TEST = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def _rows() -> list[str]:
    lines = PAGE.read_text().splitlines()
    header = lines.index("| failure | what changelake does | test |")
    rows = []
    for line in lines[header + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_every_row_names_a_test() -> None:
    rows = _rows()
    assert len(rows) >= 14
    untested = [row.split("|")[1].strip() for row in rows if not TEST.search(row)]
    assert not untested, f"rows of docs/reliability.md without a test: {untested}"


def test_every_test_named_in_the_reliability_table_exists() -> None:
    named = TEST.findall(PAGE.read_text())
    assert len(named) >= 14
    for path, name in named:
        tree = ast.parse((ROOT / path).read_text())
        functions = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        assert name in functions, (
            f"{path}::{name} is named in docs/reliability.md but does not exist"
        )
