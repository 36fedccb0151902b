"""DuckDB's memory limit: the default from the machine or cgroup, the option, and spilling."""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from changelake.cli import cli
from changelake.clients import connect_duckdb
from changelake.memory_limit import (
    MIB,
    cgroup_memory_limit,
    default_memory_limit,
    physical_memory,
)
from changelake.schemas.archive_layout import parse_archive_uri

if TYPE_CHECKING:
    from pathlib import Path


def test_a_cgroup_limit_is_read_and_max_means_none(tmp_path: Path) -> None:
    limit = tmp_path / "memory.max"
    limit.write_text("1073741824\n")
    assert cgroup_memory_limit((limit,)) == 2**30
    limit.write_text("max\n")
    assert cgroup_memory_limit((limit,)) is None
    limit.write_text(f"{physical_memory() * 4}\n")  # cgroup v1's "no limit" is a huge number
    assert cgroup_memory_limit((limit,)) is None
    assert cgroup_memory_limit((tmp_path / "absent",)) is None


def test_the_default_is_a_quarter_of_the_memory_capped_per_thread() -> None:
    assert default_memory_limit(threads=2) == min(physical_memory() // 4, 512 * MIB)
    assert default_memory_limit(threads=1) >= 128 * MIB


def test_connections_get_the_limit_and_a_temporary_directory_of_their_own(tmp_path: Path) -> None:
    connection = connect_duckdb(parse_archive_uri(str(tmp_path)), memory_limit=300 * MIB)
    (limit, directory) = connection.execute(
        "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
    ).fetchone()
    assert limit == "300.0 MiB"
    assert directory.startswith(tempfile.gettempdir())
    default = connect_duckdb(parse_archive_uri(str(tmp_path)))
    (limit,) = default.execute("SELECT current_setting('memory_limit')").fetchone()
    assert limit == f"{default_memory_limit() // MIB}.0 MiB"


def test_past_the_limit_duckdb_spills_instead_of_failing(tmp_path: Path) -> None:
    connection = connect_duckdb(parse_archive_uri(str(tmp_path)), memory_limit=128 * MIB)
    # ~310 MB of text, more than twice the limit.
    connection.execute(
        "CREATE TEMP TABLE big AS SELECT i, repeat('x', 200) || i AS text FROM range(1500000) t(i)"
    )
    (spilled,) = connection.execute("SELECT sum(size) FROM duckdb_temporary_files()").fetchone()
    assert spilled > 0
    (found,) = connection.execute("SELECT count(DISTINCT text) FROM big").fetchone()
    assert found == 1_500_000


@pytest.mark.parametrize("command", ["rebuild", "sync", "verify"])
def test_a_bad_memory_limit_is_a_usage_error(command: str) -> None:
    result = CliRunner().invoke(
        cli, [command, "--es-url", "http://127.0.0.1:1", "--alias", "a", "--memory-limit", "1KB"]
    )
    assert result.exit_code == 2
    assert "'1KB' is below DuckDB's useful minimum of 128.0 MiB" in result.output
