"""Deterministic synthetic site data over time: what a grid meter at the site would measure.

A `GridScenario` lives on a grid of steps `t_k = start + k·step` and holds every value constant
within a step (zero-order hold). The site is composed as the virtual meter composes it:
per phase, grid = load + battery − pv (W, + import; reactive + inductive), and everything a meter
shows is derived from that: apparent power, power factor, currents, line-to-line voltages, and
energy counters that are the exact integral of the grid power it produced.

Values are generated in blocks of `_BLOCK_STEPS` steps. A block depends only on the state at its
start (a checkpoint: the random processes, the battery's stored energy, the energy counters) and
on random numbers drawn from a generator seeded by (seed, block number), so any time can be
recomputed from the checkpoint before it and the result never depends on the order of queries.
Checkpoints are kept for every block generated; a query beyond the furthest block generates the
blocks in between (cost proportional to the distance: choose `start` near the times you query).
A constant site (`GridScenario.static`) has no state but its counters, so its checkpoints are
computed directly and any time costs the same.

Random model (one documented choice for each part of the issue):

- Load: a daily profile (UTC hour: night base, morning, midday and evening peaks) whose daily mean
  is `load_kw`, split across phases with weights (1 + imbalance, 1 − imbalance/2, 1 − imbalance/2),
  times a per-phase Ornstein–Uhlenbeck (OU) factor (12 %, τ = 45 s) and 1 % white noise. Reactive
  power from the load's power factor (lagging).
- PV: a clear-sky bell from 05:00 to 19:00 UTC (peak 0.9 · `pv_kwp` at 12:00 UTC), times a cloud
  factor 1 − clouds · sigmoid(3x − 2) of an OU process x (τ = 180 s). Balanced across the three
  phases by default (`pv_split=(1, 0, 0)` puts it on L1). PV and battery run at unity power factor.
- Battery (optional): self-consumption by default (charges from the PV surplus, discharges to
  cover the load, symmetric across phases, within ± its limits), or per-phase setpoints after
  `set_battery_setpoints`; stored energy between 0 and the capacity (a full battery stops charging,
  an empty one discharging).
- Frequency: nominal + an OU walk (std `frequency_std`, τ = 60 s, clipped to ± 0.2 Hz) + scripted
  events. Frequency_RoCoF is the exact derivative of the scripted part plus the walk's backward
  difference over one step.
- Voltage: per phase, nominal · (1 + OU of 0.5 %, τ = 120 s, clipped to ± 4 %) minus the drop of
  the phase's grid active power over 0.1 Ω; line-to-line from phasors 120° apart.
- Energy counters (kWh, kVARh): import/export split of the total grid power (the phases summed,
  as a bidirectional three-phase meter nets them), accumulated over the steps; the value at step k
  holds the energy of steps 0 … k−1. A random scenario starts from a seeded meter reading; a
  static one from 0.
"""

from __future__ import annotations

import calendar
import csv
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from gridtap.channels import BATTERY_CHANNELS, CHANNELS, LOAD_CHANNELS, PV_CHANNELS, ChannelSpec
from gridtap.errors import InvalidValueError

__all__ = ["DEFAULT_START", "FrequencyEvent", "GridScenario", "SiteState"]

Array = npt.NDArray[np.floating[Any]]

log = logging.getLogger(__name__)

#: 2026-06-21T10:00Z: a June morning, so the default scenario's PV is producing.
DEFAULT_START = float(calendar.timegm((2026, 6, 21, 10, 0, 0)))

_BLOCK_STEPS = 3000
_CACHE_BLOCKS = 8
# A query within this fraction of a step before a grid point belongs to that grid point: epoch
# floats near 1.8e9 are spaced 2.4e-7 s apart, so start + 0.3 may land just below the third step.
_TIME_TOL_STEPS = 1e-4
_J_PER_KWH = 3.6e6
_PHASES = ("L1", "L2", "L3")
_LINE_PAIRS = (("L12", 0, 1), ("L23", 1, 2), ("L31", 2, 0))

# random model constants (see the module docstring)
_FREQ_TAU, _FREQ_WALK_MAX = 60.0, 0.2
_LOAD_TAU, _LOAD_STD, _LOAD_WHITE = 45.0, 0.12, 0.01
_CLOUD_TAU = 180.0
_VOLT_TAU, _VOLT_STD, _VOLT_MAX = 120.0, 0.005, 0.04
_GRID_RESISTANCE = 0.1  # Ω per phase
_PV_SUNRISE, _PV_SUNSET, _PV_RATIO = 5.0, 19.0, 0.9


# --- public value types ----------------------------------------------------------------------


