"""The virtual grid meter: grid channels computed from the load, PV and battery in the DAL.

Per phase, grid = load + battery − pv (DESIGN.md: `load` + consumption, `battery` + charging,
`pv` + generation), for active power and, where every input of the phase has it, for reactive
power (PV reactive power is taken with the same sign convention as its active power, so it
enters with a minus too). Totals are the sum of the phases when every phase the load has can be
computed, otherwise they come from the inputs' totals. Apparent power and power factor follow
from P and Q (arithmetic sum of the phases' S; PF = P/S, signed by P, 1 where S = 0).

Quality and time: an output's quality is the worst of its inputs' (ERROR > STALE > GOOD), an
ERROR output has no value, and its timestamp is the oldest input's, so an output is never fresher
than what it was computed from. A missing input channel means the output is not computed (never
published as 0); the one exception is a battery namespace with no channel at all in the DAL,
which is a site without battery and contributes 0 (pass `battery=None` or `pv=None` to say so
explicitly).

Energy (kWh, kVARh) is integrated from the total active and reactive power by the Rust
`EnergyIntegrator` (trapezoids, import and export split at zero crossings, no energy invented
across gaps longer than `max_gap`), from GOOD values only and only when their timestamp advanced.
The counters carry the timestamp of the last value integrated; while the total power is STALE or
ERROR they are republished as STALE with that value and timestamp (the count up to then stays
valid, so it is not erased as ERROR). They start at 0, at the totals of `restore_state`, or at the
namespace's counters already in the DAL, whichever is larger: a meter made again on the same DAL
(by user code, or restored from a state file saved before the DAL's last count) continues the
count the DAL's consumers saw, so its counters never go backwards and the DAL never refuses them.

Clock steps (DESIGN.md "Time"): when the wall clock steps back, the outputs already published lie
in the future. Outputs computed from inputs that lie in the future are not written (the DAL shows
the stored ones STALE); as soon as the inputs are polled again, stamped by the stepped clock, one
update replaces the outputs in the future, and the energy integration starts a new series as
after a gap: nothing is integrated across the step, the count keeps its value (`clock_steps`
counts these restarts). An input older than what was published, when nothing lies in the future,
is out-of-order data, not a step: it is skipped, as before.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridtap._core import EnergyIntegrator
from gridtap.channels import BATTERY_CHANNELS, CHANNELS, LOAD_CHANNELS, PV_CHANNELS, catalogue_for
from gridtap.dal import Dal, Quality, Reading, Snapshot
from gridtap.errors import ChannelError, InvalidValueError, ValueTypeError
from gridtap.state import check_owner

__all__ = ["VirtualGridMeter"]

log = logging.getLogger(__name__)

_PHASES = ("L1", "L2", "L3")
_SEVERITY = {Quality.GOOD: 0, Quality.STALE: 1, Quality.ERROR: 2}
_UNITS = {c.name: c.unit for c in CHANNELS}
_WS_PER_KWH = 3.6e6  # the integrator's totals are in W·s, its counters in kWh
# each integrator's counters: (import, export)
_COUNTERS = {
    "_active": ("EnergyImport", "EnergyExport"),
    "_reactive": ("ReactiveEnergyImport", "ReactiveEnergyExport"),
}


@dataclass(frozen=True, slots=True)
class _Term:
    """A computed value with the quality and timestamp it inherits from its inputs."""

    value: float | None  # None exactly when ERROR
    quality: Quality
    timestamp: float


def _combine(inputs: Sequence[Reading | _Term], f: Callable[..., float]) -> _Term:
    quality = max((r.quality for r in inputs), key=_SEVERITY.__getitem__)
    timestamp = min(r.timestamp for r in inputs)
    if quality is Quality.ERROR:
        return _Term(None, quality, timestamp)
    value = f(*(r.value for r in inputs))
    if not math.isfinite(value):
        return _Term(None, Quality.ERROR, timestamp)
    return _Term(value, quality, timestamp)


def _sum(*values: float) -> float:
    return sum(values, 0.0)


def _power_factor(p: float, s: float) -> float:
    return p / s if s > 0 else 1.0


def _ws_at_least(kwh: float) -> float:
    """W·s whose kWh (W·s / 3.6e6, as the integrator divides) is not below `kwh`: the product
    can round down, and a counter a hair below the DAL's would be refused as a decrease."""
    ws = kwh * _WS_PER_KWH
    while ws / _WS_PER_KWH < kwh:
        ws = math.nextafter(ws, math.inf)
    return ws


