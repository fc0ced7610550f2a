"""The edge cycle, its controllers and the ramp limiter, against a real Dal with written readings.

Times are explicit (`now=`), never the wall clock. Signs: grid + import; battery + charging.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest
from gridtap import Dal, Quality
from gridtap.control import (
    EdgeCycle,
    Hold,
    PeakShaving,
    PhaseZeroExport,
    Proposal,
    RampLimiter,
    Site,
)
from gridtap.control.controllers import BatteryLimits, fill_down, fill_up
from gridtap.errors import ChannelError, InvalidValueError, TimestampError, ValueTypeError

T0 = 1_700_000_000.0
SET = [f"battery/SetActivePower_{p}" for p in ("L1", "L2", "L3")]
PV_LIMIT = [f"pv/SetActivePowerLimit_{p}" for p in ("L1", "L2", "L3")]
# The spec's example: L1 imports 15 kW, L2 and L3 export 3 and 2 kW, 10 kW in total.
SPEC_GRID = (15000.0, -3000.0, -2000.0)


def write_grid(
    dal: Dal, t: float, grid: Sequence[float], namespace: str = "grid", total: bool = True
) -> None:
    values = {f"ActivePower_L{i + 1}": w for i, w in enumerate(grid)}
    if total:
        values["ActivePower"] = sum(grid)
    dal.write_many(namespace, values, t)


def write_battery(
    dal: Dal,
    t: float,
    power: Sequence[float] | None = (0.0, 0.0, 0.0),
    *,
    max_charge: float | None = 10000.0,
    max_discharge: float | None = 10000.0,
    namespace: str = "battery",
) -> None:
    values: dict[str, float | None] = {}
    if power is not None:
        values.update({f"ActivePower_L{i + 1}": w for i, w in enumerate(power)})
    if max_charge is not None:
        values["MaxChargePower"] = max_charge
    if max_discharge is not None:
        values["MaxDischargePower"] = max_discharge
    dal.write_many(namespace, values, t)


def spec_dal(t: float = T0) -> Dal:
    dal = Dal()
    write_grid(dal, t, SPEC_GRID)
    write_battery(dal, t)
    return dal


def setpoints(result_or_outputs: object) -> list[float]:
    outputs = getattr(result_or_outputs, "outputs", result_or_outputs)
    assert isinstance(outputs, dict)
    return [outputs[c] for c in SET]


def spec_controllers() -> list[PhaseZeroExport | PeakShaving]:
    return [PhaseZeroExport(phase_max_w=8000), PeakShaving(limit_w=8000, phase_max_w=8000)]


@dataclass
class SimSite:
    """A site whose battery follows its setpoints and whose PV follows its limits, exactly.

    grid_Lx = load_Lx + battery_Lx − pv_Lx (DESIGN.md's virtual-meter identity).
    """

    load: tuple[float, float, float]
    pv_available: tuple[float, float, float] = (0.0, 0.0, 0.0)
    max_charge: float = 10000.0
    max_discharge: float = 10000.0
    battery: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    pv_limit: list[float] = field(default_factory=lambda: [math.inf] * 3)

    @property
    def pv(self) -> list[float]:
        return [min(a, lim) for a, lim in zip(self.pv_available, self.pv_limit, strict=True)]

    @property
    def grid(self) -> list[float]:
        return [ld + b - p for ld, b, p in zip(self.load, self.battery, self.pv, strict=True)]

    def write(self, dal: Dal, t: float) -> None:
        write_grid(dal, t, self.grid)
        write_battery(dal, t, self.battery, max_charge=self.max_charge, max_discharge=self.max_discharge)
        dal.write_many("pv", {f"ActivePower_L{i + 1}": w for i, w in enumerate(self.pv)}, t)

    def follow(self, outputs: dict[str, float]) -> None:
        self.battery = [outputs[c] for c in SET]
        for i, c in enumerate(PV_LIMIT):
            if c in outputs:
                self.pv_limit[i] = outputs[c]


# --- the spec's example ------------------------------------------------------------------------------


def test_spec_example_both_controllers_reach_zero_export_under_the_peak_limit() -> None:
    dal = spec_dal()
    cycle = EdgeCycle(dal, spec_controllers())
    result = cycle.run_once(now=T0)

    assert result.held == {}
    assert setpoints(result) == pytest.approx([-7000.0, 3000.0, 2000.0])
    assert result.outputs["battery/SetActivePower"] == pytest.approx(-2000.0)  # net on the DC bus
    # the grid once the battery follows, computed here from the inputs: grid + (set − measured 0)
    grid_after = [g + s for g, s in zip(SPEC_GRID, setpoints(result), strict=True)]
    assert grid_after == pytest.approx([8000.0, 0.0, 0.0])
    assert sum(grid_after) <= 8000.0 + 1e-6
    assert result.predicted_grid == pytest.approx(
        {
            "grid/ActivePower_L1": 8000.0,
            "grid/ActivePower_L2": 0.0,
            "grid/ActivePower_L3": 0.0,
            "grid/ActivePower": 8000.0,
        }
    )
    # written to the DAL with the cycle's timestamp
    snap = dal.snapshot(now=T0)
    assert [snap[c].value for c in SET] == pytest.approx([-7000.0, 3000.0, 2000.0])
    assert snap["battery/SetActivePower"].value == pytest.approx(-2000.0)
    assert snap["battery/SetActivePower_L2"].timestamp == T0

    # The site reacts: the battery follows and the meter reads the new grid. The next cycle holds.
    write_grid(dal, T0 + 1, grid_after)
    write_battery(dal, T0 + 1, setpoints(result))
    again = cycle.run_once(now=T0 + 1)
    assert again.held == {}
    assert setpoints(again) == pytest.approx([-7000.0, 3000.0, 2000.0])
    assert again.predicted_grid["grid/ActivePower_L2"] == pytest.approx(0.0)
    assert again.predicted_grid["grid/ActivePower"] == pytest.approx(8000.0)


def test_spec_example_on_a_simulated_site_stays_steady_for_many_cycles() -> None:
    site = SimSite(load=(15000.0, 1000.0, 1000.0), pv_available=(0.0, 4000.0, 3000.0))
    dal = Dal()
    cycle = EdgeCycle(dal, spec_controllers())
    for k in range(5):
        site.write(dal, T0 + k)
        result = cycle.run_once(now=T0 + k)
        site.follow(result.outputs)
        assert setpoints(result) == pytest.approx([-7000.0, 3000.0, 2000.0])
    assert site.grid == pytest.approx([8000.0, 0.0, 0.0])


def test_phase_zero_export_alone_charges_on_the_exporting_phases() -> None:
    result = EdgeCycle(spec_dal(), [PhaseZeroExport()]).run_once(now=T0)
    assert setpoints(result) == pytest.approx([0.0, 3000.0, 2000.0])
    assert result.predicted_grid["grid/ActivePower_L2"] == pytest.approx(0.0)
    assert result.predicted_grid["grid/ActivePower"] == pytest.approx(15000.0)  # it does not care for peaks


def test_peak_shaving_alone_takes_the_discharge_from_the_most_importing_phase() -> None:
    result = EdgeCycle(spec_dal(), [PeakShaving(limit_w=8000)]).run_once(now=T0)
    assert setpoints(result) == pytest.approx([-2000.0, 0.0, 0.0])
    assert result.predicted_grid["grid/ActivePower"] == pytest.approx(8000.0)
    assert result.predicted_grid["grid/ActivePower_L2"] == pytest.approx(-3000.0)  # export untouched


def test_peak_shaving_lowers_the_highest_phases_together() -> None:
    dal = Dal()
    write_grid(dal, T0, (6000.0, 5000.0, 1000.0))  # 12 kW, 3 kW over the limit
    write_battery(dal, T0)
    result = EdgeCycle(dal, [PeakShaving(limit_w=9000)]).run_once(now=T0)
    # L1 comes down to L2 (1000 W), then both together (1000 W each): 5000, 4000, 1000
    assert setpoints(result) == pytest.approx([-2000.0, -1000.0, 0.0])


def test_peak_shaving_spreads_evenly_when_only_the_total_is_measured() -> None:
    dal = Dal()
    dal.write("grid/ActivePower", 12000.0, T0)
    dal.write_many(
        "battery", {"ActivePower": 0.0, "MaxChargePower": 10000.0, "MaxDischargePower": 10000.0}, T0
    )
    result = EdgeCycle(dal, [PeakShaving(limit_w=9000)]).run_once(now=T0)
    assert result.held == {}
    assert setpoints(result) == pytest.approx([-1000.0, -1000.0, -1000.0])


def test_peak_shaving_floor_can_make_the_limit_unreachable_and_says_so() -> None:
    dal = Dal()
    write_grid(dal, T0, (4000.0, 1000.0, 1000.0))
    write_battery(dal, T0)
    result = EdgeCycle(dal, [PeakShaving(limit_w=1000, min_phase_grid_w=500)]).run_once(now=T0)
    # 5000 W over the limit, but no phase may go below 500 W: 3500 + 500 + 500 = 4500 W at most
    assert setpoints(result) == pytest.approx([-3500.0, -500.0, -500.0])
    assert result.predicted_grid["grid/ActivePower"] == pytest.approx(1500.0)
    assert any("shaved only 4500 W of 5000 W" in n and "phase floor 500 W" in n for n in result.notes)


# --- composition ---------------------------------------------------------------------------------------


def test_composition_order_matters() -> None:
    # PhaseZeroExport first publishes its floor; PeakShaving after it discharges only from L1.
    first = EdgeCycle(spec_dal(), spec_controllers()).run_once(now=T0)
    assert setpoints(first) == pytest.approx([-7000.0, 3000.0, 2000.0])

    # The other way round, PeakShaving meets the limit first (2 kW from L1), then PhaseZeroExport
    # charges away the export regardless: zero export holds, the peak limit does not.
    second = EdgeCycle(spec_dal(), list(reversed(spec_controllers()))).run_once(now=T0)
    assert setpoints(second) == pytest.approx([-2000.0, 3000.0, 2000.0])
    assert second.predicted_grid["grid/ActivePower"] == pytest.approx(13000.0)
    assert second.predicted_grid["grid/ActivePower_L3"] == pytest.approx(0.0)


def test_controllers_compose_directly_without_an_edge_cycle() -> None:
    site = Site(spec_dal().snapshot(now=T0))
    proposal = PhaseZeroExport().propose(site, Proposal())
    assert isinstance(proposal, Proposal)
    assert proposal.min_phase_grid_w == 0.0
    proposal = PeakShaving(limit_w=8000).propose(site, proposal)
    assert isinstance(proposal, Proposal)
    assert proposal.battery_w == pytest.approx((-7000.0, 3000.0, 2000.0))


# --- battery limits --------------------------------------------------------------------------------------


def test_small_max_charge_power_gives_a_partial_charge_on_the_worst_phase_first() -> None:
    dal = Dal()
    write_grid(dal, T0, SPEC_GRID)
    write_battery(dal, T0, max_charge=2000.0)
    result = EdgeCycle(dal, [PhaseZeroExport()]).run_once(now=T0)
    # L2 (−3000) rises to L3 (−2000) with 1000 W, then both by 500 W: both end at −1500 W
    assert setpoints(result) == pytest.approx([0.0, 1500.0, 500.0])
    assert result.outputs["battery/SetActivePower"] == pytest.approx(2000.0)
    assert result.predicted_grid["grid/ActivePower_L2"] == pytest.approx(-1500.0)
    assert any("L2 predicted at -1500 W" in n and "max charge 2000 W" in n for n in result.notes)


def test_pv_curtailment_takes_what_the_battery_cannot() -> None:
    dal = Dal()
    write_grid(dal, T0, SPEC_GRID)
    write_battery(dal, T0, max_charge=2000.0)
    dal.write_many("pv", {"ActivePower_L1": 0.0, "ActivePower_L2": 4000.0, "ActivePower_L3": 3000.0}, T0)
    result = EdgeCycle(dal, [PhaseZeroExport(curtail_pv=True, pv_max_w=6000)]).run_once(now=T0)
    assert setpoints(result) == pytest.approx([0.0, 1500.0, 500.0])
    # the rest, 1500 W on each of L2 and L3, comes off the PV; L1 is not curtailed (its maximum)
    assert [result.outputs[c] for c in PV_LIMIT] == pytest.approx([6000.0, 2500.0, 1500.0])
    assert result.predicted_grid["grid/ActivePower_L2"] == pytest.approx(0.0)
    assert result.predicted_grid["grid/ActivePower_L3"] == pytest.approx(0.0)
    assert dal.snapshot(now=T0)["pv/SetActivePowerLimit_L2"].value == pytest.approx(2500.0)


def test_peak_shaving_counts_the_curtailment_proposed_before_it() -> None:
    dal = Dal()
    write_grid(dal, T0, SPEC_GRID)
    write_battery(dal, T0, max_charge=2000.0)
    dal.write_many("pv", {"ActivePower_L1": 0.0, "ActivePower_L2": 4000.0, "ActivePower_L3": 3000.0}, T0)
    controllers = [PhaseZeroExport(curtail_pv=True, pv_max_w=6000), PeakShaving(limit_w=8000)]
    result = EdgeCycle(dal, controllers).run_once(now=T0)
    # L2 and L3 reach 0 W by charging 2000 W and curtailing 3000 W: 15 kW in total, 7 kW to shave
    assert setpoints(result) == pytest.approx([-7000.0, 1500.0, 500.0])
    assert result.predicted_grid == pytest.approx(
        {
            "grid/ActivePower_L1": 8000.0,
            "grid/ActivePower_L2": 0.0,
            "grid/ActivePower_L3": 0.0,
            "grid/ActivePower": 8000.0,
        }
    )


def test_curtailed_pv_is_released_into_new_battery_room_without_export() -> None:
    site = SimSite(load=(15000.0, 1000.0, 1000.0), pv_available=(0.0, 4000.0, 3000.0), max_charge=2000.0)
    dal = Dal()
    cycle = EdgeCycle(dal, [PhaseZeroExport(curtail_pv=True, pv_max_w=6000)])
    for k in range(3):
        site.write(dal, T0 + k)
        site.follow(cycle.run_once(now=T0 + k).outputs)
    assert site.pv_limit == pytest.approx([6000.0, 2500.0, 1500.0])
    assert site.grid == pytest.approx([15000.0, 0.0, 0.0])

    site.max_charge = 10000.0  # the battery may now take all the PV
    for k in range(3, 10):
        site.write(dal, T0 + k)
        result = cycle.run_once(now=T0 + k)
        site.follow(result.outputs)
        assert min(site.grid) >= -1e-6  # never exports on the way
    assert site.pv == pytest.approx([0.0, 4000.0, 3000.0])  # no PV lost any more
    assert site.battery == pytest.approx([0.0, 3000.0, 2000.0])
    assert site.grid == pytest.approx([15000.0, 0.0, 0.0])


def test_total_discharge_limit_applies_to_the_net_of_the_phases() -> None:
    dal = Dal()
    write_grid(dal, T0, SPEC_GRID)
    write_battery(dal, T0, max_discharge=1000.0)
    result = EdgeCycle(dal, spec_controllers()).run_once(now=T0)
    # L2 and L3 charge 5000 W, so L1 may discharge 6000 W for a net discharge of 1000 W
    assert setpoints(result) == pytest.approx([-6000.0, 3000.0, 2000.0])
    assert result.outputs["battery/SetActivePower"] == pytest.approx(-1000.0)
    assert result.predicted_grid["grid/ActivePower"] == pytest.approx(9000.0)
    assert any("shaved only 6000 W of 7000 W" in n and "discharge limit" in n for n in result.notes)


def test_phase_max_w_bounds_each_phase() -> None:
    result = EdgeCycle(spec_dal(), [PhaseZeroExport(phase_max_w=2000)]).run_once(now=T0)
    assert setpoints(result) == pytest.approx([0.0, 2000.0, 2000.0])


def test_configured_limits_stand_in_for_unpublished_limit_channels() -> None:
    dal = Dal()
    write_grid(dal, T0, SPEC_GRID)
    write_battery(dal, T0, max_charge=None, max_discharge=None)
    held = EdgeCycle(dal, [PhaseZeroExport()]).run_once(now=T0)
    assert "battery/MaxChargePower is missing (configure max_charge_w=" in held.held["PhaseZeroExport"]
    result = EdgeCycle(dal, [PhaseZeroExport(max_charge_w=4000, max_discharge_w=0)]).run_once(now=T0)
    assert result.held == {}
    assert sum(setpoints(result)) == pytest.approx(4000.0)


def test_battery_limits_clamp_nets_the_total() -> None:
    limits = BatteryLimits(max_charge_w=1000.0, max_discharge_w=500.0, phase_max_w=3000.0)
    assert limits.clamp([4000.0, 0.0, -1000.0]) == pytest.approx((2000.0, 0.0, -1000.0))
    assert limits.clamp([-2000.0, -2000.0, 3000.0]) == pytest.approx((-1750.0, -1750.0, 3000.0))


# --- recharge ------------------------------------------------------------------------------------------


def test_recharge_below_the_second_limit_on_the_least_loaded_phase() -> None:
    dal = Dal()
    write_grid(dal, T0, (3000.0, 2000.0, 1000.0))  # 6000 W, below 0.8 × 8000 = 6400 W
    write_battery(dal, T0)
    result = EdgeCycle(dal, [PeakShaving(limit_w=8000, recharge_w=2000)]).run_once(now=T0)
    # only up to 6400 W in total: 400 W, on L3 (the least import)
    assert setpoints(result) == pytest.approx([0.0, 0.0, 400.0])


def test_recharge_is_capped_by_recharge_w_and_max_charge_power() -> None:
    dal = Dal()
    write_grid(dal, T0, (1000.0, 1000.0, 1000.0))
    write_battery(dal, T0)
    result = EdgeCycle(dal, [PeakShaving(limit_w=8000, recharge_w=2000)]).run_once(now=T0)
    assert setpoints(result) == pytest.approx([2000 / 3] * 3)

    write_battery(dal, T0 + 1, max_charge=900.0)
    write_grid(dal, T0 + 1, (1000.0, 1000.0, 1000.0))
    result = EdgeCycle(dal, [PeakShaving(limit_w=8000, recharge_w=2000)]).run_once(now=T0 + 1)
    assert sum(setpoints(result)) == pytest.approx(900.0)


def test_between_the_two_limits_peak_shaving_idles_and_stays_steady_while_recharging() -> None:
    dal = Dal()
    write_grid(dal, T0, (2500.0, 2500.0, 2000.0))  # 7000 W: between 6400 and 8000
    write_battery(dal, T0)
    cycle = EdgeCycle(dal, [PeakShaving(limit_w=8000, recharge_w=2000)])
    assert setpoints(cycle.run_once(now=T0)) == pytest.approx([0.0, 0.0, 0.0])

    site = SimSite(load=(1000.0, 1000.0, 1000.0))
    dal = Dal()
    cycle = EdgeCycle(dal, [PeakShaving(limit_w=8000, recharge_w=2000)])
    for k in range(4):  # the battery charging raises the import; the setpoint does not creep
        site.write(dal, T0 + k)
        site.follow(cycle.run_once(now=T0 + k).outputs)
        assert sum(site.battery) == pytest.approx(2000.0)
    assert sum(site.grid) == pytest.approx(5000.0)


# --- ramp limiter ---------------------------------------------------------------------------------------


def test_ramp_moves_every_setpoint_at_most_1000_w_per_1_s_cycle_and_reaches_the_target() -> None:
    site = SimSite(load=(15000.0, 1000.0, 1000.0), pv_available=(0.0, 4000.0, 3000.0))
    dal = Dal()
    cycle = EdgeCycle(dal, spec_controllers(), ramp_w_per_s=1000)
    previous = [0.0, 0.0, 0.0]
    history = []
    for k in range(9):
        site.write(dal, T0 + k)
        result = cycle.run_once(now=T0 + k)
        site.follow(result.outputs)
        now = setpoints(result)
        assert all(abs(a - b) <= 1000.0 + 1e-6 for a, b in zip(now, previous, strict=True))
        assert result.targets["battery/SetActivePower_L1"] == pytest.approx(-7000.0)
        history.append(now)
        previous = now
    assert history[0] == pytest.approx([0.0, 0.0, 0.0])  # first cycle: from the measured battery
    assert history[1] == pytest.approx([-1000.0, 1000.0, 1000.0])
    assert history[3] == pytest.approx([-3000.0, 3000.0, 2000.0])
    assert history[7] == pytest.approx([-7000.0, 3000.0, 2000.0])
    assert history[8] == history[7]
    assert site.grid == pytest.approx([8000.0, 0.0, 0.0])


def test_ramp_starts_from_the_measured_battery_power() -> None:
    dal = Dal()
    write_grid(dal, T0, SPEC_GRID)
    write_battery(dal, T0, (-2500.0, 0.0, 0.0))  # something else had the battery discharging
    cycle = EdgeCycle(dal, [PhaseZeroExport()], ramp_w_per_s=1000)
    result = cycle.run_once(now=T0)
    assert setpoints(result) == pytest.approx([-2500.0, 0.0, 0.0])  # bumpless: where the battery is
    assert [result.targets[c] for c in SET] == pytest.approx([0.0, 3000.0, 2000.0])
    write_grid(dal, T0 + 1, SPEC_GRID)
    write_battery(dal, T0 + 1, (-2500.0, 0.0, 0.0))
    assert setpoints(cycle.run_once(now=T0 + 1)) == pytest.approx([-1500.0, 1000.0, 1000.0])


def test_ramp_uses_the_time_between_cycles() -> None:
    ramp = RampLimiter(1000)
    assert ramp.apply({"battery/SetActivePower_L1": 5000.0}, T0, {"battery/SetActivePower_L1": 0.0}) == {
        "battery/SetActivePower_L1": 0.0
    }
    assert ramp.apply({"battery/SetActivePower_L1": 5000.0}, T0 + 2.5) == {
        "battery/SetActivePower_L1": 2500.0
    }
    assert ramp.apply({"battery/SetActivePower_L1": -5000.0}, T0 + 3.0) == {
        "battery/SetActivePower_L1": 2000.0
    }
    assert ramp.apply({"battery/SetActivePower_L1": 2100.0}, T0 + 4.0) == {
        "battery/SetActivePower_L1": 2100.0
    }


def test_ramp_step_does_not_change_state_and_new_channels_take_their_target() -> None:
    ramp = RampLimiter(500)
    ramp.apply({"a": 0.0}, T0)
    assert ramp.step({"a": 2000.0, "pv": 3000.0}, T0 + 1) == {"a": 500.0, "pv": 3000.0}
    assert ramp.step({"a": 2000.0}, T0 + 1) == {"a": 500.0}
    assert ramp.outputs == {"a": 0.0}
    with pytest.raises(TimestampError, match="earlier than the previous cycle"):
        ramp.step({"a": 1.0}, T0 - 1)
    ramp.reset()
    assert ramp.step({"a": 2000.0}, T0 - 1) == {"a": 2000.0}
    with pytest.raises(InvalidValueError, match="must be > 0"):
        RampLimiter(0)


def test_battery_limits_override_the_ramp() -> None:
    dal = spec_dal()
    cycle = EdgeCycle(dal, [PhaseZeroExport()], ramp_w_per_s=10000)
    cycle.run_once(now=T0)
    assert setpoints(cycle.run_once(now=T0 + 1)) == pytest.approx([0.0, 3000.0, 2000.0])

    cycle.ramp = RampLimiter(100)  # a slow ramp from here: a dropping limit must not wait for it
    cycle.ramp.commit(cycle.outputs, T0 + 1)
    write_grid(dal, T0 + 2, (15000.0, 0.0, 0.0))
    write_battery(dal, T0 + 2, (0.0, 3000.0, 2000.0), max_charge=1000.0)
    result = cycle.run_once(now=T0 + 2)
    assert result.outputs["battery/SetActivePower"] == pytest.approx(1000.0)
    # the ramp alone would give 2900 and 1900 W; the 1000 W limit scales both down at once
    assert setpoints(result) == pytest.approx([0.0, 2900 * 1000 / 4800, 1900 * 1000 / 4800])
    assert any("clipped to the battery limits" in n for n in result.notes)


# --- safe output ----------------------------------------------------------------------------------------


def _stale_l2(dal: Dal) -> None:
    dal.write("grid/ActivePower_L2", -3000.0, T0)  # 7.2 s old at the cycle
    dal.write_many(
        "grid", {"ActivePower": 10000.0, "ActivePower_L1": 15000.0, "ActivePower_L3": -2000.0}, T0 + 7.2
    )
    write_battery(dal, T0 + 7.2)


def _error_l2(dal: Dal) -> None:
    write_grid(dal, T0 + 7.2, SPEC_GRID)
    write_battery(dal, T0 + 7.2)
    dal.write("grid/ActivePower_L2", None, T0 + 7.2, Quality.ERROR)


def _missing_l2(dal: Dal) -> None:
    dal.write_many(
        "grid", {"ActivePower": 10000.0, "ActivePower_L1": 15000.0, "ActivePower_L3": -2000.0}, T0 + 7.2
    )
    write_battery(dal, T0 + 7.2)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_stale_l2, "grid/ActivePower_L2 is STALE (age 7.2 s, max 5 s)"),
        (_error_l2, "grid/ActivePower_L2 is ERROR (no valid value)"),
        (_missing_l2, "grid/ActivePower_L2 is missing"),
    ],
    ids=["stale", "error", "missing"],
)
def test_bad_input_holds_the_battery_idle_and_says_why(
    make: Callable[[Dal], None], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    dal = Dal()
    make(dal)
    with caplog.at_level(logging.WARNING, logger="gridtap.control.edge"):
        result = EdgeCycle(dal, spec_controllers()).run_once(now=T0 + 7.2)
    assert reason in result.held["PhaseZeroExport"]
    assert reason in result.held["PeakShaving"]  # it distributes over the phases, so it needs them too
    assert setpoints(result) == [0.0, 0.0, 0.0]
    assert result.outputs["battery/SetActivePower"] == 0.0
    assert any("battery idle (safe output)" in n for n in result.notes)
    assert any(reason in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_a_bad_input_of_one_controller_idles_the_whole_cycle() -> None:
    dal = Dal()
    dal.write_many("pv", {"ActivePower_L1": 0.0, "ActivePower_L2": 4000.0, "ActivePower_L3": 3000.0}, T0)
    write_grid(dal, T0 + 7.2, SPEC_GRID)
    write_battery(dal, T0 + 7.2)
    controllers = [PhaseZeroExport(curtail_pv=True, pv_max_w=6000), PeakShaving(limit_w=8000)]
    result = EdgeCycle(dal, controllers).run_once(now=T0 + 7.2)
    # PeakShaving does not need the PV readings, but builds on PhaseZeroExport, which does
    assert set(result.held) == {"PhaseZeroExport"}
    assert "pv/ActivePower_L2 is STALE (age 7.2 s, max 5 s)" in result.held["PhaseZeroExport"]
    assert setpoints(result) == [0.0, 0.0, 0.0]


def test_a_stale_limit_channel_holds() -> None:
    dal = Dal()
    write_battery(dal, T0, max_charge=10000.0)
    write_grid(dal, T0 + 6, SPEC_GRID)
    write_battery(dal, T0 + 6, max_charge=None)
    result = EdgeCycle(dal, spec_controllers()).run_once(now=T0 + 6)
    assert "battery/MaxChargePower is STALE (age 6.0 s, max 5 s)" in result.held["PhaseZeroExport"]
    assert "battery/MaxChargePower is STALE" in result.held["PeakShaving"]
    assert setpoints(result) == [0.0, 0.0, 0.0]


def test_hold_ramps_the_setpoints_to_idle_and_keeps_the_pv_limits() -> None:
    dal = Dal()
    write_grid(dal, T0, SPEC_GRID)
    write_battery(dal, T0, max_charge=2000.0)
    dal.write_many("pv", {"ActivePower_L1": 0.0, "ActivePower_L2": 4000.0, "ActivePower_L3": 3000.0}, T0)
    cycle = EdgeCycle(dal, [PhaseZeroExport(curtail_pv=True, pv_max_w=6000)], ramp_w_per_s=1000)
    cycle.ramp.commit({c: 0.0 for c in SET}, T0 - 10)  # type: ignore[union-attr]
    first = cycle.run_once(now=T0)
    assert setpoints(first) == pytest.approx([0.0, 1500.0, 500.0])

    dal.write("grid/ActivePower_L3", None, T0 + 1)  # the meter loses L3
    held = cycle.run_once(now=T0 + 1)
    assert "grid/ActivePower_L3 is ERROR" in held.held["PhaseZeroExport"]
    assert setpoints(held) == pytest.approx([0.0, 500.0, 0.0])  # towards idle at 1000 W/s
    assert [held.outputs[c] for c in PV_LIMIT] == pytest.approx([6000.0, 2500.0, 1500.0])


def test_repeated_hold_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    dal = Dal()
    _missing_l2(dal)
    cycle = EdgeCycle(dal, [PhaseZeroExport()])
    with caplog.at_level(logging.DEBUG, logger="gridtap.control.edge"):
        cycle.run_once(now=T0 + 7.2)
        cycle.run_once(now=T0 + 7.3)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1


# --- battery measurement fallbacks -------------------------------------------------------------------------


def test_without_battery_measurement_the_last_setpoints_are_assumed_applied() -> None:
    dal = Dal()
    write_grid(dal, T0, SPEC_GRID)
    write_battery(dal, T0, power=None)
    cycle = EdgeCycle(dal, [PhaseZeroExport()])
    assert setpoints(cycle.run_once(now=T0)) == pytest.approx([0.0, 3000.0, 2000.0])
    write_grid(dal, T0 + 1, (15000.0, 0.0, 0.0))  # the battery did follow
    write_battery(dal, T0 + 1, power=None)
    assert setpoints(cycle.run_once(now=T0 + 1)) == pytest.approx([0.0, 3000.0, 2000.0])


def test_a_total_battery_measurement_is_shared_out_by_the_last_setpoints() -> None:
    dal = Dal()
    write_grid(dal, T0, SPEC_GRID)
    write_battery(dal, T0, power=None)
    dal.write("battery/ActivePower", 0.0, T0)
    cycle = EdgeCycle(dal, spec_controllers())
    assert setpoints(cycle.run_once(now=T0)) == pytest.approx([-7000.0, 3000.0, 2000.0])
    write_grid(dal, T0 + 1, (8000.0, 0.0, 0.0))
    dal.write("battery/ActivePower", -2000.0, T0 + 1)
    write_battery(dal, T0 + 1, power=None)
    assert setpoints(cycle.run_once(now=T0 + 1)) == pytest.approx([-7000.0, 3000.0, 2000.0])


def test_a_stale_total_battery_measurement_holds() -> None:
    dal = Dal()
    dal.write("battery/ActivePower", 0.0, T0 - 6)
    write_grid(dal, T0, SPEC_GRID)
    write_battery(dal, T0, power=None)
    result = EdgeCycle(dal, [PhaseZeroExport()]).run_once(now=T0)
    assert "battery/ActivePower is STALE" in result.held["PhaseZeroExport"]


# --- the cycle's robustness and configuration ------------------------------------------------------------


def test_configurable_namespaces() -> None:
    dal = Dal()
    write_grid(dal, T0, SPEC_GRID, namespace="grid_main")
    write_battery(dal, T0, namespace="battery_a")
    result = EdgeCycle(dal, spec_controllers(), grid="grid_main", battery="battery_a").run_once(now=T0)
    assert result.held == {}
    assert result.outputs["battery_a/SetActivePower_L1"] == pytest.approx(-7000.0)
    assert dal.snapshot(now=T0)["battery_a/SetActivePower"].value == pytest.approx(-2000.0)
    assert result.predicted_grid["grid_main/ActivePower"] == pytest.approx(8000.0)


class _Broken:
    name = "Broken"

    def propose(self, site: Site, proposal: Proposal) -> Proposal | Hold:
        raise ZeroDivisionError("division by zero")


class _Wild:
    name = "Wild"

    def propose(self, site: Site, proposal: Proposal) -> Proposal | Hold:
        return Proposal(battery_w=(math.nan, 0.0, 0.0))


def test_a_failing_or_invalid_controller_holds_instead_of_raising(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="gridtap.control.edge"):
        result = EdgeCycle(spec_dal(), [PhaseZeroExport(), _Broken(), _Wild()]).run_once(now=T0)
    assert result.held["Broken"] == "failed: ZeroDivisionError: division by zero"
    assert "invalid proposal" in result.held["Wild"]
    assert setpoints(result) == [0.0, 0.0, 0.0]
    assert "PhaseZeroExport" not in result.held


def test_a_write_refused_by_the_dal_is_reported_not_raised() -> None:
    dal = spec_dal()
    dal.write("battery/SetActivePower_L1", 0.0, T0 + 100)  # someone else wrote it, later
    result = EdgeCycle(dal, [PhaseZeroExport()]).run_once(now=T0)
    assert result.written is False
    assert any("outputs not written" in n for n in result.notes)


def test_cycle_time_must_not_go_backwards() -> None:
    cycle = EdgeCycle(spec_dal(), [PhaseZeroExport()])
    cycle.run_once(now=T0)
    with pytest.raises(TimestampError, match="earlier than the previous cycle"):
        cycle.run_once(now=T0 - 1)


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: PeakShaving(limit_w="8000"), ValueTypeError, "limit_w must be a number"),  # type: ignore[arg-type]
        (lambda: PeakShaving(limit_w=0), InvalidValueError, "limit_w must be > 0"),
        (
            lambda: PeakShaving(limit_w=8000, recharge_below_w=9000),
            InvalidValueError,
            "must not exceed limit_w",
        ),
        (lambda: PeakShaving(limit_w=8000, phase_max_w=-1), InvalidValueError, "phase_max_w must be ≥ 0"),
        (lambda: PhaseZeroExport(curtail_pv=True), InvalidValueError, "curtail_pv=True needs pv_max_w"),
        (lambda: PhaseZeroExport(min_phase_grid_w=math.inf), InvalidValueError, "must be finite"),
        (
            lambda: EdgeCycle(Dal(), [PhaseZeroExport(), PhaseZeroExport()]),
            InvalidValueError,
            "two controllers",
        ),
        (lambda: EdgeCycle(Dal(), [object()]), ValueTypeError, "is not a controller"),  # type: ignore[list-item]
        (lambda: EdgeCycle(Dal(), [], grid="meter"), ChannelError, "unknown namespace"),
        (lambda: EdgeCycle(Dal(), [], battery="pv"), ChannelError, "not a battery namespace"),
        (lambda: EdgeCycle(Dal(), [], ramp_w_per_s=-5), InvalidValueError, "must be > 0"),
        (lambda: EdgeCycle(None, []), ValueTypeError, "needs a gridtap.Dal"),  # type: ignore[arg-type]
    ],
)
def test_bad_configuration_raises_at_construction(
    build: Callable[[], object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        build()
    assert issubclass(error, (ValueError, TypeError))


def test_no_controllers_means_idle() -> None:
    result = EdgeCycle(spec_dal(), []).run_once(now=T0)
    assert setpoints(result) == [0.0, 0.0, 0.0]
    assert result.held == {}


# --- water filling ------------------------------------------------------------------------------------------


def test_fill_down_lowers_the_highest_first_within_the_lows() -> None:
    assert fill_down([6000.0, 5000.0, 1000.0], [-math.inf] * 3, 3000.0) == pytest.approx(
        [2000.0, 1000.0, 0.0]
    )
    assert fill_down([6000.0, 5000.0, 1000.0], [5500.0, 0.0, 0.0], 3000.0) == pytest.approx(
        [500.0, 2500.0, 0.0]
    )
    assert fill_down([100.0, 100.0], [0.0, 50.0], 1000.0) == pytest.approx([100.0, 50.0])  # all it can
    assert fill_down([1.0, 2.0], [0.0, 0.0], 0.0) == [0.0, 0.0]


def test_fill_up_raises_the_lowest_first_within_the_highs() -> None:
    assert fill_up([-3000.0, -2000.0, 15000.0], [0.0, 0.0, 0.0], 2000.0) == pytest.approx(
        [1500.0, 500.0, 0.0]
    )
    assert fill_up([0.0, 0.0, 0.0], [100.0, math.inf, math.inf], 900.0) == pytest.approx(
        [100.0, 400.0, 400.0]
    )
