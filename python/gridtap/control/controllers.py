"""Controllers: from one snapshot to battery setpoints and PV limits, composed in order.

Signs (DESIGN.md): grid ActivePower + import / − export; battery power and setpoints + charging /
− discharging; PV limits in W ≥ 0. Everything is per phase L1..L3 (three-phase sites).

**Prediction.** A controller does not remember what it did: every cycle it works from the
measurements. The grid a set of battery setpoints will give is predicted from the measured battery
power,

    grid_Lx' = grid_Lx + (setpoint_Lx − battery_Lx),

so `grid_Lx − battery_Lx` (the site without the battery) is what the controllers act on, and once
the battery has followed a setpoint, the next cycle computes the same setpoint again (steady
state, no integrator wind-up). The battery power per phase is `battery/ActivePower_Lx`; where only
the total `battery/ActivePower` is measured, the previous cycle's setpoints are assumed per phase
and the difference between their sum and the measured total is split evenly (so on the first cycle
the total is split evenly); where nothing is measured, the previous setpoints are assumed to have
been applied (0 W on the first cycle).

**Composition.** Each controller receives the `Proposal` of the controllers before it (the first
receives an idle one: 0 W everywhere) and returns a new proposal, or a `Hold` when an input it
needs is missing, STALE or ERROR (the edge cycle then idles the battery). Order matters: a
controller sees the earlier ones' setpoints as given and builds on them, and the earlier ones'
constraints travel in the proposal. `PhaseZeroExport` publishes its phase floor
(`Proposal.min_phase_grid_w`), which `PeakShaving` after it respects; in the other order,
`PhaseZeroExport` charges back whatever export `PeakShaving`'s discharge caused, so zero export
wins over the peak limit. Put the controller whose constraint must hold for certain last, or
first with a published constraint.

**Battery limits.** `battery/MaxChargePower` and `battery/MaxDischargePower` (W ≥ 0) bound the
*sum* of the per-phase setpoints (the phases share one DC bus, so charging on L2 while discharging
on L1 nets out); `phase_max_w` on a controller bounds each phase. A limit channel that is present
must be GOOD; one that is not published at all is replaced by the controller's `max_charge_w` /
`max_discharge_w` (also a cap when the channel is present), and with neither the controller holds.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

from gridtap.dal import Quality, Snapshot
from gridtap.errors import InvalidValueError, ValueTypeError

__all__ = [
    "PHASES",
    "BatteryLimits",
    "Controller",
    "Hold",
    "PeakShaving",
    "PhaseZeroExport",
    "Proposal",
    "Site",
    "fill_down",
    "fill_up",
]

PHASES: tuple[str, str, str] = ("L1", "L2", "L3")
Phased = tuple[float, float, float]
OptPhased = tuple[float | None, float | None, float | None]

# Below this a remainder is float noise, not a shortfall worth a note (W).
_EPS_W = 1e-6


def _phased(values: Sequence[float]) -> Phased:
    return (values[0], values[1], values[2])


# --- what a controller sees and returns ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Proposal:
    """The outputs the controllers want, built up controller by controller.

    `battery_w`: setpoints per phase L1..L3 (W, + charging). `pv_limit_w`: PV curtailment limit per
    phase (W ≥ 0), None where no controller sets one. `min_phase_grid_w`: the lowest grid power
    (W) a later controller may drive any phase to, None for no such constraint. `notes`: what the
    controllers want the cycle result to say.
    """

    battery_w: Phased = (0.0, 0.0, 0.0)
    pv_limit_w: OptPhased = (None, None, None)
    min_phase_grid_w: float | None = None
    notes: tuple[str, ...] = ()

    @property
    def battery_total_w(self) -> float:
        return sum(self.battery_w)


@dataclass(frozen=True, slots=True)
class Hold:
    """A controller's answer when it cannot act: the cycle holds a safe output, for `reason`."""

    reason: str


