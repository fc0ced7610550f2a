"""The ramp limiter: output channels move towards their targets at a bounded rate (W/s).

Per channel: `out = prev + clamp(target − prev, ±max_w_per_s·dt)`, with `dt` the time between the
cycles' timestamps (not wall-clock time), so a cycle that runs late may move further.

Where a channel starts: from the value given in `initial` (the edge cycle passes the measured
battery power, so taking over a running battery is bumpless), with `dt = 0` on the limiter's first
cycle; a channel with neither a previous output nor an initial value takes its target at once.

`step` computes without changing state and `commit` records what was sent; `apply` does both. The
edge cycle commits only after its write to the DAL succeeded.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from types import MappingProxyType

from gridtap.errors import InvalidValueError, TimestampError, ValueTypeError

__all__ = ["RampLimiter"]


def _finite(what: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueTypeError(f"{what} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise InvalidValueError(f"{what} must be finite, got {v}")
    return v


class RampLimiter:
    """Limits how fast each output channel changes: at most `max_w_per_s` W per second."""

    def __init__(self, max_w_per_s: float) -> None:
        rate = _finite("RampLimiter max_w_per_s", max_w_per_s)
        if rate <= 0:
            raise InvalidValueError(f"RampLimiter max_w_per_s must be > 0 W/s, got {rate:g}")
        self.max_w_per_s = rate
        self._outputs: dict[str, float] = {}
        self._time: float | None = None

    @property
    def outputs(self) -> Mapping[str, float]:
        """The last committed output of each channel."""
        return MappingProxyType(self._outputs)

    @property
    def time(self) -> float | None:
        """The timestamp of the last commit (None before the first)."""
        return self._time

    def step(
        self,
        targets: Mapping[str, float],
        now: float,
        initial: Mapping[str, float] | None = None,
    ) -> dict[str, float]:
        """The outputs at `now` moving from the last committed outputs towards `targets`.

        Does not change the limiter's state (see `commit`). `initial` gives the starting value of
        channels that have no committed output yet.
        """
        t = _finite("RampLimiter time", now)
        if self._time is not None and t < self._time:
            raise TimestampError(
                f"RampLimiter time {t} is earlier than the previous cycle's {self._time}; "
                "cycle timestamps must not go backwards"
            )
        dt = 0.0 if self._time is None else t - self._time
        max_step = self.max_w_per_s * dt
        out: dict[str, float] = {}
        for channel, target in targets.items():
            goal = _finite(f"ramp target {channel}", target)
            prev = self._outputs.get(channel)
            if prev is None and initial is not None and channel in initial:
                prev = _finite(f"ramp initial value {channel}", initial[channel])
            if prev is None:
                out[channel] = goal
            else:
                out[channel] = prev + min(max(goal - prev, -max_step), max_step)
        return out

    def commit(self, outputs: Mapping[str, float], now: float) -> None:
        """Record `outputs` as sent at `now`: the next step moves from them."""
        self._outputs.update(outputs)
        self._time = _finite("RampLimiter time", now)

    def apply(
        self,
        targets: Mapping[str, float],
        now: float,
        initial: Mapping[str, float] | None = None,
    ) -> dict[str, float]:
        """`step` then `commit`: the outputs at `now`, recorded for the next cycle."""
        out = self.step(targets, now, initial)
        self.commit(out, now)
        return out

    def restart_time(self, now: float) -> None:
        """The clock stepped back: keep the outputs, and measure the next step's time from `now`
        (a step at `now` moves nothing), so no output moves further than the rate allows."""
        self._time = _finite("RampLimiter time", now)

    def reset(self) -> None:
        """Forget all outputs: the next cycle starts from `initial` values (or the targets)."""
        self._outputs.clear()
        self._time = None

    def __repr__(self) -> str:
        return f"RampLimiter(max_w_per_s={self.max_w_per_s:g})"
