"""Vega, Vega-Lite and Vega-Embed as one script to inline in a report: no network at view time.

``vl-convert-python`` (the ``report`` extra) builds the bundle from the libraries it ships. The
first build takes seconds, so the result is kept under the user's cache directory, one file per
``vl-convert-python`` version; an unwritable cache only costs the rebuild.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from importlib import metadata
from pathlib import Path

from changelake.extras import require_extra

DISTRIBUTION = "vl-convert-python"
# What the bundle defines on ``window`` for the page's own script (vl-convert's snippet API).
SNIPPET = "window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;"


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/changelake`` (``~/.cache/changelake`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "changelake"


@cache
def vega_bundle() -> str:
    """The JavaScript that defines ``vegaEmbed``, ``vegaLite`` and ``vega`` on ``window``."""
    require_extra("vl_convert")
    digest = hashlib.sha256(SNIPPET.encode()).hexdigest()[:8]
    path = cache_dir() / f"vega-embed-vl-convert-{metadata.version(DISTRIBUTION)}-{digest}.js"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        pass
    import vl_convert

    bundle: str = vl_convert.javascript_bundle(SNIPPET)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        partial.write_text(bundle, encoding="utf-8")
        partial.replace(path)
    except OSError:
        pass  # a read-only home: the next report builds the bundle again
    return bundle
