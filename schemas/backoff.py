"""How long to wait before the next try: one retry policy for stream reads and bulk requests."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Doubling waits with a cap: ``base``, ``2*base``, ``4*base``... up to ``cap`` seconds.

    At most ``attempts`` tries. With ``jitter`` each wait is scaled by a random 0.5-1, so that
    clients refused together (a 429 from one engine) do not all come back at once.
    """

    base: float
    cap: float
    attempts: int
    jitter: bool = False

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (0 for the first)."""
        ceiling = float(min(self.cap, self.base * 2**attempt))
        return ceiling * random.uniform(0.5, 1.0) if self.jitter else ceiling
