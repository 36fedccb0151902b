"""The names of output formats, one set for every command, and how a time reads in text.

``text`` is for people (a summary in sentences, or an aligned table of rows); ``json`` for
programs (a summary document, or one object per row); ``csv`` and ``parquet`` for rows only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

TEXT = "text"
JSON = "json"
CSV = "csv"
PARQUET = "parquet"

# What a command that prints a summary can print it as.
SUMMARY_FORMATS = (TEXT, JSON)
# What a query result can be written as.
RESULT_FORMATS = (TEXT, CSV, JSON, PARQUET)
# Earlier names, still accepted: ``sql --output table`` is the aligned table, now ``text``.
FORMAT_ALIASES = {"table": TEXT}


def format_name(name: str) -> str:
    """The format a name or an earlier name of it stands for."""
    return FORMAT_ALIASES.get(name, name)


def time_to_text(value: datetime) -> str:
    """A time as people read it: ``2026-11-20 09:00:00+00:00``, its zone always shown when it
    has one (a TIMESTAMP without a zone prints as it is)."""
    return value.isoformat(sep=" ")
