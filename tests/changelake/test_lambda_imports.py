"""The archive Lambda's import graph stays lean: its package carries no DuckDB or search client."""

from __future__ import annotations

import subprocess
import sys

HEAVY_MODULES = ("duckdb", "elasticsearch", "opensearchpy", "click")


def test_lambda_handler_imports_no_duckdb_and_no_search_client() -> None:
    probe = (
        "import sys, changelake.lambda_handler; "
        f"print(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"
