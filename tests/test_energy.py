"""Energy integration against the numbers in reference/accuracy.md: exact on linear ramps, import
and export split at zero crossings, no energy invented across gaps, ≤ 1e-9 relative error over 30
days of 1 s samples (where a float32 accumulator fails), ≤ 0.01 % on smooth profiles."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import gridtap.signal
import numpy as np
import pytest
from gridtap._core import EnergyIntegrator, InputError
from hypothesis import given, settings
from hypothesis import strategies as st

T0 = 1_800_000_000.0
WS_PER_KWH = 3.6e6
DAY = 86_400.0


def integrate(t: np.ndarray, p: np.ndarray, **kw: object) -> EnergyIntegrator:
    e = EnergyIntegrator(**kw)  # type: ignore[arg-type]
    e.update(t, p)
    return e


def numpy_interval_energy(t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-interval import and export (W·s) by vectorised trapezoids with the zero-crossing split:
    the baseline a numpy user would write, used here to build accumulators of other precisions."""
    dt = np.diff(t)
    p0, p1 = p[:-1], p[1:]
    cross = p0 * p1 < 0
    swing = np.where(cross, np.abs(p0 - p1), 1.0)
    whole = 0.5 * (p0 + p1) * dt
    imp = np.where(cross, 0.5 * np.maximum(p0, p1) ** 2 / swing * dt, np.maximum(whole, 0.0))
    exp = np.where(cross, 0.5 * np.minimum(p0, p1) ** 2 / swing * dt, np.maximum(-whole, 0.0))
    return imp, exp


# ---- exactness ----------------------------------------------------------------------------------


def test_trapezoid_is_exact_on_a_linear_ramp_where_rectangles_are_not() -> None:
    # 0 → 10 kW over one hour sampled each second: exactly 5 kWh
    t = T0 + np.arange(3601.0)
    p = np.linspace(0.0, 10_000.0, 3601)
    e = integrate(t, p)
    assert e.import_kwh == pytest.approx(5.0, rel=1e-13)
    assert e.export_kwh == 0.0
    # left rectangles are off by ~2.8e-4 (accuracy.md): a test with this tolerance can fail
    left = float(np.sum(p[:-1] * np.diff(t))) / WS_PER_KWH
    assert abs(left / 5.0 - 1.0) == pytest.approx(2.78e-4, rel=0.01)


@pytest.mark.parametrize("start,end", [(-4000.0, -1000.0), (-6000.0, 3000.0), (2500.0, -7500.0)])
def test_linear_ramps_across_zero_match_the_closed_form(start: float, end: float) -> None:
    duration = 1800.0
    rng = np.random.default_rng(1)
    # jittered sampling: the ramp is sampled wherever the samples fall
    x = np.concatenate([[0.0], np.sort(rng.uniform(0, duration, 900)), [duration]])
    t = T0 + x
    p = start + (end - start) * (x / duration)
    e = integrate(t, p)
    tc = duration * start / (start - end) if start * end < 0 else None
    if tc is None:
        imp, exp = max(0.0, (start + end) / 2 * duration), max(0.0, -(start + end) / 2 * duration)
    else:
        first, second = 0.5 * abs(start) * tc, 0.5 * abs(end) * (duration - tc)
        imp, exp = (first, second) if start > 0 else (second, first)
    assert e.import_kwh * WS_PER_KWH == pytest.approx(imp, rel=1e-9, abs=1e-6)
    assert e.export_kwh * WS_PER_KWH == pytest.approx(exp, rel=1e-9, abs=1e-6)