@dataclass(frozen=True, slots=True)
class Site:
    """What a controller sees in one cycle: the snapshot, the namespaces and the last outputs.

    `previous` maps output channels (`battery/SetActivePower_L1`, `pv/SetActivePowerLimit_L2`, ...)
    to what the previous cycle wrote. `max_age(channel)` (the DAL's) is used to explain STALE
    readings.
    """

    snapshot: Snapshot
    grid: str = "grid"
    battery: str = "battery"
    pv: str = "pv"
    previous: Mapping[str, float] = field(default_factory=dict)
    max_age: Callable[[str], float] | None = None

    @property
    def time(self) -> float:
        return self.snapshot.time

    def problem(self, channel: str) -> str | None:
        """Why `channel` cannot be used (missing, STALE, ERROR), or None when it is GOOD."""
        r = self.snapshot.get(channel)
        if r is None:
            return f"{channel} is missing"
        if r.quality is Quality.GOOD and r.value is not None:
            return None
        if r.quality is Quality.STALE:
            if r.timestamp > self.time:
                ahead = r.timestamp - self.time
                return f"{channel} is STALE ({ahead:.1f} s in the future: the clock stepped back?)"
            age = self.time - r.timestamp
            limit = f", max {self.max_age(channel):g} s" if self.max_age is not None else ""
            return f"{channel} is STALE (age {age:.1f} s{limit})"
        return f"{channel} is ERROR (no valid value)"

    def previous_battery_w(self) -> Phased:
        """The setpoints the previous cycle wrote (0 W where none)."""
        return _phased([self.previous.get(f"{self.battery}/SetActivePower_{p}", 0.0) for p in PHASES])


class _Inputs:
    """Reads a controller's inputs from a `Site`, collecting every problem instead of stopping."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.problems: list[str] = []

    def present(self, channel: str) -> bool:
        return channel in self.site.snapshot

    def need(self, channel: str) -> float | None:
        problem = self.site.problem(channel)
        if problem is not None:
            self.problems.append(problem)
            return None
        return self.site.snapshot[channel].value

    def need_phases(self, namespace: str, name: str) -> Phased | None:
        values = [self.need(f"{namespace}/{name}_{p}") for p in PHASES]
        if any(v is None for v in values):
            return None
        return _phased([v for v in values if v is not None])

    def battery_power(self) -> Phased | None:
        """Measured battery power per phase, with the fallbacks the module docstring describes."""
        ns = self.site.battery
        if any(self.present(f"{ns}/ActivePower_{p}") for p in PHASES):
            return self.need_phases(ns, "ActivePower")
        last = self.site.previous_battery_w()
        if self.present(f"{ns}/ActivePower"):
            total = self.need(f"{ns}/ActivePower")
            if total is None:
                return None
            share = (total - sum(last)) / 3.0
            return _phased([w + share for w in last])
        return last


def _predict(grid: Sequence[float], battery: Sequence[float], setpoints: Sequence[float]) -> list[float]:
    return [g + s - b for g, s, b in zip(grid, setpoints, battery, strict=True)]


def _curtailment(site: Site, pv_limit_w: Iterable[float | None]) -> list[float]:
    """The import each phase gains from PV limits below the measured PV (0 where either is unknown;
    a limit above the measured PV is not counted on to raise it)."""
    gains = []
    for p, limit in zip(PHASES, pv_limit_w, strict=True):
        measured = site.snapshot.value(f"{site.pv}/ActivePower_{p}")
        gains.append(0.0 if limit is None or measured is None else max(0.0, measured - limit))
    return gains


# --- battery limits ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatteryLimits:
    """Power limits (W ≥ 0, inf for none): the total ones bound the sum of the phase setpoints."""

    max_charge_w: float = math.inf
    max_discharge_w: float = math.inf
    phase_max_w: float = math.inf

    def charge_room(self, setpoints: Sequence[float]) -> tuple[list[float], float]:
        """How much more each phase, and all phases together, may charge than `setpoints`."""
        per_phase = [max(0.0, self.phase_max_w - s) for s in setpoints]
        return per_phase, max(0.0, self.max_charge_w - sum(setpoints))

    def discharge_room(self, setpoints: Sequence[float]) -> tuple[list[float], float]:
        """How much more each phase, and all phases together, may discharge than `setpoints`."""
        per_phase = [max(0.0, self.phase_max_w + s) for s in setpoints]
        return per_phase, max(0.0, self.max_discharge_w + sum(setpoints))

    def clamp(self, setpoints: Sequence[float]) -> Phased:
        """`setpoints` within the limits: phases clipped, then the total's excess taken from the
        phases that cause it, in proportion to their setpoints."""
        s = [min(max(x, -self.phase_max_w), self.phase_max_w) for x in setpoints]
        total = sum(s)
        if total > self.max_charge_w:
            charging = sum(x for x in s if x > 0)
            keep = 1.0 - (total - self.max_charge_w) / charging
            s = [x * keep if x > 0 else x for x in s]
        elif total < -self.max_discharge_w:
            discharging = -sum(x for x in s if x < 0)
            keep = 1.0 - (-total - self.max_discharge_w) / discharging
            s = [x * keep if x < 0 else x for x in s]
        return _phased(s)


def read_dal_limits(site: Site) -> BatteryLimits | None:
    """The battery's published total limits where both are GOOD, else None."""
    charge = site.snapshot.value(f"{site.battery}/MaxChargePower")
    discharge = site.snapshot.value(f"{site.battery}/MaxDischargePower")
    if charge is None or discharge is None:
        return None
    return BatteryLimits(max(0.0, charge), max(0.0, discharge))


