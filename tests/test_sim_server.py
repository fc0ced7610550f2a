"""The simulated meter: scenario → server → adapter → DAL equals the scenario for every profile,
and every fault switch shows as ERROR at the adapter and recovers."""

from __future__ import annotations

import asyncio
import time

import pytest
from gridtap import Dal, Quality, profiles
from gridtap.modbus import ModbusMeter
from gridtap.sim import GridScenario
from pymodbus.constants import ExcCodes
from simkit import run, served

T = time.time()


def _arg(name: str) -> str:
    return "sunspec" if name.startswith("sunspec") else name


@pytest.mark.parametrize("name", profiles.names())
def test_round_trip_equals_scenario_within_resolution(name):
    scenario = GridScenario(seed=11, start=T - 600, battery_kw=3.0)
    t_served = T - 300.0  # a fixed instant the server encodes, whenever it is asked

    async def go():
        async with served(scenario, name, clock=lambda: t_served) as (sim, port):
            meter = ModbusMeter.tcp("127.0.0.1", port, profile=_arg(name))
            dal = Dal(default_max_age=1e9)
            try:
                meter.publish(dal, await meter.read())
            finally:
                await meter.close()
            return sim, meter, dal.snapshot()

    sim, meter, snap = run(go())
    truth = sim.values_at(t_served)
    frame = sim.profile.encode(truth)
    checked = 0
    for ch in meter.profile.meter_channels:
        if ch.startswith("PowerFactor"):
            continue  # recomputed from P and S, not read
        r = snap[f"grid/{ch}"]
        assert r.quality is Quality.GOOD, (name, ch)
        tol = max(sim.profile.resolution(ch, frame), abs(truth[ch]) * 2e-7) + 1e-9
        if ch == "ApparentPower" and meter.profile.apparent_power == "arithmetic":
            # formed from the three rounded phase values, not read from the total register
            tol = 3 * max(sim.profile.resolution("ApparentPower_L1", frame), abs(truth[ch]) * 2e-7) + 1e-9
        assert r.value == pytest.approx(truth[ch], abs=tol), (name, ch)
        checked += 1
    assert checked >= min(8, len(meter.profile.meter_channels))  # sdm72v1 reads three
    # derived channels agree with the scenario too
    if "ActivePower_L1" in meter.profile.meter_channels and sim.profile.phases == 3:
        s = sum(truth[f"ActivePower_L{i}"] for i in (1, 2, 3))
        assert snap["grid/ActivePower"].value == pytest.approx(
            s, abs=3 * max(sim.profile.resolution("ActivePower_L1", frame), 0.01)
        )


def _switch_on(sim, fault):
    if fault == "slow":
        sim.delay = 1.5
    elif fault == "exception":
        sim.exception = ExcCodes.DEVICE_FAILURE
    elif fault == "frozen":
        sim.frozen = True


def _switch_off(sim, fault):
    sim.delay = 0.0
    sim.exception = None
    sim.frozen = False


@pytest.mark.parametrize("fault", ["drop", "slow", "exception", "frozen"])
def test_each_fault_switch_is_seen_as_error_and_recovered_from(fault):
    async def go():
        scenario = GridScenario(seed=5, start=time.time() - 1)
        async with served(scenario, "sdm630") as (sim, port):
            dal = Dal()
            meter = ModbusMeter.tcp(
                "127.0.0.1", port, profile="sdm630", timeout=0.5, max_backoff=0.5, frozen_after=0.6
            )
            task = asyncio.create_task(meter.poll(dal, interval=0.1))

            def quality():
                r = dal.snapshot().get("grid/ActivePower")
                return None if r is None else r.quality

            async def wait(q):
                for _ in range(200):
                    if quality() is q:
                        return True
                    await asyncio.sleep(0.05)
                return False

            try:
                assert await wait(Quality.GOOD)
                if fault == "drop":
                    await sim.drop_connections(down_for=1.0)
                else:
                    _switch_on(sim, fault)
                saw_error = await wait(Quality.ERROR)
                _switch_off(sim, fault)
                recovered = await wait(Quality.GOOD)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await meter.close()
            return saw_error, recovered

    saw_error, recovered = run(go())
    assert saw_error, f"{fault} not seen as ERROR"
    assert recovered, f"no recovery after {fault}"