def _check_namespace(role: str, namespace: str, catalogue: tuple[object, ...]) -> str:
    if not isinstance(namespace, str):
        raise ValueTypeError(f"VirtualGridMeter {role}= must be a namespace name, got {namespace!r}")
    if catalogue_for(namespace) is not catalogue:
        raise ChannelError(
            f"VirtualGridMeter {role}={namespace!r} is not a {role} namespace ({role}[_<name>])"
        )
    return namespace


class VirtualGridMeter:
    """Computes `namespace/...` grid channels from the load, PV and battery channels in `dal`.

    Call `update(now)` periodically (e.g. after the device adapters wrote): it takes one DAL
    snapshot and writes the outputs that changed, each group of equal timestamp and quality in
    one atomic `write_many`, and returns what it wrote (channel → Reading). Nothing is written for
    outputs whose inputs did not advance, and an output whose oldest input is older than what was
    already published is skipped (the DAL's timestamps never go backwards), unless what was
    published lies in the future because the wall clock stepped back (see the module docstring).
    """

    dal: Dal
    load: str
    pv: str | None
    battery: str | None
    namespace: str
    max_gap: float

    def __init__(
        self,
        dal: Dal,
        load: str = "load",
        pv: str | None = "pv",
        battery: str | None = "battery",
        namespace: str = "grid",
        max_gap: float = 60.0,
    ) -> None:
        if not all(callable(getattr(dal, attr, None)) for attr in ("snapshot", "write_many")):
            raise ValueTypeError(
                f"VirtualGridMeter needs a gridtap.Dal (snapshot and write_many), got {dal!r}"
            )
        if isinstance(max_gap, bool) or not isinstance(max_gap, numbers.Real) or not max_gap > 0:
            raise InvalidValueError(f"max_gap must be a positive number of seconds, got {max_gap!r}")
        self.dal = dal
        self.load = _check_namespace("load", load, LOAD_CHANNELS)
        self.pv = None if pv is None else _check_namespace("pv", pv, PV_CHANNELS)
        self.battery = None if battery is None else _check_namespace("battery", battery, BATTERY_CHANNELS)
        self.namespace = _check_namespace("grid", namespace, CHANNELS)
        self.max_gap = float(max_gap)
        self._active: EnergyIntegrator = EnergyIntegrator(max_gap=self.max_gap)
        self._reactive: EnergyIntegrator = EnergyIntegrator(max_gap=self.max_gap)
        self._published: dict[str, tuple[float, Quality, float | None]] = {}
        self._clock_steps: int = 0
        self._counted: bool = False  # this meter has published energy counters of its own

    @property
    def clock_steps(self) -> int:
        """How often the energy integration started a new series because the clock stepped back."""
        return self._clock_steps

    @property
    def gap_count(self) -> int:
        """Intervals longer than `max_gap` between integrated active-power values (not integrated)."""
        return int(self._active.gap_count)

    @property
    def gap_seconds(self) -> float:
        return float(self._active.gap_seconds)

    # --- state across restarts ------------------------------------------------------------------

    def _identity(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "load": self.load, "pv": self.pv, "battery": self.battery}

    def state(self) -> dict[str, Any]:
        """The integrated energy totals (active and reactive) and the meter they belong to."""
        return {**self._identity(), "active": self._active.state(), "reactive": self._reactive.state()}

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Continue the energy totals of `state()` from an earlier process. ValueError, changing
        nothing, for the state of another virtual meter or totals that do not fit, and after the
        first update (its totals would be replaced). Where the namespace's counters in the DAL are
        larger, the next update continues from those instead (see the module docstring)."""
        check_owner(
            state, self._identity(), ("active", "reactive"), f"virtual meter {self.namespace}", "meter"
        )
        if self._active.last_timestamp is not None or self._reactive.last_timestamp is not None:
            raise InvalidValueError(
                f"virtual meter {self.namespace}: restore_state comes before the first update"
            )
        for key in ("active", "reactive"):
            totals = state[key]
            # one total power: one phase of totals, none fed as reactive_var (a crafted or foreign
            # state would make every later update fail)
            if not (
                isinstance(totals, Mapping)
                and isinstance(totals.get("active"), list)
                and len(totals["active"]) <= 1
                and totals.get("reactive") == []
            ):
                raise InvalidValueError(
                    f"virtual meter {self.namespace}: the {key} energy state is not one total's: {totals!r:.200}"
                )
        active, reactive = EnergyIntegrator(max_gap=self.max_gap), EnergyIntegrator(max_gap=self.max_gap)
        active.restore_state(state["active"])
        reactive.restore_state(state["reactive"])
        self._active, self._reactive = active, reactive

    # --- computing ---------------------------------------------------------------------------

    def _devices(self, snapshot: Snapshot) -> list[tuple[str, float]]:
        """(namespace, sign) of the devices whose channels enter the sum, load first."""
        devices = [(self.load, 1.0)]
        if self.battery is not None:
            prefix = self.battery + "/"
            if any(channel.startswith(prefix) for channel in snapshot):
                devices.append((self.battery, 1.0))
        if self.pv is not None:
            devices.append((self.pv, -1.0))
        return devices

    def _from_inputs(self, snapshot: Snapshot, devices: list[tuple[str, float]], name: str) -> _Term | None:
        readings = [snapshot.get(f"{ns}/{name}") for ns, _ in devices]
        present = [r for r in readings if r is not None]
        if len(present) != len(readings):
            return None
        signs = [sign for _, sign in devices]

        def grid(*values: float) -> float:
            total = 0.0
            for sign, v in zip(signs, values, strict=True):
                total = total + v if sign > 0 else total - v
            return total

        return _combine(present, grid)

    def _compute(self, snapshot: Snapshot) -> dict[str, _Term]:
        """The power outputs (bare names) for one snapshot, without energy; nothing is written."""
        devices = self._devices(snapshot)
        load_phases = [p for p in _PHASES if f"{self.load}/ActivePower_{p}" in snapshot]
        out: dict[str, _Term] = {}
        for p in _PHASES:
            for base in ("ActivePower", "ReactivePower"):
                term = self._from_inputs(snapshot, devices, f"{base}_{p}")
                if term is not None:
                    out[f"{base}_{p}"] = term
        for base in ("ActivePower", "ReactivePower"):
            phases = [out.get(f"{base}_{p}") for p in load_phases]
            if load_phases and all(t is not None for t in phases):
                out[base] = _combine([t for t in phases if t is not None], _sum)
            else:
                term = self._from_inputs(snapshot, devices, base)
                if term is not None:
                    out[base] = term
        for p in _PHASES:
            if f"ActivePower_{p}" in out and f"ReactivePower_{p}" in out:
                s = _combine([out[f"ActivePower_{p}"], out[f"ReactivePower_{p}"]], math.hypot)
                out[f"ApparentPower_{p}"] = s
                out[f"PowerFactor_{p}"] = _combine([out[f"ActivePower_{p}"], s], _power_factor)
        apparent = [out.get(f"ApparentPower_{p}") for p in load_phases]
        if load_phases and all(t is not None for t in apparent):
            out["ApparentPower"] = _combine([t for t in apparent if t is not None], _sum)
        elif "ActivePower" in out and "ReactivePower" in out:
            out["ApparentPower"] = _combine([out["ActivePower"], out["ReactivePower"]], math.hypot)
        if "ActivePower" in out and "ApparentPower" in out:
            out["PowerFactor"] = _combine([out["ActivePower"], out["ApparentPower"]], _power_factor)
        if all(f"ActivePower_{p}" in out for p in _PHASES):
            phases3 = [out[f"ActivePower_{p}"] for p in _PHASES]
            out["PhaseImbalance"] = _combine(phases3, lambda *v: max(v) - min(v))
        return out

    def _integrate(
        self, attr: str, power: _Term | None, ahead: Callable[[float], bool]
    ) -> tuple[Quality, float] | None:
        """Feed a GOOD, advanced value to the integrator `attr`; return the counters' (quality,
        timestamp), None before any."""
        if power is None:
            return None
        integrator: EnergyIntegrator = getattr(self, attr)
        last = integrator.last_timestamp
        if power.quality is Quality.GOOD and power.value is not None:
            if last is not None and power.timestamp < last and ahead(last):
                # the last value integrated lies in the future: the wall clock stepped back. A new
                # series with the same totals, as after a gap (MeterPipeline does the same).
                fresh = EnergyIntegrator(max_gap=self.max_gap)
                fresh.restore_state(integrator.state())
                setattr(self, attr, fresh)
                if attr == "_active":
                    self._clock_steps += 1
                    log.warning(
                        "virtual meter %s: the clock stepped back (%.3f s before the last value "
                        "integrated): energy integration starts a new series, the count keeps its value",
                        self.namespace,
                        last - power.timestamp,
                    )
                integrator, last = fresh, None
            if last is None or power.timestamp > last:
                integrator.update(np.array([power.timestamp]), np.array([power.value]))
        last = integrator.last_timestamp
        if last is None:
            return None
        return (Quality.GOOD if power.quality is Quality.GOOD else Quality.STALE), float(last)

    def _energy(self, out: dict[str, _Term], ahead: Callable[[float], bool]) -> None:
        active = self._integrate("_active", out.get("ActivePower"), ahead)
        if active is not None:
            quality, ts = active
            imp, exp = float(self._active.import_kwh), float(self._active.export_kwh)
            out["EnergyImport"] = _Term(imp, quality, ts)
            out["EnergyExport"] = _Term(exp, quality, ts)
            out["EnergyNet"] = _Term(imp - exp, quality, ts)
        reactive = self._integrate("_reactive", out.get("ReactivePower"), ahead)
        if reactive is not None:
            quality, ts = reactive
            out["ReactiveEnergyImport"] = _Term(float(self._reactive.import_kwh), quality, ts)
            out["ReactiveEnergyExport"] = _Term(float(self._reactive.export_kwh), quality, ts)

    def _continue_counters(self, snapshot: Snapshot) -> None:
        """Raise the totals to the namespace's counters in the DAL where those are larger."""
        for attr, names in _COUNTERS.items():
            integrator: EnergyIntegrator = getattr(self, attr)
            own = (float(integrator.import_kwh), float(integrator.export_kwh))
            held = []
            for name in names:
                r = snapshot.get(f"{self.namespace}/{name}")
                held.append(r.value if r is not None and r.value is not None else -math.inf)
            if held[0] <= own[0] and held[1] <= own[1]:
                continue
            state = integrator.state()
            phases = state["active"] or [
                {"import_ws": 0.0, "export_ws": 0.0, "gap_count": 0, "gap_seconds": 0.0}
            ]
            (phase,) = phases  # the total power: one phase
            phase = dict(phase)
            for key, kwh, mine in (("import_ws", held[0], own[0]), ("export_ws", held[1], own[1])):
                if kwh > mine:
                    phase[key] = _ws_at_least(kwh)
            # in place: the series goes on (a restore keeps the integrator's last sample)
            integrator.restore_state({"active": [phase], "reactive": state["reactive"]})
            # before this meter counted: made again on the DAL; after: another writer of the counters
            (log.warning if self._counted else log.info)(
                "virtual meter %s: continuing from the counters already in the DAL (%s)",
                self.namespace,
                ", ".join(f"{n} {v:.9g}" for n, v in zip(names, held, strict=True) if v > -math.inf),
            )

    # --- publishing --------------------------------------------------------------------------

    def update(self, now: float | None = None) -> dict[str, Reading]:
        """Compute from one snapshot taken at `now` and write what changed; returns what was written."""
        snapshot = self.dal.snapshot(now)
        ahead = self._ahead_of_clock(snapshot)
        self._continue_counters(snapshot)
        out = self._compute(snapshot)
        self._energy(out, ahead)
        groups: dict[tuple[float, Quality], dict[str, float | None]] = {}
        for name, term in out.items():
            if ahead(term.timestamp):
                # computed from inputs in the future (the clock stepped back, they were not polled
                # again yet): the DAL would refuse it, and shows what it holds STALE meanwhile
                continue
            stored = snapshot.get(f"{self.namespace}/{name}")
            previous = self._published.get(name)
            # what lies in the future does not hold newer measurements back (the DAL's rule)
            newest = max(
                stored.timestamp if stored is not None and not ahead(stored.timestamp) else -math.inf,
                previous[0] if previous is not None and not ahead(previous[0]) else -math.inf,
            )
            if term.timestamp < newest or previous == (term.timestamp, term.quality, term.value):
                continue
            groups.setdefault((term.timestamp, term.quality), {})[name] = term.value
        written: dict[str, Reading] = {}
        for (timestamp, quality), values in sorted(groups.items(), key=lambda g: g[0][0]):
            self.dal.write_many(self.namespace, values, timestamp, quality)
            for name, value in values.items():
                self._published[name] = (timestamp, quality, value)
                written[f"{self.namespace}/{name}"] = Reading(value, _UNITS[name], timestamp, quality)
            if "EnergyImport" in values or "ReactiveEnergyImport" in values:
                self._counted = True
        return written

    def _ahead_of_clock(self, snapshot: Snapshot) -> Callable[[float], bool]:
        """Whether a timestamp lies further ahead of the DAL's clock than the DAL accepts for this
        meter's writes: the test the DAL applies to a write, and to what it replaces."""
        clock = getattr(self.dal, "clock", None)
        now = float(clock()) if callable(clock) else snapshot.time
        tolerance = float(getattr(self.dal, "max_future", 1.0))
        return lambda ts: ts - now > tolerance
