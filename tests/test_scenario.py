"""sim.GridScenario: determinism, physics of the synthetic site, events, battery, CSV replay."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest
from gridtap.channels import CHANNELS, channel_spec
from gridtap.sim import FrequencyEvent, GridScenario, SiteState
from gridtap.sim.scenario import _BLOCK_STEPS, DEFAULT_START

H = 3600.0
BLOCK_S = _BLOCK_STEPS * 0.1  # one generation block at the default step


def grid_at(sc: GridScenario, t: float) -> dict[str, float]:
    return sc.sample(t).grid


# --- determinism -----------------------------------------------------------------------------


def test_same_seed_same_values_different_seed_different_values() -> None:
    a, b, c = (
        GridScenario(seed=7, battery_kw=5),
        GridScenario(seed=7, battery_kw=5),
        GridScenario(seed=8, battery_kw=5),
    )
    t = a.start + 1234.5
    assert a.sample(t) == b.sample(t)
    sa, sb, sc_ = (s.series(s.start, s.start + 900, 1.0) for s in (a, b, c))
    for key in sa:
        np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)
    assert not np.array_equal(sa["grid/ActivePower_L1"], sc_["grid/ActivePower_L1"])
    assert not np.array_equal(sa["grid/Frequency"], sc_["grid/Frequency"])


def test_values_do_not_depend_on_the_order_of_queries() -> None:
    start = DEFAULT_START
    # spread over more blocks than the cache holds, so going back recomputes from checkpoints
    times = [start + x for x in np.linspace(0.0, 14 * BLOCK_S, 97).tolist()] + [start + 0.05, start + 299.95]
    forward = GridScenario(seed=3, battery_kw=4)
    reference = {t: forward.sample(t) for t in times}
    backward = GridScenario(seed=3, battery_kw=4)
    for t in reversed(times):
        assert backward.sample(t) == reference[t]
    shuffled = times[:]
    random.Random(1).shuffle(shuffled)
    scattered = GridScenario(seed=3, battery_kw=4)
    for t in shuffled:
        assert scattered.sample(t) == reference[t]
    # the instance that went forward first now goes back over evicted blocks
    for t in shuffled:
        assert forward.sample(t) == reference[t]
    series = GridScenario(seed=3, battery_kw=4).series(start, start + 14 * BLOCK_S, 14 * BLOCK_S / 96)
    for i, t in enumerate(times[:97]):
        assert series["grid/ActivePower_L2"][i] == reference[t].grid["ActivePower_L2"]
        assert series["battery/StateOfCharge"][i] == reference[t].battery["StateOfCharge"]


def test_zero_order_hold_on_the_step_grid() -> None:
    sc = GridScenario(seed=1)
    t0 = sc.start + 100.0
    assert sc.sample(t0 + 0.099).grid == sc.sample(t0).grid
    assert sc.sample(t0 + 0.1).grid != sc.sample(t0).grid
    # floating-point times just below a grid point belong to it (epoch floats are 2.4e-7 s apart)
    assert sc.sample(sc.start + 0.3).grid == sc.sample(sc.start + 0.30000001).grid
    state = sc.sample(t0 + 0.05)
    assert isinstance(state, SiteState) and state.t == t0 + 0.05


def test_times_before_the_start_are_refused() -> None:
    sc = GridScenario(start=1000.0)
    with pytest.raises(ValueError, match="before the scenario's start"):
        sc.sample(999.0)
    with pytest.raises(ValueError, match="before the scenario's start"):
        sc.series(990.0, 1010.0, 1.0)


# --- channel sets and invariants -------------------------------------------------------------


def test_channels_are_catalogue_names_and_meter_invariants_hold() -> None:
    sc = GridScenario(seed=5, battery_kw=5)
    s = sc.series(sc.start, sc.start + 2 * H, 0.5)
    for key in s:
        if key != "t":
            channel_spec(key)  # raises for a name outside the catalogues
    state = sc.sample(sc.start)
    assert list(state.grid) == [c.name for c in CHANNELS if c.name != "Timestamp"]  # all, in catalogue order
    p = np.stack([s[f"grid/ActivePower_L{i}"] for i in (1, 2, 3)])
    q = np.stack([s[f"grid/ReactivePower_L{i}"] for i in (1, 2, 3)])
    v = np.stack([s[f"grid/Voltage_L{i}"] for i in (1, 2, 3)])
    # the site is composed exactly as the virtual meter composes it: grid = load + battery − pv
    for i in (1, 2, 3):
        composed = s[f"load/ActivePower_L{i}"] + s[f"battery/ActivePower_L{i}"] - s[f"pv/ActivePower_L{i}"]
        np.testing.assert_array_equal(s[f"grid/ActivePower_L{i}"], composed)
    np.testing.assert_allclose(s["grid/ActivePower"], p.sum(axis=0), rtol=0, atol=1e-9)
    np.testing.assert_allclose(s["grid/ReactivePower"], q.sum(axis=0), rtol=0, atol=1e-9)
    sp = np.hypot(p, q)
    np.testing.assert_allclose(s["grid/ApparentPower"], sp.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(s["grid/Current_L1"], sp[0] / v[0], rtol=1e-12)
    assert (s["grid/Current_L2"] >= 0).all()
    np.testing.assert_allclose(s["grid/PowerFactor_L3"], p[2] / sp[2], rtol=1e-12)
    assert (np.abs(s["grid/PowerFactor"]) <= 1 + 1e-12).all()
    assert (np.sign(s["grid/PowerFactor_L1"]) == np.sign(p[0])).all()  # IEC: signed by P
    assert (q > 0).all()  # the loads are lagging at pf 0.95 and PV/battery at unity
    np.testing.assert_allclose(s["grid/PhaseImbalance"], p.max(axis=0) - p.min(axis=0))
    for name in ("EnergyImport", "EnergyExport", "ReactiveEnergyImport", "ReactiveEnergyExport"):
        assert (np.diff(s[f"grid/{name}"]) >= 0).all(), name
    np.testing.assert_allclose(
        s["grid/EnergyNet"], s["grid/EnergyImport"] - s["grid/EnergyExport"], atol=1e-9
    )


def test_single_phase_site_has_only_l1() -> None:
    sc = GridScenario(seed=2, phases=1, battery_kw=3)
    state = sc.sample(sc.start + 10)
    assert "ActivePower_L1" in state.grid and "ActivePower_L2" not in state.grid
    assert "Voltage_L12" not in state.grid and "PhaseImbalance" not in state.grid
    assert state.grid["ActivePower"] == state.grid["ActivePower_L1"]
    assert state.battery["ActivePower"] == state.battery["ActivePower_L1"]


# --- energy counters -------------------------------------------------------------------------


@pytest.mark.parametrize("battery_kw", [None, 5.0])
def test_energy_counters_are_the_integral_of_the_power_produced(battery_kw: float | None) -> None:
    # Around sunrise with a battery the grid power changes sign, exercising the import/export split.
    sc = GridScenario(seed=11, start=DEFAULT_START - 5 * H, battery_kw=battery_kw, battery_soc=20.0)
    h = 0.1
    s = sc.series(sc.start + 1234.0, sc.start + 1234.0 + H, h)
    p, q = s["grid/ActivePower"], s["grid/ReactivePower"]
    for counter, x in (
        ("EnergyImport", np.maximum(p, 0)),
        ("EnergyExport", np.maximum(-p, 0)),
        ("ReactiveEnergyImport", np.maximum(q, 0)),
        ("ReactiveEnergyExport", np.maximum(-q, 0)),
    ):
        measured = s[f"grid/{counter}"][-1] - s[f"grid/{counter}"][0]
        # Power is held within each step, so the exact integral over [t0, t_n) is the left sum.
        exact = float(np.sum(x[:-1])) * h / 3.6e6
        assert measured == pytest.approx(exact, rel=1e-9, abs=1e-9), counter
        # An independent trapezoid over the same samples equals the left sum plus h·(x_n − x_0)/2
        # (the sum telescopes), so it may differ by at most h·max|x|/2, which is 0.1 s · 10 kW / 2
        # = 1.4e-4 Wh here: 4e-8 of an hour at 3 kW.
        trapezoid = float(np.trapezoid(x, dx=h)) / 3.6e6
        bound = h * float(np.max(x, initial=0.0)) / 2 / 3.6e6 + 1e-9
        assert abs(measured - trapezoid) <= bound, counter
    if battery_kw is not None:
        assert (p > 0).any() and (p < 0).any()
    assert s["grid/EnergyImport"][-1] - s["grid/EnergyImport"][0] > 0.1


def test_counters_keep_integrating_across_blocks_and_days() -> None:
    sc = GridScenario(seed=4)
    s = sc.series(sc.start, sc.start + 26 * H, 1.0)
    # seeded meter readings, then only increasing
    assert s["grid/EnergyImport"][0] > 1000
    coarse = sc.series(sc.start, sc.start + 26 * H, 0.1 * _BLOCK_STEPS)
    fine_imp = s["grid/EnergyImport"][:: _BLOCK_STEPS // 10]
    np.testing.assert_array_equal(coarse["grid/EnergyImport"], fine_imp)


# --- daily profile ---------------------------------------------------------------------------


def test_daily_profile_pv_at_noon_not_at_night_load_around_its_mean() -> None:
    midnight = DEFAULT_START - 10 * H
    sc = GridScenario(seed=9, start=midnight, load_kw=4.0, pv_kwp=6.0)
    s = sc.series(midnight, midnight + 24 * H - 60, 60.0)
    hour = (s["t"] - midnight) / H
    pv = s["pv/ActivePower"]
    night = (hour < 4.5) | (hour > 19.5)
    assert (pv[night] == 0).all()
    noon = (hour > 11) & (hour < 13)
    assert pv[noon].min() > 0 and pv[noon].max() > 2000 and pv.max() <= 6000 * 0.9 + 1e-9
    assert (s["load/ActivePower"] > 0).all()
    # the daily mean load is load_kw, up to the noise (12 % OU with τ = 45 s: ±2 % over a day)
    assert np.mean(s["load/ActivePower"]) == pytest.approx(4000, rel=0.05)
    evening = s["load/ActivePower"][(hour > 18.5) & (hour < 19.5)].mean()
    small_hours = s["load/ActivePower"][(hour > 2) & (hour < 4)].mean()
    assert evening > 1.5 * small_hours
    # imbalance 0.3: L1 carries 1.3 / 3 of the load, L2 and L3 0.85 / 3 each (noise aside)
    shares = [np.sum(s[f"load/ActivePower_L{i}"]) / np.sum(s["load/ActivePower"]) for i in (1, 2, 3)]
    assert shares == pytest.approx([1.3 / 3, 0.85 / 3, 0.85 / 3], abs=0.02)
    # pf 0.95 lagging: Q = P · tan(acos 0.95)
    np.testing.assert_allclose(s["load/ReactivePower"], s["load/ActivePower"] * math.tan(math.acos(0.95)))


def test_pv_split_on_one_phase() -> None:
    sc = GridScenario(seed=1, pv_split=(1, 0, 0))
    pv = sc.sample(sc.start + 60).pv
    assert pv["ActivePower_L1"] > 0 and pv["ActivePower_L2"] == 0 and pv["ActivePower_L3"] == 0


# --- frequency -------------------------------------------------------------------------------


def test_ramp_event_shows_as_rocof_and_frequency_change() -> None:
    sc = GridScenario(
        seed=0, frequency_std=0.0, events=[FrequencyEvent.ramp(at=10.0, rate_hz_s=1.0, duration=0.5)]
    )
    t0 = sc.start
    for x in (9.9, 10.5, 11.0, 0.0):
        assert grid_at(sc, t0 + x)["Frequency_RoCoF"] == 0.0
        assert grid_at(sc, t0 + x)["Frequency"] == pytest.approx(50.0 if x < 10 else 50.5, abs=1e-12)
    for x in (10.0, 10.1, 10.2, 10.4):
        g = grid_at(sc, t0 + x)
        assert g["Frequency_RoCoF"] == 1.0
        assert g["Frequency"] == pytest.approx(50.0 + (x - 10.0), abs=1e-9)


def test_step_event_and_60_hz() -> None:
    sc = GridScenario(
        nominal_frequency=60.0,
        frequency_std=0.0,
        events=[
            FrequencyEvent.step(at=5.0, delta_hz=-0.2),
            FrequencyEvent("ramp", 8.0, rate_hz_s=-0.5, duration=2.0),
        ],
    )
    assert grid_at(sc, sc.start + 4.9)["Frequency"] == 60.0
    assert grid_at(sc, sc.start + 5.0)["Frequency"] == pytest.approx(59.8, abs=1e-12)
    assert grid_at(sc, sc.start + 9.0)["Frequency_RoCoF"] == -0.5
    assert grid_at(sc, sc.start + 20.0)["Frequency"] == pytest.approx(58.8, abs=1e-12)


def test_ramp_over_the_random_walk() -> None:
    sc = GridScenario(seed=6, events=[FrequencyEvent.ramp(at=100.0, rate_hz_s=1.0, duration=1.0)])
    s = sc.series(sc.start + 100.0, sc.start + 100.9, 0.1)
    # the walk's step-to-step RoCoF has σ = 0.02 Hz · √(2·0.1/60) / 0.1 s ≈ 0.012 Hz/s
    assert np.mean(s["grid/Frequency_RoCoF"]) == pytest.approx(1.0, abs=0.02)
    before, after = grid_at(sc, sc.start + 99.9)["Frequency"], grid_at(sc, sc.start + 101.0)["Frequency"]
    assert after - before == pytest.approx(1.0, abs=0.02)
    # RoCoF = ramp rate + the walk's backward difference, exactly
    walk = s["grid/Frequency"] - 50.0 - np.arange(10) * 0.1
    np.testing.assert_allclose(np.diff(walk) / 0.1 + 1.0, s["grid/Frequency_RoCoF"][1:], atol=1e-9)


def test_frequency_walk_statistics() -> None:
    sc = GridScenario(seed=12)
    f = sc.series(sc.start, sc.start + 6 * H, 1.0)["grid/Frequency"]
    # 6 h hold 360 correlation times (τ = 60 s): the sample std is within about ±10 % of 20 mHz
    assert 0.014 < np.std(f) < 0.026
    assert abs(np.mean(f) - 50.0) < 0.01
    assert np.abs(f - 50.0).max() <= 0.2


def test_events_are_validated() -> None:
    with pytest.raises(ValueError, match="kind"):
        FrequencyEvent("jump", 1.0)
    with pytest.raises(ValueError, match="≥ 0"):
        FrequencyEvent.ramp(at=1.0, rate_hz_s=1.0, duration=-1.0)


# --- voltage ---------------------------------------------------------------------------------


def test_voltage_small_variation_and_line_to_line_from_phasors() -> None:
    sc = GridScenario(seed=8)
    s = sc.series(sc.start, sc.start + 2 * H, 1.0)
    for i in (1, 2, 3):
        v = s[f"grid/Voltage_L{i}"]
        assert np.abs(v - 230.0).max() < 0.04 * 230 + 5 and 0.3 < np.std(v) < 3.0
    v1, v2 = s["grid/Voltage_L1"], s["grid/Voltage_L2"]
    np.testing.assert_allclose(s["grid/Voltage_L12"], np.abs(v1 - v2 * np.exp(-2j * np.pi / 3)), rtol=1e-12)
    assert np.allclose(s["grid/Voltage_L12"], math.sqrt(3) * (v1 + v2) / 2, rtol=0.01)
    flat = GridScenario.static(voltage=230.0).sample(DEFAULT_START).grid
    assert flat["Voltage_L23"] == pytest.approx(230.0 * math.sqrt(3), rel=1e-15)


# --- static ----------------------------------------------------------------------------------


def test_static_gives_the_spec_example_exactly() -> None:
    sc = GridScenario.static(load_w=(15000, 1000, 1000), pv_w=(0, 4000, 3000))
    g = sc.sample(sc.start + 3.0).grid
    assert (g["ActivePower_L1"], g["ActivePower_L2"], g["ActivePower_L3"]) == (15000.0, -3000.0, -2000.0)
    assert g["ActivePower"] == 10000.0
    assert g["ReactivePower"] == 0.0 and g["ApparentPower"] == 20000.0
    assert (g["PowerFactor_L1"], g["PowerFactor_L2"]) == (1.0, -1.0)
    assert g["PowerFactor"] == 0.5  # 10 kW net over 20 kVA arithmetic apparent power
    assert g["Current_L1"] == 15000.0 / 230.0
    assert (g["Frequency"], g["Frequency_RoCoF"], g["Voltage_L1"]) == (50.0, 0.0, 230.0)
    assert g["PhaseImbalance"] == 18000.0
    assert sc.sample(sc.start).grid["EnergyImport"] == 0.0
    later = sc.sample(sc.start + H).grid
    # 10 kW for one hour, summed over 36000 steps of 0.1 s
    assert later["EnergyImport"] == pytest.approx(10.0, rel=1e-12)
    assert later["EnergyExport"] == 0.0 and later["EnergyNet"] == pytest.approx(10.0, rel=1e-12)
    assert sc.sample(sc.start).battery == {}


def test_static_reactive_power() -> None:
    g = GridScenario.static(load_w=(3000, 0, 0), load_var=(4000, 0, -1000)).sample(DEFAULT_START + 1).grid
    assert (g["ReactivePower_L1"], g["ReactivePower_L3"], g["ReactivePower"]) == (4000.0, -1000.0, 3000.0)
    assert g["ApparentPower_L1"] == 5000.0 and g["PowerFactor_L1"] == 0.6
    assert g["PowerFactor_L2"] == 1.0  # no power at all: 1 by convention
    later = GridScenario.static(load_w=(3000, 0, 0), load_var=(4000, 0, -1000)).sample(DEFAULT_START + H).grid
    assert later["ReactiveEnergyImport"] == pytest.approx(3.0, rel=1e-12)
    assert later["ReactiveEnergyExport"] == 0.0


# --- the battery -----------------------------------------------------------------------------


def test_battery_setpoints_change_the_grid_per_phase() -> None:
    sc = GridScenario.static(
        load_w=(15000, 1000, 1000),
        pv_w=(0, 4000, 3000),
        battery_max_charge_w=9000,
        battery_max_discharge_w=6000,
    )
    t0 = sc.start + 10.0
    before = sc.sample(t0)
    assert before.battery["ActivePower"] == 0.0 and before.battery["MaxChargePower"] == 9000.0
    sc.set_battery_setpoints((-1000.0, 3000.0, 2000.0))  # from the step after t0
    assert sc.sample(t0) == before  # what was already served does not change
    after = sc.sample(t0 + 0.1)
    assert after.battery["ActivePower_L2"] == 3000.0
    for i, sp in zip((1, 2, 3), (-1000.0, 3000.0, 2000.0), strict=True):
        assert after.grid[f"ActivePower_L{i}"] - before.grid[f"ActivePower_L{i}"] == sp
    assert (after.grid["ActivePower_L2"], after.grid["ActivePower_L3"]) == (0.0, 0.0)
    # the counters follow: 14 kW import instead of 10 kW for the next hour
    e0 = sc.sample(t0 + 0.1).grid["EnergyImport"]
    assert sc.sample(t0 + 0.1 + H).grid["EnergyImport"] - e0 == pytest.approx(14.0, rel=1e-9)
    # clamped per phase to the limits divided by the phases: +3000 W, −2000 W
    sc.set_battery_setpoints((-5000.0, 5000.0, 0.0), at=t0 + 100.0)
    b = sc.sample(t0 + 100.0).battery
    assert (b["ActivePower_L1"], b["ActivePower_L2"], b["ActivePower"]) == (-2000.0, 3000.0, 1000.0)
    assert sc.sample(t0 + 99.9).battery["ActivePower_L1"] == -1000.0
    # going back in time before `at` with an explicit time rewrites from there
    sc.set_battery_setpoints(None, at=t0)
    assert sc.sample(t0 + 100.0).battery["ActivePower"] == 0.0


def test_random_site_with_battery_self_consumption_and_setpoints() -> None:
    sc = GridScenario(seed=21, battery_kw=6.0, battery_kwh=20.0, battery_soc=50.0)
    s = sc.series(sc.start, sc.start + 600.0, 0.1)
    # self-consumption within limits and capacity: the total grid power is zero (up to rounding)
    assert np.abs(s["grid/ActivePower"]).max() < 1e-9
    assert np.ptp(s["battery/StateOfCharge"]) > 0
    t = sc.start + 600.0
    sc.set_battery_setpoints((1500.0, -500.0, 0.0), at=t)
    state = sc.sample(t + 30.0)
    assert [state.battery[f"ActivePower_L{i}"] for i in (1, 2, 3)] == [1500.0, -500.0, 0.0]
    for i in (1, 2, 3):
        p = (
            state.load[f"ActivePower_L{i}"]
            + state.battery[f"ActivePower_L{i}"]
            - state.pv[f"ActivePower_L{i}"]
        )
        assert state.grid[f"ActivePower_L{i}"] == p
    # the drivers (load, pv) are the same as without the setpoints: only the battery reacts
    other = GridScenario(seed=21, battery_kw=6.0, battery_kwh=20.0, battery_soc=50.0)
    assert other.sample(t + 30.0).load == state.load and other.sample(t + 30.0).pv == state.pv


def test_battery_stops_when_full() -> None:
    sc = GridScenario(seed=2, battery_kw=3.0, battery_kwh=0.5, battery_soc=90.0)
    sc.set_battery_setpoints((1000.0, 1000.0, 1000.0), at=sc.start)
    # 3 kW fills the remaining 0.05 kWh in 60 s
    assert sc.sample(sc.start + 59.0).battery["ActivePower"] == pytest.approx(3000.0)
    full = sc.sample(sc.start + 61.0).battery
    assert full["ActivePower"] == 0.0 and full["StateOfCharge"] == pytest.approx(100.0)
    assert full["MaxChargePower"] == 0.0 and full["MaxDischargePower"] == 3000.0


def test_setpoints_need_a_battery() -> None:
    with pytest.raises(ValueError, match="no battery"):
        GridScenario(seed=1).set_battery_setpoints((0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="expected 3"):
        GridScenario(battery_kw=1).set_battery_setpoints((0.0, 0.0))


# --- CSV -------------------------------------------------------------------------------------


def test_csv_round_trip(tmp_path: Path) -> None:
    sc = GridScenario(seed=13, battery_kw=5)
    path = tmp_path / "site.csv"
    sc.to_csv(path, sc.start, sc.start + 120.0, 1.0)
    replay = GridScenario.from_csv(path)
    assert replay.start == sc.start and replay.has_battery
    for x in (0.0, 1.0, 57.0, 120.0):
        assert replay.sample(sc.start + x) == sc.sample(sc.start + x)
    assert replay.sample(sc.start + 57.5).grid == sc.sample(sc.start + 57.0).grid  # held until the next row
    assert replay.sample(sc.start + 1e6).grid == sc.sample(sc.start + 120.0).grid
    with pytest.raises(ValueError, match="before the first row"):
        replay.sample(sc.start - 1.0)
    with pytest.raises(ValueError, match="no battery"):
        replay.set_battery_setpoints((0.0, 0.0, 0.0))


def test_csv_missing_channels_are_derived(tmp_path: Path) -> None:
    path = tmp_path / "meter.csv"
    path.write_text(
        "timestamp,ActivePower_L1,grid/ActivePower_L2,ActivePower_L3,Voltage_L1,Voltage_L2,Voltage_L3,Frequency\n"
        "1000,3000,-1000,500,230,230,230,50.0\n"
        "1060,-1200,-1200,-1200,231,231,231,50.1\n"
        "1120,0,0,0,230,230,230,50.1\n"
    )
    sc = GridScenario.from_csv(path)
    g = sc.sample(1000.0).grid
    assert g["ActivePower"] == 2500.0 and g["ReactivePower"] == 0.0 and g["ApparentPower"] == 4500.0
    assert g["PowerFactor"] == pytest.approx(2500 / 4500) and g["PowerFactor_L2"] == -1.0
    assert g["Current_L1"] == pytest.approx(3000 / 230) and g["PhaseImbalance"] == 4000.0
    assert g["Voltage_L12"] == pytest.approx(230 * math.sqrt(3))
    assert (g["EnergyImport"], g["EnergyExport"], g["Frequency_RoCoF"]) == (0.0, 0.0, 0.0)
    g = sc.sample(1100.0).grid
    # 2.5 kW held for 60 s
    assert g["EnergyImport"] == pytest.approx(2500 * 60 / 3.6e6) and g["EnergyExport"] == 0.0
    assert g["Frequency_RoCoF"] == pytest.approx(0.1 / 60)
    g = sc.sample(1120.0).grid
    assert g["EnergyExport"] == pytest.approx(3600 * 60 / 3.6e6)
    assert g["EnergyNet"] == pytest.approx((2500 - 3600) * 60 / 3.6e6)
    assert sc.sample(1120.0).load == {} and not sc.has_battery


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "timestamp,ActivePower\n1,100\n2,abc\n",
            r"bad\.csv:3: column 2 'ActivePower': 'abc' is not a finite number",
        ),
        ("timestamp,ActivePower\n1,100\n2,nan\n", r"bad\.csv:3: column 2 'ActivePower'"),
        ("timestamp,ActivePower\n5,100\n5,200\n", r"bad\.csv:3: timestamp 5\.0 does not increase"),
        ("timestamp,ActivePower,Bogus\n1,2,3\n", r"bad\.csv:1: column 3 'Bogus' is not a channel"),
        ("timestamp,pv/Voltage_L1\n1,2\n", r"bad\.csv:1: column 2 'pv/Voltage_L1' is not a channel"),
        ("time,ActivePower\n1,2\n", r"bad\.csv:1: the first column must be 'timestamp'"),
        ("timestamp,ActivePower\n1,2,3\n", r"bad\.csv:2: 3 values, expected 2"),
        ("timestamp,ActivePower\n", r"bad\.csv: no data rows"),
        ("", r"bad\.csv: empty file"),
        ("timestamp,Frequency\n1,50\n", r"bad\.csv: the CSV needs grid ActivePower"),
        (
            "timestamp,ActivePower,grid/ActivePower\n1,2,2\n",
            r"bad\.csv:1: column 3 'grid/ActivePower' repeats",
        ),
    ],
)
def test_corrupt_csv_errors_name_file_line_and_column(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        GridScenario.from_csv(path)


def test_missing_csv_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot open"):
        GridScenario.from_csv(tmp_path / "nope.csv")


# --- parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"phases": 2}, "phases must be 1 or 3"),
        ({"step": 0.0}, "step must be > 0"),
        ({"load_power_factor": 1.5}, "load_power_factor"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"battery_kw": -1.0}, "battery_kw must be > 0"),
        ({"pv_split": (1, 1)}, "expected 3"),
    ],
)
def test_bad_parameters(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GridScenario(**kwargs)  # type: ignore[arg-type]


def test_static_battery_beyond_its_limits_is_refused() -> None:
    with pytest.raises(ValueError, match="exceeds the per-phase limits"):
        GridScenario.static(battery_w=(5000, 0, 0), battery_max_charge_w=9000)


def test_static_single_phase_site() -> None:
    sc = GridScenario.static(load_w=(2000.0,), pv_w=(3500.0,), battery_w=(500.0,))
    state = sc.sample(sc.start)
    assert state.grid["ActivePower_L1"] == state.grid["ActivePower"] == -1000.0
    assert "ActivePower_L2" not in state.grid and state.battery["ActivePower"] == 500.0
    assert state.grid["Current_L1"] == 1000.0 / 230.0


def test_static_site_far_from_its_start_in_closed_form() -> None:
    # a constant site's counters are a sum over its setpoint schedule, so any time is O(1)
    sc = GridScenario.static(load_w=(15000, 1000, 1000), pv_w=(0, 4000, 3000), battery_max_charge_w=9000)
    year = 365 * 24 * H
    assert sc.sample(sc.start + year).grid["EnergyImport"] == pytest.approx(10.0 * 8760, rel=1e-12)
    sc.set_battery_setpoints((0.0, 3000.0, 2000.0), at=sc.start + year / 2)  # +5 kW from mid-year
    late = sc.sample(sc.start + year).grid
    assert late["EnergyImport"] == pytest.approx(10.0 * 4380 + 15.0 * 4380, rel=1e-12)
    assert late["ActivePower"] == 15000.0
    fresh = GridScenario.static(load_w=(15000, 1000, 1000), pv_w=(0, 4000, 3000), battery_max_charge_w=9000)
    fresh.set_battery_setpoints((0.0, 3000.0, 2000.0), at=fresh.start + year / 2)
    assert fresh.sample(sc.start + year) == sc.sample(sc.start + year)