# --- water filling ----------------------------------------------------------------------------------


def fill_down(levels: Sequence[float], lows: Sequence[float], amount: float) -> list[float]:
    """Reductions that lower the highest levels first, none below its low, `amount` in all.

    Every element ends at `max(min(level, L), low)` for one common water level L, so equal levels
    come down together. Returns the reduction of each element (≥ 0); their sum is `amount`, or
    everything the lows allow when that is less. Lows may be -inf (no bound).
    """
    n = len(levels)
    if amount <= 0 or n == 0:
        return [0.0] * n
    # No element gives more than `amount`, which keeps every bound finite.
    lo = [max(low, level - amount) for level, low in zip(levels, lows, strict=True)]
    room = [max(0.0, level - low) for level, low in zip(levels, lo, strict=True)]
    if sum(room) <= amount:
        return room

    def given(water: float) -> float:
        return sum(min(max(level - water, 0.0), r) for level, r in zip(levels, room, strict=True))

    # given() is piecewise linear and grows as the water falls; find the piece that reaches amount.
    points = sorted({*levels, *lo}, reverse=True)
    upper, given_upper = points[0], given(points[0])
    for lower in points[1:]:
        given_lower = given(lower)
        if given_lower >= amount:
            water = upper - (amount - given_upper) * (upper - lower) / (given_lower - given_upper)
            return [min(max(level - water, 0.0), r) for level, r in zip(levels, room, strict=True)]
        upper, given_upper = lower, given_lower
    return room  # not reached: at the lowest point everything is given, which exceeds amount


def fill_up(levels: Sequence[float], highs: Sequence[float], amount: float) -> list[float]:
    """Increases that raise the lowest levels first, none above its high, `amount` in all."""
    return fill_down([-x for x in levels], [-x for x in highs], amount)


# --- configuration helpers --------------------------------------------------------------------------


