"""``changelake sql`` cannot change the archive, read outside it, or show credentials."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from changelake.cli import cli
from changelake.clients import make_store
from changelake.schemas.archive_layout import parse_archive_uri
from tests.changelake.sql_archive import write_sample_archive

if TYPE_CHECKING:
    from click.testing import Result


def _sql(archive: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["sql", "--archive", archive, *args])


WRITES = [
    ("copy (select 1 as a) to '{target}'", "COPY writes files"),
    ("explain analyze copy (select 1 as a) to '{target}'", "COPY writes files"),
    ("select 1; copy (select 1 as a) to '{target}'", "COPY writes files"),
    ("export database '{archive}/export'", "EXPORT DATABASE writes files"),
    ("attach '{archive}/x.duckdb' as x", "ATTACH opens a database for writing"),
    ("delete from changes", "DELETE removes data"),
    ("insert into changes select * from changes", "INSERT changes data"),
    ("update changes set event_name = 'MODIFY'", "UPDATE changes data"),
    ("install httpfs", "LOAD and INSTALL add extensions"),
    ("set enable_external_access = true", "SET changes the session's locked settings"),
]


@pytest.mark.parametrize(("statement", "reason"), WRITES)
def test_writes_are_refused_and_the_archive_is_unchanged(
    archive_uri: str, statement: str, reason: str
) -> None:
    write_sample_archive(archive_uri)
    store = make_store(parse_archive_uri(archive_uri))
    before = sorted(store.list_keys(""))
    archive = parse_archive_uri(archive_uri).url()
    target = f"{archive}/table=posts/dt=2025-11-28/extra.parquet"
    result = _sql(archive_uri, statement.format(target=target, archive=archive))
    assert result.exit_code == 1
    assert f"changelake sql is read-only: {reason}" in result.output
    assert "The archive cannot be changed through sql" in result.output
    assert sorted(store.list_keys("")) == before


def test_nothing_outside_the_archive_can_be_read_or_written(
    archive_uri: str, tmp_path: pytest.TempPathFactory
) -> None:
    write_sample_archive(archive_uri)
    location = parse_archive_uri(archive_uri)
    elsewhere = f"s3://{location.bucket}/elsewhere/x.parquet" if location.is_s3 else "/etc/hostname"
    result = _sql(archive_uri, f"select * from read_text('{elsewhere}')")
    assert result.exit_code == 1
    assert "changelake sql reads the archive and nothing else: Permission Error" in result.output


def test_out_may_not_point_into_the_archive(local_archive: str) -> None:
    write_sample_archive(local_archive)
    result = _sql(local_archive, "--output", "csv", "--out", f"{local_archive}/x.csv", "select 1")
    assert result.exit_code == 1
    assert "is inside the archive" in result.output


def test_credentials_are_never_printed(s3_archive: str) -> None:
    write_sample_archive(s3_archive)
    secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    key_id = os.environ["AWS_ACCESS_KEY_ID"]
    for query in (
        "select * from duckdb_secrets()",
        "select * from duckdb_settings()",
        "select * from which_secret('s3://x/y', 's3')",
    ):
        result = _sql(s3_archive, "--output", "json", query)
        assert result.exit_code == 0, result.output
        assert secret not in result.output, query
        assert f'"{key_id}"' not in result.output, query
    unredacted = _sql(s3_archive, "select * from duckdb_secrets(redact := false)")
    assert unredacted.exit_code == 1
    assert "Displaying unredacted secrets is disabled" in unredacted.output
    shown = _sql(s3_archive, "--output", "csv", "select secret_string from duckdb_secrets()")
    assert shown.exit_code == 0
    assert "secret=redacted" in shown.output


def test_explain_after_a_comment_gets_its_plan(local_archive: str) -> None:
    write_sample_archive(local_archive)
    result = _sql(local_archive, "/* c */ EXPLAIN SELECT 1")
    assert result.exit_code == 0, result.output
    assert "physical_plan" in result.stdout
    refused = _sql(local_archive, "/* c */ EXPLAIN ANALYZE COPY (SELECT 1) TO 'x.csv'")
    assert refused.exit_code == 1
    assert "read-only: COPY writes files" in refused.stderr
    assert "Traceback" not in refused.output
