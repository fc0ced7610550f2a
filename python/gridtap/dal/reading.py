"""What the DAL holds for a channel: a value with its unit, the time of its measurement and a
quality."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Quality", "Reading", "make_reading", "readings"]


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
# the slots' own setters: what the frozen dataclass's __init__ reaches through object.__setattr__
_slots = vars(Reading)
_set_value = _slots["value"].__set__
_set_unit = _slots["unit"].__set__
_set_timestamp = _slots["timestamp"].__set__
_set_quality = _slots["quality"].__set__


def make_reading(value: float | None, unit: str, timestamp: float, quality: Quality) -> Reading:
    """`Reading(value, unit, timestamp, quality)` for values already checked, at half the cost of
    the frozen dataclass's __init__ (snapshots make one per channel looked up)."""
    r = _new(Reading)
    _set_value(r, value)
    _set_unit(r, unit)
    _set_timestamp(r, timestamp)
    _set_quality(r, quality)
    return r


def readings(values: Mapping[str, float | None], units: Mapping[str, str], t: float) -> dict[str, Reading]:
    """An adapter's read as Readings at time `t`: GOOD where it has a value, ERROR (no value)
    where it has None; each channel's unit from `units`."""
    good, error = Quality.GOOD, Quality.ERROR
    return {ch: make_reading(v, units[ch], t, good if v is not None else error) for ch, v in values.items()}
