"""SDM630 polls per second on one RS485 line, against the line's wire-time ceiling.

A child process runs a simulated line (gridtap.sim.line.PtyLine: two ptys joined by a relay that
delivers each transmission when it would have finished crossing the wire, bytes × 11 bits / baud,
one at a time) with a pymodbus RTU server holding three SDM630s (unit IDs 1-3) on one end. This
process polls them through one `ModbusBus` as fast as the line allows (`bus.poll` with a 1 ms
interval: every meter is always due), in turns with:

- a plain pymodbus `AsyncModbusSerialClient` loop over the same three units and the same two
  requests (no inter-frame silence, no reply checks: what a user would otherwise write);
- the same bus with a 200 ms pause at every unit-ID switch, the pacing mbmd uses (the issue's
  anchor: mbmd reaches 2.4 polls/s at 9600 baud and 3.9 at 38400).

The ceiling: one SDM630 poll is two requests (8 bytes each) and two replies (5 + 2 × 80 and
5 + 2 × 6 bytes): 198 bytes × 11 bits / baud, plus the inter-frame silence of 3.5 characters
(1.75 ms above 19200 baud) before each of the four frames. The meter's own turnaround is not in it
(the simulated meter answers in about a millisecond). Goal: ≥ 90 % of the ceiling.

GRIDTAP_BENCH_QUICK=1 polls for 2 s per turn, one round. Run as `python bench_rtu_bus.py serve
BAUD` it is the child process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
import time
from typing import Any

import pytest
from childkit import Child
from conftest import QUICK
from gridtap import Dal, ModbusBus, profiles
from gridtap.link import frame_gap
from pymodbus.client import AsyncModbusSerialClient

UNITS = (1, 2, 3)
TURN_SECONDS = 2.0 if QUICK else 8.0
ROUNDS = 1 if QUICK else 3
MBMD_ANCHOR = {9600: 2.4, 38400: 3.9}  # polls/s, from issue 11
BITS = 11


def serve(baudrate: int) -> None:
    """Serve three SDM630s on a simulated line; print the master's device path as JSON; answer
    "busy" with the seconds the wire carried bytes; stop at "quit" or when stdin closes."""
    from gridtap.sim.line import PtyLine
    from gridtap.sim.scenario import GridScenario
    from gridtap.sim.server import MeterGroup, MeterSimulator

    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

    async def main() -> None:
        line = PtyLine(baudrate, bits_per_char=BITS)
        sims = [MeterSimulator(GridScenario(seed=u, start=time.time()), "sdm630", unit_id=u) for u in UNITS]
        group = MeterGroup(sims)
        await group.start_rtu(line.meters_port, baudrate)
        print(json.dumps({"port": line.master_port}), flush=True)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def commands() -> None:
            for cmd in sys.stdin:
                if cmd.strip() == "busy":
                    print(json.dumps({"busy": line.busy_seconds, "bytes": line.bytes_carried}), flush=True)
                elif cmd.strip() == "quit":
                    break
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=commands, daemon=True).start()
        await stop.wait()
        await group.stop()
        line.close()

    asyncio.run(main())


class Line:
    def __init__(self, baudrate: int) -> None:
        self.child = Child(__file__, baudrate, what="line")
        self.port: str = self.child.ready["port"]

    def busy(self) -> float:
        return float(self.child.ask("busy")["busy"])

    def close(self) -> None:
        self.child.close()


def ceiling_seconds_per_poll(baudrate: int) -> float:
    """Wire time of one SDM630 poll: its frames' bits / baud + the silence before each frame."""
    p = profiles.load("sdm630")
    frames = [8 for _ in p.blocks] + [5 + 2 * b.count for b in p.blocks]
    return sum(frames) * BITS / baudrate + len(frames) * frame_gap(baudrate, BITS)


def rate(done: list[float], start: float, end: float) -> float:
    """Polls per second from the completion times of the polls within [start, end): the polls
    after the first one, over the time from the first to the last."""
    inside = [t for t in done if start <= t < end]
    return (len(inside) - 1) / (inside[-1] - inside[0]) if len(inside) > 2 else 0.0