def test_square_wave_splits_every_transition_at_its_middle() -> None:
    # ±5 kW, 10 samples each way, 1 s apart, for an hour: each +5 kW → −5 kW interval splits at
    # 0.5 s (1250 W·s each side); 1620 whole intervals each way of 5000 W·s
    k = np.arange(3601)
    p = np.where((k // 10) % 2 == 0, 5000.0, -5000.0)
    e = integrate(T0 + k.astype(float), p)
    expected_ws = 1620 * 5000.0 + 360 * 1250.0
    assert e.import_kwh == pytest.approx(expected_ws / WS_PER_KWH, rel=1e-14)
    assert e.export_kwh == pytest.approx(expected_ws / WS_PER_KWH, rel=1e-14)
    assert expected_ws / WS_PER_KWH == pytest.approx(2.375)


def test_triangle_wave_splits_at_interpolated_zero_crossings() -> None:
    # ±5 kW triangle of period 18 s (peaks on samples, zeros at x.5 s between samples): each lobe is
    # a triangle of base 9 s and height 5 kW, 22 500 W·s; 200 lobes each way in an hour
    k = np.arange(3601.0)
    phase = (k % 18.0) / 9.0
    p = 5000.0 * np.where(phase <= 1.0, 1.0 - 2.0 * phase, 2.0 * phase - 3.0)
    e = integrate(T0 + k, p)
    assert e.import_kwh == pytest.approx(1.25, rel=1e-13)
    assert e.export_kwh == pytest.approx(1.25, rel=1e-13)
    # netting each interval instead of splitting it loses the crossing triangles: detectably wrong
    dt = np.diff(k)
    net = 0.5 * (p[:-1] + p[1:]) * dt
    naive_import = float(np.sum(np.maximum(net, 0.0))) / WS_PER_KWH
    assert abs(naive_import / 1.25 - 1.0) > 1e-3


def test_smooth_profile_with_zero_crossings_within_the_integrator_budget() -> None:
    # p = A + B sin(2π x/P) sampled every 10 s for a day; exact import/export from the arcsine roots.
    # Budget: 0.01 % of the exact integral on any smooth profile.
    a, b, period = 500.0, 3000.0, 3600.0
    x = np.arange(0.0, DAY + 1.0, 10.0)
    e = integrate(T0 + x, a + b * np.sin(2 * np.pi * x / period))
    alpha = math.asin(a / b)
    export_per_period = -period / (2 * math.pi) * (a * (math.pi - 2 * alpha) - 2 * b * math.cos(alpha))
    periods = DAY / period
    exact_export = periods * export_per_period
    exact_import = a * DAY + exact_export
    assert e.import_kwh * WS_PER_KWH == pytest.approx(exact_import, rel=1e-4)
    assert e.export_kwh * WS_PER_KWH == pytest.approx(exact_export, rel=1e-4)


# ---- gaps ---------------------------------------------------------------------------------------


def test_fourteen_days_of_silence_invent_no_energy() -> None:
    # the home-automation bug: one 0 W sample, 14 days without data, then 6 kW
    fortnight = 14 * DAY
    t = np.array([T0, T0 + fortnight])
    p = np.array([0.0, 6000.0])
    naive = 0.5 * (p[0] + p[1]) * fortnight / WS_PER_KWH
    assert naive == pytest.approx(1008.0)  # what a gap-blind trapezoid reports
    e = integrate(t, p, max_gap=60.0)
    assert e.import_kwh == 0.0 and e.export_kwh == 0.0
    assert e.gap_count == 1
    assert e.gap_seconds == fortnight
    # integration resumes after the gap: 6 kW for an hour in 10 s steps
    e.update(T0 + fortnight + np.arange(10.0, 3601.0, 10.0), np.full(360, 6000.0))
    assert e.import_kwh == pytest.approx(6.0, rel=1e-12)
    assert e.gap_count == 1


def test_max_gap_boundary() -> None:
    e = integrate(T0 + np.array([0.0, 60.0, 120.5]), np.full(3, 3600.0), max_gap=60.0)
    assert e.import_kwh == pytest.approx(60.0 * 3600.0 / WS_PER_KWH)  # exactly max_gap integrates
    assert (e.gap_count, e.gap_seconds) == (1, 60.5)
    unlimited = integrate(T0 + np.array([0.0, 1e6]), np.full(2, 36.0), max_gap=math.inf)
    assert unlimited.import_kwh == pytest.approx(10.0)
    assert unlimited.gap_count == 0


# ---- long-run precision -------------------------------------------------------------------------


def thirty_day_profile() -> tuple[np.ndarray, np.ndarray, Fraction, Fraction]:
    """30 days of 1 s samples of a piecewise-linear profile (knots every 6 h, importing and
    exporting), with its exact import and export in W·s (trapezoids are exact on it)."""
    seg = 21_600
    knots_p = [int(v) for v in np.random.default_rng(30).integers(-6000, 9000, 30 * 4 + 1)]
    knots_x = np.arange(len(knots_p)) * seg
    x = np.arange(30 * 86_400 + 1, dtype=np.float64)
    p = np.interp(x, knots_x, np.array(knots_p, dtype=np.float64))
    imp = exp = Fraction(0)
    for a, b in itertools.pairwise(knots_p):
        if a >= 0 and b >= 0:
            imp += Fraction(a + b, 2) * seg
        elif a <= 0 and b <= 0:
            exp -= Fraction(a + b, 2) * seg
        else:
            first, second = Fraction(a * a, 2 * abs(a - b)) * seg, Fraction(b * b, 2 * abs(a - b)) * seg
            imp, exp = (imp + first, exp + second) if a > 0 else (imp + second, exp + first)
    return T0 + x, p, imp, exp


def test_thirty_days_at_one_second_steps_and_float32_would_fail() -> None:
    t, p, exact_import, exact_export = thirty_day_profile()
    assert exact_import > 0 and exact_export > 0
    want_import = float(exact_import) / WS_PER_KWH
    want_export = float(exact_export) / WS_PER_KWH
    for compensated in (True, False):
        e = integrate(t, p, compensated=compensated)
        assert abs(e.import_kwh / want_import - 1.0) <= 1e-9
        assert abs(e.export_kwh / want_export - 1.0) <= 1e-9
        assert e.gap_count == 0
    # the same per-interval energies accumulated in float32 kWh miss by far more than 1e-9 (about
    # 2e-4 on this profile, whose rounding errors partly cancel; ~2 % on steadier ones)
    imp, _ = numpy_interval_energy(t, p)
    f32 = float(np.cumsum((imp / WS_PER_KWH).astype(np.float32), dtype=np.float32)[-1])
    assert abs(f32 / want_import - 1.0) > 1e-6
    # and the per-interval energies themselves are right: float64 accumulation of them passes
    assert abs(math.fsum(imp) / WS_PER_KWH / want_import - 1.0) <= 1e-12


# ---- phases and reactive energy -----------------------------------------------------------------


def test_per_phase_accumulators_and_reactive_quadrants() -> None:
    n = 3601
    x = np.arange(float(n))
    power = np.column_stack([np.full(n, 1000.0), np.full(n, -2000.0), np.linspace(-1000.0, 1000.0, n)])
    reactive = np.column_stack([np.full(n, 500.0), np.full(n, -300.0), np.zeros(n)])
    e = EnergyIntegrator()
    e.update(T0 + x[:1000], power[:1000], reactive[:1000])
    e.update(T0 + x[1000:], power[1000:], reactive[1000:])
    np.testing.assert_allclose(e.import_kwh_phases, [1.0, 0.0, 0.25], rtol=1e-12)
    np.testing.assert_allclose(e.export_kwh_phases, [0.0, 2.0, 0.25], rtol=1e-12)
    assert e.import_kwh == pytest.approx(1.25)
    assert e.export_kwh == pytest.approx(2.25)
    # Q > 0 inductive (quadrants I and II) counts as reactive import, Q < 0 as export
    assert e.reactive_import_kvarh == pytest.approx(0.5)
    assert e.reactive_export_kvarh == pytest.approx(0.3)
    assert e.last_timestamp == T0 + x[-1]


def test_fortran_ordered_and_strided_blocks_are_read_by_rows() -> None:
    n = 100
    power = np.column_stack([np.full(n, 3600.0), np.full(n, -7200.0)])
    a, b, c = EnergyIntegrator(), EnergyIntegrator(), EnergyIntegrator()
    t = T0 + np.arange(float(n))
    a.update(t, power)
    b.update(t, np.asfortranarray(power))
    c.update(t, np.repeat(power, 2, axis=1)[:, ::2])
    for other in (b, c):
        assert other.import_kwh_phases == a.import_kwh_phases
        assert other.export_kwh_phases == a.export_kwh_phases
    assert a.import_kwh_phases == pytest.approx([0.099, 0.0])


def test_reactive_is_optional_per_chunk() -> None:
    t = T0 + np.arange(7.0)
    e = EnergyIntegrator()
    e.update(t[:4], np.full(4, 3600.0))
    e.update(t[4:], np.full(3, 3600.0), np.full(3, -3600.0))
    assert e.import_kwh == pytest.approx(6 * 3600.0 / WS_PER_KWH)
    assert e.reactive_export_kvarh == pytest.approx(2 * 3600.0 / WS_PER_KWH)


# ---- chunk invariance ---------------------------------------------------------------------------


def snapshot(e: EnergyIntegrator) -> tuple[object, ...]:
    return (
        e.import_kwh_phases,
        e.export_kwh_phases,
        e.reactive_import_kvarh,
        e.reactive_export_kvarh,
        e.gap_count,
        e.gap_seconds,
        e.last_timestamp,
    )


@settings(max_examples=40, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12),
    phases=st.sampled_from([0, 1, 3]),
    compensated=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_chunking_is_bit_identical(cuts: list[int], phases: int, compensated: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 2000
    dt = np.where(rng.random(n) < 0.01, 120.0, 1.0) * (0.5 + rng.random(n))
    t = T0 + np.cumsum(dt)
    shape = (n,) if phases == 0 else (n, phases)
    p = rng.normal(500.0, 3000.0, shape)
    q = rng.normal(0.0, 1000.0, shape)
    whole = EnergyIntegrator(max_gap=60.0, compensated=compensated)
    whole.update(t, p, q)
    parts = EnergyIntegrator(max_gap=60.0, compensated=compensated)
    bounds = [0, *sorted(cuts), n]
    for a, b in itertools.pairwise(bounds):
        parts.update(t[a:b], p[a:b], q[a:b])
    assert snapshot(parts) == snapshot(whole)
    assert whole.gap_count > 0


# ---- bad input ----------------------------------------------------------------------------------

BAD_ENERGY_INPUTS = {
    "timestamps not increasing": lambda t, p, q: (t[::-1].copy(), p, q),
    "timestamp behind the previous chunk": lambda t, p, q: (t - 100.0, p, q),
    "nan timestamp": lambda t, p, q: (np.where(np.arange(t.size) == 2, np.nan, t), p, q),
    "nan power": lambda t, p, q: (t, np.where(np.arange(t.size)[:, None] == 3, np.nan, p), q),
    "inf power": lambda t, p, q: (t, np.where(np.arange(t.size)[:, None] == 3, np.inf, p), q),
    "nan reactive only": lambda t, p, q: (t, p, np.where(np.arange(t.size)[:, None] == 7, np.nan, q)),
    "mismatched lengths": lambda t, p, q: (t[:-1], p, q),
    "reactive shape differs": lambda t, p, q: (t, p, q[:, :2].copy()),
    "phase count changes": lambda t, p, q: (t, p[:, :2].copy(), q[:, :2].copy()),
    "1-D after 3 phases": lambda t, p, q: (t, p[:, 0].copy(), None),
    "3-D power": lambda t, p, q: (t, p[:, :, None], None),
    "float32 power": lambda t, p, q: (t, p.astype(np.float32), q),
    "int reactive": lambda t, p, q: (t, p, q.astype(np.int64)),
    "list power": lambda t, p, q: (t, p.tolist(), None),
}


def good_block(start: float, n: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = start + np.arange(1.0, n + 1)
    rng = np.random.default_rng(int(start) % 1000)
    return t, rng.normal(0.0, 2000.0, (n, 3)), rng.normal(0.0, 500.0, (n, 3))


@pytest.mark.parametrize("case", sorted(BAD_ENERGY_INPUTS))
def test_bad_input_raises_and_changes_nothing(case: str) -> None:
    e, reference = EnergyIntegrator(), EnergyIntegrator()
    t1, p1, q1 = good_block(T0)
    e.update(t1, p1, q1)
    reference.update(t1, p1, q1)
    t2, p2, q2 = good_block(t1[-1])
    with pytest.raises(ValueError) as info:
        e.update(*BAD_ENERGY_INPUTS[case](t2, p2, q2))
    assert isinstance(info.value, InputError)
    assert snapshot(e) == snapshot(reference)
    e.update(t2, p2, q2)
    reference.update(t2, p2, q2)
    assert snapshot(e) == snapshot(reference)


def test_error_messages_say_what_and_where() -> None:
    e = EnergyIntegrator()
    t = T0 + np.arange(4.0)
    with pytest.raises(ValueError, match=r"power_w\[2, 1\] is NaN"):
        e.update(t, np.array([[1.0, 1.0]] * 2 + [[1.0, np.nan]] + [[1.0, 1.0]]))
    with pytest.raises(ValueError, match=r"reactive_var has 4 × 1 values but power_w has 4 × 2"):
        e.update(t, np.ones((4, 2)), np.ones(4))
    with pytest.raises(ValueError, match="power_w has 3 rows but timestamps has 4"):
        e.update(t, np.ones((3, 2)))
    with pytest.raises(ValueError, match="3 dimensions"):
        e.update(t, np.ones((4, 1, 1)))
    e.update(t, np.ones((4, 2)))
    with pytest.raises(ValueError, match="started with 2"):
        e.update(t + 10, np.ones((4, 3)))


@pytest.mark.parametrize("max_gap", [0.0, -5.0, math.nan])
def test_bad_configuration_is_refused(max_gap: float) -> None:
    with pytest.raises(ValueError, match="max_gap"):
        EnergyIntegrator(max_gap=max_gap)


def test_defaults_empty_chunks_and_reexport() -> None:
    e = gridtap.signal.EnergyIntegrator()
    assert (e.max_gap, e.compensated) == (60.0, True)
    assert (e.import_kwh, e.export_kwh, e.gap_count, e.gap_seconds) == (0.0, 0.0, 0, 0.0)
    assert e.import_kwh_phases == [] and e.last_timestamp is None
    e.update(np.empty(0), np.empty(0))
    assert e.last_timestamp is None
    assert "EnergyIntegrator" in repr(e)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-20_000.0, 20_000.0), min_size=2, max_size=60),
    st.lists(st.floats(-5_000.0, 5_000.0), min_size=60, max_size=60),
)
def test_push_is_update_one_sample_at_a_time(p: list[float], q: list[float]) -> None:
    """The per-frame path (no arrays) gives the totals of one chunk, gaps and sign changes included."""
    t = T0 + np.cumsum(np.r_[0.0, np.tile([0.02, 0.02, 90.0], 20)])[: len(p)]
    whole = EnergyIntegrator(max_gap=60.0)
    whole.update(t, np.array(p), np.array(q[: len(p)]))
    one = EnergyIntegrator(max_gap=60.0)
    for ti, pi, qi in zip(t.tolist(), p, q, strict=False):
        totals = one.push(ti, pi, qi)
    assert totals == (
        whole.import_kwh,
        whole.export_kwh,
        whole.reactive_import_kvarh,
        whole.reactive_export_kvarh,
    )
    assert one.state() == whole.state() and one.gap_count == whole.gap_count
    with pytest.raises(InputError):
        one.push(float(t[-1]), 1.0)  # not after the last sample
    assert one.state() == whole.state()
    with pytest.raises(InputError):
        one.push(float(t[-1]) + 1.0, 1.0, math.nan)  # active fine, reactive not: neither taken
    assert one.state() == whole.state()
