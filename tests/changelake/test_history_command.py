"""``changelake history`` on a local archive and on the S3 server."""

from __future__ import annotations

import json

from click.testing import CliRunner

from changelake.cli import cli
from tests.changelake.sql_archive import write_sample_archive


def _history(archive: str, key: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["history", "--archive", archive, "--table", "posts", *args, key]
    )
    return result.exit_code, result.output


def test_timeline_with_diffs(archive_uri: str) -> None:
    write_sample_archive(archive_uri)
    code, output = _history(archive_uri, "id=post#1")
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0] == "posts id=post#1: 4 changes"
    assert [line.split()[2] for line in lines if not line.startswith(("    ", "posts"))] == [
        "INSERT",
        "MODIFY",
        "MODIFY",
        "MODIFY",
    ]
    assert lines[1:4] == [
        "2025-11-28 00:00:00  INSERT    user   version 1849990053888000",
        '    + id: "post#1"',
        '    + title: "a"',
    ]
    assert lines[4:7] == [
        "2025-11-28 00:00:10  MODIFY    user   version 1849990064373760",
        "    + views: 1",
        '    ~ title: "a" -> "b"',
    ]
    assert lines[7] == "2025-11-28 00:00:10  MODIFY    user   version 1849990064373761"
    assert lines[-2:] == ['    ~ title: "c" -> "d"', "    ~ views: 1 -> 2"]


def test_ttl_removal_and_json(archive_uri: str) -> None:
    write_sample_archive(archive_uri)
    code, output = _history(archive_uri, "id=post#2", "--output", "json")
    assert code == 0, output
    document = json.loads(output)
    assert document["item_key"] == "id=post#2"
    insert, removal = document["changes"]
    assert insert["diff"]["added"] == {"id": "post#2", "title": "x"}
    assert (removal["event"], removal["who"], removal["image"]) == ("REMOVE", "TTL", None)
    assert removal["diff"]["removed"] == {"id": "post#2", "title": "x"}
    assert removal["time"] == "2025-11-29T00:00:05+00:00"
    code, text = _history(archive_uri, "id=post#2")
    assert text.splitlines()[-1] == "    (item removed by TTL)"


def test_unknown_item_is_a_clear_error(local_archive: str) -> None:
    write_sample_archive(local_archive)
    code, output = _history(local_archive, "post#1")
    assert code == 1
    assert "no changes of item 'post#1' in table 'posts'" in output
    assert "item keys look like 'id=post-1'" in output
