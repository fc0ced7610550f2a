"""PmuMeter against the simulated PMU over real TCP and UDP on 127.0.0.1: values against the
scenario, sign conventions, start-up, reconnection, positive sequence only, clock offset."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time

import numpy as np
import pytest
from gridtap import Dal, Quality
from gridtap.pmu import PmuMeter
from gridtap.sim.pmu_server import PmuSimulator
from gridtap.sim.scenario import FrequencyEvent, GridScenario
from simkit import SPEC_SITE, run, static_site, until

# inductive Q on L1, capacitive on L2; L2 and L3 export
SITE = {**SPEC_SITE, "load_var": (1500.0, -700.0, 0.0)}


async def _served(scenario: GridScenario, transport: str = "tcp", **kw) -> tuple[PmuSimulator, int]:
    sim = PmuSimulator(scenario, **kw)
    return sim, await sim.start(transport=transport)


def _expected(scenario: GridScenario, t: float) -> dict[str, float]:
    return scenario.sample(t).grid


# integer phasors are counted in 0.01 V / 0.01 A and integer angles in 1e-4 rad
def _tolerance(fmt: int, ch: str, expected: float) -> float:
    floating = fmt & 0x2
    if ch.startswith(("Voltage", "Current")):
        return 1e-4 * abs(expected) + (0.0 if floating else 0.02)
    if ch.startswith(("Active", "Reactive", "Apparent", "PhaseImb")):
        return 1e-4 * abs(expected) + (0.05 if floating else 12.0)
    if ch.startswith("PowerFactor"):
        return 1e-4 if floating else 3e-3
    return 1e-3


@pytest.mark.parametrize("fmt", range(16))
def test_every_format_reads_the_scenario_values(fmt):
    scenario = static_site(**SITE, frequency=50.02)

    async def go():
        sim, port = await _served(scenario, idcode=17, format=fmt, rate=25)
        meter = PmuMeter.tcp("127.0.0.1", port, idcode=17)
        try:
            return await meter.read(), meter, sim
        finally:
            await meter.close()
            await sim.stop()

    readings, meter, sim = run(go())
    t = readings["ActivePower"].timestamp
    assert abs(t * 25 - round(t * 25)) < 1e-3  # stamped at a whole multiple of the period
    expected = _expected(scenario, t)
    assert meter.mapping is not None and meter.mapping.mode == "per-phase" and meter.left_out == []
    checked = 0
    for ch, r in readings.items():
        if ch in expected and not ch.startswith("Energy"):
            assert r.quality is Quality.GOOD, ch
            assert r.value == pytest.approx(expected[ch], abs=_tolerance(fmt, ch, expected[ch])), ch
            checked += 1
    assert checked >= 28
    # the sign conventions, stated once more by hand
    assert readings["ActivePower_L1"].value > 0 and readings["ReactivePower_L1"].value > 0  # inductive load
    assert (
        readings["ActivePower_L2"].value < 0 and readings["ReactivePower_L2"].value < 0
    )  # export, capacitive
    assert readings["ActivePower"].value == pytest.approx(10000.0, abs=40)
    assert readings["Frequency"].value == pytest.approx(50.02, abs=1e-3)
    assert sim.commands[:2] == [5, 2]  # send CFG-2, then turn on


def test_invert_flips_p_and_q_and_swaps_the_energy_counters():
    scenario = static_site(**SITE)

    async def go():
        sim, port = await _served(scenario, idcode=3)
        straight = PmuMeter.tcp("127.0.0.1", port, idcode=3)
        inverted = PmuMeter.tcp("127.0.0.1", port, idcode=3, invert=True)
        a, b = Dal(), Dal()
        tasks = [asyncio.create_task(straight.poll(a)), asyncio.create_task(inverted.poll(b))]
        await asyncio.sleep(1.5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await sim.stop()
        return a.snapshot(), b.snapshot()

    a, b = run(go())
    for ch in ("ActivePower", "ActivePower_L2", "ReactivePower_L1", "ReactivePower"):
        assert b.value(f"grid/{ch}") == pytest.approx(-a.value(f"grid/{ch}"), rel=1e-5, abs=0.05), ch
    assert a.value("grid/ActivePower") > 0 and b.value("grid/ActivePower") < 0
    assert a.value("grid/EnergyImport") > 0 and a.value("grid/EnergyExport") == 0.0
    assert b.value("grid/EnergyExport") > 0 and b.value("grid/EnergyImport") == 0.0
    assert b.value("grid/Voltage_L1") == pytest.approx(a.value("grid/Voltage_L1"))


def test_poll_writes_every_frame_with_energy_integrated_from_p():
    scenario = static_site(**SITE)
    frames: list[float] = []

    async def go():
        sim, port = await _served(scenario, idcode=9, rate=50)
        meter = PmuMeter.tcp("127.0.0.1", port, idcode=9)
        dal = Dal()
        dal.subscribe(lambda updates: frames.append(updates[0][1].timestamp))
        task = asyncio.create_task(meter.poll(dal))
        await until(lambda: len(frames) >= 100, timeout=20)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sim.stop()
        return dal.snapshot(), meter

    snap, meter = run(go())
    ts = np.array(frames)
    assert np.allclose(np.diff(ts), 0.02, atol=1e-6)  # one write per frame, none lost
    assert meter.stats.missed_cycles == 0 and meter.stats.polls >= len(ts)
    energy = snap["grid/EnergyImport"]
    # 10 kW net import: the trapezoid integral from the first frame to the one that carried it
    assert energy.value == pytest.approx(10000.0 * (energy.timestamp - ts[0]) / 3.6e6, rel=2e-3)
    assert snap.value("grid/EnergyNet") == pytest.approx(energy.value)
    assert meter.rocof_estimate == pytest.approx(0.0, abs=1e-6)


def test_frequency_events_reach_frequency_rocof_and_the_estimate():
    start = time.time() - 1.0
    scenario = GridScenario(
        seed=4,
        start=start,
        step=0.02,
        frequency_std=0.0,
        events=[FrequencyEvent.ramp(at=1.0, rate_hz_s=-0.5, duration=60)],
    )
    seen: list[tuple[float, float, float]] = []

    async def go():
        sim, port = await _served(scenario, idcode=5, rate=50, format=0x0)  # all integer
        meter = PmuMeter.tcp("127.0.0.1", port, idcode=5, rocof_window=0.5)
        dal = Dal()

        def note(updates):
            d = dict(updates)
            f, r = d.get("grid/Frequency"), d.get("grid/Frequency_RoCoF")
            if f is not None and r is not None and f.value is not None:
                seen.append((f.timestamp, f.value, r.value))

        dal.subscribe(note)
        task = asyncio.create_task(meter.poll(dal))
        await until(lambda: bool(seen) and seen[-1][0] > start + 2.5, timeout=20)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sim.stop()
        return meter

    meter = run(go())
    for t, f, r in seen[-20:]:
        exp = scenario.sample(t).grid
        assert f == pytest.approx(exp["Frequency"], abs=1e-3)  # integer FREQ: mHz
        assert r == pytest.approx(exp["Frequency_RoCoF"], abs=0.01)
    assert seen[-1][2] == pytest.approx(-0.5, abs=0.01)
    assert meter.rocof_estimate == pytest.approx(-0.5, abs=0.01)
    assert meter.rocof_estimate_time == pytest.approx(seen[-1][0] - 0.25, abs=0.1)


def test_reconnects_after_the_pmu_drops_the_connection():
    scenario = static_site(**SITE)

    async def go():
        sim, port = await _served(scenario, idcode=11, rate=20)
        meter = PmuMeter.tcp("127.0.0.1", port, idcode=11, timeout=1.0)
        dal = Dal()
        qualities: list[Quality] = []
        dal.subscribe(lambda u: qualities.extend(r.quality for ch, r in u if ch == "grid/ActivePower"))
        task = asyncio.create_task(meter.poll(dal))
        assert await until(lambda: meter.stats.polls >= 5)
        await sim.drop_connections(down_for=1.0)
        assert await until(lambda: Quality.ERROR in qualities)
        assert not meter.link_up
        assert await until(lambda: qualities[-1] is Quality.GOOD, timeout=15)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sim.stop()
        return meter, qualities, dal.snapshot()

    meter, qualities, snap = run(go())
    assert meter.stats.reconnects >= 2
    assert meter.stats.last_error is not None
    first_error = qualities.index(Quality.ERROR)
    assert all(q is Quality.GOOD for q in qualities[:first_error])
    assert snap["grid/ActivePower"].quality is Quality.GOOD
    # ERROR is written once per outage, not on every retry
    assert sum(1 for q in qualities if q is Quality.ERROR) == 1


def test_unreachable_pmu_gives_error_readings_not_exceptions():
    async def go():
        meter = PmuMeter.tcp("127.0.0.1", 1, idcode=1, timeout=0.5)
        return await meter.read(), meter

    readings, meter = run(go())
    assert readings and all(r.quality is Quality.ERROR and r.value is None for r in readings.values())
    assert "cannot connect to TCP 127.0.0.1:1" in (meter.stats.last_error or "")
    assert meter.stats.failed_polls == 1


def test_wrong_idcode_times_out_waiting_for_the_configuration():
    async def go():
        sim, port = await _served(static_site(**SITE), idcode=4)
        meter = PmuMeter.tcp("127.0.0.1", port, idcode=5, timeout=0.5)
        try:
            return await meter.read(), meter
        finally:
            await sim.stop()

    readings, meter = run(go())
    assert all(r.quality is Quality.ERROR for r in readings.values())
    assert meter.stats.last_error == "no configuration (CFG-2) for IDCODE 5 within 0.5 s"


def test_positive_sequence_only_pmu(caplog):
    balanced = static_site(load_w=(4000.0, 4000.0, 4000.0), load_var=(900.0, 900.0, 900.0))

    async def go():
        sim, port = await _served(balanced, idcode=21, phasors="positive")
        meter = PmuMeter.tcp("127.0.0.1", port, idcode=21)
        try:
            first = await meter.read()
            second = await meter.read()
            return first, second, meter
        finally:
            await meter.close()
            await sim.stop()

    with caplog.at_level(logging.WARNING, logger="gridtap.pmu"):
        first, second, meter = run(go())
    assert meter.mapping is not None and meter.mapping.mode == "positive-sequence"
    assert first["ActivePower"].value == pytest.approx(12000.0, abs=0.5)
    assert first["ReactivePower"].value == pytest.approx(2700.0, abs=0.5)
    assert first["ApparentPower"].value == pytest.approx(math.hypot(12000.0, 2700.0), abs=0.5)
    assert "Voltage_L1" not in first and "ActivePower_L1" not in first
    assert second["ActivePower"].timestamp > first["ActivePower"].timestamp
    assert {"Voltage_L1", "Current_L3", "ActivePower_L2", "PhaseImbalance"} <= set(meter.left_out)
    said = [r.message for r in caplog.records if "positive sequence only" in r.message]
    assert len(said) == 1 and "Voltage_L1" in said[0]  # said once, naming what is left out


def test_udp_commands_and_data():
    scenario = static_site(**SITE)

    async def go():
        sim, port = await _served(scenario, "udp", idcode=31, format=0x3, rate=30)
        meter = PmuMeter.udp("127.0.0.1", port, idcode=31)
        try:
            readings = [await meter.read() for _ in range(3)]
        finally:
            await meter.close()
        await asyncio.sleep(0.2)
        clients_after_close = sim.clients, sim.commands
        await sim.stop()
        return readings, clients_after_close

    readings, (_, commands) = run(go())
    for r in readings:
        exp = _expected(scenario, r["ActivePower"].timestamp)
        assert r["ActivePower_L2"].value == pytest.approx(exp["ActivePower_L2"], abs=0.5)
        assert r["Current_L1"].value == pytest.approx(exp["Current_L1"], rel=1e-5)
    times = [r["ActivePower"].timestamp for r in readings]
    assert times == sorted(times) and len(set(times)) == 3
    assert commands[0] == 5 and 2 in commands and commands[-1] == 1  # turned off on close


def test_udp_to_nobody_fails_cleanly():
    async def go():
        import socket

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        meter = PmuMeter.udp("127.0.0.1", port, idcode=2, timeout=0.6)
        return await meter.read(), meter

    readings, meter = run(go())
    assert all(r.quality is Quality.ERROR for r in readings.values())
    assert meter.stats.last_error  # refused, or no configuration in time


def test_a_leading_pmu_clock_is_refused_counted_and_said_by_how_much():
    """The real DAL, its default tolerance (1 s): a PMU 3 s ahead is refused, and the meter says
    so; once the PMU's clock is put right its readings are accepted again."""

    async def go():
        sim, port = await _served(static_site(**SITE), idcode=8, rate=20)
        sim.clock_offset = 3.0
        meter = PmuMeter.tcp("127.0.0.1", port, idcode=8)
        dal = Dal()
        task = asyncio.create_task(meter.poll(dal))
        await until(lambda: meter.stats.refused >= 5)
        refused = (meter.stats.last_error, meter.refusing, dict(dal.snapshot().items()))
        sim.clock_offset = 0.0  # the PMU's clock is put right: it pauses until its time comes ...

        def good() -> bool:
            r = dal.snapshot().get("grid/ActivePower")
            return r is not None and r.quality is Quality.GOOD

        await until(good, timeout=20)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sim.stop()
        return meter, refused, dal.snapshot()

    meter, (error, refusing, stored), snap = run(go(), timeout=90)
    assert refusing and meter.stats.refused >= 5
    assert not any(ch.startswith("grid/") for ch in stored)  # nothing of it was written
    said = r"the PMU clock leads the local clock by ([0-9.]+) s, beyond the 1 s the DAL allows"
    lead = re.search(said, error or "")
    assert lead is not None and float(lead.group(1)) == pytest.approx(3.0, abs=0.2), error
    # ... and then its readings are taken again
    assert snap["grid/ActivePower"].value == pytest.approx(10000.0, abs=40)
    assert meter.clock_offset == pytest.approx(0.0, abs=0.5)
    assert not meter.refusing


