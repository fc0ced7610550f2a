"""Time (DESIGN.md "Time"): the wall clock steps back. Through an injected clock: the DAL, the
pipeline's streams, and a ModbusMeter polling a pymodbus server.

After a step back, stored readings lie in the future: they are not GOOD, and newer measurements,
stamped by the stepped clock, replace them, so every polled channel is GOOD again within one poll.
"""

from __future__ import annotations

import asyncio
import math
import time
import tomllib
import types

import numpy as np
import pytest
from gridtap import (
    Dal,
    InputError,
    InvalidValueError,
    MeterPipeline,
    Quality,
    Reading,
    Snapshot,
    TimestampError,
    profiles,
)
from gridtap.modbus import ModbusMeter
from gridtap.profile import parse_profile
from simkit import run, served, static_site, until

T0 = 1_700_000_000.0
HOUR = 3600.0


class SteppableClock:
    """The wall clock plus an offset that a test steps, as NTP or an operator would."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def __call__(self) -> float:
        return time.time() + self.offset


class FixedClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- the DAL ----------------------------------------------------------------------------------------


def test_after_a_step_back_stored_readings_are_not_good_and_new_ones_replace_them():
    clock = FixedClock(T0 + HOUR)
    dal = Dal(default_max_age=5.0, clock=clock)
    dal.write_many("grid", {"ActivePower": 1.0, "Frequency": 50.0, "EnergyImport": 10.0}, T0 + HOUR)
    dal.write_many("load", {"ActivePower": 500.0}, T0 + HOUR)
    clock.now = T0 + 1.0  # the clock steps back by almost an hour
    snap = dal.snapshot()
    assert {c: r.quality for c, r in snap.items()} == dict.fromkeys(snap, Quality.STALE)
    assert snap.value("grid/ActivePower") is None

    # the next poll of the fast channels, stamped by the stepped clock, replaces them
    dal.write_many("grid", {"ActivePower": 2.0, "Frequency": 50.01}, T0 + 1.0)
    snap = dal.snapshot()
    assert snap["grid/ActivePower"] == Reading(2.0, "W", T0 + 1.0, Quality.GOOD)
    assert snap["grid/Frequency"].quality is Quality.GOOD
    # not polled again yet: still in the future, and so is the namespace's newest measurement
    assert snap["grid/EnergyImport"] == Reading(10.0, "kWh", T0 + HOUR, Quality.STALE)
    assert snap["grid/Timestamp"] == Reading(T0 + HOUR, "s", T0 + HOUR, Quality.STALE)

    clock.now = T0 + 2.0
    dal.write_many("grid", {"ActivePower": 3.0, "Frequency": 50.0, "EnergyImport": 10.001}, T0 + 2.0)
    snap = dal.snapshot()
    assert all(
        snap[f"grid/{c}"].quality is Quality.GOOD for c in ("ActivePower", "Frequency", "EnergyImport")
    )
    assert snap["grid/Timestamp"] == Reading(T0 + 2.0, "s", T0 + 2.0, Quality.GOOD)
    # the other namespace is untouched until its own source writes
    assert snap["load/ActivePower"].quality is Quality.STALE
    # and going backwards is still refused once nothing lies in the future
    with pytest.raises(TimestampError, match=r"grid/ActivePower: .*must not go backwards"):
        dal.write("grid/ActivePower", 4.0, T0 + 1.5)


def test_a_step_within_the_tolerance_keeps_the_stored_readings():
    """A step smaller than the tolerance leaves the stored readings GOOD (they are not in the
    future by more than it); an older write is refused until the clock has caught up."""
    clock = FixedClock(T0 + 10.0)
    dal = Dal(clock=clock)
    dal.write("grid/ActivePower", 1.0, T0 + 10.0)
    clock.now = T0 + 9.6
    assert dal.snapshot()["grid/ActivePower"].quality is Quality.GOOD
    with pytest.raises(TimestampError, match="backwards"):
        dal.write("grid/ActivePower", 2.0, T0 + 9.6)
    clock.now = T0 + 10.1
    dal.write("grid/ActivePower", 2.0, T0 + 10.1)
    assert dal.snapshot().value("grid/ActivePower") == 2.0


def test_counters_stay_monotonic_across_a_step():
    clock = FixedClock(T0 + HOUR)
    dal = Dal(clock=clock)
    dal.write("grid/EnergyImport", 100.0, T0 + HOUR)
    clock.now = T0
    with pytest.raises(InvalidValueError, match=r"grid/EnergyImport: .*never decreases"):
        dal.write("grid/EnergyImport", 99.0, T0)
    dal.write("grid/EnergyImport", 100.0, T0)
    assert dal.snapshot().value("grid/EnergyImport") == 100.0


# --- the pipeline ------------------------------------------------------------------------------------

POWER_ONLY = parse_profile(
    tomllib.loads(
        """
