"""``changelake history`` on a local archive and on the S3 server."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from changelake.cli import cli
from tests.changelake.sql_archive import write_sample_archive, write_tables_sharing_a_key


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
        "2025-11-28 00:00:00+00:00  INSERT    user   version 1849990053888000",
        '    + id: "post#1"',
        '    + title: "a"',
    ]
    assert lines[4:7] == [
        "2025-11-28 00:00:10+00:00  MODIFY    user   version 1849990064373760",
        "    + views: 1",
        '    ~ title: "a" -> "b"',
    ]
    assert lines[7] == "2025-11-28 00:00:10+00:00  MODIFY    user   version 1849990064373761"
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
    code, output = _history(local_archive, "id=post#9")
    assert code == 1
    assert output == (
        "Error: no item of table 'posts' has the key 'id=post#9'; its keys look like "
        "'id=post#1', 'id=post#2', 'id=post#3'\n"
    )
    code, output = _history(local_archive, "title=a&&")
    assert code == 2
    assert "'' is not name=value" in output


def test_history_of_a_key_stays_in_its_table(local_archive: str) -> None:
    tables = ["One", "Two", "Three", "Four"]
    write_tables_sharing_a_key(local_archive, tables)
    for table in tables:
        result = CliRunner().invoke(
            cli, ["history", "--archive", local_archive, "--table", table, "pk=a&sk=b"]
        )
        assert result.exit_code == 0, result.output
        assert result.output.splitlines()[:3] == [
            f"{table} pk=a&sk=b: 1 change",
            "2025-11-28 00:00:00+00:00  INSERT    user   version 1849990053888000",
            '    + pk: "a"',
        ]
        assert f'    + t: "{table}"' in result.output


@pytest.mark.parametrize(
    "given",
    [["sk=b&pk=a"], ["--key", "sk=b", "--key", "pk=a"], ["pk=a", "--key", "sk=b"]],
    ids=["other order", "attributes", "both"],
)
def test_the_key_in_any_order_or_attribute_by_attribute(
    local_archive: str, given: list[str]
) -> None:
    write_tables_sharing_a_key(local_archive, ["Two"])
    result = CliRunner().invoke(
        cli, ["history", "--archive", local_archive, "--table", "Two", *given]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "Two pk=a&sk=b: 1 change"


def test_a_partial_key_names_its_one_item_or_lists_the_matches(local_archive: str) -> None:
    write_tables_sharing_a_key(local_archive, ["One", "Two"])
    command = ["history", "--archive", local_archive, "--table", "Two"]
    one = CliRunner().invoke(cli, [*command, "--key", "sk=c"])
    assert one.exit_code == 0, one.output
    assert one.output.splitlines()[0] == "Two pk=a&sk=c: 1 change"
    by_value = CliRunner().invoke(cli, [*command, "x", "--output", "json"])
    assert json.loads(by_value.output)["item_key"] == "pk=x&sk=b"
    several = CliRunner().invoke(cli, [*command, "--key", "pk=a"])
    assert several.exit_code == 1
    assert several.output == (
        "Error: key 'pk=a' matches several items of table 'Two': 'pk=a&sk=b', 'pk=a&sk=c'; "
        "give every key attribute (the whole key, or --key NAME=VALUE once per attribute)\n"
    )


def test_the_hint_lists_keys_of_the_table_asked_about(local_archive: str) -> None:
    write_sample_archive(local_archive)
    write_tables_sharing_a_key(local_archive, ["Other"])
    result = CliRunner().invoke(
        cli, ["history", "--archive", local_archive, "--table", "Other", "id=post#1"]
    )
    assert result.exit_code == 1
    assert "its keys look like 'pk=a&sk=b', 'pk=a&sk=c', 'pk=x&sk=b'" in result.output
    assert "post#" not in result.output.split("look like")[1]


def test_a_key_is_required_and_must_agree(local_archive: str) -> None:
    write_sample_archive(local_archive)
    none = CliRunner().invoke(cli, ["history", "--archive", local_archive, "--table", "posts"])
    assert none.exit_code == 2
    assert "give the item's KEY, or --key NAME=VALUE" in none.output
    clash = CliRunner().invoke(
        cli,
        ["history", "--archive", local_archive, "--table", "posts", "id=a", "--key", "id=b"],
    )
    assert clash.exit_code == 2
    assert "key attribute 'id' is given as 'a' and 'b'" in clash.output
