"""README and docs/ hold together: links resolve, every page is listed, the layout is the tree."""

from __future__ import annotations

import re
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)


def _prose(text: str) -> str:
    """The text without code, where brackets and parentheses are not links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, '-' for ' '."""
    anchors: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", text)):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchor, n = slug, 0
        while anchor in anchors:
            n += 1
            anchor = f"{slug}-{n}"
        anchors.add(anchor)
    return anchors


def test_anchors_are_made_as_github_makes_them() -> None:
    text = "# Title\n## Saved events: `changelake archive`\n## Title\n```\n# not a heading\n```\n"
    assert heading_anchors(text) == {"title", "saved-events-changelake-archive", "title-1"}


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in LINK.findall(_prose(page.read_text())):
        if re.match(r"[a-z]+:", target):  # https:, mailto:: not ours to check offline
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no file {file}")
        elif anchor and file.suffix == ".md" and anchor not in heading_anchors(file.read_text()):
            broken.append(f"{target}: no heading with the anchor #{anchor} in {file.name}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_docs_index_lists_every_page() -> None:
    index = (ROOT / "docs" / "index.md").read_text()
    listed = set(LINK.findall(index))
    missing = [p.name for p in PAGES[1:] if p.name != "index.md" and p.name not in listed]
    assert not missing, f"docs/index.md does not link {missing}"


def test_the_readme_is_a_front_door() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250, "README.md is over 250 lines: move reference to docs/"
    assert "docs/index.md" in LINK.findall(readme)
    # The two set-up commands, and the quick start before anything else after the intro.
    assert "make demo" in readme and "make test" in readme
    sections = re.findall(r"^## (.+)$", readme, re.MULTILINE)
    assert sections[0].startswith("Quick start"), sections


def test_the_layout_of_the_code_names_every_top_level_folder() -> None:
    ignored = [
        line.strip().rstrip("/")
        for line in (ROOT / ".gitignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    folders = [
        path.name
        for path in ROOT.iterdir()
        if path.is_dir()
        and not path.name.startswith(".")
        and not any(fnmatch(path.name, pattern) for pattern in ignored)
    ]
    layout = (ROOT / "docs" / "contributing.md").read_text().split("## Layout of the code", 1)[1]
    missing = [name for name in folders if f"| `{name}/` |" not in layout.split("\n## ", 1)[0]]
    assert "archiver" in folders
    assert not missing, f"docs/contributing.md's layout of the code does not describe {missing}"
