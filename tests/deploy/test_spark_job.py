"""The EMR Serverless stack of the Spark runner (deploy/spark/) and its entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import cfn_yaml

SPARK_DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "spark"
STACK = SPARK_DEPLOY / "emr-serverless.yaml"


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    """deploy/spark/emr-serverless.yaml, parsed with cfn-lint's loader."""
    loaded: dict[str, Any] = cfn_yaml.load(str(STACK))
    return loaded


def test_cfn_lint_finds_nothing() -> None:
    matches = lint_file(STACK, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert [str(match) for match in matches] == []


def test_the_job_role_only_reads_the_archive(stack: dict[str, Any]) -> None:
    role = stack["Resources"]["RebuildJobRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    on_archive = [s for s in statements if "ArchiveBucketName}/" in str(s["Resource"])]
    assert [s["Action"] for s in on_archive] == ["s3:GetObject"]
    assert all("Delete" not in str(s["Action"]) for s in statements)


def test_the_entry_point_runs_rebuild_with_the_spark_runner() -> None:
    completed = subprocess.run(
        [sys.executable, str(SPARK_DEPLOY / "rebuild_job.py"), "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "Usage: changelake rebuild" in completed.stdout
    assert "--runner [duckdb|spark]" in completed.stdout
