"""Replies that do not answer the request, a one-connection gateway, SunSpec after power-up and
bad parameters: real pymodbus servers on 127.0.0.1 behind tampering proxies (tests/faultkit.py)."""

from __future__ import annotations

import asyncio
import math

import pytest
from faultkit import (
    MARK,
    OneConnectionGateway,
    ReplyProxy,
    every,
    marked,
    oversized,
    wrong_function_code,
    wrong_unit,
)
from gridtap import Dal, ModbusBus, ModbusMeter, Quality
from gridtap.sim.server import MeterGroup, MeterSimulator
from linekit import unit_site
from pymodbus.constants import ExcCodes
from simkit import SPEC_SITE, free_port, run, served, static_site, until

FAULTS = {"oversized": oversized(2), "wrong function code": wrong_function_code, "wrong unit ID": wrong_unit}


@pytest.mark.parametrize("framer", ["socket", "rtu"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_reply_that_does_not_answer_is_error_never_good(framer, fault):
    async def go():
        sim = MeterSimulator(static_site(**SPEC_SITE), "sdm630")
        port = await sim.start(framer=framer)
        proxy = ReplyProxy(port, framer, every(FAULTS[fault], framer))
        pport = await proxy.start()
        meter = ModbusMeter.tcp("127.0.0.1", pport, profile="sdm630", framer=framer, timeout=0.5)
        try:
            bad = await meter.read()
            stats = (meter.stats.timeouts, meter.stats.last_error)
            proxy.tamper = None
            good = await meter.read()
            return bad, stats, good
        finally:
            await meter.close()
            await proxy.stop()
            await sim.stop()

    bad, (timeouts, last_error), good = run(go())
    assert all(r.quality is Quality.ERROR and r.value is None for r in bad.values()), bad
    assert timeouts >= 1
    expect = {
        "oversized": "data bytes, expected",
        "wrong function code": "function code 3, expected 4",
        "wrong unit ID": "from unit 2, expected unit 1",
    }[fault]
    assert expect in (last_error or "")
    assert good["ActivePower_L1"].quality is Quality.GOOD and good["ActivePower_L1"].value == 15000.0
    assert good["ActivePower"].value == 10000.0


def test_a_bad_reply_to_one_block_fails_that_block_only():
    """SDM630 reads two blocks; only the second reply is oversized."""

    async def go():
        async with served(static_site(**SPEC_SITE)) as (_, port):
            change = oversized(1)
            proxy = ReplyProxy(port, "socket", lambda i, f: [(0.0, change("socket", f) if i == 1 else f)])
            pport = await proxy.start()
            meter = ModbusMeter.tcp("127.0.0.1", pport, profile="sdm630")
            try:
                return await meter.read(), meter.link_up, meter.stats.reconnects
            finally:
                await meter.close()
                await proxy.stop()

    r, link_up, reconnects = run(go())
    assert r["ActivePower"].quality is Quality.GOOD and r["ActivePower"].value == 10000.0
    assert r["Voltage_L12"].quality is Quality.ERROR and r["Voltage_L12"].value is None  # block 2 (0x00C8)
    assert link_up and reconnects == 1  # the meter answered: nothing to reconnect for


@pytest.mark.parametrize("framer", ["socket", "rtu"])
def test_a_late_reply_is_never_taken_for_another_answer(framer):
    """A gateway with three meters; every third reply of unit 1 comes after the timeout, marked
    so that it can be recognised. Whatever the framing (Modbus TCP has transaction IDs, RTU over
    TCP has none), no channel ever shows the marked values or another unit's values."""
    timeout = 0.3

    async def go():
        sims = [MeterSimulator(unit_site(u), "sdm630", unit_id=u) for u in (1, 2, 3)]
        group = MeterGroup(sims)
        port = await group.start(framer=framer)
        late = marked()
        unit1 = [0]

        def tamper(i: int, frame: bytes) -> list[tuple[float, bytes]]:
            unit = frame[6] if framer == "socket" else frame[0]
            if unit == 1:
                unit1[0] += 1
                if unit1[0] % 3 == 0:
                    return [(timeout + 0.02 * (unit1[0] % 10), late(framer, frame))]
            return [(0.0, frame)]

        proxy = ReplyProxy(port, framer, tamper)
        pport = await proxy.start()
        bus = ModbusBus.tcp("127.0.0.1", pport, framer=framer)
        for u in (1, 2, 3):
            bus.meter(profile="sdm630", unit_id=u, namespace=f"grid_u{u}", timeout=timeout)
        dal = Dal()
        seen: list[tuple[str, Quality, float | None]] = []
        dal.subscribe(lambda ups: seen.extend((c, r.quality, r.value) for c, r in ups))
        task = asyncio.create_task(bus.poll(dal, interval=0.4))
        try:
            await until(lambda: bus.meters[0].stats.timeouts >= 4, 30)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await bus.close()
            await proxy.stop()
            await group.stop()
        return seen, [m.stats for m in bus.meters]

    seen, stats = run(go())
    good = [(c, v) for c, q, v in seen if q is Quality.GOOD]
    assert not [c for c, v in good if v is not None and math.isclose(v, MARK, rel_tol=1e-6)]
    for u in (1, 2, 3):
        l1 = [v for c, v in good if c == f"grid_u{u}/ActivePower_L1"]
        assert len(l1) >= 3 and set(l1) == {1000.0 * u}, (u, sorted(set(l1)))
    assert stats[0].timeouts >= 4  # unit 1's late replies did time out


def test_a_gateway_that_takes_one_connection_serves_three_meters_on_one_bus():
    async def go():
        sims = [MeterSimulator(unit_site(u), "sdm630", unit_id=u) for u in (1, 2, 3)]
        group = MeterGroup(sims)
        gw = OneConnectionGateway(await group.start())
        gport = await gw.start()
        dal = Dal()
        bus = ModbusBus.tcp("127.0.0.1", gport)
        for u in (1, 2, 3):
            bus.meter(profile="sdm630", unit_id=u, namespace=f"grid_u{u}")
        task = asyncio.create_task(bus.poll(dal, interval=0.1))
        ok = await until(lambda: all(m.stats.polls >= 10 for m in bus.meters), 20)
        # three meters of their own would each want a connection: the gateway turns two away
        alone = [ModbusMeter.tcp("127.0.0.1", gport, profile="sdm630", unit_id=u) for u in (1, 2)]
        solo = [await m.read() for m in alone]
        for m in alone:
            await m.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bus.close()
        await gw.stop()
        await group.stop()
        return ok, dal.snapshot(), bus, gw, solo

    ok, snap, bus, gw, solo = run(go())
    assert ok
    for u in (1, 2, 3):
        assert snap[f"grid_u{u}/ActivePower_L1"].value == 1000.0 * u
        assert snap[f"grid_u{u}/ActivePower_L1"].quality is Quality.GOOD
    assert gw.accepted == 1
    assert bus.stats.reconnects == 1 and bus.stats.failed_polls == 0
    assert all(r["ActivePower"].quality is Quality.ERROR for r in solo) and gw.refused >= 2
    assert bus.namespace is None and bus.link_up is False  # closed
    assert bus.stats.polls == sum(m.stats.polls for m in bus.meters)


def test_sunspec_device_answering_exceptions_after_power_up_becomes_good():
    """A SunSpec meter answers DEVICE_BUSY for 3 s after start, then is healthy: discovery must be
    tried again and the channels become GOOD (with the default backoff, within 5 s of health)."""

    async def go():
        async with served(static_site(**SPEC_SITE), "sunspec_int", sunspec_model=203) as (sim, port):
            sim.exception = ExcCodes.DEVICE_BUSY
            dal = Dal()
            meter = ModbusMeter.tcp("127.0.0.1", port, profile="sunspec")
            task = asyncio.create_task(meter.poll(dal))
            loop = asyncio.get_running_loop()
            await asyncio.sleep(3.0)
            first = dal.snapshot()["grid/ActivePower"]
            sim.exception = None
            healthy = loop.time()
            ok = await until(lambda: dal.snapshot()["grid/ActivePower"].quality is Quality.GOOD, 15)
            took = loop.time() - healthy
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await meter.close()
            return first, ok, took, dal.snapshot()["grid/ActivePower"].value, meter

    first, ok, took, value, meter = run(go())
    assert first.quality is Quality.ERROR and first.value is None
    assert ok and value == 10000.0
    assert meter.sunspec_model is not None and meter.sunspec_model.model_id == 203
    assert took < 8.0  # target 5 s; generous for a loaded machine
    print(f"SunSpec: GOOD {took:.2f} s after the device became healthy")


@pytest.mark.parametrize("key", ["timeout", "max_backoff", "slow_interval"])
@pytest.mark.parametrize("bad", [math.inf, math.nan, 0.0, -1.0, "1"])
def test_time_parameters_must_be_finite_and_positive(key, bad):
    with pytest.raises(ValueError, match=f"{key} must be a finite number of seconds > 0"):
        ModbusMeter.tcp("127.0.0.1", 1, profile="sdm630", **{key: bad})
    bus = ModbusBus.tcp("127.0.0.1", 1)
    with pytest.raises(ValueError, match=key):
        bus.meter(profile="sdm630", **{key: bad})
    assert bus.meters == []


@pytest.mark.parametrize("bad", [math.inf, math.nan, 0.0, -0.5])
def test_poll_interval_must_be_finite_and_positive(bad):
    meter = ModbusMeter.tcp("127.0.0.1", 1, profile="sdm630")
    bus = ModbusBus.tcp("127.0.0.1", 1)
    bus.meter(profile="sdm630")

    async def go():
        with pytest.raises(ValueError, match="interval must be a finite number of seconds > 0"):
            await meter.poll(Dal(), interval=bad)
        with pytest.raises(ValueError, match="interval must be a finite number of seconds > 0"):
            await bus.poll(Dal(), interval=bad)
        return meter.stats.requests + bus.stats.requests

    assert run(go()) == 0


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"baudrate": 0}, "baudrate must be a positive integer"),
        ({"parity": "X"}, "parity must be N, E, O, M or S"),
        ({"stopbits": 3}, "stopbits must be 1, 1.5 or 2"),
        ({"bytesize": 9}, "bytesize must be 5..8"),
        ({"unit_pause": -1.0}, "unit_pause must be a finite number of seconds >= 0"),
        ({"unit_pause": math.nan}, "unit_pause"),
        ({"max_backoff": math.inf}, "max_backoff"),
    ],
)
def test_serial_settings_are_checked(kw, match):
    with pytest.raises(ValueError, match=match):
        ModbusBus.rtu("/dev/ttyUSB9", **kw)


def test_tcp_framer_is_checked():
    with pytest.raises(ValueError, match="framer must be 'socket' or 'rtu'"):
        ModbusBus.tcp("127.0.0.1", 502, framer="ascii")


def test_an_outage_is_not_counted_as_missed_cycles():
    """Missed cycles are polls that ran late on a working link; the cycles lost while the meter
    could not be reached are failures (already counted), not missed cycles on recovery."""
    port = free_port()

    async def go():
        dal = Dal()
        meter = ModbusMeter.tcp("127.0.0.1", port, profile="sdm630", timeout=0.3, max_backoff=0.4)
        task = asyncio.create_task(meter.poll(dal, interval=0.1))
        await asyncio.sleep(1.5)
        sim = MeterSimulator(static_site(**SPEC_SITE), "sdm630")
        await sim.start(port=port)
        ok = await until(lambda: dal.snapshot()["grid/ActivePower"].quality is Quality.GOOD, 10)
        await asyncio.sleep(0.5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await meter.close()
        await sim.stop()
        return ok, meter.stats

    ok, stats = run(go())
    assert ok
    assert stats.failed_polls >= 3
    assert stats.missed_cycles == 0
