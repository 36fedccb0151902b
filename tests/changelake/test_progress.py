"""The one progress bar: known or unknown totals, advanced from several threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from changelake.progress import progress


@pytest.mark.parametrize("total", [None, 0, 400])
def test_a_bar_counts_every_advance_whatever_its_total(
    total: int | None, capsys: pytest.CaptureFixture[str]
) -> None:
    with progress("Scanning posts", silent=False, unit="items") as bar:
        bar.start(total)  # DescribeTable's ItemCount is 0 for a new table: no percentage then
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: bar.advance(1), range(400)))
    assert bar.done == 400
    assert bar.bar is None
    assert "Scanning posts" in capsys.readouterr().err


def test_a_silent_bar_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with progress("Compacting", silent=True, unit="rows") as bar:
        bar.start(10)
        bar.advance(10)
    assert capsys.readouterr().err == ""
