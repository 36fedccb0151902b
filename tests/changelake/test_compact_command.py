"""``changelake compact`` through click's CliRunner."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from bench.synthetic_archive import ArchiveShape, write_synthetic_archive
from changelake.archiver.batch import archive_records
from changelake.archiver.compaction import iter_partition_files
from changelake.cli import cli
from changelake.clients import make_store
from changelake.schemas.archive_layout import parse_archive_uri
from tests.helpers import make_record

if TYPE_CHECKING:
    from pathlib import Path


def _archive_three_batches(archive: str) -> list[str]:
    store = make_store(parse_archive_uri(archive))
    for batch in range(3):
        archive_records([make_record(batch * 10 + n, key=f"post#{n}") for n in range(5)], store)
    return [key for _, key in iter_partition_files(store, "posts")]


def test_dry_run_prints_the_plan_and_changes_nothing(archive_uri: str) -> None:
    keys = _archive_three_batches(archive_uri)
    result = CliRunner().invoke(
        cli, ["compact", "--archive", archive_uri, "--table", "posts", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert "Would compact 3 files" in result.stdout
    assert "15 rows) in table=posts/dt=2025-11-28 into about 1 file(s)" in result.stdout
    store = make_store(parse_archive_uri(archive_uri))
    assert [key for _, key in iter_partition_files(store, "posts")] == keys


def test_compact_then_again_reports_nothing_to_do(archive_uri: str) -> None:
    _archive_three_batches(archive_uri)
    args = ["compact", "--archive", archive_uri, "--table", "posts", "--output", "json"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    (partition,) = json.loads(first.stdout)["partitions"]
    assert partition["inputs"] == 3
    assert partition["rows_written"] == 15
    assert partition["outputs"][0].startswith("table=posts/dt=2025-11-28/compacted-")
    second = CliRunner().invoke(cli, args[:-2])
    assert second.exit_code == 0, second.output
    assert "Nothing to compact: every partition of posts is already compacted" in second.stdout


def test_progress_goes_to_stderr_and_silent_hides_it(local_archive: str) -> None:
    _archive_three_batches(local_archive)
    result = CliRunner().invoke(cli, ["compact", "--archive", local_archive, "--table", "posts"])
    assert result.exit_code == 0, result.output
    assert "Compacting" in result.stderr
    assert "Compacting" not in result.stdout
    _archive_three_batches(local_archive)
    silent = CliRunner().invoke(
        cli, ["compact", "--archive", local_archive, "--table", "posts", "-s"]
    )
    assert silent.exit_code == 0, silent.output
    assert silent.stderr == ""


def test_batches_delivered_again_after_compaction_are_dropped_by_the_next_one(
    local_archive: str,
) -> None:
    _archive_three_batches(local_archive)
    args = ["compact", "--archive", local_archive, "--table", "posts", "-s"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    # The same batches delivered again (a Lambda retry) after the compaction: readers count
    # each event once, and the next compaction drops the copies.
    _archive_three_batches(local_archive)
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert again.stdout == (
        "Compacted table=posts/dt=2025-11-28: 4 files, 30 rows -> 1 file(s), 15 rows "
        "(15 duplicate deliveries dropped)\n"
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--date", "2025-11-28", "--before", "2025-11-29"], "use --date or --before, not both"),
        (["--target-size", "lots"], "'lots' is not a size"),
        (["--date", "28/11/2025"], "does not match the format"),
    ],
)
def test_usage_errors_exit_2(local_archive: str, extra: list[str], message: str) -> None:
    result = CliRunner().invoke(
        cli, ["compact", "--archive", local_archive, "--table", "posts", *extra]
    )
    assert result.exit_code == 2
    assert message in result.output


def test_bad_table_name_is_one_line_error(local_archive: str) -> None:
    result = CliRunner().invoke(cli, ["compact", "--archive", local_archive, "--table", "x"])
    assert result.exit_code == 1
    assert "table name 'x' is not a DynamoDB table name" in result.output


def test_a_day_beyond_the_memory_limit_fails_in_one_line_and_deletes_nothing(
    tmp_path: Path,
) -> None:
    # 150k changes of about 2 KB: far more than the smallest limit lets DuckDB sort.
    shape = ArchiveShape(150_000, 15_000, days=1, rows_per_file=5_000)
    inputs = sorted(write_synthetic_archive(tmp_path, shape))
    result = CliRunner().invoke(
        cli,
        ["compact", "--archive", str(tmp_path), "--table", "posts", "--memory-limit", "128MiB"],
    )
    assert result.exit_code == 1
    line = result.output.splitlines()[-1]  # after the progress bar's label
    assert line.startswith("Error: compacting table=posts/dt=")
    assert "ran out of DuckDB's memory" in line
    assert "150000 rows in 30 files" in line
    assert "--memory-limit" in line
    assert sorted(tmp_path.glob("table=posts/*/*.parquet")) == inputs
