"""gridtap's signal kernels against the numpy a user would otherwise write and against the
hardware floor, all timed in turns in the same process.

- RoCoF: 1,000,000 samples at 1000 frames/s, least-squares windows of 5 samples (4 ms) and 501
  samples (0.5 s), timestamps uniform or jittered (±25 % of a frame). Baselines: `np.convolve`
  with the least-squares slope weights (right on uniform timestamps only) and the O(N)
  cumulative-sum formulation (O(1) per sample, like gridtap). Floor: `np.add(t, f)`, numpy
  streaming the same two arrays into one fresh array, which is what `update` reads and returns.
- Energy: 1,000,000 samples of 1 s power of random sign (a sign change at half the intervals, so
  no branch predictor helps) with a few gaps. Baseline: vectorised trapezoids with the
  zero-crossing split and gap masking. Floor: `t.sum() + p.sum()`, streaming both arrays once.

Each case first checks that gridtap and numpy agree, then times gridtap, baselines and floor in
rounds (gridtap, baseline, ..., floor, gridtap, ...) and records medians in the ratio table.
GRIDTAP_BENCH_QUICK=1 uses 20,000 samples (CI).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import QUICK, benchmark_median, interleaved_medians
from gridtap._core import EnergyIntegrator, RocofEstimator
from pytest_benchmark.fixture import BenchmarkFixture

N = 20_000 if QUICK else 1_000_000
T0 = 1_800_000_000.0
FS = 1000.0
MAX_GAP = 60.0
REPEATS = 5 if QUICK else 21


# ---- RoCoF --------------------------------------------------------------------------------------

ROCOF_CASES = {
    "w501_uniform": (501, 0.0),
    "w501_jitter": (501, 0.25),
    "w5_uniform": (5, 0.0),
    "w5_jitter": (5, 0.25),
}


def frequency_series(jitter: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    k = np.arange(N, dtype=np.float64)
    x = (k + jitter * (2.0 * rng.random(N) - 1.0)) / FS
    f = 50.0 + 0.05 * np.sin(2 * np.pi * 0.3 * x) + rng.normal(0.0, 0.001, N)
    return T0 + x, f


def numpy_rocof_convolve(f: np.ndarray, m: int) -> np.ndarray:
    x = np.arange(m) / FS
    w = (x - x.mean()) / np.sum((x - x.mean()) ** 2)
    out = np.full(f.size, np.nan)
    out[m - 1 :] = np.convolve(f, w[::-1], mode="valid")
    return out


def numpy_rocof_cumsum(t: np.ndarray, f: np.ndarray, m: int) -> np.ndarray:
    # running sums by cumulative sums, relative to the first sample to spare the epoch digits
    x = t - t[0]
    y = f - f[0]

    def window_sum(v: np.ndarray) -> np.ndarray:
        c = np.concatenate([[0.0], np.cumsum(v)])
        return c[m:] - c[:-m]

    sx, sy, sxx, sxy = window_sum(x), window_sum(y), window_sum(x * x), window_sum(x * y)
    out = np.full(f.size, np.nan)
    # on a long series the sums' rounding can swallow a short window's variance (0/0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[m - 1 :] = (sxy - sx * sy / m) / (sxx - sx * sx / m)
    return out


def gridtap_rocof(t: np.ndarray, f: np.ndarray, window: float) -> np.ndarray:
    return RocofEstimator(window=window).update(t, f)


@pytest.mark.parametrize("name", list(ROCOF_CASES))
def test_rocof_gridtap(benchmark: BenchmarkFixture, ratios, name: str) -> None:
    m, jitter = ROCOF_CASES[name]
    window = (m - 1) / FS
    t, f = frequency_series(jitter)
    ours = gridtap_rocof(t, f, window)
    assert np.all(np.isnan(ours[: m - 1])) and not np.isnan(ours[m:]).any()
    if jitter == 0.0:
        # convolution assumes ideal spacing; gridtap uses the timestamps as given, which at epoch
        # scale are quantised to 0.24 µs (2.4e-4 of a 1 ms frame)
        conv = numpy_rocof_convolve(f, m)
        scale = np.max(np.abs(conv[m - 1 :]))
        np.testing.assert_allclose(ours[m - 1 :], conv[m - 1 :], rtol=0, atol=2e-3 * scale)
    if jitter == 0.0 and m == 501:
        # the cumulative-sum form drifts with the length of the series (its sums are never
        # rebuilt): close on a 501-sample window, garbage on a 5-sample one (timed all the same)
        cum = numpy_rocof_cumsum(t, f, m)
        np.testing.assert_allclose(ours[m - 1 :], cum[m - 1 :], rtol=0, atol=2e-2 * scale)
    benchmark(gridtap_rocof, t, f, window)
    if benchmark_median(benchmark) is None:
        return
    med = interleaved_medians(
        {
            "gridtap": lambda: gridtap_rocof(t, f, window),
            "numpy_convolve": lambda: numpy_rocof_convolve(f, m),
            "numpy_cumsum": lambda: numpy_rocof_cumsum(t, f, m),
            "np.add(t, f)": lambda: np.add(t, f),
        },
        REPEATS,
    )
    case = f"RoCoF {m}-sample window, {'jittered' if jitter else 'uniform'}, {N:,} samples"
    headline = name == "w501_uniform"
    ratios.add(
        benchmark,
        case,
        med["gridtap"],
        {"numpy_convolve": med["numpy_convolve"], "numpy_cumsum": med["numpy_cumsum"]},
        # a 5-tap convolution is a few multiply-adds per sample: no target against it
        targets={"numpy_convolve": 10.0} if m == 501 else None,
        unit=f"{N:,} samples",
        readme={
            "numpy_convolve": "`RocofEstimator`, 1,000,000 samples, 0.5 s window | `np.convolve`",
            "numpy_cumsum": "same | numpy cumulative sums (O(1) per sample)",
        }
        if headline
        else None,
    )
    ratios.floor(
        benchmark,
        case,
        med["gridtap"],
        "np.add(t, f)",
        med["np.add(t, f)"],
        at_most=2.0,
        readme=f"`RocofEstimator`, {m}-sample window, {'jittered' if jitter else 'uniform'} | floor: `np.add(t, f)`",
    )
    benchmark.extra_info["samples"] = N


def test_rocof_numpy_convolve(benchmark: BenchmarkFixture) -> None:
    _, f = frequency_series(0.0)
    benchmark(numpy_rocof_convolve, f, 501)


# ---- energy -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def power_series() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    dt = np.ones(N)
    dt[rng.choice(N, 10, replace=False)] = 3600.0  # a few outages longer than max_gap
    t = T0 + np.cumsum(dt)
    # random sign: about half the intervals cross zero
    p = rng.normal(300.0, 3000.0, N)
    return t, p


def numpy_energy(t: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    dt = np.diff(t)
    p0, p1 = p[:-1], p[1:]
    keep = dt <= MAX_GAP
    cross = p0 * p1 < 0
    swing = np.where(cross, np.abs(p0 - p1), 1.0)
    whole = 0.5 * (p0 + p1) * dt
    imp = np.where(cross, 0.5 * np.maximum(p0, p1) ** 2 / swing * dt, np.maximum(whole, 0.0))
    exp = np.where(cross, 0.5 * np.minimum(p0, p1) ** 2 / swing * dt, np.maximum(-whole, 0.0))
    return float(np.sum(imp[keep])) / 3.6e6, float(np.sum(exp[keep])) / 3.6e6


def gridtap_energy(t: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    e = EnergyIntegrator(max_gap=MAX_GAP)
    e.update(t, p)
    return e.import_kwh, e.export_kwh


def test_energy_gridtap(
    benchmark: BenchmarkFixture, ratios, power_series: tuple[np.ndarray, np.ndarray]
) -> None:
    t, p = power_series
    ours, theirs = gridtap_energy(t, p), numpy_energy(t, p)
    assert ours[0] > 0 and ours[1] > 0
    assert np.mean(p[:-1] * p[1:] < 0) > 0.3  # the sign changes often
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    benchmark(gridtap_energy, t, p)
    if benchmark_median(benchmark) is None:
        return
    med = interleaved_medians(
        {
            "gridtap": lambda: gridtap_energy(t, p),
            "numpy": lambda: numpy_energy(t, p),
            "t.sum() + p.sum()": lambda: t.sum() + p.sum(),
        },
        REPEATS,
    )
    case = f"Energy, power of random sign, zero-crossing split, {N:,} samples"
    ratios.add(
        benchmark,
        case,
        med["gridtap"],
        {"numpy": med["numpy"]},
        targets={"numpy": 5.0},
        unit=f"{N:,} samples",
        readme={"numpy": "`EnergyIntegrator`, 1,000,000 samples of random sign | vectorised numpy trapezoid"},
    )
    ratios.floor(
        benchmark,
        case,
        med["gridtap"],
        "t.sum() + p.sum()",
        med["t.sum() + p.sum()"],
        at_most=2.0,
        readme="`EnergyIntegrator`, same | floor: `t.sum() + p.sum()`",
    )
    benchmark.extra_info["samples"] = N


def test_energy_numpy(benchmark: BenchmarkFixture, power_series: tuple[np.ndarray, np.ndarray]) -> None:
    t, p = power_series
    benchmark(numpy_energy, t, p)
