"""How the Spark session is chosen: the cluster's under spark-submit, else local with S3A."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from changelake.config import ENV_SPARK_JARS
from changelake.schemas.exceptions import ArchiveLocationError
from changelake.spark_session import is_cluster, s3a_jars

if TYPE_CHECKING:
    from pathlib import Path


def test_spark_submit_makes_it_a_cluster_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    assert not is_cluster()
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "41234")
    assert is_cluster()


def test_missing_s3a_jars_are_explained(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_SPARK_JARS, str(tmp_path))
    assert s3a_jars(required=False) == []
    with pytest.raises(ArchiveLocationError, match=r"no S3A jars in .*; run `make spark`"):
        s3a_jars(required=True)
    (tmp_path / "hadoop-aws.jar").write_bytes(b"")
    assert s3a_jars(required=True) == [str(tmp_path / "hadoop-aws.jar")]
