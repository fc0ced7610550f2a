"""`MeterPipeline.push` of one SDM630 frame from a Python loop, against the same computation in
pure Python, in the same run.

The pure-Python baseline is what a user without gridtap would write for this meter, done
faithfully: the registers as pymodbus returns them (a list of ints) packed once and every field
unpacked with `struct`, the range and NaN/Inf checks, sign handling, the aggregates (phase sums
where the meter lacks a total, ApparentPower as the phases' sum, PF = P/S clamped, PhaseImbalance,
EnergyNet), RoCoF by least squares over a 0.5 s window with running sums, and the energies: the
SDM630's own counters kept monotonic, or, for a meter map without counters, trapezoids with the
zero-crossing split and gap limit, compensated sums. It returns the same dict as `push` (None for
no value), and is checked against `push` frame by frame before anything is timed.

Each call gets a fresh, increasing timestamp (0.1 s apart: a 10 Hz poll) and the next of a set of
realistic frames (some with invalid fields). Both sides' results are consumed as the Modbus
adapter consumes `push`'s: every channel's value read (`for ch, v in values.items()`). Reported,
timed in turns: median per call of each, the ratio, `push` whose lazy result is not read, and
`push` with the `block_ok` list the adapter passes. GRIDTAP_BENCH_QUICK=1 runs briefly (CI).
"""

from __future__ import annotations

import math
import struct
import tomllib
from collections import deque
from pathlib import Path

import gridtap
import numpy as np
import pytest
from conftest import QUICK, benchmark_median, interleaved_medians, scenario_frames
from gridtap import MeterPipeline, profiles
from gridtap.profile import parse_profile

N_FRAMES = 200 if QUICK else 2_000
REPEATS = 5 if QUICK else 31
CALLS_PER_REPEAT = 200 if QUICK else 2_000
T0 = 1_800_000_000.0
DT = 0.1
WINDOW = 0.5
MAX_GAP = 60.0
COUNTERS = ("EnergyImport", "EnergyExport", "ReactiveEnergyImport", "ReactiveEnergyExport")
_F32 = struct.Struct(">f")


