"""What a PMU's STAT word and FRACSEC clock quality make of a frame (C37.118.2-2011 tables 3, 7),
and the PMU's poll statistics.

A data error other than 00 (PMU error, test mode) makes the frame's channels ERROR. A PMU sync
error (STAT bit 13), unlocked time (bits 5-4) of at least `max_unlocked` seconds or a FRACSEC
clock failure (time quality 0xF) is flagged, and with `time_error="error"` makes them ERROR too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gridtap.pollstats import PollStats

__all__ = ["ATTENTION", "CLOCK_FAILURE", "CONFIG_CHANGE", "PmuStats", "StatQuality"]

log = logging.getLogger(__name__)

DATA_ERROR = 0xC000  # bits 15-14: 00 good
SYNC_ERROR = 0x2000  # bit 13
CONFIG_CHANGE = 0x0400  # bit 10: a new configuration within a minute
UNLOCKED_SHIFT = 4  # bits 5-4
#: the STAT bits that need a closer look (a frame with none of them and a locked clock is GOOD)
ATTENTION = DATA_ERROR | SYNC_ERROR | CONFIG_CHANGE | (3 << UNLOCKED_SHIFT)
CLOCK_FAILURE = 0xF  # FRACSEC time quality
# the least time the PMU has been unlocked for, by the code in STAT bits 5-4
_UNLOCKED_AT_LEAST = (0.0, 10.0, 100.0, 1000.0)


@dataclass
class PmuStats(PollStats):
    """PollStats for a PMU stream. `polls` counts data frames taken, `requests` commands sent,
    `failed_polls` frames with an ERROR channel and link failures, `missed_cycles` frames missing
    from the stream (gaps in the frame times), `latency` the delay from a frame's timestamp to its
    arrival (so it includes any PMU clock offset, also kept in `clock_offset`)."""

    data_errors: int = 0  # frames whose STAT data error was not 00
    time_flagged: int = 0  # frames with a sync error, long unlocked time or clock failure
    out_of_order: int = 0  # frames not newer than one already taken (dropped)
    leap_frames: int = 0  # frames of an inserted leap second (integrated, not published)
    refused: int = 0  # frames whose readings the DAL refused
    foreign_frames: int = 0  # data frames of another stream IDCODE (ignored)
    config_changes: int = 0  # configurations received after the first
    clock_offset: float | None = None  # s, PMU time − local arrival time of the latest frame


class StatQuality:
    """The quality policy of one stream and its current time flag (None while synchronised)."""

    __slots__ = ("flag", "max_unlocked", "name", "time_error")

    def __init__(self, name: str, time_error: str, max_unlocked: float) -> None:
        self.name = name
        self.time_error = time_error
        self.max_unlocked = max_unlocked
        self.flag: str | None = None

    def check(self, stat: int, time_quality: int, stats: PmuStats) -> bool:
        """Whether this frame's channels are ERROR; records the flags in `stats` and `flag`."""
        reasons = []
        if stat & SYNC_ERROR:
            reasons.append("PMU sync error (STAT bit 13)")
        unlocked = _UNLOCKED_AT_LEAST[(stat >> UNLOCKED_SHIFT) & 3]
        if unlocked and unlocked >= self.max_unlocked:
            reasons.append(f"time unlocked for at least {unlocked:g} s (STAT bits 5-4)")
        if time_quality == CLOCK_FAILURE:
            reasons.append("clock failure (FRACSEC time quality 0xF)")
        flag = "; ".join(reasons) or None
        if flag != self.flag:
            if flag:
                log.warning("%s: %s", self.name, flag)
            else:
                log.info("%s: PMU time synchronised again", self.name)
            self.flag = flag
        bad = False
        if flag:
            stats.time_flagged += 1
            stats.last_error = flag
            bad = self.time_error == "error"
        if stat & DATA_ERROR:
            code = (stat & DATA_ERROR) >> 14
            stats.data_errors += 1
            stats.last_error = f"STAT data error {code:02b} ({'test mode' if code == 2 else 'PMU error'})"
            bad = True
        return bad
