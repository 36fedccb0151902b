"""The report and timeline pages in a real browser: headless Chromium, offline.

Each test writes a page with the CLI, opens it with no network, and checks what was drawn; the
report's screenshot is kept under the test's tmp dir (its path is printed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from changelake.cli import cli
from tests.ask.report_archive import (
    CHARTS,
    HOSTILE_KEY,
    record_report_gap,
    write_report_archive,
    write_report_page,
)
from tests.browser import RenderedPage, launch_chromium, open_page

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Headless Chromium driven by Playwright, for this module only.

    Playwright's synchronous API keeps an event loop running in this thread while it is open,
    which would stop later tests that call ``asyncio.run`` (the SQL prompt's).
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def report_page(local_archive: str, tmp_path: Path, chromium: Browser) -> RenderedPage:
    """The sample archive's report (with a recorded gap), open in Chromium."""
    write_report_archive(local_archive)
    record_report_gap(local_archive)
    path = tmp_path / "report.html"
    write_report_page(local_archive, path)
    return open_page(chromium, path)


def test_every_chart_is_drawn_offline_without_errors(
    report_page: RenderedPage, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert report_page.evaluate("document.body.dataset.charts") == "rendered"
    assert report_page.errors == []
    assert all(url.startswith("file://") for url in report_page.requests), report_page.requests
    marks = report_page.mark_counts()
    assert set(marks) == {*CHARTS, *(f"chart-item-{rank}" for rank in range(1, 5))}
    assert all(count > 0 for count in marks.values()), marks
    # One bar per day and event (7), per day and kind of delete (2), per top item (4).
    assert marks["chart-events"] == 7
    assert marks["chart-deletes"] == 2
    assert marks["chart-top-items"] == 4
    screenshot = tmp_path / "report.png"
    report_page.page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    with capsys.disabled():
        print(f"\nreport screenshot: {screenshot}")


def test_the_gap_is_drawn_on_the_coverage_timeline(report_page: RenderedPage) -> None:
    labels = report_page.evaluate(
        "[...document.querySelectorAll('#chart-coverage svg text')].map((t) => t.textContent)"
    )
    assert "GAP: changes missing" in labels
    assert "may be missing from the archive (the stream changed)" in report_page.text("body")


def test_a_top_item_opens_its_timeline(report_page: RenderedPage) -> None:
    page = report_page.page
    page.click("#chart-top-items svg g.role-mark > path >> nth=0")
    page.wait_for_function("location.hash === '#item-1'")
    assert report_page.text("#item-1 h3") == "1. id=post#1"
    page.click("table a[href='#item-2']")
    page.wait_for_function("location.hash === '#item-2'")
    assert report_page.errors == []


def test_markup_from_the_archive_stays_text(report_page: RenderedPage) -> None:
    assert report_page.evaluate("window.pwned === undefined")
    cells = report_page.evaluate(
        "[...document.querySelectorAll('table a')].map((a) => a.textContent)"
    )
    key = "id=" + HOSTILE_KEY.replace("=", "%3D")
    assert key in cells


def test_the_history_page_draws_every_change(
    local_archive: str, tmp_path: Path, chromium: Browser
) -> None:
    write_report_archive(local_archive)
    path = tmp_path / "item.html"
    result = CliRunner().invoke(
        cli,
        [
            "history",
            "--archive",
            local_archive,
            "--table",
            "posts",
            "id=post#1",
            "--html",
            str(path),
        ],
    )
    assert result.exit_code == 0, result.output
    page = open_page(chromium, path)
    assert page.errors == []
    assert page.mark_counts() == {"chart-item-1": 5}
    rows = page.evaluate("document.querySelectorAll('#item-1 table tr').length")
    assert rows == 1 + 5
    assert '~ title: "v3" -> "v4"' in page.text("#item-1 table")
