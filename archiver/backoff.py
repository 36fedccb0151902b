"""How long to wait before the next try: doubling delays with a cap."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """A capped exponential schedule: ``base``, ``2*base``, ``4*base``... up to ``cap`` seconds."""

    base: float
    cap: float
    attempts: int

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (0 for the first)."""
        return float(min(self.cap, self.base * 2**attempt))


# Throttled reads (ProvisionedThroughputExceeded, LimitExceeded): the Streams API allows about five
# GetRecords calls a second per shard, so waits start short and stop after about a minute in all.
THROTTLED = Backoff(base=0.2, cap=10.0, attempts=10)

# Empty reads of an open shard: wait a little before asking again; after this many empty reads
# in a row the shard counts as caught up for this run.
EMPTY_READS = Backoff(base=0.1, cap=0.5, attempts=3)
