"""The installed code lives under one import name, ``changelake``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The repository's folders that install as changelake.<name> (see changelake/<name>, a link).
SUBPACKAGES = ("archiver", "ask", "examples", "rebuild", "schemas")
CODE = (*SUBPACKAGES, "changelake", "bench", "scripts", "deploy", "tests")


def top_level_imports(path: Path) -> set[str]:
    """The first name of every module ``path`` imports (absolute imports only)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_code_imports_the_subpackages_through_the_changelake_name() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(top_level_imports(path) & set(SUBPACKAGES))
        for folder in CODE
        for path in (ROOT / folder).rglob("*.py")
        if not path.is_symlink() and top_level_imports(path) & set(SUBPACKAGES)
    }
    assert offenders == {}


def test_each_subpackage_is_linked_into_the_changelake_package() -> None:
    for name in SUBPACKAGES:
        link = ROOT / "changelake" / name
        assert link.is_symlink(), f"changelake/{name} should link to ../{name}"
        assert link.resolve() == (ROOT / name).resolve()
