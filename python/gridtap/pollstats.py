"""Poll statistics every data source keeps (Modbus meters, buses, PMU streams): what the live
status of `gridtap run` and the `/metrics` endpoint show.

A source exposes `.name`, `.namespace` (or None for a bus), `.link_up` and `.stats`, a
`PollStats`. Latency is kept as a fixed-bucket histogram so that a metrics scrape reads counts and
never the individual observations.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

__all__ = ["LATENCY_BUCKETS", "LatencyHistogram", "PollStats"]

# upper bounds, seconds: Modbus TCP on a LAN answers in ms; RTU at 9600 baud takes 50-200 ms
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip


@dataclass
class LatencyHistogram:
    """Counts of observations per bucket (`counts[i]` for `<= LATENCY_BUCKETS[i]`, the last one
    for anything larger), their sum and their number."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    sum: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.sum += seconds
        self.count += 1

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations <= bound) pairs, ending with (inf, count): the Prometheus form."""
        out: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip((*LATENCY_BUCKETS, float("inf")), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


@dataclass
class PollStats:
    polls: int = 0  # reads attempted (one per cycle)
    requests: int = 0  # Modbus requests sent
    failed_polls: int = 0  # reads with at least one block or the link failed
    timeouts: int = 0  # requests that got no (valid) answer in time
    block_errors: int = 0  # Modbus exception responses
    reconnects: int = 0
    missed_cycles: int = 0
    last_error: str | None = None
    last_ok: float | None = None  # epoch s of the last read with every block good
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)  # seconds per read
    function_codes: set[int] = field(default_factory=set)
