"""Optional parts of changelake and the extra that installs each: one line to say what is missing.

``pip install changelake`` installs the archiver, SQL and history; each search engine's client,
the report's charting library and Spark are extras, so that a user of one engine does not install
the other's client.
"""

from __future__ import annotations

from importlib.util import find_spec

from changelake.schemas.exceptions import MissingExtraError

# Importable module -> (what it is for, the extra that installs it).
EXTRAS = {
    "elasticsearch": ("the Elasticsearch client", "elasticsearch"),
    "opensearchpy": ("the OpenSearch client", "opensearch"),
    "vl_convert": ("the report's charting library (Vega-Lite)", "report"),
    "pyspark": ("Spark", "spark"),
}


def is_installed(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    return find_spec(module) is not None


def require_extra(module: str) -> None:
    """Raise :class:`MissingExtraError` naming the extra when ``module`` is not installed."""
    if is_installed(module):
        return
    what, extra = EXTRAS[module]
    raise MissingExtraError(
        f"{what} ({module}) is not installed; install it with pip install 'changelake[{extra}]'"
    )
