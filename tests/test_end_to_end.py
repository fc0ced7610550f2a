"""The spec's end-to-end example for real: simulated meter → Modbus → DAL → edge cycle → battery
setpoints → the simulated site reacts → the grid channels show zero export per phase and the
total under the peak limit."""

from __future__ import annotations

import asyncio
import time

import pytest
from gridtap import Dal, EdgeCycle, ModbusMeter, PeakShaving, PhaseZeroExport, Quality
from gridtap.sim import GridScenario, MeterSimulator
from simkit import run

LIMIT_W = 8000.0
BATTERY_MAX_W = 24000.0  # total; the simulated battery allows a third of it per phase


def test_spec_example_end_to_end():
    async def go():
        now = time.time()
        scenario = GridScenario.static(
            start=now - 1,
            load_w=(15000.0, 1000.0, 1000.0),
            pv_w=(0.0, 4000.0, 3000.0),
            battery_max_charge_w=BATTERY_MAX_W,
            battery_max_discharge_w=BATTERY_MAX_W,
        )
        sim = MeterSimulator(scenario, "sdm630")
        port = await sim.start()
        meter = ModbusMeter.tcp("127.0.0.1", port, profile="sdm630")
        dal = Dal()
        cycle = EdgeCycle(dal, [PhaseZeroExport(), PeakShaving(limit_w=LIMIT_W)])

        def battery_adapter() -> None:
            t = time.time()
            dal.write_many(
                "battery", {k: v for k, v in scenario.sample(t).battery.items() if not k.startswith("Set")}, t
            )

        try:
            # 1. the meter is read over Modbus into the DAL
            meter.publish(dal, await meter.read())
            battery_adapter()
            before = dal.snapshot()
            # 2. one edge cycle
            result = cycle.run_once()
            # 3. the battery follows, the site reacts, the meter is read again
            sets = [result.outputs[f"battery/SetActivePower_L{i}"] for i in (1, 2, 3)]
            scenario.set_battery_setpoints(sets)
            await asyncio.sleep(0.25)  # the next scenario step
            battery_adapter()
            meter.publish(dal, await meter.read())
            after = dal.snapshot()
            second = cycle.run_once()
        finally:
            await meter.close()
            await sim.stop()
        return before, result, after, second

    before, result, after, second = run(go())
    assert [before[f"grid/ActivePower_L{i}"].value for i in (1, 2, 3)] == [15000.0, -3000.0, -2000.0]
    assert before["grid/ActivePower"].value == 10000.0
    assert not result.held, result.held
    sets = [result.outputs[f"battery/SetActivePower_L{i}"] for i in (1, 2, 3)]
    assert sets == pytest.approx([-7000.0, 3000.0, 2000.0])
    assert result.outputs["battery/SetActivePower"] == pytest.approx(-2000.0)
    # within the battery's limits, per phase and in total
    assert all(abs(s) <= BATTERY_MAX_W / 3 for s in sets)
    assert abs(sum(sets)) <= BATTERY_MAX_W
    # after the site reacted, the grid channels show it
    grid = {i: after[f"grid/ActivePower_L{i}"] for i in (1, 2, 3)}
    assert all(r.quality is Quality.GOOD for r in grid.values())
    assert grid[2].value == pytest.approx(0.0, abs=1e-6) and grid[3].value == pytest.approx(0.0, abs=1e-6)
    assert after["grid/ActivePower"].value <= LIMIT_W + 1e-6
    assert after["grid/ActivePower"].timestamp > before["grid/ActivePower"].timestamp
    # and the next cycle holds steady
    assert [second.outputs[f"battery/SetActivePower_L{i}"] for i in (1, 2, 3)] == pytest.approx(sets)