async def gridtap_polls(
    port: str, baudrate: int, seconds: float, unit_pause: float = 0.0
) -> tuple[float, int]:
    """(polls per second, failed polls) of three meters on one bus."""
    bus = ModbusBus.rtu(port, baudrate, unit_pause=unit_pause)
    for u in UNITS:
        bus.meter(profile="sdm630", unit_id=u, namespace=f"grid_u{u}")
    dal = Dal()
    loop = asyncio.get_running_loop()
    done: list[float] = []
    dal.subscribe(lambda _updates: done.append(loop.time()))  # one call per poll (write_many)
    start = loop.time() + 0.5  # the port opened, the first polls made
    task = asyncio.create_task(bus.poll(dal, interval=0.001))
    await asyncio.sleep(0.5 + seconds)
    end = loop.time()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await bus.close()
    return rate(done, start, end), sum(m.stats.failed_polls for m in bus.meters)


async def pymodbus_polls(port: str, baudrate: int, seconds: float) -> tuple[float, int]:
    client = AsyncModbusSerialClient(port, baudrate=baudrate, timeout=1.0, retries=0, reconnect_delay=0)
    await client.connect()
    blocks = [(b.start, b.count) for b in profiles.load("sdm630").blocks]
    failed = 0
    done: list[float] = []
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.5
    end = start + seconds
    while loop.time() < end:
        for u in UNITS:
            try:
                ok = True
                for address, count in blocks:
                    rr = await client.read_input_registers(address, count=count, device_id=u)
                    ok = ok and not rr.isError() and len(rr.registers) == count
            except Exception:
                ok = False
            if ok:
                done.append(loop.time())
            else:
                failed += 1
    client.close()
    return rate(done, start, end), failed


@pytest.mark.parametrize("baudrate", [9600, 38400])
def test_polls_per_second_on_one_line(benchmark, ratios, baudrate) -> None:
    line = Line(baudrate)
    result: dict[str, list[float]] = {"gridtap": [], "pymodbus": [], "mbmd pacing": []}
    failures: dict[str, int] = dict.fromkeys(result, 0)
    busy: list[float] = []

    def run() -> None:
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
        for _ in range(ROUNDS):
            for label in result:
                b0 = line.busy()
                w0 = time.monotonic()
                if label == "gridtap":
                    polls_per_s, failed = asyncio.run(gridtap_polls(line.port, baudrate, TURN_SECONDS))
                    busy.append((line.busy() - b0) / (time.monotonic() - w0))
                elif label == "pymodbus":
                    polls_per_s, failed = asyncio.run(pymodbus_polls(line.port, baudrate, TURN_SECONDS))
                else:
                    polls_per_s, failed = asyncio.run(gridtap_polls(line.port, baudrate, TURN_SECONDS, 0.2))
                result[label].append(polls_per_s)
                failures[label] += failed
                time.sleep(0.5)  # the last reply of a turn may still be on the wire: let it land

    try:
        benchmark.pedantic(run, rounds=1, iterations=1)
    finally:
        line.close()
    rate = {k: sorted(v)[len(v) // 2] for k, v in result.items()}
    ceiling = 1.0 / ceiling_seconds_per_poll(baudrate)
    case = f"3 SDM630 on one RS485 line at {baudrate} baud"
    ratios.add(
        benchmark,
        case,
        1.0 / rate["gridtap"],
        {
            "wire-time ceiling": 1.0 / ceiling,
            "pymodbus": 1.0 / rate["pymodbus"],
            "mbmd pacing": 1.0 / rate["mbmd pacing"],
        },
        targets={"wire-time ceiling": 0.9},
        unit="poll",
    )
    share = rate["gridtap"] / ceiling
    ratios.note(benchmark, case, "gridtap_polls_per_s", f"{rate['gridtap']:.2f}")
    ratios.note(benchmark, case, "ceiling_polls_per_s", f"{ceiling:.2f}")
    ratios.note(benchmark, case, "gridtap_share_of_ceiling", f"{100 * share:.1f}%", ">= 90%", share >= 0.9)
    ratios.note(benchmark, case, "gridtap_wire_busy", f"{100 * sorted(busy)[len(busy) // 2]:.1f}%")
    ratios.note(benchmark, case, "pymodbus_polls_per_s", f"{rate['pymodbus']:.2f}")
    ratios.note(benchmark, case, "mbmd_pacing_polls_per_s", f"{rate['mbmd pacing']:.2f}")
    ratios.note(benchmark, case, "mbmd_anchor_polls_per_s", f"{MBMD_ANCHOR[baudrate]}")
    for label, n in failures.items():
        ratios.note(benchmark, case, f"{label}_failed_polls", str(n))
    extra: dict[str, Any] = {f"{k}_runs_polls_per_s": v for k, v in result.items()}
    benchmark.extra_info.update(extra)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        sys.exit(f"usage: {sys.argv[0]} serve BAUDRATE")
