"""VirtualGridMeter across time: the wall clock stepping back (DESIGN.md "Time"), and a meter made
again on a DAL that already holds its energy counters (user code, or a state file saved before the
DAL's last count)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gridtap import Dal, Quality, Reading
from gridtap.state import SiteState, virtual_meter_key
from gridtap.virtual import VirtualGridMeter
from virtual_site import per_phase, write_site

T0 = 1_700_000_000.0
HOUR = 3600.0


class FixedClock:
    """The DAL's clock, set by the test: stepping it back is what NTP or an operator does."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def counters_written(dal: Dal, channel: str = "grid/EnergyImport") -> list[float]:
    """Every value of `channel` the DAL accepts from now on, in order."""
    seen: list[float] = []

    def record(updates: list[tuple[str, Reading]]) -> None:
        seen.extend(r.value for c, r in updates if c == channel and r.value is not None)

    dal.subscribe(record)
    return seen


# --- the wall clock steps back ---------------------------------------------------------------


def test_good_again_one_update_after_the_clock_steps_back() -> None:
    clock = FixedClock(T0 + HOUR)
    dal = Dal(default_max_age=5.0, clock=clock)
    meter = VirtualGridMeter(dal)
    energy = counters_written(dal)
    for k in range(4):  # 3600 W on L1 for 3 s: 3 Wh
        clock.now = T0 + HOUR + k
        write_site(dal, clock.now, load=(3600, 0, 0), pv=(0, 0, 0), battery=(0, 0, 0), reactive=True)
        meter.update()
    before = dal.snapshot()
    assert before["grid/EnergyImport"] == Reading(0.003, "kWh", T0 + HOUR + 3, Quality.GOOD)
    assert all(r.quality is Quality.GOOD for c, r in before.items() if c.startswith("grid/"))

    clock.now = T0 + 1.0  # the wall clock steps back by almost an hour
    # before the inputs are polled again, everything computed from them lies in the future: nothing
    # is written (and nothing raises), the DAL shows the stored outputs STALE
    assert meter.update() == {}
    assert all(r.quality is Quality.STALE for c, r in dal.snapshot().items() if c.startswith("grid/"))

    # the adapters poll, stamped by the stepped clock; one update brings every grid channel back
    write_site(dal, T0 + 1.0, load=(7200, 0, 0), pv=(0, 0, 0), battery=(0, 0, 0), reactive=True)
    written = meter.update()
    snap = dal.snapshot()
    grid = {c: r for c, r in snap.items() if c.startswith("grid/")}
    assert set(grid) == set(before_grid := [c for c in before if c.startswith("grid/")]), before_grid
    assert {c: r.quality for c, r in grid.items()} == dict.fromkeys(grid, Quality.GOOD)
    assert snap["grid/ActivePower"] == Reading(7200.0, "W", T0 + 1.0, Quality.GOOD)
    assert snap["grid/Timestamp"].value == T0 + 1.0
    # nothing integrated across the step (as after a gap): the count stays where it was
    assert written["grid/EnergyImport"] == Reading(0.003, "kWh", T0 + 1.0, Quality.GOOD)
    assert meter.clock_steps == 1 and meter.gap_count == 0

    clock.now = T0 + 3.0
    write_site(dal, T0 + 3.0, load=(7200, 0, 0), pv=(0, 0, 0), battery=(0, 0, 0), reactive=True)
    written = meter.update()
    # 7200 W for the 2 s after the step: 4 Wh more, and nothing for the step itself
    assert written["grid/EnergyImport"].value == pytest.approx(0.003 + 0.004, rel=1e-12)
    assert written["grid/EnergyImport"].timestamp == T0 + 3.0
    assert meter.clock_steps == 1
    assert energy == sorted(energy) and len(energy) == 6  # never backwards


def test_after_a_step_an_output_waits_for_all_of_its_inputs_to_be_polled_again() -> None:
    clock = FixedClock(T0 + HOUR)
    dal = Dal(default_max_age=5.0, clock=clock)
    meter = VirtualGridMeter(dal, battery=None)
    for k in range(2):
        clock.now = T0 + HOUR + k
        write_site(dal, clock.now, load=(1000, 2000, 3000), pv=(500, 500, 500))
        meter.update()
    published = dal.snapshot()["grid/EnergyImport"].value
    clock.now = T0
    dal.write_many("load", per_phase("ActivePower", (1100.0, 2000.0, 3000.0)), T0)  # pv not polled yet
    written = meter.update()
    # computed from a new load and a pv reading that lies in the future: STALE, at the load's time
    assert written["grid/ActivePower_L1"] == Reading(600.0, "W", T0, Quality.STALE)
    assert written["grid/ActivePower"].quality is Quality.STALE
    # no GOOD total power yet: no energy integrated, the stored counters (in the future) untouched
    assert "grid/EnergyImport" not in written
    assert dal.snapshot()["grid/EnergyImport"] == Reading(published, "kWh", T0 + HOUR + 1, Quality.STALE)

    clock.now = T0 + 0.5
    dal.write_many("pv", per_phase("ActivePower", (500.0, 500.0, 500.0)), T0 + 0.5)
    dal.write_many("load", per_phase("ActivePower", (1100.0, 2000.0, 3000.0)), T0 + 0.5)
    meter.update()
    snap = dal.snapshot()
    assert all(r.quality is Quality.GOOD for c, r in snap.items() if c.startswith("grid/")), dict(snap)
    assert snap["grid/ActivePower_L1"] == Reading(600.0, "W", T0 + 0.5, Quality.GOOD)
    assert snap["grid/EnergyImport"] == Reading(published, "kWh", T0 + 0.5, Quality.GOOD)


