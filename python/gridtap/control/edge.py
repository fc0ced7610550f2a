"""The edge cycle: one snapshot → the controllers in order → ramp limiter → output channels.

Outputs written each cycle (W, + charging): `battery/SetActivePower_L1..L3` and
`battery/SetActivePower` (their sum), plus `pv/SetActivePowerLimit_Lx` for the phases a controller
has limited (W ≥ 0), all with the cycle's timestamp through `Dal.write_many`.

**Safe output.** When any controller holds (an input it needs is missing, STALE or ERROR, or the
controller itself failed), the battery setpoint targets of the whole cycle are 0 W (idle): the
controllers build on each other, so one blind controller makes the others' setpoints unsafe too.
The setpoints still move there through the ramp limiter. PV limits already written are held where
they are (releasing them blind could cause export; tightening them blind is guesswork). Every
holding controller's reason is in `CycleResult.held` and is logged at warning level when it starts
or changes (at debug level while it repeats).

**Limits over ramp.** After the ramp limiter, the setpoints are clipped to the battery's published
`MaxChargePower` / `MaxDischargePower` (when GOOD): a battery limit that drops takes effect at once
rather than at the ramp rate.

**Time.** A cycle's time is the DAL's clock (`now=None`), or the `now` given. When the wall clock
steps back (DESIGN.md "Time"), the next cycle runs at the stepped time: it reads the inputs the
adapters polled since, stamped by the stepped clock, and its outputs replace the ones left in the
future; the ramp limiter measures its next step from that cycle (no time passes across the step,
so no output moves further than the rate allows). A step smaller than the DAL's tolerance for a
timestamp ahead of its clock (`max_future`) leaves the cycle at the previous cycle's time until
the clock catches up, as the DAL does with the outputs.

A cycle does not raise because of what is in the DAL; only bad arguments raise (at construction,
or a `now` earlier than the previous cycle's while that does not lie in the future of the DAL's
clock).
"""

from __future__ import annotations

import logging
import math
import numbers
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gridtap.channels import BATTERY_CHANNELS, CHANNELS, PV_CHANNELS, catalogue_for
from gridtap.control.controllers import (
    PHASES,
    Controller,
    Hold,
    Proposal,
    Site,
    _Inputs,
    predict_grid,
    read_dal_limits,
)
from gridtap.control.ramp import RampLimiter
from gridtap.dal import Dal
from gridtap.errors import ChannelError, GridtapError, InvalidValueError, TimestampError, ValueTypeError

