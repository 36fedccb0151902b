"""Pages opened in headless Chromium (Debian's package, driven by Playwright), offline.

The browser runs with no network at all: a page that needed one would fail to render.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
# Flags that keep Chromium from reaching out (updates, sync, QUIC probes) in a sandboxless run.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class RenderedPage:
    """An open page, and what it did while loading."""

    page: Page
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def mark_counts(self) -> dict[str, int]:
        """Drawn mark items (bars, points, lines) per chart container id."""
        counts: dict[str, int] = self.page.evaluate(
            """() => Object.fromEntries([...document.querySelectorAll('.chart')].map(
                 (chart) => [chart.id, chart.querySelectorAll('svg g.role-mark > path').length]))"""
        )
        return counts

    def text(self, selector: str) -> str:
        """The visible text of the first element matching ``selector``."""
        return self.page.inner_text(selector)

    def evaluate(self, script: str) -> Any:
        """Run ``script`` in the page."""
        return self.page.evaluate(script)


def launch_chromium(playwright: Any) -> Browser:
    """Debian's Chromium, headless; fails with the remedy when it is not installed."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run `make chromium` (apt-get install chromium)")
    browser: Browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    return browser


def open_page(browser: Browser, path: Path, width: int = 1200) -> RenderedPage:
    """Open ``path`` offline and wait until its charts are drawn (or failed)."""
    context = browser.new_context(offline=True, viewport={"width": width, "height": 900})
    page = context.new_page()
    rendered = RenderedPage(page)
    page.on("pageerror", lambda error: rendered.errors.append(str(error)))
    page.on(
        "console",
        lambda message: rendered.errors.append(message.text) if message.type == "error" else None,
    )
    page.on("request", lambda request: rendered.requests.append(request.url))
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("body[data-charts]", timeout=30_000)
    return rendered
