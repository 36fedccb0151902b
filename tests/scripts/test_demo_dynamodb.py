"""``make demo-dynamodb`` runs end to end: its own servers, snapshot, poll, rebuild, search."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.dynamodb
@pytest.mark.es
def test_the_dynamodb_demo_finds_the_edited_posts(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "scripts.demo_dynamodb", str(tmp_path / "services"),
         str(tmp_path / "archive")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Took snapshot" in completed.stdout
    assert "The table holds 320 items; searching the index for 'edited': 20 hits" in (
        completed.stdout
    )
