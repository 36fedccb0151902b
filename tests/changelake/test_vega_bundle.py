"""The chart script the pages inline: built by vl-convert-python once, then read from the cache."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from changelake.vega_bundle import vega_bundle

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(autouse=True)
def fresh_bundle() -> Iterator[None]:
    """Forget the bundle this process holds, before and after the test."""
    vega_bundle.cache_clear()
    yield
    vega_bundle.cache_clear()


def test_the_bundle_is_built_once_and_then_read_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    bundle = vega_bundle()
    assert "window.vegaEmbed" in bundle
    (cached,) = (tmp_path / "changelake").glob("vega-embed-vl-convert-*.js")
    assert cached.read_text() == bundle
    cached.write_text("// the cached copy")
    vega_bundle.cache_clear()
    assert vega_bundle() == "// the cached copy"


def test_an_unwritable_cache_only_costs_a_rebuild(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert "window.vegaEmbed" in vega_bundle()