__all__ = ["CycleResult", "EdgeCycle"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CycleResult:
    """What one cycle did.

    `time`: the cycle's timestamp (its snapshot's `now`). `outputs`: channel → W as written.
    `held`: controller name → why it held a safe output (empty when all acted). `notes`: what the
    controllers and the cycle want said (limits reached, curtailment, ...). `targets`: channel → W
    the controllers asked for, before ramp and limits. `predicted_grid`: `grid/ActivePower[_Lx]` →
    W expected once the outputs are followed (empty when the grid or battery inputs are unusable).
    `written`: whether the outputs reached the DAL.
    """

    time: float
    outputs: dict[str, float]
    held: dict[str, str]
    notes: list[str]
    targets: dict[str, float] = field(default_factory=dict)
    predicted_grid: dict[str, float] = field(default_factory=dict)
    written: bool = True


def _namespace(what: str, namespace: object, catalogue: object) -> str:
    if not isinstance(namespace, str):
        raise ValueTypeError(f"EdgeCycle {what} namespace must be a string, got {namespace!r}")
    try:
        found = catalogue_for(namespace)
    except ChannelError as exc:
        raise ChannelError(f"EdgeCycle {what}={namespace!r}: {exc}") from None
    if found is not catalogue:
        raise ChannelError(
            f"EdgeCycle {what}={namespace!r} is not a {what} namespace ({what} or {what}_<name>)"
        )
    return namespace


class EdgeCycle:
    """Runs `controllers` on one DAL snapshot per cycle and writes the battery (and PV) outputs.

    `grid`, `battery`, `pv`: the namespaces read and written (e.g. `grid="grid_main"`).
    `ramp_w_per_s`: the largest change of any output channel per second (None: no ramp); or pass a
    configured `ramp_limiter` instead.
    """

    def __init__(
        self,
        dal: Dal,
        controllers: Sequence[Controller],
        *,
        grid: str = "grid",
        battery: str = "battery",
        pv: str = "pv",
        ramp_w_per_s: float | None = None,
        ramp_limiter: RampLimiter | None = None,
    ) -> None:
        if not all(callable(getattr(dal, attr, None)) for attr in ("snapshot", "write_many")):
            raise ValueTypeError(f"EdgeCycle needs a gridtap.Dal (snapshot and write_many), got {dal!r}")
        if isinstance(controllers, (str, bytes)) or not isinstance(controllers, Sequence):
            raise ValueTypeError(f"EdgeCycle controllers must be a list of controllers, got {controllers!r}")
        names: set[str] = set()
        for c in controllers:
            name = getattr(c, "name", None)
            if not isinstance(name, str) or not callable(getattr(c, "propose", None)):
                raise ValueTypeError(
                    f"EdgeCycle controller {c!r} is not a controller: it needs a `name` string and a "
                    "`propose(site, proposal)` method"
                )
            if name in names:
                raise InvalidValueError(
                    f"EdgeCycle has two controllers named {name!r}; give one a name=... of its own"
                )
            names.add(name)
        if ramp_w_per_s is not None and ramp_limiter is not None:
            raise InvalidValueError("EdgeCycle takes ramp_w_per_s or ramp_limiter, not both")
        if ramp_limiter is not None and not isinstance(ramp_limiter, RampLimiter):
            raise ValueTypeError(f"EdgeCycle ramp_limiter must be a RampLimiter, got {ramp_limiter!r}")
        self.dal = dal
        self.controllers: tuple[Controller, ...] = tuple(controllers)
        self.grid = _namespace("grid", grid, CHANNELS)
        self.battery = _namespace("battery", battery, BATTERY_CHANNELS)
        self.pv = _namespace("pv", pv, PV_CHANNELS)
        self.ramp: RampLimiter | None = (
            RampLimiter(ramp_w_per_s) if ramp_w_per_s is not None else ramp_limiter
        )
        self._outputs: dict[str, float] = {}
        self._last_time: float | None = None
        self._last_held: dict[str, str] = {}
        # what the live status and /metrics show: the outputs and why a controller holds
        self.last_result: CycleResult | None = None

    @property
    def outputs(self) -> Mapping[str, float]:
        """What the last successful cycle wrote."""
        return dict(self._outputs)

    def _battery_channels(self) -> list[str]:
        return [f"{self.battery}/SetActivePower_{p}" for p in PHASES]

    def _clock(self) -> tuple[float, float]:
        """The DAL's clock now, and how far a timestamp may lie ahead of it (the DAL's rule)."""
        clock = getattr(self.dal, "clock", None)
        now = float(clock()) if callable(clock) else time.time()
        return now, float(getattr(self.dal, "max_future", 1.0))

    def _cycle_time(self, now: float | None) -> float:
        last = self._last_time
        if now is None:
            t, tolerance = self._clock()
            if last is None or t >= last:
                return t
            if last - t <= tolerance:
                # a small step: the DAL still takes outputs at the last cycle's time
                return last
            return self._stepped_back(t, last)
        if isinstance(now, bool) or not isinstance(now, numbers.Real) or not math.isfinite(float(now)):
            raise ValueTypeError(
                f"run_once(now=...) must be finite seconds since the Unix epoch, got {now!r}"
            )
        t = float(now)
        if last is not None and t < last:
            clock, tolerance = self._clock()
            if last - clock > tolerance:
                return self._stepped_back(t, last)
            raise TimestampError(
                f"run_once(now={t}) is earlier than the previous cycle's time {last}; "
                "cycle times must not go backwards"
            )
        return t

    def _stepped_back(self, t: float, last: float) -> float:
        """The previous cycle lies in the future: the wall clock stepped back. Go on from `t`."""
        log.warning(
            "edge cycle: the clock stepped back %.3f s (previous cycle at %.3f, now %.3f); "
            "going on from the stepped time",
            last - t,
            last,
            t,
        )
        if self.ramp is not None:
            self.ramp.restart_time(t)
        return t

    def run_once(self, now: float | None = None) -> CycleResult:
        """One cycle at `now` (seconds since the Unix epoch; default the DAL's clock)."""
        t = self._cycle_time(now)
        snapshot = self.dal.snapshot(t)
        max_age = getattr(self.dal, "max_age", None)
        site = Site(
            snapshot,
            grid=self.grid,
            battery=self.battery,
            pv=self.pv,
            previous=dict(self._outputs),
            max_age=max_age if callable(max_age) else None,
        )
        proposal, held = self._run_controllers(site)
        self._log_holds(held)

        notes: list[str] = []
        battery_channels = self._battery_channels()
        pv_channels = [f"{self.pv}/SetActivePowerLimit_{p}" for p in PHASES]
        targets: dict[str, float] = {}
        if held:
            targets.update(dict.fromkeys(battery_channels, 0.0))
            targets.update({c: self._outputs[c] for c in pv_channels if c in self._outputs})
            notes.append(f"battery idle (safe output): {', '.join(held)} held")
        else:
            targets.update(zip(battery_channels, proposal.battery_w, strict=True))
            for channel, limit in zip(pv_channels, proposal.pv_limit_w, strict=True):
                if limit is not None:
                    targets[channel] = limit
                elif channel in self._outputs:
                    targets[channel] = self._outputs[channel]
            notes.extend(proposal.notes)

        outputs = self._ramp(site, targets, t)
        limits = read_dal_limits(site)
        phase_out = [outputs[c] for c in battery_channels]
        if limits is not None:
            clipped = limits.clamp(phase_out)
            if any(abs(a - b) > 1e-9 for a, b in zip(clipped, phase_out, strict=True)):
                notes.append(
                    f"setpoints clipped to the battery limits (charge {limits.max_charge_w:.0f} W, "
                    f"discharge {limits.max_discharge_w:.0f} W) ahead of the ramp"
                )
                phase_out = list(clipped)
                outputs.update(zip(battery_channels, phase_out, strict=True))
        outputs[f"{self.battery}/SetActivePower"] = sum(phase_out)
        targets[f"{self.battery}/SetActivePower"] = sum(targets[c] for c in battery_channels)

        written = self._write(outputs, t, notes)
        if written:
            if self.ramp is not None:
                self.ramp.commit({c: v for c, v in outputs.items() if c in targets}, t)
            self._outputs.update(outputs)
        self._last_time = t
        predicted = predict_grid(site, phase_out, [outputs.get(c) for c in pv_channels])
        self.last_result = CycleResult(t, outputs, held, notes, targets, predicted, written)
        return self.last_result

    def _run_controllers(self, site: Site) -> tuple[Proposal, dict[str, str]]:
        proposal = Proposal()
        held: dict[str, str] = {}
        for controller in self.controllers:
            try:
                answer = controller.propose(site, proposal)
            except Exception as exc:
                # A failing controller is a bug, but the control loop must fall back to a safe
                # output rather than stop.
                log.exception("controller %s failed; holding a safe output", controller.name)
                held[controller.name] = f"failed: {type(exc).__name__}: {exc}"
                continue
            if isinstance(answer, Hold):
                held[controller.name] = answer.reason or "held (no reason given)"
                continue
            problem = _invalid_proposal(answer)
            if problem is not None:
                held[controller.name] = f"returned an invalid proposal: {problem}"
                continue
            assert isinstance(answer, Proposal)
            proposal = answer
        return proposal, held

    def _log_holds(self, held: dict[str, str]) -> None:
        for name, reason in held.items():
            if self._last_held.get(name) != reason:
                log.warning("%s holds a safe output: %s", name, reason)
            else:
                log.debug("%s still holds: %s", name, reason)
        for name in self._last_held.keys() - held.keys():
            log.info("%s acts again", name)
        self._last_held = dict(held)

    def _ramp(self, site: Site, targets: dict[str, float], t: float) -> dict[str, float]:
        if self.ramp is None:
            return dict(targets)
        # Bumpless start: the setpoints begin where the battery is.
        inputs = _Inputs(site)
        measured = inputs.battery_power()
        initial: dict[str, float] = {}
        if measured is not None and not inputs.problems:
            initial.update(zip(self._battery_channels(), measured, strict=True))
        return self.ramp.step(targets, t, initial)

    def _write(self, outputs: dict[str, float], t: float, notes: list[str]) -> bool:
        by_namespace: dict[str, dict[str, float]] = {}
        for channel, value in outputs.items():
            namespace, _, name = channel.partition("/")
            by_namespace.setdefault(namespace, {})[name] = value
        try:
            for namespace, values in by_namespace.items():
                self.dal.write_many(namespace, values, timestamp=t)
        except (GridtapError, ValueError, TypeError) as exc:
            log.error("edge cycle could not write its outputs: %s", exc)
            notes.append(f"outputs not written: {exc}")
            return False
        return True


def _invalid_proposal(answer: object) -> str | None:
    if not isinstance(answer, Proposal):
        return f"{type(answer).__name__}, expected a Proposal or a Hold"
    if len(answer.battery_w) != 3 or len(answer.pv_limit_w) != 3:
        return "battery_w and pv_limit_w need one value per phase L1, L2, L3"
    for w in answer.battery_w:
        if isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(w):
            return f"battery setpoint {w!r} is not a finite number of watts"
    for limit in answer.pv_limit_w:
        if limit is not None and (
            isinstance(limit, bool)
            or not isinstance(limit, numbers.Real)
            or not math.isfinite(limit)
            or limit < 0
        ):
            return f"PV limit {limit!r} is not a finite number of watts ≥ 0"
    return None
