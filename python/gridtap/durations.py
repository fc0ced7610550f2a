"""The durations a user configures (timeouts, intervals, pauses), checked in one place: a value
that is not a finite number of seconds in range is one ValueError naming the setting."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["check_seconds"]


def check_seconds(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """`value` as a finite number of seconds > 0 (≥ 0 with `allow_zero`), or a ValueError naming
    `name`."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or (value < 0 if allow_zero else value <= 0)
    ):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number of seconds {bound}, got {value!r}")
    return float(value)