class PureRocof:
    """Least-squares RoCoF over the samples of the last `window` seconds, with running sums relative
    to a reference sample that are rebuilt every few window lengths (as gridtap's estimator)."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.samples: deque[tuple[float, float]] = deque()
        self.first_t: float | None = None
        self.prev_t = -math.inf
        self.ready = False
        self.t_ref = self.f_ref = 0.0
        self.sx = self.sy = self.sxx = self.sxy = 0.0
        self.since_rebase = 0

    def _rebuild(self) -> None:
        self.t_ref, self.f_ref = self.samples[0]
        self.sx = self.sy = self.sxx = self.sxy = 0.0
        for t, f in self.samples:
            x, y = t - self.t_ref, f - self.f_ref
            self.sx += x
            self.sy += y
            self.sxx += x * x
            self.sxy += x * y
        self.since_rebase = 0

    def step(self, t: float, f: float) -> float:
        if self.first_t is None:
            self.first_t, self.t_ref, self.f_ref = t, t, f
        dt = t - self.prev_t
        self.prev_t = t
        samples = self.samples
        samples.append((t, f))
        x, y = t - self.t_ref, f - self.f_ref
        self.sx += x
        self.sy += y
        self.sxx += x * x
        self.sxy += x * y
        # a quarter of the sample interval of slack, so jitter does not make the window flicker
        slack = 0.25 * min(dt, self.window) + 4.0 * 2.220446049250313e-16 * abs(t)
        while len(samples) > 2 and t - samples[0][0] > self.window + slack:
            t0, f0 = samples.popleft()
            x, y = t0 - self.t_ref, f0 - self.f_ref
            self.sx -= x
            self.sy -= y
            self.sxx -= x * x
            self.sxy -= x * y
        n = len(samples)
        if not self.ready:
            self.ready = n >= 2 and t - self.first_t >= self.window - slack
        self.since_rebase += 1
        t_oldest = samples[0][0]
        if self.since_rebase >= max(4 * n, 8) or t_oldest - self.t_ref > 4.0 * (t - t_oldest):
            self._rebuild()
        if not self.ready:
            return math.nan
        den = n * self.sxx - self.sx * self.sx
        return (n * self.sxy - self.sx * self.sy) / den if den > 0.0 else math.nan


class PureCounter:
    """A meter counter published monotonic: a drop (meter reset) holds the published value."""

    def __init__(self) -> None:
        self.published: float | None = None
        self.last_raw = 0.0

    def step(self, raw: float) -> float:
        if self.published is None:
            self.published = raw
        elif raw >= self.last_raw:
            self.published += raw - self.last_raw
        self.last_raw = raw
        return self.published


class PureEnergy:
    """Import/export kWh from power by trapezoids, split at zero crossings, not across gaps longer
    than `max_gap`; Neumaier-compensated sums."""

    def __init__(self, max_gap: float) -> None:
        self.max_gap = max_gap
        self.last: tuple[float, float] | None = None
        self.imp = [0.0, 0.0]  # sum, compensation
        self.exp = [0.0, 0.0]

    @staticmethod
    def _add(acc: list[float], x: float) -> None:
        s = acc[0] + x
        acc[1] += (acc[0] - s) + x if abs(acc[0]) >= abs(x) else (x - s) + acc[0]
        acc[0] = s

    def step(self, t: float, p: float) -> None:
        if self.last is not None:
            t0, p0 = self.last
            dt = t - t0
            if dt > self.max_gap:
                pass
            elif p0 >= 0.0 and p >= 0.0:
                self._add(self.imp, 0.5 * (p0 + p) * dt)
            elif p0 <= 0.0 and p <= 0.0:
                self._add(self.exp, -0.5 * (p0 + p) * dt)
            else:
                swing = abs(p0 - p)
                before = 0.5 * p0 * p0 / swing * dt
                after = 0.5 * p * p / swing * dt
                if p0 > 0.0:
                    self._add(self.imp, before)
                    self._add(self.exp, after)
                else:
                    self._add(self.exp, before)
                    self._add(self.imp, after)
        self.last = (t, p)

    def kwh(self) -> tuple[float, float]:
        return (self.imp[0] + self.imp[1]) / 3.6e6, (self.exp[0] + self.exp[1]) / 3.6e6


def _pf(p: float, s: float) -> float:
    if s > 0.0:
        r = p / s
        return r if -1.0 <= r <= 1.0 or r != r else (1.0 if r > 0.0 else -1.0)
    if s == 0.0 and p == 0.0:
        return 1.0
    return math.nan


class PurePythonPipeline:
    """`MeterPipeline.push` for a three-phase float32 (ABCD) meter map with per-phase P, Q and S,
    in plain Python."""

    def __init__(self, profile: gridtap.Profile) -> None:
        meter = set(profile.meter_channels)
        self.fields = []
        for f in profile.fields:
            if f.type != "float32" or f.word_order != "ABCD" or len(f.addresses) != 1 or f.scale != 1.0:
                raise ValueError(f"{f.channel}: this baseline reads plain float32 ABCD fields only")
            offset = 2 * profile.frame_offset(f.function_code, f.addresses[0])
            self.fields.append((f.channel, offset, f.min, f.max, f.negate, f.abs))
        if profile.apparent_power != "arithmetic" or not {"ActivePower", "ReactivePower"} <= meter:
            raise ValueError("this baseline expects meter totals for P and Q and per-phase S")
        self.channels = list(profile.channels)
        self.n_registers = profile.frame_length
        self.pack = struct.Struct(f">{profile.frame_length}H").pack
        self.counters = {ch: PureCounter() for ch in COUNTERS if ch in meter}
        self.energy = None if "EnergyImport" in meter else PureEnergy(MAX_GAP)
        self.reactive_energy = None if "ReactiveEnergyImport" in meter else PureEnergy(MAX_GAP)
        self.rocof = PureRocof(WINDOW)
        self.last_t: float | None = None

    def push(self, t: float, registers: list[int]) -> dict[str, float | None]:
        if not math.isfinite(t):
            raise ValueError(f"timestamp is {t}, expected finite seconds since the epoch")
        if self.last_t is not None and t <= self.last_t:
            raise ValueError(f"timestamp {t} does not increase (previous {self.last_t})")
        if len(registers) != self.n_registers:
            raise ValueError(f"{len(registers)} registers, expected {self.n_registers}")
        buf = self.pack(*registers)
        nan = math.nan
        v: dict[str, float] = {}
        for ch, offset, lo, hi, negate, absolute in self.fields:
            x = _F32.unpack_from(buf, offset)[0]
            if absolute:
                x = abs(x)
            if negate:
                x = -x
            v[ch] = x if lo <= x <= hi and x - x == 0.0 else nan  # x - x is NaN for NaN and ±Inf
        s = v["ApparentPower_L1"] + v["ApparentPower_L2"] + v["ApparentPower_L3"]
        v["ApparentPower"] = s
        v["PowerFactor"] = _pf(v["ActivePower"], s)
        for ph in ("_L1", "_L2", "_L3"):
            v["PowerFactor" + ph] = _pf(v["ActivePower" + ph], v["ApparentPower" + ph])
        p1, p2, p3 = v["ActivePower_L1"], v["ActivePower_L2"], v["ActivePower_L3"]
        if p1 != p1 or p2 != p2 or p3 != p3:
            v["PhaseImbalance"] = nan
        else:
            v["PhaseImbalance"] = max(p1, p2, p3) - min(p1, p2, p3)
        f = v["Frequency"]
        v["Frequency_RoCoF"] = self.rocof.step(t, f) if f == f else nan
        for ch, counter in self.counters.items():
            raw = v[ch]
            v[ch] = counter.step(raw) if raw == raw and raw >= 0.0 else nan
        for integ, src, imp, exp in (
            (self.energy, "ActivePower", "EnergyImport", "EnergyExport"),
            (self.reactive_energy, "ReactivePower", "ReactiveEnergyImport", "ReactiveEnergyExport"),
        ):
            if integ is not None:
                x = v[src]
                if x - x == 0.0:
                    integ.step(t, x)
                    v[imp], v[exp] = integ.kwh()
                else:
                    v[imp] = v[exp] = nan
        v["EnergyNet"] = v["EnergyImport"] - v["EnergyExport"]
        self.last_t = t
        return {ch: (None if v[ch] != v[ch] else v[ch]) for ch in self.channels}


def sdm630_without_counters() -> gridtap.Profile:
    """The SDM630 map without its energy registers: the pipeline integrates energy from power."""
    path = Path(profiles.__file__).parent / "sdm630.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    for ch in COUNTERS:
        del data["channels"][ch]
    data["meter"]["name"] = "sdm630_no_counters"
    return parse_profile(data, "sdm630 without counters")


PROFILES = {"sdm630": lambda: profiles.load("sdm630"), "sdm630_no_counters": sdm630_without_counters}


@pytest.fixture(scope="module", params=list(PROFILES))
def case(request) -> tuple[str, gridtap.Profile, np.ndarray]:
    profile = PROFILES[request.param]()
    # the frames of the full SDM630 map; a map without counters just does not read those registers
    full = profiles.load("sdm630")
    frames = scenario_frames(full, N_FRAMES, seed=11)
    if profile.frame_length != full.frame_length:
        keep = [full.frame_offset(4, a) for b in profile.blocks for a in range(b.start, b.end)]
        frames = np.ascontiguousarray(frames[:, keep])
    return request.param, profile, frames


def pusher(push, frames: list, t0: float):
    """A no-argument call that pushes the next frame with the next timestamp."""
    state = [0, t0]
    n = len(frames)

    def push_next():
        i, t = state
        t += DT
        state[0] = i + 1 if i + 1 < n else 0
        state[1] = t
        return push(t, frames[i])

    return push_next


def assert_same(ours: dict, theirs: dict, k: int) -> None:
    assert list(ours) == list(theirs), k
    for ch, a in ours.items():
        b = theirs[ch]
        assert (a is None) == (b is None), (k, ch, a, b)
        if a is not None:
            tol = 1e-6 if ch == "Frequency_RoCoF" else 1e-9 * max(1.0, abs(a))
            assert abs(a - b) <= tol, (k, ch, a, b)


def test_push_gridtap(benchmark, ratios, case) -> None:
    name, profile, frames = case
    arrays = list(frames)
    lists = [f.tolist() for f in frames]
    check_gt, check_py = MeterPipeline(profile), PurePythonPipeline(profile)
    for k in range(3 * len(arrays) // 2):  # every frame, then a wrap-around (counter drops)
        t = T0 + DT * k
        assert_same(check_gt.push(t, arrays[k % len(arrays)]), check_py.push(t, lists[k % len(lists)]), k)

    pipeline = MeterPipeline(profile)
    benchmark(pusher(pipeline.push, arrays, T0))
    if benchmark_median(benchmark) is None:
        return
    ok = [True] * len(profile.blocks)
    with_flags = MeterPipeline(profile)
    consumed, lazy = MeterPipeline(profile), MeterPipeline(profile)
    baseline = PurePythonPipeline(profile)

    def read_all(values) -> None:
        # what the Modbus adapter does with the result: every channel's value, one by one
        for _ch, _v in values.items():
            pass

    m = interleaved_medians(
        {
            "gridtap": pusher(lambda t, f: read_all(consumed.push(t, f)), arrays, T0),
            "pure_python": pusher(lambda t, f: read_all(baseline.push(t, f)), lists, T0),
            "gridtap_lazy": pusher(lazy.push, arrays, T0),
            "gridtap_block_ok": pusher(lambda t, f: read_all(with_flags.push(t, f, ok)), arrays, T0),
            "driver_only": pusher(lambda t, f: None, arrays, T0),
        },
        REPEATS,
        CALLS_PER_REPEAT,
    )
    gridtap_s = m.pop("gridtap")
    case = f"MeterPipeline.push, one {name} frame, every value read"
    ratios.add(
        benchmark,
        case,
        gridtap_s,
        {"pure_python": m["pure_python"]},
        targets={"pure_python": 20.0},
        readme={"pure_python": f"`MeterPipeline.push`, one {name} frame, every value read | pure Python"}
        if name == "sdm630"
        else None,
    )
    ratios.add(
        benchmark,
        f"MeterPipeline.push, one {name} frame, result not read (lazy)",
        m["gridtap_lazy"],
        {"pure_python": m["pure_python"]},
        key="lazy_",
    )
    ratios.note(benchmark, case, "push_median_us", f"{gridtap_s * 1e6:.3f}", "<= 2 us", gridtap_s <= 2e-6)
    ratios.note(benchmark, case, "push_with_block_ok_median_us", f"{m['gridtap_block_ok'] * 1e6:.3f}")
    ratios.note(
        benchmark, case, "loop_driver_only_median_us (included above)", f"{m['driver_only'] * 1e6:.3f}"
    )
    benchmark.extra_info["benchmark_median_us"] = (benchmark_median(benchmark) or 0.0) * 1e6


def test_push_pure_python(benchmark, case) -> None:
    _, profile, frames = case
    benchmark(pusher(PurePythonPipeline(profile).push, [f.tolist() for f in frames], T0))