@dataclass(frozen=True)
class FrequencyEvent:
    """A scripted frequency event; `at` in seconds after the scenario's start.

    A step adds `delta_hz` from `at` on. A ramp adds `rate_hz_s · (t − at)` for `duration`
    seconds and then holds `rate_hz_s · duration`. Events add up.
    """

    kind: str  # "step" | "ramp"
    at: float
    delta_hz: float = 0.0
    rate_hz_s: float = 0.0
    duration: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("step", "ramp"):
            raise InvalidValueError(f"FrequencyEvent kind {self.kind!r}: expected 'step' or 'ramp'")
        for name in ("at", "delta_hz", "rate_hz_s", "duration"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise InvalidValueError(f"FrequencyEvent {name} must be a finite number, got {value!r}")
        if self.at < 0 or self.duration < 0:
            raise InvalidValueError(
                f"FrequencyEvent at={self.at}, duration={self.duration}: both must be ≥ 0 seconds"
            )

    @classmethod
    def step(cls, at: float, delta_hz: float) -> FrequencyEvent:
        return cls("step", at, delta_hz=delta_hz)

    @classmethod
    def ramp(cls, at: float, rate_hz_s: float, duration: float) -> FrequencyEvent:
        return cls("ramp", at, rate_hz_s=rate_hz_s, duration=duration)


@dataclass(frozen=True)
class SiteState:
    """Every value of the site at time `t` (the queried epoch time), by namespace, bare names."""

    t: float
    grid: dict[str, float]
    load: dict[str, float]
    pv: dict[str, float]
    battery: dict[str, float]  # empty for a site without battery


# --- channel sets ----------------------------------------------------------------------------


def _in_catalogue_order(catalogue: Iterable[ChannelSpec], names: set[str]) -> list[str]:
    ordered = [c.name for c in catalogue if c.name in names]
    assert len(ordered) == len(names), names - set(ordered)
    return ordered


def _grid_names(phases: int) -> list[str]:
    names = {
        "ActivePower",
        "ReactivePower",
        "ApparentPower",
        "PowerFactor",
        "Frequency",
        "Frequency_RoCoF",
        "EnergyImport",
        "EnergyExport",
        "EnergyNet",
        "ReactiveEnergyImport",
        "ReactiveEnergyExport",
    }
    for p in _PHASES[:phases]:
        for base in ("ActivePower", "ReactivePower", "ApparentPower", "PowerFactor", "Voltage", "Current"):
            names.add(f"{base}_{p}")
    if phases == 3:
        names |= {"Voltage_L12", "Voltage_L23", "Voltage_L31", "PhaseImbalance"}
    return _in_catalogue_order(CHANNELS, names)


def _power_names(catalogue: Iterable[ChannelSpec], phases: int, extra: Sequence[str] = ()) -> list[str]:
    names = {"ActivePower", "ReactivePower", *extra}
    names |= {f"{base}_{p}" for base in ("ActivePower", "ReactivePower") for p in _PHASES[:phases]}
    return _in_catalogue_order(catalogue, names)


def _power_factor(p: Array, s: Array) -> Array:
    """P/S: magnitude |P|/S signed by P (IEC); 1.0 where there is no power at all."""
    safe = np.where(s > 0, s, 1.0)
    return np.where(s > 0, p / safe, 1.0)


def _line_to_line(va: Array, vb: Array) -> Array:
    # |Va − Vb| for phasors 120° apart: Va² + Vb² − 2·Va·Vb·cos 120°
    return np.sqrt(va * va + vb * vb + va * vb)


# --- random processes ------------------------------------------------------------------------


def _ar1(x0: float, a: float, innovations: Array) -> Array:
    """x[0] = x0, x[i+1] = a·x[i] + innovations[i]; vectorised in chunks where a^-m stays small."""
    n = len(innovations)
    out = np.empty(n + 1)
    out[0] = x0
    if a <= 0.0:
        out[1:] = innovations
        return out
    chunk = n if a >= 1.0 else max(1, min(n, int(20.0 / -math.log(a))))
    x = x0
    pos = 0
    while pos < n:
        e = innovations[pos : pos + chunk]
        powers = a ** np.arange(1, len(e) + 1)
        out[pos + 1 : pos + 1 + len(e)] = powers * (x + np.cumsum(e / powers))
        pos += len(e)
        x = float(out[pos])
    return out


def _ou_coefficients(step: float, tau: float, std: float) -> tuple[float, float]:
    """(a, innovation std) of an OU process with stationary `std` and correlation time `tau`."""
    a = math.exp(-step / tau)
    return a, std * math.sqrt(1.0 - a * a)


def _periodic_bump(hour: Array, centre: float, width: float) -> Array:
    d = (hour - centre + 12.0) % 24.0 - 12.0
    return np.exp(-((d / width) ** 2))


def _load_shape(hour: Array) -> Array:
    return (
        0.55
        + 0.45 * _periodic_bump(hour, 7.5, 1.5)
        + 0.35 * _periodic_bump(hour, 12.5, 2.0)
        + 0.75 * _periodic_bump(hour, 19.0, 2.2)
    )


_LOAD_SHAPE_MEAN = float(np.mean(_load_shape(np.arange(0.0, 24.0, 1.0 / 600.0))))


def _clear_sky(hour: Array) -> Array:
    x = (hour - _PV_SUNRISE) / (_PV_SUNSET - _PV_SUNRISE)
    return np.where((x > 0) & (x < 1), np.sin(np.pi * np.clip(x, 0.0, 1.0)) ** 1.5, 0.0)


class _Drivers(NamedTuple):
    """The exogenous part of one block: what the site does before the battery and the grid."""

    load_p: Array  # (phases, n) W
    load_q: Array  # (phases, n) VAR
    pv_p: Array  # (phases, n) W
    walk: Array  # (n,) Hz: the random part of the frequency
    volt: Array  # (phases, n) V line-to-neutral before the drop over the grid impedance
    resistance: float  # Ω, for that drop


class _Site(Protocol):
    phases: int
    voltage: float  # nominal line-to-neutral, V

    def initial_state(self) -> tuple[float, ...]: ...

    def initial_counters(self) -> tuple[float, float, float, float]: ...

    def drivers(self, block: int, state: tuple[float, ...]) -> tuple[_Drivers, tuple[float, ...]]: ...


class _RandomSite:
    def __init__(
        self,
        *,
        seed: int,
        start: float,
        step: float,
        phases: int,
        load_kw: float,
        pv_kwp: float,
        imbalance: float,
        load_power_factor: float,
        voltage: float,
        clouds: float,
        frequency_std: float,
        pv_split: Array,
    ) -> None:
        self.phases, self.voltage = phases, voltage
        self._entropy = [abs(seed), int(seed < 0)]
        self._start, self._step = start, step
        self._load_w, self._pv_w, self._clouds = load_kw * 1000.0, pv_kwp * 1000.0, clouds
        weights = np.array([1.0 + imbalance, 1.0 - imbalance / 2, 1.0 - imbalance / 2])[:phases]
        self._load_weights = (weights / weights.sum())[:, None]
        split = np.asarray(pv_split, dtype=float)
        self._pv_weights = (split / split.sum())[:, None]
        self._tan_phi = math.tan(math.acos(load_power_factor))
        self._freq = _ou_coefficients(step, _FREQ_TAU, frequency_std)
        self._freq_std = frequency_std
        self._load = _ou_coefficients(step, _LOAD_TAU, 1.0)
        self._cloud = _ou_coefficients(step, _CLOUD_TAU, 1.0)
        self._volt = _ou_coefficients(step, _VOLT_TAU, _VOLT_STD)

    def _rng(self, *spawn_key: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(self._entropy, spawn_key=spawn_key))

    def initial_state(self) -> tuple[float, ...]:
        # stationary draws: frequency walk, 3 load factors, cloud, 3 voltage deviations
        z = self._rng().standard_normal(8)
        stds = np.array([self._freq_std, 1.0, 1.0, 1.0, 1.0, _VOLT_STD, _VOLT_STD, _VOLT_STD])
        return tuple((z * stds).tolist())

    def initial_counters(self) -> tuple[float, float, float, float]:
        u = self._rng(2**32).uniform(size=4)
        imp = round(2000.0 + 28000.0 * u[0], 3)
        return (
            imp,
            round(imp * (0.2 + 0.4 * u[1]), 3),
            round(imp * 0.2 * u[2], 3),
            round(imp * 0.05 * u[3], 3),
        )

    def drivers(self, block: int, state: tuple[float, ...]) -> tuple[_Drivers, tuple[float, ...]]:
        n, ph = _BLOCK_STEPS, self.phases
        z = self._rng(block).standard_normal((11, n))
        f = _ar1(state[0], self._freq[0], self._freq[1] * z[0])
        loads = [_ar1(state[1 + i], self._load[0], self._load[1] * z[1 + i]) for i in range(3)]
        cloud = _ar1(state[4], self._cloud[0], self._cloud[1] * z[4])
        volts = [_ar1(state[5 + i], self._volt[0], self._volt[1] * z[5 + i]) for i in range(3)]
        next_state = (f[-1], *(x[-1] for x in loads), cloud[-1], *(x[-1] for x in volts))

        t = self._start + (block * n + np.arange(n)) * self._step
        hour = (t % 86400.0) / 3600.0
        level = self._load_w * _load_shape(hour) / _LOAD_SHAPE_MEAN
        noise = np.maximum(0.05, 1.0 + _LOAD_STD * np.stack([x[:-1] for x in loads[:ph]]))
        noise *= 1.0 + _LOAD_WHITE * z[8 : 8 + ph]
        load_p = level * self._load_weights * noise
        shade = 1.0 - self._clouds / (1.0 + np.exp(-(3.0 * cloud[:-1] - 2.0)))
        pv_p = (self._pv_w * _PV_RATIO * _clear_sky(hour) * shade) * self._pv_weights
        volt = self.voltage * (1.0 + np.clip(np.stack([x[:-1] for x in volts[:ph]]), -_VOLT_MAX, _VOLT_MAX))
        drivers = _Drivers(
            load_p=load_p,
            load_q=load_p * self._tan_phi,
            pv_p=pv_p,
            walk=np.clip(f[:-1], -_FREQ_WALK_MAX, _FREQ_WALK_MAX),
            volt=volt,
            resistance=_GRID_RESISTANCE,
        )
        return drivers, tuple(float(x) for x in next_state)


class _ConstantSite:
    def __init__(self, load_w: Array, load_var: Array, pv_w: Array, voltage: float) -> None:
        self.phases, self.voltage = len(load_w), voltage
        n = _BLOCK_STEPS
        self._drivers = _Drivers(
            load_p=np.repeat(load_w[:, None], n, axis=1),
            load_q=np.repeat(load_var[:, None], n, axis=1),
            pv_p=np.repeat(pv_w[:, None], n, axis=1),
            walk=np.zeros(n),
            volt=np.full((self.phases, n), voltage),
            resistance=0.0,
        )

    def initial_state(self) -> tuple[float, ...]:
        return ()

    def initial_counters(self) -> tuple[float, float, float, float]:
        return (0.0, 0.0, 0.0, 0.0)

    def drivers(self, block: int, state: tuple[float, ...]) -> tuple[_Drivers, tuple[float, ...]]:
        return self._drivers, state


# --- battery ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Battery:
    max_charge_w: float
    max_discharge_w: float
    capacity_wh: float | None  # None: unlimited, the state of charge stays where it started
    initial_soc: float  # %


Setpoints = tuple[float, ...] | None  # per phase, W (+ charging); None: self-consumption


@dataclass(frozen=True)
class _Checkpoint:
    site: tuple[float, ...]
    walk_prev: float  # the walk at the step before the block (NaN before the first)
    battery_wh: float
    counters: tuple[float, ...]  # kWh import, export; kVARh import, export


# --- the synthetic source --------------------------------------------------------------------


class _Synthetic:
    """Generates and caches blocks; the state at every generated block's start is checkpointed."""

    def __init__(
        self,
        site: _Site,
        battery: _Battery | None,
        *,
        start: float,
        step: float,
        nominal_frequency: float,
        events: Sequence[FrequencyEvent],
        initial_setpoints: Setpoints,
    ) -> None:
        self.site, self.battery, self.phases = site, battery, site.phases
        self.start, self.step, self.nominal_frequency = start, step, nominal_frequency
        self.events = tuple(events)
        self.schedule: list[tuple[int, Setpoints]] = [(0, initial_setpoints)]
        self.latest = -1  # highest step index returned so far
        initial_wh = 0.0
        if battery is not None and battery.capacity_wh is not None:
            initial_wh = battery.capacity_wh * battery.initial_soc / 100.0
        self._checkpoints = [_Checkpoint(site.initial_state(), math.nan, initial_wh, site.initial_counters())]
        self._cache: OrderedDict[int, Array] = OrderedDict()
        # A constant site with unlimited storage has no state but its counters, which are a sum
        # over the setpoint schedule: its checkpoints are computed directly, any time in O(1).
        self._closed_form = isinstance(site, _ConstantSite) and (
            battery is None or battery.capacity_wh is None
        )
        self.names = {
            "grid": _grid_names(self.phases),
            "load": _power_names(LOAD_CHANNELS, self.phases),
            "pv": _power_names(PV_CHANNELS, self.phases),
            "battery": []
            if battery is None
            else _power_names(
                BATTERY_CHANNELS, self.phases, ("MaxChargePower", "MaxDischargePower", "StateOfCharge")
            ),
        }
        self.keys = [f"{ns}/{name}" for ns, names in self.names.items() for name in names]

    # indices

    def index(self, t: float) -> int:
        k = math.floor((t - self.start) / self.step + _TIME_TOL_STEPS)
        if k < 0:
            raise InvalidValueError(
                f"time {t} is before the scenario's start {self.start} (epoch seconds); "
                "pass start= at or before the first time you query"
            )
        return k

    def indices(self, ts: Array) -> npt.NDArray[np.int64]:
        ks = np.floor((ts - self.start) / self.step + _TIME_TOL_STEPS).astype(np.int64)
        if len(ks) and ks.min() < 0:
            bad = float(ts[int(np.argmin(ks))])
            self.index(bad)
        return ks

    # values

    def values_at(self, t: float) -> list[float]:
        k = self.index(t)
        block, i = divmod(k, _BLOCK_STEPS)
        values: list[float] = self._block(block)[:, i].tolist()
        self.latest = max(self.latest, k)
        return values

    def values_over(self, ts: Array) -> Array:
        ks = self.indices(ts)
        out = np.empty((len(self.keys), len(ks)))
        blocks = ks // _BLOCK_STEPS
        order = np.argsort(blocks, kind="stable")
        unique, firsts = np.unique(blocks[order], return_index=True)
        bounds = [*firsts.tolist(), len(order)]
        for j, block in enumerate(unique.tolist()):
            sel = order[bounds[j] : bounds[j + 1]]
            out[:, sel] = self._block(block)[:, ks[sel] % _BLOCK_STEPS]
        if len(ks):
            self.latest = max(self.latest, int(ks.max()))
        return out

    def set_setpoints(self, k: int, setpoints: Setpoints) -> None:
        self.schedule = [entry for entry in self.schedule if entry[0] < k] + [(k, setpoints)]
        block = k // _BLOCK_STEPS
        del self._checkpoints[block + 1 :]
        for b in [b for b in self._cache if b >= block]:
            del self._cache[b]

    # generation

    def _block(self, block: int) -> Array:
        cached = self._cache.get(block)
        if cached is not None:
            self._cache.move_to_end(block)
            return cached
        if self._closed_form:
            values, _ = self._generate(block, self._closed_form_checkpoint(block))
            self._remember(block, values)
            return values
        ahead = (block - len(self._checkpoints) + 1) * _BLOCK_STEPS * self.step
        if ahead > 86400.0:
            log.warning(
                "generating %.1f days of scenario data to reach t = %.0f (start %.0f); "
                "pass start= near the times you query",
                ahead / 86400.0,
                self.start + block * _BLOCK_STEPS * self.step,
                self.start,
            )
        while len(self._checkpoints) <= block:
            b = len(self._checkpoints) - 1
            values, following = self._generate(b, self._checkpoints[b])
            self._checkpoints.append(following)
            self._remember(b, values)
        if block in self._cache:
            return self._cache[block]
        values, following = self._generate(block, self._checkpoints[block])
        if len(self._checkpoints) == block + 1:
            self._checkpoints.append(following)
        self._remember(block, values)
        return values

    def _closed_form_checkpoint(self, block: int) -> _Checkpoint:
        first = self._checkpoints[0]
        site = self.site
        assert isinstance(site, _ConstantSite)
        k_end = block * _BLOCK_STEPS
        load, pv = site._drivers.load_p[:, 0], site._drivers.pv_p[:, 0]
        q_total = float(site._drivers.load_q[:, 0].sum())
        counters = list(first.counters)
        for i, (k_from, setpoints) in enumerate(self.schedule):
            k_to = min(self.schedule[i + 1][0] if i + 1 < len(self.schedule) else k_end, k_end)
            if k_to <= k_from:
                continue
            battery = np.zeros(self.phases) if self.battery is None else self._wanted(setpoints, load, pv)
            p_total = float((load + battery - pv).sum())
            hours = (k_to - k_from) * self.step / _J_PER_KWH
            for j, x in enumerate((p_total, -p_total, q_total, -q_total)):
                counters[j] += max(x, 0.0) * hours
        return _Checkpoint(
            first.site, 0.0, first.battery_wh, (counters[0], counters[1], counters[2], counters[3])
        )

    def _wanted(self, setpoints: Setpoints, load: Array, pv: Array) -> Array:
        """Battery power per phase (rows) the control asks for, within the power limits."""
        battery, ph = self.battery, self.phases
        assert battery is not None
        if setpoints is None:  # self-consumption: bring the total grid power to zero
            total = np.clip(pv.sum(axis=0) - load.sum(axis=0), -battery.max_discharge_w, battery.max_charge_w)
            return np.broadcast_to(total / ph, load.shape)
        per_phase = np.clip(np.asarray(setpoints), -battery.max_discharge_w / ph, battery.max_charge_w / ph)
        return per_phase if load.ndim == 1 else np.broadcast_to(per_phase[:, None], load.shape)

    def _remember(self, block: int, values: Array) -> None:
        self._cache[block] = values
        while len(self._cache) > _CACHE_BLOCKS:
            self._cache.popitem(last=False)

    def _segments(self, k0: int, n: int) -> list[tuple[int, int, Setpoints]]:
        segments = []
        for i, (k_from, setpoints) in enumerate(self.schedule):
            k_to = self.schedule[i + 1][0] if i + 1 < len(self.schedule) else k0 + n
            lo, hi = max(k_from, k0), min(k_to, k0 + n)
            if lo < hi:
                segments.append((lo - k0, hi - k0, setpoints))
        return segments

    def _battery_power(self, k0: int, drivers: _Drivers, stored_wh: float) -> tuple[Array, Array, float]:
        """Per-phase battery power (phases, n), stored energy at each step's start, and after."""
        battery, ph, n = self.battery, self.phases, _BLOCK_STEPS
        assert battery is not None
        wanted = np.empty((ph, n))
        for lo, hi, setpoints in self._segments(k0, n):
            wanted[:, lo:hi] = self._wanted(setpoints, drivers.load_p[:, lo:hi], drivers.pv_p[:, lo:hi])
        if battery.capacity_wh is None:
            return wanted, np.full(n, stored_wh), stored_wh
        capacity = battery.capacity_wh
        delta = wanted.sum(axis=0) * (self.step / 3600.0)
        stored = stored_wh + np.concatenate(([0.0], np.cumsum(delta)))
        if stored.min() >= 0.0 and stored.max() <= capacity:
            return wanted, stored[:-1], float(stored[-1])
        # The battery hits full or empty in this block: step through it, stopping at the limits.
        stored = np.empty(n + 1)
        scale = np.ones(n)
        x = stored[0] = stored_wh
        for i, d in enumerate(delta.tolist()):
            y = min(max(x + d, 0.0), capacity)
            if y - x != d:
                scale[i] = (y - x) / d if d != 0.0 else 0.0
            x = stored[i + 1] = y
        return wanted * scale, stored[:-1], float(stored[-1])

    def _frequency_events(self, tau: Array) -> tuple[Array, Array]:
        offset, rate = np.zeros_like(tau), np.zeros_like(tau)
        tol = _TIME_TOL_STEPS * self.step
        for e in self.events:
            if e.kind == "step":
                offset += np.where(tau >= e.at - tol, e.delta_hz, 0.0)
            else:
                offset += e.rate_hz_s * np.clip(tau - e.at, 0.0, e.duration)
                rate += np.where((tau >= e.at - tol) & (tau < e.at + e.duration - tol), e.rate_hz_s, 0.0)
        return offset, rate

    def _generate(self, block: int, checkpoint: _Checkpoint) -> tuple[Array, _Checkpoint]:
        n, ph, h = _BLOCK_STEPS, self.phases, self.step
        k0 = block * n
        drivers, site_state = self.site.drivers(block, checkpoint.site)
        out: dict[str, Array] = {}

        stored_wh = checkpoint.battery_wh
        battery_p: Array = np.zeros((ph, n))
        if self.battery is not None:
            battery_p, stored, stored_wh = self._battery_power(k0, drivers, checkpoint.battery_wh)
            cap = self.battery.capacity_wh
            soc = np.full(n, self.battery.initial_soc) if cap is None else stored * (100.0 / cap)
            full = np.zeros(n, bool) if cap is None else stored >= cap
            empty = np.zeros(n, bool) if cap is None else stored <= 0.0
            out["battery/MaxChargePower"] = np.where(full, 0.0, self.battery.max_charge_w)
            out["battery/MaxDischargePower"] = np.where(empty, 0.0, self.battery.max_discharge_w)
            out["battery/StateOfCharge"] = soc
        zeros = np.zeros((ph, n))
        for ns, p, q in (
            ("load", drivers.load_p, drivers.load_q),
            ("pv", drivers.pv_p, zeros),
            ("battery", battery_p, zeros),
        ):
            out[f"{ns}/ActivePower"] = p.sum(axis=0)
            out[f"{ns}/ReactivePower"] = q.sum(axis=0)
            for i, name in enumerate(_PHASES[:ph]):
                out[f"{ns}/ActivePower_{name}"] = p[i]
                out[f"{ns}/ReactivePower_{name}"] = q[i]

        p = drivers.load_p + battery_p - drivers.pv_p
        q = drivers.load_q.copy()  # PV and battery at unity power factor
        s = np.hypot(p, q)
        v = drivers.volt - drivers.resistance * p / self.site.voltage
        for i, name in enumerate(_PHASES[:ph]):
            out[f"grid/ActivePower_{name}"] = p[i]
            out[f"grid/ReactivePower_{name}"] = q[i]
            out[f"grid/ApparentPower_{name}"] = s[i]
            out[f"grid/PowerFactor_{name}"] = _power_factor(p[i], s[i])
            out[f"grid/Voltage_{name}"] = v[i]
            out[f"grid/Current_{name}"] = s[i] / v[i]
        p_total, q_total, s_total = p.sum(axis=0), q.sum(axis=0), s.sum(axis=0)
        out["grid/ActivePower"] = p_total
        out["grid/ReactivePower"] = q_total
        out["grid/ApparentPower"] = s_total
        out["grid/PowerFactor"] = _power_factor(p_total, s_total)
        if ph == 3:
            for name, a, b in _LINE_PAIRS:
                out[f"grid/Voltage_{name}"] = _line_to_line(v[a], v[b])
            out["grid/PhaseImbalance"] = p.max(axis=0) - p.min(axis=0)

        tau = (k0 + np.arange(n)) * h
        offset, rate = self._frequency_events(tau)
        walk = drivers.walk
        walk_prev = walk[0] if math.isnan(checkpoint.walk_prev) else checkpoint.walk_prev
        out["grid/Frequency"] = self.nominal_frequency + walk + offset
        out["grid/Frequency_RoCoF"] = rate + np.diff(walk, prepend=walk_prev) / h

        counters = []
        for name, x, c0 in zip(
            ("EnergyImport", "EnergyExport", "ReactiveEnergyImport", "ReactiveEnergyExport"),
            (p_total, -p_total, q_total, -q_total),
            checkpoint.counters,
            strict=True,
        ):
            cumulative = np.cumsum(np.maximum(x, 0.0) * (h / _J_PER_KWH))
            out[f"grid/{name}"] = c0 + np.concatenate(([0.0], cumulative[:-1]))
            counters.append(c0 + float(cumulative[-1]))
        out["grid/EnergyNet"] = out["grid/EnergyImport"] - out["grid/EnergyExport"]

        following = _Checkpoint(site_state, float(walk[-1]), stored_wh, tuple(counters))
        return np.stack([out[key] for key in self.keys]), following


# --- the CSV source --------------------------------------------------------------------------

_GRID_NAMES = {c.name for c in CHANNELS if c.name != "Timestamp"}
_DEVICE_NAMES = {
    "load": {c.name for c in LOAD_CHANNELS},
    "pv": {c.name for c in PV_CHANNELS},
    "battery": {c.name for c in BATTERY_CHANNELS},
}


class _Table:
    """Timestamped rows held constant until the next row."""

    def __init__(self, times: Array, columns: Mapping[str, Array]) -> None:
        self.start = float(times[0])
        self.times = times
        order = {"grid": 0, "load": 1, "pv": 2, "battery": 3}
        catalogue = {"grid": CHANNELS, "load": LOAD_CHANNELS, "pv": PV_CHANNELS, "battery": BATTERY_CHANNELS}
        self.names: dict[str, list[str]] = {}
        for ns in order:
            present = {key.partition("/")[2] for key in columns if key.startswith(ns + "/")}
            self.names[ns] = _in_catalogue_order(catalogue[ns], present)
        self.keys = [f"{ns}/{name}" for ns, names in self.names.items() for name in names]
        self.matrix = (
            np.stack([columns[key] for key in self.keys]) if self.keys else np.empty((0, len(times)))
        )

    def _rows(self, ts: Array) -> npt.NDArray[np.intp]:
        rows = np.searchsorted(self.times, ts, side="right") - 1
        if len(rows) and rows.min() < 0:
            raise InvalidValueError(
                f"time {float(ts[int(np.argmin(rows))])} is before the first row of the CSV ({self.start})"
            )
        return rows

    def values_at(self, t: float) -> list[float]:
        row = int(self._rows(np.array([t]))[0])
        values: list[float] = self.matrix[:, row].tolist()
        return values

    def values_over(self, ts: Array) -> Array:
        return self.matrix[:, self._rows(ts)]


def _read_csv(path: Path) -> tuple[Array, dict[str, Array]]:
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as e:
        raise InvalidValueError(f"{path}: cannot open the scenario CSV: {e.strerror}") from e
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise InvalidValueError(
                f"{path}: empty file; expected a header line with 'timestamp' and channels"
            )
        header = [h.strip() for h in header]
        if not header or header[0] != "timestamp":
            raise InvalidValueError(
                f"{path}:1: the first column must be 'timestamp' (epoch seconds), got {header[:1]}"
            )
        keys = []
        for col, name in enumerate(header[1:], start=2):
            ns, _, bare = name.rpartition("/")
            ns = ns or "grid"
            known = _GRID_NAMES if ns == "grid" else _DEVICE_NAMES.get(ns, set())
            if bare not in known:
                raise InvalidValueError(
                    f"{path}:1: column {col} {name!r} is not a channel: expected a grid channel "
                    "(bare, e.g. ActivePower_L1, or grid/ActivePower_L1) or load/, pv/, battery/ channels"
                )
            key = f"{ns}/{bare}"
            if key in keys:
                raise InvalidValueError(f"{path}:1: column {col} {name!r} repeats {key}")
            keys.append(key)
        rows: list[list[float]] = []
        for line in reader:
            lineno = reader.line_num
            if not line or all(not cell.strip() for cell in line):
                continue
            if len(line) != len(header):
                raise InvalidValueError(f"{path}:{lineno}: {len(line)} values, expected {len(header)}")
            row = []
            for col, (name, cell) in enumerate(zip(header, line, strict=True), start=1):
                try:
                    value = float(cell)
                except ValueError:
                    value = math.nan
                if not math.isfinite(value):
                    raise InvalidValueError(
                        f"{path}:{lineno}: column {col} {name!r}: {cell.strip()!r} is not a finite number"
                    )
                row.append(value)
            if rows and not row[0] > rows[-1][0]:
                raise InvalidValueError(
                    f"{path}:{lineno}: timestamp {row[0]} does not increase (previous row: {rows[-1][0]})"
                )
            rows.append(row)
    if not rows:
        raise InvalidValueError(f"{path}: no data rows after the header")
    data = np.array(rows).T
    return data[0], {key: data[i + 1] for i, key in enumerate(keys)}


def _derive_grid(times: Array, grid: dict[str, Array]) -> None:
    """Fill in the grid channels a meter shows that the CSV left out (in place)."""
    n = len(times)
    phases = [p for p in _PHASES if f"ActivePower_{p}" in grid]
    has_reactive = any(name.startswith("ReactivePower") for name in grid)
    if not phases and "ActivePower" not in grid:
        raise InvalidValueError("the CSV needs grid ActivePower or ActivePower_L1..L3 columns")
    for p in phases:
        if not has_reactive:  # a CSV without reactive power describes a site at unity power factor
            grid[f"ReactivePower_{p}"] = np.zeros(n)
    for base in ("ActivePower", "ReactivePower"):
        parts = [grid[f"{base}_{p}"] for p in phases if f"{base}_{p}" in grid]
        if base not in grid and parts and len(parts) == len(phases):
            grid[base] = np.sum(parts, axis=0)
    if "ReactivePower" not in grid and not has_reactive:
        grid["ReactivePower"] = np.zeros(n)
    for p in phases:
        if f"ReactivePower_{p}" in grid:
            grid.setdefault(
                f"ApparentPower_{p}", np.hypot(grid[f"ActivePower_{p}"], grid[f"ReactivePower_{p}"])
            )
        if f"ApparentPower_{p}" in grid:
            grid.setdefault(
                f"PowerFactor_{p}", _power_factor(grid[f"ActivePower_{p}"], grid[f"ApparentPower_{p}"])
            )
            if f"Voltage_{p}" in grid:
                grid.setdefault(f"Current_{p}", grid[f"ApparentPower_{p}"] / grid[f"Voltage_{p}"])
    if "ApparentPower" not in grid:
        if phases and all(f"ApparentPower_{p}" in grid for p in phases):
            grid["ApparentPower"] = np.sum([grid[f"ApparentPower_{p}"] for p in phases], axis=0)
        elif "ActivePower" in grid and "ReactivePower" in grid:
            grid["ApparentPower"] = np.hypot(grid["ActivePower"], grid["ReactivePower"])
    if "ApparentPower" in grid and "ActivePower" in grid:
        grid.setdefault("PowerFactor", _power_factor(grid["ActivePower"], grid["ApparentPower"]))
    if all(f"Voltage_{p}" in grid for p in _PHASES):
        for name, a, b in _LINE_PAIRS:
            grid.setdefault(
                f"Voltage_{name}", _line_to_line(grid[f"Voltage_{_PHASES[a]}"], grid[f"Voltage_{_PHASES[b]}"])
            )
    if len(phases) == 3:
        stacked = np.stack([grid[f"ActivePower_{p}"] for p in phases])
        grid.setdefault("PhaseImbalance", stacked.max(axis=0) - stacked.min(axis=0))
    if "Frequency" in grid and "Frequency_RoCoF" not in grid:
        # the rows hold their values, so the change between rows is the only derivative there is
        grid["Frequency_RoCoF"] = np.concatenate(([0.0], np.diff(grid["Frequency"]) / np.diff(times)))
    dt_kwh = np.diff(times) / _J_PER_KWH
    for name, source, sign in (
        ("EnergyImport", "ActivePower", 1.0),
        ("EnergyExport", "ActivePower", -1.0),
        ("ReactiveEnergyImport", "ReactivePower", 1.0),
        ("ReactiveEnergyExport", "ReactivePower", -1.0),
    ):
        if name not in grid and source in grid:
            increments = np.maximum(sign * grid[source][:-1], 0.0) * dt_kwh
            grid[name] = np.concatenate(([0.0], np.cumsum(increments)))
    if "EnergyNet" not in grid and "EnergyImport" in grid and "EnergyExport" in grid:
        grid["EnergyNet"] = grid["EnergyImport"] - grid["EnergyExport"]


# --- the scenario ----------------------------------------------------------------------------


class _Source(Protocol):
    start: float
    names: dict[str, list[str]]
    keys: list[str]

    def values_at(self, t: float) -> list[float]: ...

    def values_over(self, ts: Array) -> Array: ...


def _number(name: str, value: object, *, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise InvalidValueError(f"{name} must be a number, got {value!r}")
    x = float(value)
    if not (math.isfinite(x) and low <= x <= high):
        raise InvalidValueError(f"{name} must be a finite number in [{low}, {high}], got {value!r}")
    return x


def _positive(name: str, value: object) -> float:
    x = _number(name, value)
    if not x > 0:
        raise InvalidValueError(f"{name} must be > 0, got {value!r}")
    return x


def _per_phase(name: str, values: Sequence[float], phases: int | None = None) -> Array:
    try:
        xs = [_number(f"{name}[{i}]", v) for i, v in enumerate(values)]
    except TypeError:
        raise InvalidValueError(
            f"{name} must be a sequence of numbers (W per phase), got {values!r}"
        ) from None
    if len(xs) not in ((phases,) if phases else (1, 3)):
        expected = phases or "1 or 3"
        raise InvalidValueError(f"{name} has {len(xs)} values, expected {expected} (one per phase)")
    return np.array(xs)


class GridScenario:
    """Deterministic (seeded) synthetic site data over time; see the module docstring for the model.

    The same seed and parameters give identical values for the same time, whatever the order of
    queries. `start` is the epoch time of scenario time 0 (default `DEFAULT_START`, a June
    morning); times before it are refused. Generation is sequential from `start`, so a query far
    beyond the furthest one so far costs time proportional to the distance (about a second per
    simulated day at the default 0.1 s step): serve wall-clock time with `start=time.time()`.
    """

    def __init__(
        self,
        seed: int = 0,
        start: float | None = None,
        *,
        step: float = 0.1,
        nominal_frequency: float = 50.0,
        phases: int = 3,
        load_kw: float = 4.0,
        pv_kwp: float = 6.0,
        battery_kw: float | None = None,
        imbalance: float = 0.3,
        load_power_factor: float = 0.95,
        voltage: float = 230.0,
        events: Sequence[FrequencyEvent] = (),
        battery_kwh: float | None = None,
        battery_soc: float = 50.0,
        clouds: float = 0.6,
        frequency_std: float = 0.02,
        pv_split: Sequence[float] | None = None,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
            raise InvalidValueError(f"seed must be an integer, got {seed!r}")
        if phases not in (1, 3):
            raise InvalidValueError(f"phases must be 1 or 3, got {phases!r}")
        start_s = DEFAULT_START if start is None else _number("start", start)
        step_s = _positive("step", step)
        split = _per_phase("pv_split", pv_split if pv_split is not None else (1.0,) * phases, phases)
        if split.min() < 0 or split.sum() <= 0:
            raise InvalidValueError(f"pv_split must be ≥ 0 with a positive sum, got {split.tolist()}")
        site = _RandomSite(
            seed=int(seed),
            start=start_s,
            step=step_s,
            phases=phases,
            load_kw=_number("load_kw", load_kw, low=0.0),
            pv_kwp=_number("pv_kwp", pv_kwp, low=0.0),
            imbalance=_number("imbalance", imbalance, low=0.0, high=1.9),
            load_power_factor=_number("load_power_factor", load_power_factor, low=0.05, high=1.0),
            voltage=_positive("voltage", voltage),
            clouds=_number("clouds", clouds, low=0.0, high=1.0),
            frequency_std=_number("frequency_std", frequency_std, low=0.0, high=1.0),
            pv_split=split,
        )
        battery = None
        if battery_kw is not None:
            kw = _positive("battery_kw", battery_kw)
            kwh = 2.0 * kw if battery_kwh is None else _positive("battery_kwh", battery_kwh)
            soc = _number("battery_soc", battery_soc, low=0.0, high=100.0)
            battery = _Battery(kw * 1000.0, kw * 1000.0, kwh * 1000.0, soc)
        source = _Synthetic(
            site,
            battery,
            start=start_s,
            step=step_s,
            nominal_frequency=_positive("nominal_frequency", nominal_frequency),
            events=_check_events(events),
            initial_setpoints=None,
        )
        self._init(source)

    def _init(self, source: _Source) -> None:
        self._source = source
        self._lock = threading.RLock()
        self._groups: list[tuple[str, list[str], int, int]] = []
        lo = 0
        for ns in ("grid", "load", "pv", "battery"):
            names = source.names.get(ns, [])
            self._groups.append((ns, names, lo, lo + len(names)))
            lo += len(names)
        assert [f"{ns}/{n}" for ns, names, _, _ in self._groups for n in names] == source.keys

    # --- other ways to make one -------------------------------------------------------------

    @classmethod
    def static(
        cls,
        *,
        load_w: Sequence[float] = (0.0, 0.0, 0.0),
        pv_w: Sequence[float] | None = None,
        battery_w: Sequence[float] | None = None,
        load_var: Sequence[float] | None = None,
        frequency: float = 50.0,
        voltage: float = 230.0,
        start: float | None = None,
        step: float = 0.1,
        battery_max_charge_w: float | None = None,
        battery_max_discharge_w: float | None = None,
        events: Sequence[FrequencyEvent] = (),
    ) -> GridScenario:
        """A constant site: no noise, no daily profile; counters start at 0 and integrate.

        One value per phase: three, or one for a single-phase site (the number of `load_w` values
        sets it; `pv_w`, `battery_w` and `load_var` default to zeros). The site has a battery when
        `battery_w` is not all zero or a battery limit is given; it holds `battery_w` (+ charging)
        until `set_battery_setpoints`, has unlimited capacity, and its limits default to 10 kW.
        """
        load = _per_phase("load_w", load_w)
        phases = len(load)
        zeros = (0.0,) * phases
        pv = _per_phase("pv_w", zeros if pv_w is None else pv_w, phases)
        bat = _per_phase("battery_w", zeros if battery_w is None else battery_w, phases)
        var = _per_phase("load_var", zeros if load_var is None else load_var, phases)
        has_battery = (
            bool(np.any(bat != 0)) or battery_max_charge_w is not None or battery_max_discharge_w is not None
        )
        battery = None
        if has_battery:
            charge = (
                10000.0
                if battery_max_charge_w is None
                else _number("battery_max_charge_w", battery_max_charge_w, low=0.0)
            )
            discharge = (
                10000.0
                if battery_max_discharge_w is None
                else _number("battery_max_discharge_w", battery_max_discharge_w, low=0.0)
            )
            if np.any(bat > charge / phases) or np.any(-bat > discharge / phases):
                raise InvalidValueError(
                    f"battery_w {bat.tolist()} exceeds the per-phase limits (+{charge / phases} W charging, "
                    f"−{discharge / phases} W discharging)"
                )
            battery = _Battery(charge, discharge, None, 50.0)
        source = _Synthetic(
            _ConstantSite(load, var, pv, _positive("voltage", voltage)),
            battery,
            start=DEFAULT_START if start is None else _number("start", start),
            step=_positive("step", step),
            nominal_frequency=_positive("frequency", frequency),
            events=_check_events(events),
            initial_setpoints=tuple(bat.tolist()) if battery is not None else None,
        )
        scenario = cls.__new__(cls)
        scenario._init(source)
        return scenario

    @classmethod
    def from_csv(cls, path: str | PathLike[str]) -> GridScenario:
        """A scenario replaying a CSV: a `timestamp` column (epoch s, increasing) and channel columns.

        Grid channels are named bare (`ActivePower_L1`) or `grid/ActivePower_L1`; `load/...`,
        `pv/...` and `battery/...` columns pass through. Values hold until the next row. Missing
        grid channels are derived where their inputs exist: totals as sums of phases, reactive
        power 0 if no reactive column exists at all, S, PF, currents, line-to-line voltages,
        phase imbalance, RoCoF (the change of Frequency between rows), and energy counters
        integrated from 0 at the first row. A corrupt file raises a ValueError naming file, line
        and column.
        """
        p = Path(path)
        times, columns = _read_csv(p)
        grid = {key.partition("/")[2]: v for key, v in columns.items() if key.startswith("grid/")}
        try:
            _derive_grid(times, grid)
        except InvalidValueError as e:
            raise InvalidValueError(f"{p}: {e}") from None
        columns = {k: v for k, v in columns.items() if not k.startswith("grid/")}
        columns.update({f"grid/{name}": v for name, v in grid.items()})
        scenario = cls.__new__(cls)
        scenario._init(_Table(times, columns))
        return scenario

    # --- queries ----------------------------------------------------------------------------

    @property
    def start(self) -> float:
        """Epoch time of scenario time 0 (for a CSV, its first timestamp)."""
        return self._source.start

    @property
    def step(self) -> float | None:
        """The time resolution in seconds (None for a CSV: its rows are the resolution)."""
        return self._source.step if isinstance(self._source, _Synthetic) else None

    @property
    def has_battery(self) -> bool:
        return bool(self._source.names.get("battery"))

    def sample(self, t: float) -> SiteState:
        """Every value at epoch time `t` (held constant within a step)."""
        t = _number("t", t)
        with self._lock:
            values = self._source.values_at(t)
        groups = {ns: dict(zip(names, values[lo:hi], strict=True)) for ns, names, lo, hi in self._groups}
        return SiteState(t, groups["grid"], groups["load"], groups["pv"], groups["battery"])

    def series(self, t0: float, t1: float, dt: float) -> dict[str, Array]:
        """Values at t0, t0 + dt, … up to t1 inclusive: `"t"` plus `"grid/<Ch>"`, `"load/<Ch>"`, …"""
        t0, t1, dt = _number("t0", t0), _number("t1", t1), _positive("dt", dt)
        if t1 < t0:
            raise InvalidValueError(f"series: t1 {t1} is before t0 {t0}")
        ts = t0 + np.arange(math.floor((t1 - t0) / dt + 1e-9) + 1) * dt
        with self._lock:
            values = self._source.values_over(ts)
        out = {"t": ts}
        out.update({key: values[i] for i, key in enumerate(self._source.keys)})
        return out

    def to_csv(self, path: str | PathLike[str], t0: float, t1: float, dt: float) -> None:
        """Write `series(t0, t1, dt)` as a CSV that `from_csv` reads back exactly."""
        data = self.series(t0, t1, dt)
        keys = list(data)
        with Path(path).open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["timestamp", *keys[1:]])
            for row in np.stack([data[k] for k in keys]).T.tolist():
                writer.writerow([repr(x) for x in row])

    # --- the site reacts --------------------------------------------------------------------

    def set_battery_setpoints(self, per_phase_w: Sequence[float] | None, at: float | None = None) -> None:
        """From epoch time `at` on, the battery follows these per-phase setpoints (W, + charging).

        Each phase is clamped to the battery's limit divided by the number of phases, and the
        battery stops at full and empty. `at=None` means from the step after the latest one
        sampled, so values already returned do not change; an explicit `at` takes effect from the
        first step at or after it (and replaces setpoints scheduled later). `None` as setpoints
        returns the battery to its default behaviour (self-consumption; for `static`, zero).
        """
        source = self._source
        if not isinstance(source, _Synthetic) or source.battery is None:
            raise InvalidValueError(
                "this scenario has no battery (GridScenario(battery_kw=...) or static(battery_w=...))"
            )
        setpoints: Setpoints = None
        if per_phase_w is not None:
            setpoints = tuple(_per_phase("per_phase_w", per_phase_w, source.phases).tolist())
        elif isinstance(source.site, _ConstantSite):
            setpoints = (0.0,) * source.phases
        with self._lock:
            if at is None:
                k = source.latest + 1
            else:
                at_s = _number("at", at)
                k = max(0, math.ceil((at_s - source.start) / source.step - _TIME_TOL_STEPS))
            source.set_setpoints(k, setpoints)


def _check_events(events: Sequence[FrequencyEvent]) -> tuple[FrequencyEvent, ...]:
    out = tuple(events)
    for e in out:
        if not isinstance(e, FrequencyEvent):
            raise InvalidValueError(f"events must be FrequencyEvent instances, got {e!r}")
    return out
