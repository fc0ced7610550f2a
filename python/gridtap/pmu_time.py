"""A PMU stream's time line: which frames are new, which were lost, and leap seconds.

Frames carry SOC/FRACSEC from the PMU's clock. SOC counts no leap seconds, so an inserted second
repeats a second of SOC and a deleted one skips it; the FRACSEC flags announce both (pending, set
before it; occurred, for a day after; the direction bit). Energy and RoCoF need a time line that
runs through the leap second as physical time does, and the DAL needs published times that never
go back: `FrameTimeline` gives each frame its time on the first ("kernel" time: frame time plus
the leap seconds seen) and says whether it may be published.
"""

from __future__ import annotations

import logging
import time
from typing import Any

__all__ = ["FrameTimeline"]

log = logging.getLogger(__name__)


def _near_midnight(t: float) -> bool:
    """Leap seconds happen at the end of a UTC day (SOC counts 86400 s to every day)."""
    into_day = t % 86400.0
    return min(into_day, 86400.0 - into_day) < 2.0


class FrameTimeline:
    """The frames taken so far. `take(frame, t, stats, patience)` gives a frame's kernel time or
    None to drop it, and counts into `stats` (a PmuStats): `missed_cycles` for frames missing from
    the stream, `out_of_order` for frames dropped as not newer, `leap_frames` for the frames of an
    inserted leap second. `repeating` is true while SOC repeats an inserted leap second: such
    frames are integrated, not published. A clock that stays behind the newest frame taken for
    longer than `patience` seconds has stepped back, and is followed."""

    __slots__ = ("_behind_since", "last_kernel", "last_time", "name", "period", "repeating", "shift")

    def __init__(self, name: str, period: float = 0.02) -> None:
        self.name = name
        self.period = period
        self.last_time: float | None = None  # newest frame time taken for publishing (PMU clock)
        self.last_kernel: float | None = None
        self.shift = 0.0  # kernel time − frame time: the leap seconds seen
        self.repeating = False
        self._behind_since: float | None = None

    def take(self, f: Any, t: float, stats: Any, patience: float) -> float | None:
        last = self.last_time
        if last is not None and t <= last:
            if (
                (f.leap_pending or f.leap_occurred)
                and not f.leap_delete
                and last - t < 1.5
                and _near_midnight(t)
            ):
                # SOC repeats the inserted second: keep integrating, publish nothing
                if not self.repeating:
                    self.repeating = True
                    self.shift += 1.0
                stats.leap_frames += 1
            elif self._stepped_back(patience):
                log.warning("%s: the PMU clock stepped back by %.3f s; following it", self.name, last - t)
                assert self.last_kernel is not None
                self.shift = self.last_kernel + self.period - t
                self.last_time = None
            else:
                stats.out_of_order += 1
                return None
        else:
            self._behind_since = None
            if self.repeating:
                self.repeating = False
            elif (
                last is not None
                and f.leap_delete
                and (f.leap_pending or f.leap_occurred)
                and t - last > 1.0
                and _near_midnight(t)
            ):
                # SOC skipped the deleted second: no time passed for the energy
                self.shift -= 1.0
        kernel = t + self.shift
        last_kernel = self.last_kernel
        if last_kernel is not None:
            if kernel <= last_kernel:
                stats.out_of_order += 1
                return None
            gap = round((kernel - last_kernel) / self.period) - 1
            if gap > 0:
                stats.missed_cycles += gap
        self.last_kernel = kernel
        if not self.repeating:
            self.last_time = t
        return kernel

    def _stepped_back(self, patience: float) -> bool:
        """Frames older than those taken: reordered datagrams are dropped, but a PMU clock that
        stays behind for longer than `patience` has stepped back."""
        now = time.monotonic()
        if self._behind_since is None:
            self._behind_since = now
        return now - self._behind_since > patience