def test_an_older_input_is_still_skipped_when_the_clock_did_not_step() -> None:
    """Out-of-order data is not a clock step: with the published outputs not in the future, an
    input older than them is skipped and the energy is not integrated twice."""
    clock = FixedClock(T0 + 100.0)
    dal = Dal(default_max_age=60.0, clock=clock)
    meter = VirtualGridMeter(dal)
    write_site(dal, T0 + 90.0, load=(3600, 0, 0))
    meter.update()
    write_site(dal, T0 + 100.0, load=(3600, 0, 0))
    e = meter.update()["grid/EnergyImport"].value
    assert e == pytest.approx(0.01, rel=1e-12)
    dal.write_many("battery", per_phase("ActivePower", (0.0, 0.0, 0.0)), T0 + 95.0)  # appears, older
    assert not any(k.startswith("grid/ActivePower") or "Energy" in k for k in meter.update())
    assert meter.clock_steps == 0
    assert dal.snapshot()["grid/EnergyImport"].value == e


# --- a meter made again on a DAL that already holds its counters ------------------------------


def _run_site(
    dal: Dal, meter: VirtualGridMeter, clock: FixedClock, times: list[float], load_w: float
) -> None:
    for t in times:
        clock.now = t
        write_site(dal, t, load=(load_w, 0, 0), reactive=True)
        dal.write_many("load", {"ReactivePower_L1": 0.5 * load_w, "ReactivePower": 0.5 * load_w}, t)
        meter.update()


def test_a_meter_made_again_continues_from_the_counters_in_the_dal() -> None:
    clock = FixedClock(T0)
    dal = Dal(default_max_age=5.0, clock=clock)
    first = VirtualGridMeter(dal)
    _run_site(dal, first, clock, [T0 + k for k in range(4)], 3600.0)  # 3 s of 3600 W, 1800 VAR
    held = dal.snapshot()
    assert held.value("grid/EnergyImport") == pytest.approx(0.003, rel=1e-12)
    assert held.value("grid/ReactiveEnergyImport") == pytest.approx(0.0015, rel=1e-12)
    energy = counters_written(dal)

    again = VirtualGridMeter(dal)  # user code made it again: its own count starts at 0
    _run_site(dal, again, clock, [T0 + 5.0], 7200.0)
    snap = dal.snapshot()
    # it publishes, GOOD, and its counters continue from the DAL's: the interval between the two
    # meters (T0+3 → T0+5) was not observed by either and is not integrated
    assert all(r.quality is Quality.GOOD for c, r in snap.items() if c.startswith("grid/")), dict(snap)
    assert snap["grid/ActivePower"] == Reading(7200.0, "W", T0 + 5.0, Quality.GOOD)
    for name in ("EnergyImport", "EnergyExport", "ReactiveEnergyImport", "ReactiveEnergyExport"):
        assert snap[f"grid/{name}"].value == held[f"grid/{name}"].value, name
        assert snap[f"grid/{name}"].timestamp == T0 + 5.0, name
    _run_site(dal, again, clock, [T0 + 6.0], 7200.0)
    snap = dal.snapshot()
    assert snap.value("grid/EnergyImport") == pytest.approx(0.003 + 0.002, rel=1e-12)  # 7200 W · 1 s
    assert snap.value("grid/ReactiveEnergyImport") == pytest.approx(0.0015 + 0.001, rel=1e-12)
    assert snap.value("grid/EnergyNet") == pytest.approx(0.005, rel=1e-12)
    assert energy == sorted(energy) and len(energy) == 2


