"""``changelake report`` and ``history --html``: the page written, and one-line errors."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from changelake.archiver.batch import archive_records
from changelake.cli import cli
from changelake.clients import make_store
from changelake.schemas.archive_layout import parse_archive_uri
from tests.ask.report_archive import (
    CHARTS,
    DAY1,
    DAY3,
    record_report_gap,
    write_report_archive,
    write_report_page,
)
from tests.helpers import make_record

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import SearchEngine


def run(*args: str) -> tuple[int, str]:
    """Run changelake; the exit code and everything it printed."""
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def chart_specs(page: str) -> dict[str, dict[str, object]]:
    """The chart specifications a page carries, by container id."""
    match = re.search(r'<script type="application/json" id="chart-specs">(.*?)</script>', page)
    assert match is not None
    specs: dict[str, dict[str, object]] = json.loads(match.group(1))
    return specs


def test_report_writes_one_page_with_every_chart(archive_uri: str, tmp_path: Path) -> None:
    write_report_archive(archive_uri)
    page_path = tmp_path / "report.html"
    output = write_report_page(archive_uri, page_path)
    assert re.fullmatch(
        rf"Wrote {re.escape(str(page_path))} \(\d+\.\d KiB\): 10 changes of 4 items of posts\n",
        output,
    )
    page = page_path.read_text()
    assert set(chart_specs(page)) == {*CHARTS, *(f"chart-item-{rank}" for rank in range(1, 5))}
    assert "Index lag is left out: pass --es-url and --alias" in page
    assert "No stream state under _checkpoints/" in page
    # Nothing is fetched at view time: no script, style or image comes from elsewhere.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def test_values_from_the_archive_are_escaped(local_archive: str, tmp_path: Path) -> None:
    write_report_archive(local_archive)
    page_path = tmp_path / "report.html"
    write_report_page(local_archive, page_path)
    page = page_path.read_text()
    # The item key writes '=' as %3D; the markup must arrive as text.
    assert "<img src%3Dx" not in page
    assert "&lt;img src%3Dx onerror%3D&quot;window.pwned%3D1&quot;&gt;" in page
    assert "window.pwned=2</script>" not in page
    assert page.count("</script>") == 3  # the specs, the bundle and the renderer


def test_the_stream_gap_is_pictured_and_named(local_archive: str, tmp_path: Path) -> None:
    write_report_archive(local_archive)
    record_report_gap(local_archive, snapshot_at=datetime.fromtimestamp(DAY1, UTC))
    page_path = tmp_path / "report.html"
    write_report_page(local_archive, page_path)
    page = page_path.read_text()
    coverage = chart_specs(page)["chart-coverage"]["data"]
    assert {row["lane"] for row in coverage["values"]} == {  # type: ignore[index]
        "changes in the archive",
        "complete (poller)",
        "GAP: changes missing",
        "snapshot",
    }
    assert "may be missing from the archive (the stream changed); take a fresh snapshot" in page


def test_an_unknown_table_lists_the_tables_with_a_case_hint(local_archive: str) -> None:
    write_report_archive(local_archive)
    code, output = run("report", "--archive", local_archive, "--table", "Posts")
    assert code == 1
    assert output == (
        f"Error: table 'Posts' is not in the archive {local_archive}; did you mean --table posts? "
        "(table names are case-sensitive; the archive holds posts)\n"
    )


def test_a_missing_archive_is_an_error_not_an_empty_page(tmp_path: Path) -> None:
    code, output = run("report", "--archive", str(tmp_path / "nowhere"), "--table", "posts")
    assert code == 1
    assert output.startswith(f"Error: no archive at {tmp_path / 'nowhere'}: the directory does not")
    assert not (tmp_path / "report.html").exists()


def test_since_in_the_future_or_past_every_change_is_refused(local_archive: str) -> None:
    write_report_archive(local_archive)
    code, output = run(
        "report", "--archive", local_archive, "--table", "posts", "--since", "2999-01-01"
    )
    assert code == 2
    assert "Invalid value for '--since': '2999-01-01' is in the future" in output
    late = datetime.fromtimestamp(DAY3 + 60, UTC).isoformat()
    code, output = run("report", "--archive", local_archive, "--table", "posts", "--since", late)
    assert code == 2
    assert "table 'posts' has no changes from" in output


def test_es_url_needs_an_alias_but_not_from_the_environment(
    local_archive: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_report_archive(local_archive)
    monkeypatch.delenv("CHANGELAKE_ALIAS", raising=False)
    arguments = ["report", "--archive", local_archive, "--table", "posts"]
    code, output = run(*arguments, "--es-url", "http://127.0.0.1:9")
    assert code == 2
    assert "--es-url needs --alias" in output
    # Set for sync, say: the report goes on without the index lag.
    monkeypatch.setenv("CHANGELAKE_ES_URL", "http://127.0.0.1:9")
    page_path = tmp_path / "report.html"
    code, output = run(*arguments, "--out", str(page_path))
    assert code == 0, output
    assert "Index lag is left out" in page_path.read_text()


def test_history_html_writes_the_whole_timeline(archive_uri: str, tmp_path: Path) -> None:
    write_report_archive(archive_uri)
    page_path = tmp_path / "item.html"
    code, output = run(
        "history",
        "--archive",
        archive_uri,
        "--table",
        "posts",
        "id=post#1",
        "--html",
        str(page_path),
    )
    assert code == 0, output
    assert output.startswith(f"Wrote {page_path} (")
    assert output.endswith("): 5 changes of id=post#1 in posts\n")
    specs = chart_specs(page_path.read_text())
    assert list(specs) == ["chart-item-1"]
    assert len(specs["chart-item-1"]["data"]["values"]) == 5  # type: ignore[index]


def test_the_index_lag_comes_from_the_alias_watermark(
    local_archive: str, tmp_path: Path, search_engine: SearchEngine
) -> None:
    write_report_archive(local_archive)
    alias = f"report-{search_engine.name}"
    code, output = run(
        "rebuild", "--archive", local_archive, "--table", "posts", "--es-url", search_engine.url,
        "--alias", alias, "--silent",
    )  # fmt: skip
    assert code == 0, output
    late = make_record(11, key="post#9", event_name="INSERT", at=DAY3 + 500)
    archive_records([late], make_store(parse_archive_uri(local_archive)))
    page_path = tmp_path / "report.html"
    write_report_page(local_archive, page_path, "--es-url", search_engine.url, "--alias", alias)
    page = page_path.read_text()
    assert re.search(rf"Index {alias}-\S+ \(alias {alias}\) holds every change", page)
    assert "1 change archived since is not in it yet" in page
    lags = chart_specs(page)["chart-lag"]["data"]["values"]  # type: ignore[index]
    assert {row["lag"] for row in lags} == {"archive", "index (pending changes)"}


@pytest.mark.parametrize("option", ["--top", "--timeline-changes"])
def test_counts_must_be_sensible(local_archive: str, option: str) -> None:
    code, output = run("report", "--archive", local_archive, "--table", "posts", option, "-1")
    assert code == 2
    assert f"Invalid value for '{option}'" in output


def test_top_zero_lists_no_items_but_counts_them(local_archive: str, tmp_path: Path) -> None:
    write_report_archive(local_archive)
    page_path = tmp_path / "report.html"
    output = write_report_page(local_archive, page_path, "--top", "0")
    assert output.endswith(": 10 changes of 4 items of posts\n")
    page = page_path.read_text()
    assert "No items listed." in page
    assert 'id="item-' not in page