def _number(
    what: str, value: object, *, minimum: float | None = None, allow_none: bool = False
) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueTypeError(f"{what} must be a number of watts, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise InvalidValueError(f"{what} must be finite, got {v}")
    if minimum is not None and v < minimum:
        raise InvalidValueError(f"{what} must be ≥ {minimum:g} W, got {v:g}")
    return v


def _required(what: str, value: object, *, minimum: float | None = None) -> float:
    v = _number(what, value, minimum=minimum)
    assert v is not None
    return v


def _name(default: str, name: object) -> str:
    if name is None:
        return default
    if not isinstance(name, str) or not name:
        raise ValueTypeError(f"controller name must be a non-empty string, got {name!r}")
    return name


def _w(x: float) -> str:
    return f"{x:.0f} W"


# --- the controllers ---------------------------------------------------------------------------------


@runtime_checkable
class Controller(Protocol):
    """A controller: a `name` (unique within an edge cycle) and `propose`."""

    name: str

    def propose(self, site: Site, proposal: Proposal) -> Proposal | Hold:
        """The proposal after this controller, given the earlier controllers' `proposal`."""
        ...


class _BatteryController:
    """Shared battery-limit configuration of the built-in controllers."""

    def __init__(
        self,
        name: str,
        phase_max_w: float | None,
        max_charge_w: float | None,
        max_discharge_w: float | None,
    ) -> None:
        self.name = name
        self.phase_max_w = _number(f"{name} phase_max_w", phase_max_w, minimum=0.0, allow_none=True)
        self.max_charge_w = _number(f"{name} max_charge_w", max_charge_w, minimum=0.0, allow_none=True)
        self.max_discharge_w = _number(
            f"{name} max_discharge_w", max_discharge_w, minimum=0.0, allow_none=True
        )

    def propose(self, site: Site, proposal: Proposal) -> Proposal | Hold:
        raise NotImplementedError

    def _limits(self, inputs: _Inputs) -> BatteryLimits | None:
        ns = inputs.site.battery
        found: list[float | None] = []
        for channel, configured, option in (
            ("MaxChargePower", self.max_charge_w, "max_charge_w"),
            ("MaxDischargePower", self.max_discharge_w, "max_discharge_w"),
        ):
            full = f"{ns}/{channel}"
            if inputs.present(full):
                value = inputs.need(full)
                if value is not None:
                    value = max(0.0, value)
                    if configured is not None:
                        value = min(value, configured)
                found.append(value)
            elif configured is not None:
                found.append(configured)
            else:
                inputs.problems.append(f"{full} is missing (configure {option}= to run without it)")
                found.append(None)
        charge, discharge = found
        if charge is None or discharge is None:
            return None
        phase = math.inf if self.phase_max_w is None else self.phase_max_w
        return BatteryLimits(charge, discharge, phase)

    def _charge_limit_words(self, limits: BatteryLimits) -> str:
        parts = [f"max charge {_w(limits.max_charge_w)}"]
        if self.phase_max_w is not None:
            parts.append(f"phase_max_w {_w(self.phase_max_w)}")
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class PhaseZeroExport(_BatteryController):
    """Keeps every phase's grid power ≥ `min_phase_grid_w` (0 W: no export on any phase).

    For each phase predicted below the floor, the battery charges more on that phase (within the
    battery limits; when they cannot absorb everything, the most exporting phases are raised
    first). It never lowers a charge setpoint and never discharges, so it never makes a phase
    export more. With `curtail_pv=True` the rest is taken off PV through the per-phase limits
    `pv/SetActivePowerLimit_Lx` (then `pv/ActivePower_Lx` is a required input, and `pv_max_w` is the
    per-phase limit that means "not curtailed"). A curtailed phase is released as the site allows:
    by the import above the floor, and, while PV runs at its limit and the battery has room, by
    that room with the battery charging the same amount at once (so if the PV delivers, the grid
    does not move; if it does not, the phase imports for a cycle). PV within `pv_at_limit_w` of
    its limit counts as running at it.

    Publishes `min_phase_grid_w` in the proposal so that later controllers keep to it.
    """

    def __init__(
        self,
        *,
        min_phase_grid_w: float = 0.0,
        curtail_pv: bool = False,
        pv_max_w: float | None = None,
        pv_at_limit_w: float = 50.0,
        phase_max_w: float | None = None,
        max_charge_w: float | None = None,
        max_discharge_w: float | None = None,
        name: str | None = None,
    ) -> None:
        name = _name("PhaseZeroExport", name)
        super().__init__(name, phase_max_w, max_charge_w, max_discharge_w)
        self.min_phase_grid_w = _required(f"{name} min_phase_grid_w", min_phase_grid_w)
        if not isinstance(curtail_pv, bool):
            raise ValueTypeError(f"{name} curtail_pv must be True or False, got {curtail_pv!r}")
        self.curtail_pv = curtail_pv
        self.pv_max_w = _number(f"{name} pv_max_w", pv_max_w, minimum=0.0, allow_none=True)
        if curtail_pv and self.pv_max_w is None:
            raise InvalidValueError(
                f"{name}: curtail_pv=True needs pv_max_w, the per-phase PV limit in W that means "
                "'not curtailed' (e.g. the inverter's rated power per phase)"
            )
        self.pv_at_limit_w = _required(f"{name} pv_at_limit_w", pv_at_limit_w, minimum=0.0)

    def propose(self, site: Site, proposal: Proposal) -> Proposal | Hold:
        inputs = _Inputs(site)
        grid = inputs.need_phases(site.grid, "ActivePower")
        battery = inputs.battery_power()
        limits = self._limits(inputs)
        pv = inputs.need_phases(site.pv, "ActivePower") if self.curtail_pv else None
        if inputs.problems or grid is None or battery is None or limits is None:
            return Hold("; ".join(inputs.problems))

        floor = self.min_phase_grid_w
        setpoints = list(proposal.battery_w)
        predicted = _predict(grid, battery, setpoints)
        room, total_room = limits.charge_room(setpoints)
        shortfall = sum(max(0.0, floor - p) for p in predicted)
        highs = [min(floor, p + r) for p, r in zip(predicted, room, strict=True)]
        added = fill_up(predicted, highs, min(shortfall, total_room))
        setpoints = [s + a for s, a in zip(setpoints, added, strict=True)]
        predicted = [p + a for p, a in zip(predicted, added, strict=True)]
        notes: list[str] = []
        if sum(added) > _EPS_W:
            charged = ", ".join(f"{p} +{_w(a)}" for p, a in zip(PHASES, added, strict=True) if a > _EPS_W)
            notes.append(f"{self.name}: charging {charged} against export")

        pv_limits = list(proposal.pv_limit_w)
        if pv is not None:
            self._curtail(site, limits, floor, pv, setpoints, predicted, pv_limits, notes)
        for p, level in zip(PHASES, predicted, strict=True):
            if floor - level > _EPS_W:
                cause = "battery and PV limits" if self.curtail_pv else "battery limits (no PV curtailment)"
                notes.append(
                    f"{self.name}: {p} predicted at {_w(level)}, {_w(floor - level)} below the "
                    f"{_w(floor)} floor: {cause} reached ({self._charge_limit_words(limits)})"
                )

        earlier_floor = proposal.min_phase_grid_w
        return replace(
            proposal,
            battery_w=_phased(setpoints),
            pv_limit_w=(pv_limits[0], pv_limits[1], pv_limits[2]),
            min_phase_grid_w=floor if earlier_floor is None else max(floor, earlier_floor),
            notes=(*proposal.notes, *notes),
        )

    def _curtail(
        self,
        site: Site,
        limits: BatteryLimits,
        floor: float,
        pv: Phased,
        setpoints: list[float],
        predicted: list[float],
        pv_limits: list[float | None],
        notes: list[str],
    ) -> None:
        """Per-phase PV limits for what the battery could not absorb; releases as described above.

        Updates `setpoints` (pre-charge while releasing), `predicted` and `pv_limits` in place.
        """
        assert self.pv_max_w is not None
        pv_max = self.pv_max_w
        previous = [site.previous.get(f"{site.pv}/SetActivePowerLimit_{p}") for p in PHASES]
        targets: list[float] = [pv_max] * 3
        # Phases whose PV runs at a curtailment limit, and what each could take back at most.
        release_caps = [0.0, 0.0, 0.0]
        for i, p in enumerate(PHASES):
            prev = previous[i]
            rest = floor - predicted[i]
            if rest > _EPS_W:
                targets[i] = max(0.0, pv[i] - rest)
                predicted[i] += pv[i] - targets[i]
                notes.append(f"{self.name}: curtailing PV on {p} to {_w(targets[i])} (from {_w(pv[i])})")
            elif prev is not None and prev < pv_max:
                slack = predicted[i] - floor  # import above the floor: PV may fill it
                targets[i] = max(prev, pv[i] + slack)
                if pv[i] >= prev - self.pv_at_limit_w:
                    release_caps[i] = max(0.0, pv_max - targets[i])
        room, total_room = limits.charge_room(setpoints)
        caps = [min(c, r) for c, r in zip(release_caps, room, strict=True)]
        probes = fill_up([0.0, 0.0, 0.0], caps, min(total_room, sum(caps)))
        for i, p in enumerate(PHASES):
            if probes[i] > _EPS_W:
                setpoints[i] += probes[i]
                targets[i] += probes[i]
                notes.append(
                    f"{self.name}: releasing PV on {p} by {_w(probes[i])} with the battery charging it"
                )
            earlier = pv_limits[i]
            limit = min(targets[i], pv_max)
            pv_limits[i] = limit if earlier is None else min(limit, earlier)


class PeakShaving(_BatteryController):
    """Keeps the total grid import at or below `limit_w` with the battery, and recharges it below
    `recharge_below_w`.

    When the predicted total grid power exceeds `limit_w`, the battery discharges the excess,
    taken from the phases with the most import first, never below the phase floor (the larger of
    `min_phase_grid_w` and the one an earlier controller published; the floor needs the per-phase
    grid channels). Where the per-phase grid power is not published at all and no floor applies,
    the discharge is spread evenly. When the predicted total is below `recharge_below_w` (default
    0.8 · `limit_w`), the battery charges by up to `recharge_w` (default: no cap) on the phases with
    the least import first, so that the predicted total stays at or below `recharge_below_w`.
    Between the two limits it leaves the proposal as it is. The prediction counts the battery
    setpoints and the PV limits proposed before it (PV measured above its limit drops to it). What
    the battery limits or the floor prevent is said in the notes.
    """

    def __init__(
        self,
        limit_w: float,
        *,
        recharge_below_w: float | None = None,
        recharge_w: float | None = None,
        min_phase_grid_w: float | None = None,
        phase_max_w: float | None = None,
        max_charge_w: float | None = None,
        max_discharge_w: float | None = None,
        name: str | None = None,
    ) -> None:
        name = _name("PeakShaving", name)
        super().__init__(name, phase_max_w, max_charge_w, max_discharge_w)
        self.limit_w = _required(f"{name} limit_w", limit_w)
        if self.limit_w <= 0:
            raise InvalidValueError(f"{name} limit_w must be > 0 W (the import limit), got {self.limit_w:g}")
        below = _number(f"{name} recharge_below_w", recharge_below_w, allow_none=True)
        self.recharge_below_w = 0.8 * self.limit_w if below is None else below
        if self.recharge_below_w > self.limit_w:
            raise InvalidValueError(
                f"{name}: recharge_below_w ({self.recharge_below_w:g} W) must not exceed limit_w "
                f"({self.limit_w:g} W), or recharging would itself cause a peak"
            )
        self.recharge_w = _number(f"{name} recharge_w", recharge_w, minimum=0.0, allow_none=True)
        self.min_phase_grid_w = _number(f"{name} min_phase_grid_w", min_phase_grid_w, allow_none=True)

    def propose(self, site: Site, proposal: Proposal) -> Proposal | Hold:
        inputs = _Inputs(site)
        floor = self.min_phase_grid_w
        if proposal.min_phase_grid_w is not None:
            floor = proposal.min_phase_grid_w if floor is None else max(floor, proposal.min_phase_grid_w)
        phase_channels = [f"{site.grid}/ActivePower_{p}" for p in PHASES]
        use_phases = floor is not None or any(inputs.present(c) for c in phase_channels)
        grid = inputs.need_phases(site.grid, "ActivePower") if use_phases else None
        total_channel = f"{site.grid}/ActivePower"
        # The published total is the billed quantity; the sum of the phases stands in where there is none.
        use_total = inputs.present(total_channel) or grid is None
        total = inputs.need(total_channel) if use_total else sum(grid or ())
        battery = inputs.battery_power()
        limits = self._limits(inputs)
        if inputs.problems or total is None or battery is None or limits is None:
            return Hold("; ".join(inputs.problems))

        setpoints = list(proposal.battery_w)
        curtailed = _curtailment(site, proposal.pv_limit_w)
        change = sum(s - b for s, b in zip(setpoints, battery, strict=True)) + sum(curtailed)
        predicted_total = total + change
        if grid is not None:
            levels = [x + c for x, c in zip(_predict(grid, battery, setpoints), curtailed, strict=True)]
        else:
            levels = [predicted_total / 3.0] * 3
        notes: list[str] = []
        if predicted_total > self.limit_w:
            excess = predicted_total - self.limit_w
            room, total_room = limits.discharge_room(setpoints)
            base_low = -math.inf if floor is None else floor
            lows = [max(base_low, level - r) for level, r in zip(levels, room, strict=True)]
            cut = fill_down(levels, lows, min(excess, total_room))
            setpoints = [s - c for s, c in zip(setpoints, cut, strict=True)]
            done = sum(cut)
            notes.append(
                f"{self.name}: predicted {_w(predicted_total)} > limit {_w(self.limit_w)}: "
                f"discharging {_w(done)}"
            )
            if excess - done > _EPS_W:
                why = []
                if total_room < excess - _EPS_W:
                    why.append(
                        f"battery discharge limit {_w(limits.max_discharge_w)} (net of other setpoints)"
                    )
                if done < min(excess, total_room) - _EPS_W:
                    bounds = [f"phase floor {_w(floor)}"] if floor is not None else []
                    if self.phase_max_w is not None:
                        bounds.append(f"phase_max_w {_w(self.phase_max_w)}")
                    why.append(" and ".join(bounds))
                notes.append(
                    f"{self.name}: shaved only {_w(done)} of {_w(excess)}; the total stays at "
                    f"{_w(predicted_total - done)}: limited by {'; '.join(why)}"
                )
        elif predicted_total < self.recharge_below_w:
            want = self.recharge_below_w - predicted_total
            if self.recharge_w is not None:
                want = min(want, self.recharge_w)
            room, total_room = limits.charge_room(setpoints)
            highs = [level + r for level, r in zip(levels, room, strict=True)]
            added = fill_up(levels, highs, min(want, total_room))
            setpoints = [s + a for s, a in zip(setpoints, added, strict=True)]
            if sum(added) > _EPS_W:
                notes.append(
                    f"{self.name}: predicted {_w(predicted_total)} < {_w(self.recharge_below_w)}: "
                    f"recharging {_w(sum(added))}"
                )
        return replace(proposal, battery_w=_phased(setpoints), notes=(*proposal.notes, *notes))


def predict_grid(
    site: Site, battery_w: Sequence[float], pv_limit_w: Iterable[float | None]
) -> dict[str, float]:
    """The grid power per phase and in total expected once the battery follows `battery_w` and PV
    its limits, from GOOD measurements only; empty where the inputs are not all usable."""
    inputs = _Inputs(site)
    grid = inputs.need_phases(site.grid, "ActivePower")
    battery = inputs.battery_power()
    if grid is None or battery is None or inputs.problems:
        return {}
    curtailed = _curtailment(site, pv_limit_w)
    predicted = [x + c for x, c in zip(_predict(grid, battery, battery_w), curtailed, strict=True)]
    out = {f"{site.grid}/ActivePower_{p}": w for p, w in zip(PHASES, predicted, strict=True)}
    total = site.snapshot.value(f"{site.grid}/ActivePower")
    if total is None:
        total = sum(grid)
    out[f"{site.grid}/ActivePower"] = total + sum(predicted) - sum(grid)
    return out
