"""Recovery with the default settings (interval 1 s, timeout 1 s, max_backoff 3 s): after each
class of fault ends, the channels are GOOD again within a few seconds (target 5 s; the bounds
here are generous for a loaded machine, the measured figures are printed)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import pytest
from faultkit import ReplyProxy
from gridtap import Dal, ModbusBus, ModbusMeter, Quality
from gridtap.sim.server import MeterSimulator
from linekit import rtu_line
from simkit import SPEC_SITE, run, served, static_site, until

pytestmark = pytest.mark.slow

FAULT_FOR = 6.0  # long enough for the backoff to reach its cap
BOUND = 8.0


async def recovery_time(
    dal: Dal,
    channel: str,
    poller: Awaitable[None],
    fault: Callable[[], Awaitable[None]],
    end: Callable[[], Awaitable[None]],
) -> float:
    """Seconds from the end of the fault to a GOOD reading of `channel`."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(poller)
    try:
        assert await until(
            lambda: channel in dal.snapshot() and dal.snapshot()[channel].quality is Quality.GOOD, 10
        )
        await fault()
        t_fault = loop.time()
        assert await until(lambda: dal.snapshot()[channel].quality is Quality.ERROR, 10), "no ERROR"
        await asyncio.sleep(max(0.0, t_fault + FAULT_FOR - loop.time()))
        await end()
        t_end = loop.time()
        ok = await until(lambda: dal.snapshot()[channel].quality is Quality.GOOD, 30)
        assert ok, "never GOOD again"
        return loop.time() - t_end
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def report(kind: str, took: float) -> None:
    print(f"recovery after {kind}: GOOD {took:.2f} s after the fault ended")
    assert took < BOUND, (kind, took)


def test_tcp_server_gone_then_back():
    async def go():
        async with served(static_site(**SPEC_SITE)) as (sim, port):
            meter = ModbusMeter.tcp("127.0.0.1", port, profile="sdm630")
            dal = Dal()
            try:
                return await recovery_time(
                    dal, "grid/ActivePower", meter.poll(dal), sim.stop, lambda: sim.start(port=port)
                )
            finally:
                await meter.close()

    report("a dead TCP port (server gone, connection refused)", run(go()))


def test_tcp_server_stalled_then_answers():
    async def go():
        async with served(static_site(**SPEC_SITE)) as (sim, port):
            meter = ModbusMeter.tcp("127.0.0.1", port, profile="sdm630")
            dal = Dal()

            async def stall() -> None:
                sim.delay = 10.0

            async def unstall() -> None:
                sim.delay = 0.0

            try:
                return await recovery_time(dal, "grid/ActivePower", meter.poll(dal), stall, unstall)
            finally:
                await meter.close()

    report("a stalled server (answers nothing, connection open)", run(go()))


def test_tcp_link_dropped_then_back():
    async def go():
        async with served(static_site(**SPEC_SITE)) as (sim, port):
            meter = ModbusMeter.tcp("127.0.0.1", port, profile="sdm630")
            dal = Dal()

            async def drop() -> None:
                await sim.drop_connections(down_for=FAULT_FOR)

            async def back() -> None:
                await until(lambda: sim._server is not None, 5)

            try:
                return await recovery_time(dal, "grid/ActivePower", meter.poll(dal), drop, back)
            finally:
                await meter.close()

    report("a dropped link (connections cut, refused while down)", run(go()))


def test_tcp_garbage_then_clean():
    async def go():
        sim = MeterSimulator(static_site(**SPEC_SITE), "sdm630")
        port = await sim.start()
        proxy = ReplyProxy(port, "socket")
        pport = await proxy.start()
        meter = ModbusMeter.tcp("127.0.0.1", pport, profile="sdm630")
        dal = Dal()

        async def garble() -> None:
            proxy.tamper = lambda _i, frame: [(0.0, os.urandom(len(frame)))]

        async def clean() -> None:
            proxy.tamper = None

        try:
            return await recovery_time(dal, "grid/ActivePower", meter.poll(dal), garble, clean)
        finally:
            await meter.close()
            await proxy.stop()
            await sim.stop()

    report("garbage replies (Modbus TCP)", run(go()))


@pytest.mark.parametrize("fault", ["unplugged", "silent", "garbage"])
def test_serial_line_fault_then_back(fault, tmp_path):
    async def go():
        async with rtu_line((1, 2), 9600, link_dir=tmp_path) as (line, sims):
            bus = ModbusBus.rtu(line.master_port, 9600)
            bus.meter(profile="sdm630", unit_id=1, namespace="grid")
            bus.meter(profile="sdm630", unit_id=2, namespace="grid_pv")
            dal = Dal()

            async def start() -> None:
                if fault == "unplugged":
                    line.unplug()
                elif fault == "silent":
                    sims[0].silent = True
                else:
                    line.reply_hook = lambda data: [(0.0, os.urandom(len(data)))]

            async def end() -> None:
                line.replug()
                sims[0].silent = False
                line.reply_hook = None

            try:
                return await recovery_time(dal, "grid/ActivePower", bus.poll(dal), start, end)
            finally:
                await bus.close()

    kind = {
        "unplugged": "an unplugged serial adapter (device gone, then back)",
        "silent": "a silent unit on an RS485 line (9600 baud)",
        "garbage": "garbage on an RS485 line (9600 baud)",
    }[fault]
    report(kind, run(go(), timeout=90))
