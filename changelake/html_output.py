"""Write the HTML pages (``report``, ``history --html``) and say what was written."""

from __future__ import annotations

from typing import TYPE_CHECKING

from changelake.ask.report_data import ItemTimeline
from changelake.ask.report_page import timeline_to_html
from changelake.schemas.byte_sizes import bytes_to_text
from changelake.vega_bundle import vega_bundle

if TYPE_CHECKING:
    from pathlib import Path

    from changelake.ask.timeline import TimelineEntry


def write_html(path: Path, page: str, what: str) -> str:
    """Write ``page`` to ``path``; the line that tells the user (``what`` it holds)."""
    data = page.encode("utf-8")
    path.write_bytes(data)
    return f"Wrote {path} ({bytes_to_text(len(data))}): {what}"


def write_timeline_page(
    path: Path, table_name: str, item_key: str, entries: list[TimelineEntry], source: str
) -> str:
    """Write one item's whole timeline as a page (``changelake history KEY --html PATH``)."""
    timeline = ItemTimeline(item_key, len(entries), entries)
    page = timeline_to_html(timeline, table_name, vega_bundle(), source)
    count = f"{len(entries)} change{'s' if len(entries) != 1 else ''}"
    return write_html(path, page, f"{count} of {item_key} in {table_name}")
