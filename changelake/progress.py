"""A progress bar on stderr for long loads: documents per second and time left."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from collections.abc import Iterator


@dataclass
class Progress:
    """Callbacks for a load: ``start(total)`` once, then ``advance(n)``; silent does nothing."""

    label: str
    silent: bool = False
    bar: Any = None
    done: int = 0
    started: float = field(default_factory=time.monotonic)

    def start(self, total: int) -> None:
        """Show the bar for ``total`` documents."""
        if self.silent:
            return
        self.started = time.monotonic()
        self.bar = click.progressbar(
            length=max(total, 1),
            label=self.label,
            file=sys.stderr,
            show_eta=True,
            show_percent=True,
            item_show_func=lambda _: self.rate(),
        )
        self.bar.__enter__()

    def rate(self) -> str:
        """Documents per second so far."""
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return f"{self.done / elapsed:,.0f} docs/s"

    def advance(self, actions: int) -> None:
        """Count ``actions`` more documents as sent."""
        self.done += actions
        if self.bar is not None:
            self.bar.update(actions, self.done)

    def close(self) -> None:
        """Finish the bar's line."""
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@contextmanager
def progress(label: str, silent: bool) -> Iterator[Progress]:
    """A :class:`Progress` that is closed however the load ends."""
    bar = Progress(label, silent)
    try:
        yield bar
    finally:
        bar.close()