def test_max_future_lets_a_leading_clock_in():
    """The same PMU 3 s ahead, with max_future=5: the real DAL takes its readings, GOOD."""

    async def go():
        sim, port = await _served(static_site(**SITE), idcode=8, rate=20)
        sim.clock_offset = 3.0
        meter = PmuMeter.tcp("127.0.0.1", port, idcode=8, max_future=5.0)
        dal = Dal()
        task = asyncio.create_task(meter.poll(dal))
        await until(lambda: meter.stats.polls >= 5 and dal.snapshot().get("grid/ActivePower") is not None)
        snap = dal.snapshot()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sim.stop()
        return meter, snap

    meter, snap = run(go())
    assert meter.stats.refused == 0 and not meter.refusing and meter.max_future == 5.0
    assert meter.clock_offset == pytest.approx(3.0, abs=0.3)
    p = snap["grid/ActivePower"]
    assert p.quality is Quality.GOOD and p.value == pytest.approx(10000.0, abs=40)
    assert p.timestamp - time.time() == pytest.approx(3.0, abs=0.5)  # stamped by the PMU's clock


def test_the_dals_own_clock_is_the_one_compared():
    """A PMU on time, a DAL whose clock lags 4 s (injected): refused, and the lead is measured
    against the DAL's clock, not the wall clock the frames arrive by."""

    async def go():
        sim, port = await _served(static_site(**SITE), idcode=9, rate=20)
        meter = PmuMeter.tcp("127.0.0.1", port, idcode=9, max_future=2.5)
        dal = Dal(clock=lambda: time.time() - 4.0)
        task = asyncio.create_task(meter.poll(dal))
        await until(lambda: meter.stats.refused >= 3)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sim.stop()
        return meter

    meter = run(go())
    lead = re.search(r"leads the local clock by ([0-9.]+) s, beyond the 2.5 s", meter.stats.last_error or "")
    assert lead is not None and float(lead.group(1)) == pytest.approx(4.0, abs=0.3)
    assert meter.clock_offset == pytest.approx(0.0, abs=0.3)  # against the arrival: on time


@pytest.mark.parametrize("bad", [-1.0, math.nan, "5"])
def test_max_future_is_checked(bad):
    with pytest.raises(ValueError, match="max_future"):
        PmuMeter.tcp("127.0.0.1", 1, idcode=8, max_future=bad)


@pytest.mark.parametrize("key", ["timeout", "max_backoff", "max_unlocked"])
@pytest.mark.parametrize("bad", [True, 0, -1.0, math.nan, math.inf, "5"])
def test_seconds_options_are_checked(key, bad):
    # True is an int in Python: it must not pass as 1 s
    with pytest.raises(ValueError, match=f"{key} must be a finite number of seconds > 0"):
        PmuMeter.tcp("127.0.0.1", 1, idcode=8, **{key: bad})


@pytest.mark.parametrize("bad", [True, 0, -1.0, math.nan, math.inf, "5"])
def test_poll_interval_is_checked(bad):
    meter = PmuMeter.tcp("127.0.0.1", 1, idcode=8)
    with pytest.raises(ValueError, match="interval must be a finite number of seconds > 0"):
        run(meter.poll(Dal(), interval=bad))
