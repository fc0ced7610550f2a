"""Timestamps against the DAL's clock: finite seconds since the Unix epoch, never further ahead of
the clock than a tolerance (`max_future`), with a hint when they look like milliseconds."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

from gridtap.errors import FutureTimestampError, InvalidValueError, TimestampError, ValueTypeError

__all__ = ["check_max_future", "check_timestamp", "future_error", "name_channels"]

# a timestamp that is this close to the clock once divided by 1e3, 1e6 or 1e9 was given in that unit
_UNIT_HINT_SPAN = 366 * 86400.0
_SCALED_UNITS = ((1e3, "milliseconds"), (1e6, "microseconds"), (1e9, "nanoseconds"))


def check_timestamp(what: str, timestamp: object) -> float:
    """`timestamp` as float seconds, or an error naming `what` (a channel or a namespace)."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, numbers.Real):
        raise ValueTypeError(
            f"{what}: timestamp must be a number (seconds since the Unix epoch), got {timestamp!r}"
        )
    ts = float(timestamp)
    if not math.isfinite(ts):
        raise TimestampError(f"{what}: timestamp must be finite seconds since the Unix epoch, got {ts}")
    return ts


def check_max_future(what: str, seconds: object) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real) or not float(seconds) >= 0:
        raise InvalidValueError(f"{what}: expected a number of seconds >= 0, got {seconds!r}")
    value = float(seconds)
    if math.isnan(value):
        raise InvalidValueError(f"{what}: expected a number of seconds >= 0, got {seconds!r}")
    return value


def name_channels(channels: Sequence[str]) -> str:
    """The channels of one write, named in an error: all of a few, the first of many."""
    if len(channels) <= 3:
        return ", ".join(channels)
    return f"{channels[0]} (and {len(channels) - 1} more channels)"


def future_error(
    channels: Sequence[str], timestamp: float, clock: float, max_future: float
) -> FutureTimestampError:
    hint = ""
    for factor, unit in _SCALED_UNITS:
        if abs(timestamp / factor - clock) <= _UNIT_HINT_SPAN:
            hint = f"; it looks like {unit} since the epoch: the DAL takes seconds (divide by {factor:.0f})"
            break
    return FutureTimestampError(
        f"{name_channels(channels)}: timestamp {timestamp!r} is {timestamp - clock:.6g} s ahead of "
        f"the DAL's clock ({clock:.3f}), beyond the {max_future:g} s tolerance (max_future){hint}",
        channel=channels[0] if channels else "",
        timestamp=timestamp,
        clock=clock,
        max_future=max_future,
    )