def test_continuing_from_the_dal_never_rounds_below_its_counter() -> None:
    """kWh → W·s → kWh is not exact for every value: the counter taken over must not come back a
    hair below the DAL's, which the DAL would refuse as a decrease."""
    lossy = [x for x in (k * 0.1 + 1e-7 * k for k in range(1, 400)) if x * 3.6e6 / 3.6e6 < x]
    assert len(lossy) >= 5  # the case this test is about exists
    for kwh in lossy[:5]:
        clock = FixedClock(T0 + 10.0)
        dal = Dal(default_max_age=5.0, clock=clock)
        dal.write_many("grid", {"EnergyImport": kwh, "EnergyExport": kwh / 3}, T0)
        meter = VirtualGridMeter(dal)
        write_site(dal, T0 + 10.0, load=(0, 0, 0))
        written = meter.update()
        imp, exp = written["grid/EnergyImport"].value, written["grid/EnergyExport"].value
        assert imp is not None and exp is not None
        # the W·s nearest above: at most an ulp or two over the DAL's count, never under it
        assert kwh <= imp <= kwh * (1 + 1e-15), kwh
        assert kwh / 3 <= exp <= kwh / 3 * (1 + 1e-15), kwh
        assert written["grid/EnergyNet"].value == imp - exp


def test_a_saved_state_and_the_dal_give_the_larger_count_either_way() -> None:
    """The site runner restores a meter's saved energy (state file) before its first update; the
    DAL may hold more (saved a while ago) or less (a new DAL, as in a restarted process)."""
    clock = FixedClock(T0)
    dal = Dal(default_max_age=5.0, clock=clock)
    first = VirtualGridMeter(dal)
    _run_site(dal, first, clock, [T0, T0 + 1.0], 3600.0)
    saved = first.state()  # 1 Wh
    _run_site(dal, first, clock, [T0 + 2.0, T0 + 3.0], 3600.0)  # 3 Wh in the DAL

    older = VirtualGridMeter(dal)
    older.restore_state(saved)
    _run_site(dal, older, clock, [T0 + 4.0], 3600.0)
    assert dal.snapshot().value("grid/EnergyImport") == pytest.approx(0.003, rel=1e-12)

    newer_state = first.state()  # 3 Wh
    fresh_dal = Dal(default_max_age=5.0, clock=clock)
    fresh_dal.write_many("grid", {"EnergyImport": 0.001, "EnergyExport": 0.0}, T0)
    restarted = VirtualGridMeter(fresh_dal)
    restarted.restore_state(newer_state)
    _run_site(fresh_dal, restarted, clock, [T0 + 6.0], 3600.0)
    assert fresh_dal.snapshot().value("grid/EnergyImport") == pytest.approx(0.003, rel=1e-12)


def test_the_site_state_file_path_agrees(tmp_path: Path) -> None:
    """What `gridtap run` does (site/run.py): build the meter, restore it from the state file
    through SiteState, then update. A state file saved before the DAL's last count does not pull
    the counter back, and the meter goes on publishing."""
    clock = FixedClock(T0)
    dal = Dal(default_max_age=5.0, clock=clock)
    first = VirtualGridMeter(dal, namespace="grid_v")
    key = virtual_meter_key("grid_v", "load", "pv", "battery")
    _run_site(dal, first, clock, [T0, T0 + 1.0], 3600.0)
    SiteState(tmp_path / "state.json", {key: first}).save()  # 1 Wh saved
    _run_site(dal, first, clock, [T0 + 2.0], 3600.0)  # 2 Wh published

    again = VirtualGridMeter(dal, namespace="grid_v")
    assert SiteState(tmp_path / "state.json", {key: again}).restore() == 1
    _run_site(dal, again, clock, [T0 + 3.0, T0 + 4.0], 3600.0)
    snap = dal.snapshot()
    assert snap["grid_v/EnergyImport"].quality is Quality.GOOD
    # 2 Wh from the DAL, then 1 Wh from T0+3 to T0+4 (T0+2 → T0+3 lay between the two meters)
    assert snap.value("grid_v/EnergyImport") == pytest.approx(0.003, rel=1e-12)
    assert snap["grid_v/ActivePower"] == Reading(3600.0, "W", T0 + 4.0, Quality.GOOD)


def test_a_state_of_more_than_one_total_is_refused() -> None:
    meter = VirtualGridMeter(Dal())
    phase = {"import_ws": 3.6e6, "export_ws": 0.0, "gap_count": 0, "gap_seconds": 0.0}
    for bad in ({"active": [phase, phase], "reactive": []}, {"active": [phase], "reactive": [phase]}):
        state = meter.state() | {"active": bad}
        with pytest.raises(ValueError, match="the active energy state is not one total's"):
            meter.restore_state(state)
    assert meter.state()["active"] == {"active": [], "reactive": []}  # unchanged
    meter.restore_state(meter.state() | {"active": {"active": [phase], "reactive": []}})
    assert meter.state()["active"]["active"] == [phase]
