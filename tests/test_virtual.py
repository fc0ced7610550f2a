"""VirtualGridMeter: grid = load + battery − pv per phase, with quality, time and energy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gridtap import Dal, Quality, Reading
from gridtap.sim import GridScenario
from gridtap.virtual import VirtualGridMeter
from virtual_site import per_phase, write_site


def values(written: dict[str, Reading], *names: str) -> list[float | None]:
    return [written[f"grid/{n}"].value for n in names]


# --- the formula -----------------------------------------------------------------------------


def test_formula_per_phase_with_numbers() -> None:
    dal = Dal()
    write_site(dal, 100.0, load=(15000, 1000, 1000), pv=(0, 4000, 3000), battery=(500, -200, 0))
    written = VirtualGridMeter(dal).update(now=100.0)
    # L1: 15000 + 500 − 0; L2: 1000 − 200 − 4000; L3: 1000 + 0 − 3000
    assert values(written, "ActivePower_L1", "ActivePower_L2", "ActivePower_L3") == [
        15500.0,
        -3200.0,
        -2000.0,
    ]
    assert written["grid/ActivePower"].value == 10300.0
    assert written["grid/ActivePower"] == Reading(10300.0, "W", 100.0, Quality.GOOD)
    assert written["grid/PhaseImbalance"].value == 18700.0
    snap = dal.snapshot(100.0)
    assert snap.value("grid/ActivePower_L2") == -3200.0
    # no reactive inputs: no reactive output, no apparent power, no power factor
    assert "grid/ReactivePower" not in written and "grid/ApparentPower" not in written
    assert "grid/PowerFactor_L1" not in written


def test_site_without_battery_is_the_spec_example() -> None:
    dal = Dal()
    write_site(dal, 10.0, load=(15000, 1000, 1000), pv=(0, 4000, 3000))
    written = VirtualGridMeter(dal).update(now=10.0)
    assert values(written, "ActivePower_L1", "ActivePower_L2", "ActivePower_L3", "ActivePower") == [
        15000.0,
        -3000.0,
        -2000.0,
        10000.0,
    ]


def test_reactive_apparent_and_power_factor() -> None:
    dal = Dal()
    write_site(dal, 5.0, load=(3000, 2000, 0), pv=(0, 2000, 0), battery=(1000, -1000, 0))
    dal.write_many("load", per_phase("ReactivePower", (3000.0, 500.0, 0.0)), 5.0)
    dal.write_many("pv", per_phase("ReactivePower", (0.0, 0.0, 0.0)), 5.0)
    dal.write_many("battery", per_phase("ReactivePower", (0.0, 1000.0, 0.0)), 5.0)
    written = VirtualGridMeter(dal).update(now=5.0)
    # L1: P = 4000, Q = 3000 → S = 5000, PF = 0.8; L2: P = −1000, Q = 1500; L3: nothing flows
    assert values(written, "ReactivePower_L1", "ReactivePower_L2", "ReactivePower_L3") == [
        3000.0,
        1500.0,
        0.0,
    ]
    assert values(written, "ApparentPower_L1", "PowerFactor_L1") == [5000.0, 0.8]
    assert written["grid/ApparentPower_L2"].value == pytest.approx(math.hypot(1000, 1500))
    assert written["grid/PowerFactor_L2"].value == pytest.approx(
        -1000 / math.hypot(1000, 1500)
    )  # − exporting
    assert values(written, "ApparentPower_L3", "PowerFactor_L3") == [0.0, 1.0]
    assert written["grid/ReactivePower"].value == 4500.0
    s_total = 5000 + math.hypot(1000, 1500)  # arithmetic sum of the phases' S
    assert written["grid/ApparentPower"].value == pytest.approx(s_total)
    assert written["grid/PowerFactor"].value == pytest.approx(3000 / s_total)


def test_reactive_only_where_every_input_of_the_phase_has_it() -> None:
    dal = Dal()
    write_site(dal, 5.0, load=(1000, 1000, 1000), pv=(0, 0, 0))
    dal.write_many("load", per_phase("ReactivePower", (300.0, 300.0, 300.0)), 5.0)
    dal.write_many("pv", {"ReactivePower_L1": 0.0, "ReactivePower_L3": 100.0}, 5.0)
    written = VirtualGridMeter(dal).update(now=5.0)
    assert values(written, "ReactivePower_L1", "ReactivePower_L3") == [300.0, 200.0]
    assert "grid/ReactivePower_L2" not in written and "grid/ApparentPower_L2" not in written
    # per-phase incomplete and pv has no total: no total reactive power (never guessed as 0)
    assert "grid/ReactivePower" not in written and "grid/ApparentPower" not in written
    assert "grid/ReactiveEnergyImport" not in written


def test_totals_from_the_inputs_totals_when_per_phase_is_absent() -> None:
    dal = Dal()
    write_site(dal, 7.0, load=(2000, 2000, 2000), pv=(1000, 1000, 1000))
    dal.write("battery/ActivePower", -1500.0, 7.0)  # a battery that reports only its total
    written = VirtualGridMeter(dal).update(now=7.0)
    assert not any(k.startswith("grid/ActivePower_") for k in written)
    assert written["grid/ActivePower"].value == 6000.0 - 1500.0 - 3000.0


def test_single_phase_site() -> None:
    dal = Dal()
    dal.write_many("load", {"ActivePower_L1": 2500.0}, 1.0)
    dal.write_many("pv", {"ActivePower_L1": 4000.0}, 1.0)
    written = VirtualGridMeter(dal).update(now=1.0)
    assert values(written, "ActivePower_L1", "ActivePower") == [-1500.0, -1500.0]
    assert "grid/ActivePower_L2" not in written and "grid/PhaseImbalance" not in written


def test_matches_the_scenario_it_is_fed_from() -> None:
    sc = GridScenario(seed=31, battery_kw=5.0)
    dal = Dal()
    meter = VirtualGridMeter(dal)
    for i in range(30):
        t = sc.start + 10.0 * i
        state = sc.sample(t)
        for ns, channels in (("load", state.load), ("pv", state.pv), ("battery", state.battery)):
            dal.write_many(ns, {k: v for k, v in channels.items() if "Power" in k and "Max" not in k}, t)
        written = meter.update(now=t)
        for name in (
            "ActivePower_L1",
            "ActivePower_L2",
            "ActivePower_L3",
            "ReactivePower_L3",
            "ApparentPower_L2",
        ):
            assert written[f"grid/{name}"].value == state.grid[name], name
        for name in ("ActivePower", "ReactivePower", "ApparentPower", "PowerFactor_L1", "PhaseImbalance"):
            assert written[f"grid/{name}"].value == pytest.approx(state.grid[name], rel=1e-12, abs=1e-9), name


# --- energy ----------------------------------------------------------------------------------


def test_energy_of_3_kw_for_one_hour_is_3_kwh() -> None:
    dal = Dal(default_max_age=30.0)
    meter = VirtualGridMeter(dal)
    for i in range(361):  # updates every 10 s over one hour
        write_site(dal, 1000.0 + 10 * i, load=(1000, 1500, 500), reactive=True)
        written = meter.update(now=1000.0 + 10 * i)
    assert written["grid/EnergyImport"].value == pytest.approx(3.0, rel=1e-12)
    assert written["grid/EnergyExport"].value == 0.0
    assert written["grid/EnergyNet"].value == pytest.approx(3.0, rel=1e-12)
    assert written["grid/EnergyImport"].timestamp == 4600.0
    assert written["grid/ReactiveEnergyImport"].value == 0.0
    assert meter.gap_count == 0


def test_energy_export_and_a_linear_ramp() -> None:
    dal = Dal(default_max_age=30.0)
    meter = VirtualGridMeter(dal, battery=None)
    # export: pv exceeds load by 2 kW for 30 min; then a 0 → 12 kW import ramp over 1 h, sampled each 5 s
    for i in range(361):
        write_site(dal, 5.0 * i, load=(500, 500, 500), pv=(1000, 1500, 1000))
        meter.update(now=5.0 * i)
    for i in range(1, 721):
        t = 1800.0 + 5.0 * i
        write_site(dal, t, load=(4000 * i / 720, 4000 * i / 720, 4000 * i / 720))
        written = meter.update(now=t)
    # the jump from −2 kW to the ramp's first sample is one 5 s trapezoid crossing zero
    p0, p1 = -2000.0, 12000.0 / 720
    crossing = 5.0 * -p0 / (p1 - p0)
    export = 2.0 * 0.5 + (-p0) * crossing / 2 / 3.6e6
    ramp_import = 12.0 * 1.0 / 2 - (p1 * 5.0 / 2) / 3.6e6 + p1 * (5.0 - crossing) / 2 / 3.6e6
    assert written["grid/EnergyExport"].value == pytest.approx(export, rel=1e-9)
    assert written["grid/EnergyImport"].value == pytest.approx(ramp_import, rel=1e-9)


def test_energy_is_not_invented_across_a_gap() -> None:
    dal = Dal(default_max_age=1000.0)
    meter = VirtualGridMeter(dal, max_gap=60.0)
    write_site(dal, 0.0, load=(1000, 0, 0))
    meter.update(now=0.0)
    write_site(dal, 120.0, load=(1000, 0, 0))
    written = meter.update(now=120.0)
    assert written["grid/EnergyImport"].value == 0.0 and written["grid/EnergyImport"].timestamp == 120.0
    assert meter.gap_count == 1 and meter.gap_seconds == 120.0


# --- quality and time ------------------------------------------------------------------------


def _site_with_one_old_input(
    old: str, old_ts: float = 92.0, now: float = 100.0
) -> tuple[Dal, VirtualGridMeter]:
    dal = Dal(default_max_age=5.0)
    ns, _, name = old.partition("/")
    dal.write(old, 500.0, old_ts)
    readings = {
        "load": per_phase("ActivePower", (1000.0, 2000.0, 3000.0))
        | per_phase("ReactivePower", (100.0, 100.0, 100.0)),
        "pv": per_phase("ActivePower", (500.0, 500.0, 500.0)) | per_phase("ReactivePower", (0.0, 0.0, 0.0)),
        "battery": per_phase("ActivePower", (0.0, 0.0, 0.0)) | per_phase("ReactivePower", (0.0, 0.0, 0.0)),
    }
    del readings[ns][name]
    for namespace, values_ in readings.items():
        dal.write_many(namespace, values_, now)
    return dal, VirtualGridMeter(dal)


def test_one_stale_input() -> None:
    dal, meter = _site_with_one_old_input("pv/ActivePower_L2", old_ts=92.0)
    written = meter.update(now=100.0)
    assert written["grid/ActivePower_L2"] == Reading(1500.0, "W", 92.0, Quality.STALE)
    for name in (
        "ApparentPower_L2",
        "PowerFactor_L2",
        "ActivePower",
        "ApparentPower",
        "PowerFactor",
        "PhaseImbalance",
    ):
        assert written[f"grid/{name}"].quality is Quality.STALE, name
        assert written[f"grid/{name}"].timestamp == 92.0, name
    # the phases and channels that do not depend on it stay GOOD at their inputs' time
    for name in ("ActivePower_L1", "ActivePower_L3", "ReactivePower_L2", "ReactivePower", "ApparentPower_L1"):
        assert (
            written[f"grid/{name}"].quality is Quality.GOOD and written[f"grid/{name}"].timestamp == 100.0
        ), name
    assert dal.snapshot(100.0)["grid/ActivePower_L2"].quality is Quality.STALE
    # energy is integrated from GOOD values only: no active counters yet, reactive ones start
    assert "grid/EnergyImport" not in written
    assert written["grid/ReactiveEnergyImport"] == Reading(0.0, "kVARh", 100.0, Quality.GOOD)


def test_one_error_input() -> None:
    dal, meter = _site_with_one_old_input("pv/ActivePower_L2", old_ts=100.0)
    dal.write("pv/ActivePower_L2", None, 100.0)  # ERROR: no value
    written = meter.update(now=100.0)
    assert written["grid/ActivePower_L2"] == Reading(None, "W", 100.0, Quality.ERROR)
    for name in (
        "ApparentPower_L2",
        "PowerFactor_L2",
        "ActivePower",
        "ApparentPower",
        "PowerFactor",
        "PhaseImbalance",
    ):
        assert written[f"grid/{name}"].quality is Quality.ERROR and written[f"grid/{name}"].value is None, (
            name
        )
    assert written["grid/ActivePower_L1"] == Reading(500.0, "W", 100.0, Quality.GOOD)
    assert written["grid/ActivePower_L3"].value == 2500.0
    assert dal.snapshot(100.0)["grid/ActivePower"].value is None


def test_error_in_a_present_battery_is_not_zero() -> None:
    dal, meter = _site_with_one_old_input("battery/ActivePower_L1", old_ts=50.0)
    dal.write("battery/ActivePower_L1", None, 100.0)
    written = meter.update(now=100.0)
    assert written["grid/ActivePower_L1"].quality is Quality.ERROR
    assert written["grid/ActivePower_L2"].value == 1500.0


def test_energy_counters_turn_stale_and_resume() -> None:
    dal, meter = _site_with_one_old_input("pv/ActivePower_L3", old_ts=100.0)
    meter.update(now=100.0)
    for ns in ("load", "pv", "battery"):
        dal.write_many(
            ns, per_phase("ActivePower", (1000.0, 2000.0, 3000.0) if ns == "load" else (0.0,) * 3), 110.0
        )
    written = meter.update(now=110.0)
    e = written["grid/EnergyImport"]
    assert e.quality is Quality.GOOD and e.timestamp == 110.0 and e.value is not None
    assert e.value == pytest.approx((4500.0 + 6000.0) / 2 * 10 / 3.6e6)
    dal.write("pv/ActivePower_L3", None, 115.0)
    written = meter.update(now=115.0)
    assert written["grid/EnergyImport"] == Reading(e.value, "kWh", 110.0, Quality.STALE)
    assert meter.update(now=116.0) == {}  # nothing advanced, nothing changed: nothing written
    dal.write("pv/ActivePower_L3", 0.0, 120.0)
    for ns in ("load", "pv", "battery"):
        dal.write_many(
            ns, per_phase("ActivePower", (1000.0, 2000.0, 3000.0) if ns == "load" else (0.0,) * 3), 120.0
        )
    written = meter.update(now=120.0)
    assert written["grid/EnergyImport"].quality is Quality.GOOD
    assert written["grid/EnergyImport"].value == pytest.approx(e.value + 6000.0 * 10 / 3.6e6)


def test_no_write_when_nothing_advanced() -> None:
    dal = Dal(default_max_age=60.0)
    write_site(dal, 10.0, load=(1000, 1000, 1000), pv=(200, 200, 200), battery=(0, 0, 0))
    meter = VirtualGridMeter(dal)
    calls: list[list[tuple[str, Reading]]] = []
    dal.subscribe(calls.append)
    first = meter.update(now=10.0)
    assert first and len(calls) == 1  # one (timestamp, quality) group: one atomic write
    assert meter.update(now=11.0) == {} and len(calls) == 1
    # only L1's inputs advance: L1 and the totals follow; L2 and L3 are not rewritten, and the
    # energy waits for the total's (oldest-input) timestamp to advance
    for ns, v in (("load", 1100.0), ("pv", 200.0), ("battery", 0.0)):
        dal.write(f"{ns}/ActivePower_L1", v, 12.0)
    written = meter.update(now=12.0)
    assert set(written) == {
        "grid/ActivePower_L1",
        "grid/ActivePower",
        "grid/PhaseImbalance",
    }
    # the total's oldest input is still at 10 (L2, L3), so it keeps timestamp 10 with a new value
    assert written["grid/ActivePower"] == Reading(2500.0, "W", 10.0, Quality.GOOD)
    assert written["grid/ActivePower_L1"].timestamp == 12.0
    grid_calls = [c for c in calls if c[0][0].startswith("grid/")]
    assert len(grid_calls) == 3  # then two groups: timestamp 12 (L1) and timestamp 10 (the rest)
    for call in grid_calls:
        assert len({(r.timestamp, r.quality) for _, r in call}) == 1


def test_an_input_older_than_what_was_published_is_skipped() -> None:
    dal = Dal(default_max_age=60.0)
    write_site(dal, 100.0, load=(1000, 1000, 1000), pv=(0, 0, 0))
    meter = VirtualGridMeter(dal)
    meter.update(now=100.0)
    dal.write_many("battery", per_phase("ActivePower", (10.0, 10.0, 10.0)), 90.0)  # a battery appears, older
    written = meter.update(now=100.0)
    assert not any(k.startswith("grid/ActivePower") for k in written)
    assert dal.snapshot(100.0)["grid/ActivePower_L1"].value == 1000.0
    # a second meter on the same DAL (a restart) does not go back either
    assert not any(k.startswith("grid/ActivePower") for k in VirtualGridMeter(dal).update(now=100.0))


def test_nothing_is_written_before_the_inputs_exist() -> None:
    dal = Dal()
    assert VirtualGridMeter(dal).update(now=1.0) == {}
    dal.write("load/ActivePower_L1", 100.0, 1.0)  # pv has nothing yet: L1 cannot be computed
    assert VirtualGridMeter(dal).update(now=1.0) == {}


def test_other_namespaces_and_bad_arguments() -> None:
    dal = Dal()
    dal.write_many("load_house", {"ActivePower_L1": 800.0}, 3.0)
    dal.write_many("pv_roof", {"ActivePower_L1": 300.0}, 3.0)
    written = VirtualGridMeter(
        dal, load="load_house", pv="pv_roof", battery=None, namespace="grid_virtual"
    ).update(now=3.0)
    assert written["grid_virtual/ActivePower_L1"].value == 500.0
    with pytest.raises(ValueError, match="not a load namespace"):
        VirtualGridMeter(dal, load="pv")
    with pytest.raises(ValueError, match="not a grid namespace"):
        VirtualGridMeter(dal, namespace="battery")
    with pytest.raises(TypeError, match=r"needs a gridtap\.Dal"):
        VirtualGridMeter(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_gap"):
        VirtualGridMeter(dal, max_gap=0.0)


def test_energy_integrates_the_same_as_an_independent_trapezoid() -> None:
    sc = GridScenario(seed=5, pv_kwp=0.5)
    dal = Dal(default_max_age=10.0)
    meter = VirtualGridMeter(dal)
    ts = sc.start + np.arange(0.0, 1800.0, 1.0)
    p = []
    for t in ts.tolist():
        state = sc.sample(t)
        dal.write_many(
            "load", {k: state.load[k] for k in ("ActivePower_L1", "ActivePower_L2", "ActivePower_L3")}, t
        )
        dal.write_many(
            "pv", {k: state.pv[k] for k in ("ActivePower_L1", "ActivePower_L2", "ActivePower_L3")}, t
        )
        written = meter.update(now=t)
        p.append(written["grid/ActivePower"].value)
    power = np.array(p)
    assert (power > 0).all()  # one sign: the trapezoid needs no zero-crossing split
    expected = float(np.trapezoid(power, ts)) / 3.6e6
    # compensated float64 sums against numpy's pairwise sum: both within ~1e-15 relative
    assert written["grid/EnergyImport"].value == pytest.approx(expected, rel=1e-12)
