"""``changelake stats``: figures per table and day, on a local archive and on the S3 server."""

from __future__ import annotations

import json

from click.testing import CliRunner

from changelake.cli import cli
from changelake.clients import make_store
from changelake.schemas.archive_layout import parse_archive_uri
from tests.changelake.sql_archive import write_sample_archive


def test_per_day_figures_match_the_archive(archive_uri: str) -> None:
    write_sample_archive(archive_uri)
    store = make_store(parse_archive_uri(archive_uri))
    sizes = {
        day: [len(store.get_bytes(k)) for k in store.list_keys(f"table=posts/dt={day}/")]
        for day in ("2025-11-28", "2025-11-29")
    }
    result = CliRunner().invoke(cli, ["stats", "--archive", archive_uri, "--output", "json"])
    assert result.exit_code == 0, result.output
    day1, day2 = json.loads(result.output)
    assert {k: day1[k] for k in ("table", "dt", "records", "inserts", "modifies", "removes")} == {
        "table": "posts",
        "dt": "2025-11-28",
        "records": 4,
        "inserts": 2,
        "modifies": 2,
        "removes": 0,
    }
    assert (day2["records"], day2["inserts"], day2["modifies"], day2["removes"]) == (3, 1, 1, 1)
    assert (day1["files"], day1["bytes"], day1["small_files"]) == (1, sum(sizes["2025-11-28"]), 1)
    assert day2["bytes"] == sum(sizes["2025-11-29"])
    assert (day1["oldest"], day1["newest"]) == (
        "2025-11-28T00:00:00+00:00",
        "2025-11-28T00:00:10+00:00",
    )
    assert day2["newest"] == "2025-11-29T00:00:20+00:00"
    assert day2["lag_seconds"] > 0
    assert day1["lag_seconds"] - day2["lag_seconds"] == 86_400 + 10


def test_text_flags_small_files_by_the_threshold(local_archive: str) -> None:
    write_sample_archive(local_archive)
    flagged = CliRunner().invoke(cli, ["stats", "--archive", local_archive])
    assert flagged.exit_code == 0, flagged.output
    header, *rows, note = flagged.output.splitlines()
    assert header.split()[:3] == ["table", "dt", "records"]
    assert len(rows) == 2
    assert all(" 1 ! " in row for row in rows)
    assert note == "! 2 file(s) below 16.0 MiB: run `changelake compact` to merge them"
    small = CliRunner().invoke(
        cli, ["stats", "--archive", local_archive, "--small-file-size", "1KB"]
    )
    assert "!" not in small.output


def test_a_missing_archive_is_an_error_not_an_empty_answer(local_archive: str) -> None:
    result = CliRunner().invoke(cli, ["stats", "--archive", local_archive])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: no archive at {local_archive}: the directory does not exist; check --archive "
        "(or CHANGELAKE_ARCHIVE)\n"
    )
