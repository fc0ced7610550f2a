"""Writing a PMU's frames into the DAL, stamped with the PMU's own clock.

A PMU's GPS time can lead a badly synchronised local clock, and the DAL refuses readings stamped
further ahead of its clock than a tolerance (DESIGN.md "Time"). The meter's `max_future` is passed
with every write (None: the DAL's own tolerance). A refusal is counted (`stats.refused`), said in
`stats.last_error` with how far the PMU leads and what the DAL allows, logged once when it starts
and once when readings are accepted again; it never ends the poll.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from gridtap.dal import Dal
from gridtap.errors import FutureTimestampError, GridtapError
from gridtap.pmu_quality import PmuStats

__all__ = ["DalWriter"]

log = logging.getLogger(__name__)


class DalWriter:
    """The writes of one PMU stream to one namespace, with its tolerance for a leading clock."""

    __slots__ = ("max_future", "name", "namespace", "refusing", "stats")

    def __init__(self, name: str, namespace: str, stats: PmuStats, max_future: float | None) -> None:
        self.name = name
        self.namespace = namespace
        self.stats = stats
        self.max_future = max_future
        self.refusing = False  # the DAL refuses this stream's readings as lying in the future

    def write(self, dal: Dal, values: Mapping[str, float | None], t: float) -> bool:
        """Write one frame's values (None: no valid value) at the PMU's time `t`; False if the
        DAL refused them (counted and reported)."""
        try:
            dal.write_many(self.namespace, values, t, max_future=self.max_future)
        except FutureTimestampError as e:
            self.stats.refused += 1
            self._refused(
                f"the PMU clock leads the local clock by {e.ahead:.3f} s, beyond the {e.max_future:g} s "
                "the DAL allows for timestamps ahead of its clock (PmuMeter max_future)"
            )
            return False
        except GridtapError as e:
            self.stats.refused += 1
            self._refused(str(e))
            return False
        if self.refusing:
            self.refusing = False
            log.info("%s: the DAL accepts this PMU's readings again", self.name)
        return True

    def _refused(self, why: str) -> None:
        self.stats.last_error = f"readings refused by the DAL: {why}"
        if not self.refusing:
            self.refusing = True
            log.warning("%s: %s", self.name, self.stats.last_error)

    def write_error(self, dal: Dal, channels: list[str], t: float) -> None:
        """Mark `channels` ERROR at `t` (a link failure): logged, never raised, not counted as a
        refused frame."""
        try:
            dal.write_many(self.namespace, dict.fromkeys(channels), t, max_future=self.max_future)
        except GridtapError as e:
            log.error("%s: could not mark the channels ERROR: %s", self.name, e)