[meter]
name = "power-and-frequency"
function_code = 4
[channels]
ActivePower_L1 = 0x000C
ActivePower_L2 = 0x000E
ActivePower_L3 = 0x0010
Frequency = 0x0046
"""
    ),
    "inline-test-profile",
)


def frame(p_l1: float, f: float = 50.0) -> np.ndarray:
    return POWER_ONLY.encode(
        {"ActivePower_L1": p_l1, "ActivePower_L2": 0.0, "ActivePower_L3": 0.0, "Frequency": f}
    )


def test_the_pipeline_restarts_its_streams_when_the_clock_steps_back():
    pipe = MeterPipeline(POWER_ONLY, rocof_window=1.0)
    assert {"EnergyImport", "Frequency_RoCoF"} <= set(pipe.channels)  # integrated and estimated here
    # frequencies exact in float32: a ramp of 0.25 Hz/s
    out = [pipe.push(T0 + k, frame(3600.0, 50.0 + 0.25 * k)) for k in range(4)]
    # 3600 W for 3 s is 3 Wh
    assert out[-1]["EnergyImport"] == pytest.approx(0.003, rel=1e-12)
    assert out[-1]["Frequency_RoCoF"] == pytest.approx(0.25, rel=1e-9)

    stepped = pipe.push(T0 - HOUR, frame(3600.0, 50.0))
    assert pipe.clock_steps == 1
    assert pipe.last_timestamp == T0 - HOUR
    assert stepped["EnergyImport"] == out[-1]["EnergyImport"]  # nothing integrated across the step
    assert stepped["Frequency_RoCoF"] is None  # a new window, as after a gap
    after = [pipe.push(T0 - HOUR + k, frame(3600.0, 50.0 - 0.5 * k)) for k in (1, 2)]
    assert after[0]["EnergyImport"] == pytest.approx(0.004, rel=1e-12)
    assert after[1]["EnergyImport"] == pytest.approx(0.005, rel=1e-12)
    # from the samples after the step only (with the ones before, the slope would not be −0.5)
    assert after[1]["Frequency_RoCoF"] == pytest.approx(-0.5, rel=1e-9)
    # a repeated frame is still refused, and changes nothing
    with pytest.raises(InputError, match="does not increase"):
        pipe.push(T0 - HOUR + 2, frame(3600.0))
    assert pipe.clock_steps == 1


def test_meter_counters_are_unaffected_by_a_step():
    sdm = profiles.load("sdm630")
    pipe = MeterPipeline(sdm)
    values = {"Voltage_L1": 230.0, "Frequency": 50.0, "EnergyImport": 1000.0, "EnergyExport": 5.0}
    before = pipe.push(T0, sdm.encode(values))
    stepped = pipe.push(T0 - HOUR, sdm.encode({**values, "EnergyImport": 1000.5}))
    assert (before["EnergyImport"], stepped["EnergyImport"]) == (1000.0, 1000.5)
    assert pipe.counter_resets == 0 and pipe.clock_steps == 1


def test_a_step_between_batches_gives_what_single_frames_give():
    ts = np.concatenate([T0 + np.arange(6.0), T0 - HOUR + np.arange(6.0)])
    frames = np.stack([frame(1000.0 * (k % 3) - 800.0, 50.0 + 0.01 * k) for k in range(len(ts))])
    batches = MeterPipeline(POWER_ONLY, rocof_window=1.0)
    parts = [batches.push_many(ts[:6], frames[:6]), batches.push_many(ts[6:], frames[6:])]
    singles = MeterPipeline(POWER_ONLY, rocof_window=1.0)
    rows = [singles.push(float(t), f) for t, f in zip(ts, frames, strict=True)]
    for ch in parts[0]:
        joined = np.concatenate([part[ch] for part in parts])
        single = np.array([math.nan if r[ch] is None else r[ch] for r in rows])
        assert np.array_equal(joined, single, equal_nan=True), ch
    assert batches.clock_steps == singles.clock_steps == 1
    # disorder inside a batch is the caller's data, not a clock step: refused
    with pytest.raises(InputError, match="does not increase"):
        batches.push_many(np.array([T0, T0 - 1.0]), frames[:2])
    assert batches.clock_steps == 1


# --- the adapter, polling a pymodbus server ----------------------------------------------------------


def _stepped_adapter(monkeypatch: pytest.MonkeyPatch, clock: SteppableClock) -> None:
    # the adapter stamps its readings with time.time(): give it the test's clock
    import gridtap.modbus

    monkeypatch.setattr(gridtap.modbus, "time", types.SimpleNamespace(time=clock))


def test_an_adapter_is_good_again_one_poll_after_the_clock_steps_back(monkeypatch):
    clock = SteppableClock()
    _stepped_adapter(monkeypatch, clock)

    async def go() -> None:
        site = static_site(load_w=(3600.0, 0.0, 0.0))
        async with served(site, POWER_ONLY) as (_, port):
            dal = Dal(clock=clock, default_max_age=5.0)
            meter = ModbusMeter.tcp("127.0.0.1", port, profile=POWER_ONLY, rocof_window=0.2)
            try:
                for _ in range(3):
                    meter.publish(dal, await meter.read())
                    await asyncio.sleep(0.15)
                before = dal.snapshot()
                assert all(r.quality is Quality.GOOD for r in before.values()), dict(before)

                clock.offset -= HOUR
                assert all(r.quality is Quality.STALE for r in dal.snapshot().values())
                readings = await meter.read()  # one poll
                meter.publish(dal, readings)
                snap = dal.snapshot()
                # RoCoF needs its window again (as after any gap); everything else is GOOD now
                rocof = snap["grid/Frequency_RoCoF"]
                assert rocof.quality is Quality.ERROR
                assert {
                    c: r.quality for c, r in snap.items() if c != "grid/Frequency_RoCoF"
                } == dict.fromkeys((c for c in snap if c != "grid/Frequency_RoCoF"), Quality.GOOD)
                assert (
                    snap["grid/Timestamp"].value
                    == readings["ActivePower"].timestamp
                    < before.time - HOUR + 60
                )
                # nothing integrated across the step: the energy is where it was
                assert snap["grid/EnergyImport"].value == before["grid/EnergyImport"].value
                assert meter.pipeline.clock_steps == 1

                await asyncio.sleep(0.25)
                meter.publish(dal, await meter.read())
                snap = dal.snapshot()
                assert all(r.quality is Quality.GOOD for r in snap.values()), dict(snap)
                # 3600 W for the time between the two polls after the step, and nothing more
                dt = snap["grid/EnergyImport"].timestamp - readings["EnergyImport"].timestamp
                gained = snap["grid/EnergyImport"].value - before["grid/EnergyImport"].value
                assert gained == pytest.approx(3600.0 * dt / 3.6e6, rel=1e-9)
            finally:
                await meter.close()

    run(go())


def test_a_polling_meter_reads_its_slow_group_again_after_a_step(monkeypatch):
    """Energy counters read every `slow_interval` (ABB B23: a slow block) must not wait for the
    clock to catch up with their last read."""
    clock = SteppableClock()
    _stepped_adapter(monkeypatch, clock)

    async def go() -> None:
        async with served(static_site(load_w=(2000.0, 1000.0, 500.0)), "abb_b23") as (_, port):
            dal = Dal(clock=clock, default_max_age=5.0)
            meter = ModbusMeter.tcp("127.0.0.1", port, profile="abb_b23", slow_interval=30.0)
            # each poll's writes, with a snapshot taken right after them
            polls: list[tuple[dict[str, Reading], Snapshot]] = []
            dal.subscribe(lambda updates: polls.append((dict(updates), dal.snapshot())))
            task = asyncio.create_task(meter.poll(dal, interval=0.2))
            try:
                assert await until(lambda: dal.snapshot().value("grid/EnergyImport") is not None, 10)
                assert await until(lambda: len(polls) >= 2, 10)
                clock.offset -= HOUR
                n = len(polls)
                assert await until(lambda: len(polls) > n, 10)
                first_after, snap = polls[n]
                # the first poll after the step read every block and left every channel GOOD
                assert "grid/EnergyImport" in first_after
                assert first_after["grid/EnergyImport"].timestamp <= snap.time
                not_good = {c: r for c, r in snap.items() if r.quality is not Quality.GOOD}
                assert set(not_good) <= {"grid/Frequency_RoCoF"}, not_good
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                await meter.close()

    run(go())
