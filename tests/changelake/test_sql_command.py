"""``changelake sql`` on a local archive and on the S3 server: views, macros, pruning, formats."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq
from click.testing import CliRunner

from changelake.archiver.batch import archive_records
from changelake.cli import cli
from changelake.clients import make_store
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.sql_views import VERSION_ORDINAL_BITS
from tests.changelake.sql_archive import (
    DAY1,
    DAY2,
    write_sample_archive,
    write_tables_sharing_a_key,
)
from tests.helpers import make_record

if TYPE_CHECKING:
    from click.testing import Result


def _sql(archive: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["sql", "--archive", archive, *args])


def _csv(archive: str, query: str) -> list[dict[str, str]]:
    result = _sql(archive, "--output", "csv", query)
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.output)))


def _version(second: int, ordinal: int) -> str:
    return str((second << VERSION_ORDINAL_BITS) + ordinal)


def test_latest_is_the_live_image_of_every_item(archive_uri: str) -> None:
    write_sample_archive(archive_uri)
    rows = _csv(
        archive_uri,
        "select item_key, new_image->>'title' as title, version from latest order by item_key",
    )
    assert rows == [
        {"item_key": "id=post#1", "title": "d", "version": _version(DAY2, 0)},
        {"item_key": "id=post#3", "title": "", "version": _version(DAY2 + 20, 0)},
    ]


def test_as_of_shows_items_as_they_were(archive_uri: str) -> None:
    write_sample_archive(archive_uri)
    query = (
        "select item_key, new_image->>'title' as title, version "
        "from as_of(TIMESTAMPTZ '2025-11-28 00:00:10') order by item_key"
    )
    assert _csv(archive_uri, query) == [
        {"item_key": "id=post#1", "title": "c", "version": _version(DAY1 + 10, 1)},
        {"item_key": "id=post#2", "title": "x", "version": _version(DAY1, 0)},
    ]
    after_ttl = _csv(archive_uri, "select item_key from as_of('2025-11-29 00:00:06')")
    assert sorted(row["item_key"] for row in after_ttl) == ["id=post#1"]


def test_as_of_one_item_is_that_item_of_as_of(archive_uri: str) -> None:
    write_sample_archive(archive_uri)
    columns = "item_key, event_id, version, new_image"
    for moment in ("2025-11-28 00:00:10", "2025-11-29 00:00:06", "2025-11-30 00:00:00"):
        every_item = _csv(archive_uri, f"select {columns} from as_of('{moment}')")
        assert every_item
        for item in ("id=post#1", "id=post#2", "id=post#3", "id=post#9"):
            one = _csv(archive_uri, f"select {columns} from as_of('{moment}', '{item}')")
            assert one == [row for row in every_item if row["item_key"] == item]


def test_history_macro_lists_every_change_in_order(archive_uri: str) -> None:
    write_sample_archive(archive_uri)
    rows = _csv(archive_uri, "select event_name, who, version, dt from history('id=post#2')")
    assert rows == [
        {"event_name": "INSERT", "who": "user", "version": _version(DAY1, 0), "dt": "2025-11-28"},
        {
            "event_name": "REMOVE",
            "who": "TTL",
            "version": _version(DAY2 + 5, 0),
            "dt": "2025-11-29",
        },
    ]
    post1 = _csv(archive_uri, "select version from history('id=post#1')")
    assert [row["version"] for row in post1] == [
        _version(DAY1, 0),
        _version(DAY1 + 10, 0),
        _version(DAY1 + 10, 1),
        _version(DAY2, 0),
    ]


def test_history_macro_keeps_tables_apart(local_archive: str) -> None:
    write_tables_sharing_a_key(local_archive, ["One", "Two", "Three", "Four"])
    rows = _csv(local_archive, "select table_name, event_name from history('Three', 'pk=a&sk=b')")
    assert rows == [{"table_name": "Three", "event_name": "INSERT"}]
    several = _sql(local_archive, "select * from history('pk=a&sk=b')")
    assert several.exit_code == 1
    assert several.output == (
        "Error: Invalid Input Error: item key pk=a&sk=b is in tables Four, One, Three, Two: "
        "name one, as in history('Four', key)\n"
    )
    assert len(_csv(local_archive, "select * from history('pk=x&sk=c')")) == 0


def test_changes_shows_each_record_once_and_change_rows_every_delivery(local_archive: str) -> None:
    batch = [make_record(n, key=f"post#{n % 2}", at=DAY1 + n) for n in range(1, 5)]
    store = make_store(parse_archive_uri(local_archive))
    archive_records(batch, store)
    archive_records(batch[1:3], store)  # a retry of part of the batch: another file
    counts = _csv(
        local_archive,
        "select (select count(*) from changes) as records, "
        "(select count(*) from change_rows) as rows",
    )
    assert counts == [{"records": "4", "rows": "6"}]
    first = _csv(local_archive, "select distinct source_file from changes")
    assert len(first) == 1


def test_changes_has_typed_columns_and_json_images(archive_uri: str) -> None:
    write_sample_archive(archive_uri)
    rows = _csv(
        archive_uri,
        "select typeof(dt) as dt_type, typeof(approximate_creation_time) as time_type, "
        "count(*) as n, sum(CAST(new_image->>'views' AS INT)) as views from changes group by all",
    )
    assert rows == [
        {"dt_type": "DATE", "time_type": "TIMESTAMP WITH TIME ZONE", "n": "7", "views": "4"}
    ]


def test_a_dt_filter_never_reads_other_partitions(archive_uri: str) -> None:
    write_sample_archive(archive_uri)
    store = make_store(parse_archive_uri(archive_uri))
    (day2_key,) = store.list_keys("table=posts/dt=2025-11-29/")
    store.put_bytes(day2_key, b"not a Parquet file: neither footer nor pages can be read")
    query = "select count(*) as n, max(new_image) as image from changes"
    pruned = _csv(archive_uri, f"{query} where dt = DATE '2025-11-28'")
    assert pruned == [{"n": "4", "image": '{"id":"post#2","title":"x"}'}]
    everything = _sql(archive_uri, query)
    assert everything.exit_code == 1
    assert everything.output.startswith("Error: ")


def test_output_formats(archive_uri: str, tmp_path: Path) -> None:
    write_sample_archive(archive_uri)
    query = "select item_key, event_name, approximate_creation_time from changes order by event_id"
    table = _sql(archive_uri, query)
    assert table.exit_code == 0
    lines = table.output.splitlines()
    assert lines[0].split() == ["item_key", "event_name", "approximate_creation_time"]
    assert lines[2].split()[:2] == ["id=post#1", "INSERT"]
    assert lines[-1] == "(7 rows)"
    as_json = _sql(archive_uri, "--output", "json", query)
    first = json.loads(as_json.output.splitlines()[0])
    assert first == {
        "item_key": "id=post#1",
        "event_name": "INSERT",
        "approximate_creation_time": "2025-11-28T00:00:00+00:00",
    }
    assert len(as_json.output.splitlines()) == 7
    out = tmp_path / "result.parquet"
    written = _sql(archive_uri, "--output", "parquet", "--out", str(out), query)
    assert written.exit_code == 0, written.output
    table_back = pq.read_table(out)
    assert table_back.num_rows == 7
    assert table_back.column("event_name").to_pylist()[:2] == ["INSERT", "INSERT"]
    assert not list(tmp_path.glob("*.partial"))


def test_parquet_needs_an_output_file(local_archive: str) -> None:
    result = _sql(local_archive, "--output", "parquet", "select 1")
    assert result.exit_code == 2
    assert "--output parquet needs --out FILE" in result.output


def test_query_from_a_file_and_several_statements(local_archive: str, tmp_path: Path) -> None:
    write_sample_archive(local_archive)
    script = tmp_path / "q.sql"
    script.write_text(
        "create temp table day2 as select * from changes where dt = '2025-11-29';\n"
        "select count(*) as n from day2;\n"
    )
    result = _sql(local_archive, "--output", "csv", "-f", str(script))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ['"n"', "3"]


def test_an_empty_archive_is_an_error_not_an_empty_answer(local_archive: str) -> None:
    Path(local_archive).mkdir()
    result = _sql(local_archive, "select count(*) as n from latest")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: no archive at {local_archive}: it holds no table=<name>/ folders of change "
        "files; check --archive (or CHANGELAKE_ARCHIVE)\n"
    )


def test_bad_sql_is_one_clear_error(local_archive: str) -> None:
    write_sample_archive(local_archive)
    result = _sql(local_archive, "selec 1")
    assert result.exit_code == 1
    assert result.output.startswith('Error: Parser Error: syntax error at or near "selec"')


def test_sql_from_stdin_when_it_is_not_a_terminal(local_archive: str) -> None:
    write_sample_archive(local_archive)
    result = CliRunner().invoke(
        cli,
        ["sql", "--archive", local_archive, "--output", "csv"],
        input="select count(*) as n from changes where event_name = 'MODIFY';\n",
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ['"n"', "3"]


def test_a_damaged_footer_is_one_clear_error(local_archive: str) -> None:
    write_sample_archive(local_archive)
    store = make_store(parse_archive_uri(local_archive))
    store.put_bytes("table=posts/dt=2025-11-29/0000-cut.parquet", b"PAR1 not a footer")
    result = _sql(local_archive, "select count(*) from changes")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {local_archive}/table=posts/dt=2025-11-29/0000-cut")
    assert "pass --skip-corrupt to read around it" in result.output
    assert len(result.output.splitlines()) == 1
    skipped = _sql(
        local_archive, "--skip-corrupt", "--output", "csv", "select count(*) from changes"
    )
    assert skipped.exit_code == 0
    assert skipped.output.splitlines()[-1] == "7"
