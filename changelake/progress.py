"""The one progress bar of every command, on stderr: count, rate and time left when known."""

from __future__ import annotations

import itertools
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from collections.abc import Iterator


@dataclass
class Progress:
    """Callbacks for a long step: ``start(total)`` once, then ``advance(n)`` from any thread.

    ``silent`` shows nothing. A total of None (not known in advance, or a zero estimate) shows
    the count and the rate without a percentage.
    """

    label: str
    silent: bool = False
    unit: str = "docs"
    bar: Any = None
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, total: int | None) -> None:
        """Show the bar for ``total`` units (None when unknown)."""
        if self.silent:
            return
        self.started = time.monotonic()
        known = {"length": max(total, 1)} if total else {"iterable": itertools.count()}
        self.bar = click.progressbar(
            **known,
            label=self.label,
            file=sys.stderr,
            show_eta=bool(total),
            show_percent=bool(total),
            show_pos=not total,
            item_show_func=lambda _: self.rate(),
        )
        self.bar.__enter__()

    def rate(self) -> str:
        """Units per second so far."""
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return f"{self.done / elapsed:,.0f} {self.unit}/s"

    def advance(self, count: int) -> None:
        """Count ``count`` more units as done."""
        with self.lock:
            self.done += count
            if self.bar is not None:
                self.bar.update(count, self.done)

    def close(self) -> None:
        """Finish the bar's line."""
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@contextmanager
def progress(label: str, silent: bool, unit: str = "docs") -> Iterator[Progress]:
    """A :class:`Progress` that is closed however the step ends."""
    bar = Progress(label, silent, unit)
    try:
        yield bar
    finally:
        bar.close()
