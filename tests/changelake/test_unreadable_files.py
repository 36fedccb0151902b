"""A corrupt Parquet object in the archive: named in the error, or skipped and reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from changelake.archiver.batch import archive_records
from changelake.cli import cli
from changelake.clients import make_store
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.exceptions import CorruptArchiveError
from changelake.schemas.sql_views import latest_sql
from changelake.unreadable_files import (
    naming_archive_files,
    naming_unreadable_files,
    open_readable_archive,
)
from tests.helpers import make_record

BAD_KEY = "table=posts/dt=2025-11-28/0000000000000000000000000000000000000999-truncated.parquet"


def _archive_with_a_corrupt_file(archive: str) -> str:
    """Two good batches, then a third whose object was cut short; returns the bad URL."""
    location = parse_archive_uri(archive)
    store = make_store(location)
    archive_records([make_record(n, key=f"post#{n}", title="a") for n in range(1, 6)], store)
    archive_records([make_record(n, key=f"post#{n}", title="b") for n in range(6, 9)], store)
    (good_key, *_) = store.list_keys("table=posts/")
    store.put_bytes(BAD_KEY, store.get_bytes(good_key)[:-100])
    return location.url(BAD_KEY)


def test_reading_an_archive_with_a_corrupt_file_names_it(archive_uri: str) -> None:
    bad_url = _archive_with_a_corrupt_file(archive_uri)
    location = parse_archive_uri(archive_uri)
    # Opening reads no file (so that dt filters prune); the query that reads it names it.
    connection, skipped = open_readable_archive(location, "posts")
    assert skipped == []
    with (
        pytest.raises(CorruptArchiveError) as raised,
        naming_archive_files(connection, location, "posts"),
    ):
        connection.execute("SELECT count(*) FROM changes").fetchall()
    assert str(raised.value).startswith(f"{bad_url} is not a readable Parquet file (")
    assert "pass --skip-corrupt to read around it" in str(raised.value)


def test_skip_corrupt_reads_the_rest_and_reports_the_file(archive_uri: str) -> None:
    bad_url = _archive_with_a_corrupt_file(archive_uri)
    connection, skipped = open_readable_archive(
        parse_archive_uri(archive_uri), "posts", skip_corrupt=True
    )
    assert [item.url for item in skipped] == [bad_url]
    assert "magic bytes" in skipped[0].error
    rows = connection.execute(f"SELECT item_key FROM ({latest_sql()}) ORDER BY 1").fetchall()
    assert [row[0] for row in rows] == [f"id=post#{n}" for n in range(1, 9)]


def test_a_damaged_page_is_found_by_reading_every_page(local_archive: str) -> None:
    location = parse_archive_uri(local_archive)
    store = make_store(location)
    records = [make_record(n, key=f"post#{n}", body=f"{n**7:x}" * 50) for n in range(1, 200)]
    archive_records(records, store)
    (key,) = store.list_keys("table=posts/")
    path = Path(location.url(key))
    data = bytearray(path.read_bytes())
    for offset in range(100, len(data) // 5, 5):  # damage the first pages, keep the footer
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    # The footer is intact: the view opens, and the query that reads the pages names the file.
    connection, _ = open_readable_archive(location, "posts")
    with (
        pytest.raises(CorruptArchiveError, match=f"^{path} is not a readable Parquet file"),
        naming_unreadable_files(connection, lambda: [str(path)]),
    ):
        connection.execute(latest_sql()).fetchall()
    connection, skipped = open_readable_archive(location, "posts", skip_corrupt=True)
    assert [item.url for item in skipped] == [str(path)]
    assert connection.execute("SELECT count(*) FROM changes").fetchone() == (0,)


def test_compact_names_the_corrupt_file_and_deletes_nothing(archive_uri: str) -> None:
    bad_url = _archive_with_a_corrupt_file(archive_uri)
    store = make_store(parse_archive_uri(archive_uri))
    before = list(store.list_keys("table=posts/"))
    result = CliRunner().invoke(cli, ["compact", "--archive", archive_uri, "--table", "posts"])
    assert result.exit_code == 1
    assert f"Error: {bad_url} is not a readable Parquet file" in result.output
    assert "--skip-corrupt" not in result.output
    assert list(store.list_keys("table=posts/")) == before
    assert list(store.list_keys("_locks/")) == []


def test_sql_names_a_corrupt_file_or_reads_around_it(archive_uri: str) -> None:
    bad_url = _archive_with_a_corrupt_file(archive_uri)
    query = "select count(*) as n from latest"
    refused = CliRunner().invoke(cli, ["sql", "--archive", archive_uri, query])
    assert refused.exit_code == 1
    assert f"Error: {bad_url} is not a readable Parquet file" in refused.output
    done = CliRunner().invoke(
        cli, ["sql", "--archive", archive_uri, "--skip-corrupt", "--output", "csv", query]
    )
    assert done.exit_code == 0, done.output
    assert f"Warning: skipped unreadable {bad_url}: " in done.stderr
    assert done.stdout.splitlines()[1:] == ["8"]


def test_history_names_a_corrupt_file_or_reads_around_it(local_archive: str) -> None:
    bad_url = _archive_with_a_corrupt_file(local_archive)
    args = ["history", "--archive", local_archive, "--table", "posts", "id=post#2"]
    refused = CliRunner().invoke(cli, args)
    assert refused.exit_code == 1
    assert f"Error: {bad_url} is not a readable Parquet file" in refused.output
    done = CliRunner().invoke(cli, [*args[:-1], "--skip-corrupt", "id=post#2"])
    assert done.exit_code == 0, done.output
    assert f"Warning: skipped unreadable {bad_url}: " in done.stderr


def test_stats_names_a_corrupt_file(local_archive: str) -> None:
    bad_url = _archive_with_a_corrupt_file(local_archive)
    result = CliRunner().invoke(cli, ["stats", "--archive", local_archive])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {bad_url} is not a readable Parquet file")
    assert result.output.rstrip().endswith("(changelake never deletes it for you)")
