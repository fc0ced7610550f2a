"""What the DAL holds for a channel: a value with its unit, the time of its measurement and a
quality."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Quality", "Reading", "make_reading"]


class Quality(enum.Enum):
    GOOD = "GOOD"
    # not current: older than the channel's maximum age, or stamped in the future (beyond the
    # tolerance it was written with), as after the wall clock stepped back
    STALE = "STALE"
    ERROR = "ERROR"  # no valid value: the value is None

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Reading:
    value: float | None
    unit: str
    timestamp: float
    quality: Quality


_new = object.__new__
_set_value = Reading.value.__set__  # type: ignore[attr-defined]
_set_unit = Reading.unit.__set__  # type: ignore[attr-defined]
_set_timestamp = Reading.timestamp.__set__  # type: ignore[attr-defined]
_set_quality = Reading.quality.__set__  # type: ignore[attr-defined]


def make_reading(value: float | None, unit: str, timestamp: float, quality: Quality) -> Reading:
    """`Reading(value, unit, timestamp, quality)` for values already checked, at half the cost of
    the frozen dataclass's __init__ (snapshots make one per channel looked up)."""
    r = _new(Reading)
    _set_value(r, value)
    _set_unit(r, unit)
    _set_timestamp(r, timestamp)
    _set_quality(r, quality)
    return r
