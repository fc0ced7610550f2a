"""The Modbus adapter against a plain pymodbus client, over TCP on 127.0.0.1, in the same run.

The simulated meters (`MeterSimulator`, SDM630 register map, each serving its own `GridScenario`)
run in a child process, so the numbers below are the adapter process's alone.

- Polls per second of one meter: `await meter.read()` in a loop (two read_input_registers
  requests, 80 + 6 registers, then the Rust pipeline and one `Reading` per channel), against the
  code a user would otherwise write: an `AsyncModbusTcpClient` sending the same two requests and
  decoding each of the 29 fields with `convert_from_registers` into a dict (no sign handling,
  derived channels, RoCoF or quality: less work than the adapter does). Also reported: the adapter
  process's CPU time per poll, which is what a loaded site controller pays.
  Target (issue 15): the adapter's CPU per poll at most 1.1x the plain pymodbus loop's. The
  adapter no longer goes through pymodbus (gridtap.framing and gridtap.link frame and check the
  requests themselves), so none of its CPU is pymodbus's.
- Load: 1,000 meters (1,000 simulator servers on loopback ports) polled at 1 Hz for 20 s by 1,000
  `ModbusMeter.poll` tasks in one asyncio loop, all writing to one `Dal`; then the same with 1,000
  plain pymodbus polling loops (same requests, decoding as above, writing to the Dal). Reported:
  the adapter process's CPU (process_time / wall time, % of one core, and the part spent in the
  kernel, mostly loopback sends), polls made against polls expected, missed cycles and failed
  polls, and the server process's CPU for reference. All pollers start together, so their
  requests arrive in bursts once a second (the harder case); 1,000 connections opened at once
  swamp the simulator process for a few seconds (first requests time out and are retried), so
  counting starts after a 10 s warm-up.

GRIDTAP_BENCH_QUICK=1 polls 20 times per batch and runs the load with 20 meters for 5 s (CI).
Run as `python bench_modbus.py serve N SEED` it is the child process that serves N meters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import resource
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from childkit import Child
from conftest import QUICK
from gridtap import Dal, Quality, profiles
from gridtap.modbus import ModbusMeter
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

POLLS_PER_BATCH = 20 if QUICK else 200
ROUNDS = 2 if QUICK else 7
LOAD_METERS = 20 if QUICK else 1000
LOAD_SECONDS = 5.0 if QUICK else 20.0
LOAD_WARMUP = 1.5 if QUICK else 10.5  # mid-interval: counts are sampled between polls
INTERVAL = 1.0
HOST = "127.0.0.1"
FLOAT32 = AsyncModbusTcpClient.DATATYPE.FLOAT32


# ---- the child process: N simulated meters -------------------------------------------------------


def serve(n_meters: int, seed: int) -> None:
    """Serve `n_meters` SDM630 simulators; print their ports as one JSON line; answer "cpu" with
    this process's CPU seconds; stop at "quit" or when stdin closes."""
    from gridtap.sim.scenario import GridScenario
    from gridtap.sim.server import MeterSimulator

    # a client that goes away mid-request makes pymodbus log frame dumps; not this bench's business
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

    async def main() -> None:
        sims, ports = [], []
        for i in range(n_meters):
            sim = MeterSimulator(GridScenario(seed=seed + i, start=time.time()), "sdm630")
            ports.append(await sim.start(HOST, 0))
            sims.append(sim)
        print(json.dumps({"ports": ports}), flush=True)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def commands() -> None:
            for line in sys.stdin:
                if line.strip() == "cpu":
                    print(json.dumps({"cpu": time.process_time(), "wall": time.monotonic()}), flush=True)
                elif line.strip() == "quit":
                    break
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=commands, daemon=True).start()
        await stop.wait()
        for sim in sims:
            await sim.stop()

    asyncio.run(main())


class MeterServers:
    """The child process serving the simulated meters."""

    def __init__(self, n_meters: int, seed: int = 1) -> None:
        self.child = Child(__file__, n_meters, seed, what="meter server")
        self.ports: list[int] = self.child.ready["ports"]
        if len(self.ports) != n_meters:
            raise RuntimeError(f"the server process started {len(self.ports)} of {n_meters} meters")

    def cpu_seconds(self) -> float:
        return float(self.child.ask("cpu")["cpu"])

    def close(self) -> None:
        self.child.close()


@pytest.fixture(scope="module")
def servers() -> Iterator[MeterServers]:
    s = MeterServers(LOAD_METERS)
    try:
        yield s
    finally:
        s.close()


# ---- the baseline: what a user would write with pymodbus ------------------------------------------


def sdm630_map() -> tuple[list[tuple[int, int]], list[tuple[str, int]]]:
    """(start, count) of the two requests, and (channel, offset into the concatenated registers)."""
    p = profiles.load("sdm630")
    blocks = [(b.start, b.count) for b in p.blocks]
    fields = [(f.channel, p.frame_offset(f.function_code, f.addresses[0])) for f in p.fields]
    return blocks, fields


BLOCKS, FIELDS = sdm630_map()


async def pymodbus_read(client: AsyncModbusTcpClient) -> tuple[float, dict[str, float | None]] | None:
    t_start = time.time()
    regs: list[int] = []
    for start, count in BLOCKS:
        rr = await client.read_input_registers(start, count=count, device_id=1)
        if rr.isError():
            return None
        regs += rr.registers
    t = (t_start + time.time()) / 2
    convert = client.convert_from_registers
    values: dict[str, float | None] = {}
    for ch, offset in FIELDS:
        v = convert(regs[offset : offset + 2], data_type=FLOAT32)
        assert isinstance(v, float)
        values[ch] = v if math.isfinite(v) else None
    return t, values


def pymodbus_client(port: int) -> AsyncModbusTcpClient:
    return AsyncModbusTcpClient(HOST, port=port, timeout=1.0, retries=0, reconnect_delay=0)


class PymodbusPoller:
    """A 1 Hz polling loop around `pymodbus_read`, counting as `ModbusMeter.poll` counts."""

    def __init__(self, port: int, namespace: str) -> None:
        self.client = pymodbus_client(port)
        self.namespace = namespace
        self.polls = self.failed_polls = self.missed_cycles = 0

    async def poll(self, dal: Dal, interval: float) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            try:
                if not self.client.connected:
                    await self.client.connect()
                result = await pymodbus_read(self.client)
            except (ModbusException, OSError, TimeoutError):
                result = None
            self.polls += 1
            if result is None:
                self.failed_polls += 1
            else:
                dal.write_many(self.namespace, result[1], result[0])
            next_tick += interval
            now = loop.time()
            if next_tick < now:
                missed = int((now - next_tick) // interval) + 1
                self.missed_cycles += missed
                next_tick += missed * interval
            await asyncio.sleep(next_tick - now)

    async def close(self) -> None:
        self.client.close()


# ---- polls per second of one meter ---------------------------------------------------------------


async def timed_batches(port: int, rounds: int, polls: int) -> dict[str, list[tuple[float, float]]]:
    """(wall seconds, CPU seconds) of `polls` reads per batch, gridtap and pymodbus in turns."""
    meter = ModbusMeter.tcp(HOST, port, profile="sdm630")
    client = pymodbus_client(port)
    out: dict[str, list[tuple[float, float]]] = {"gridtap": [], "pymodbus": []}
    try:
        await client.connect()
        first = await meter.read()
        # the first read has no RoCoF yet (no history); every other channel has a value
        assert all(r.quality is Quality.GOOD for ch, r in first.items() if ch != "Frequency_RoCoF"), first
        theirs = await pymodbus_read(client)
        assert theirs is not None and all(v is not None for v in theirs[1].values())
        assert abs(first["Frequency"].value - theirs[1]["Frequency"]) < 0.5  # type: ignore[operator]

        async def gridtap_batch() -> None:
            for _ in range(polls):
                await meter.read()

        async def pymodbus_batch() -> None:
            for _ in range(polls):
                assert await pymodbus_read(client) is not None

        for _ in range(rounds):
            for label, batch in (("gridtap", gridtap_batch), ("pymodbus", pymodbus_batch)):
                w0, c0 = time.perf_counter(), time.process_time()
                await batch()
                out[label].append((time.perf_counter() - w0, time.process_time() - c0))
        assert meter.stats.failed_polls == 0, meter.stats.last_error
    finally:
        await meter.close()
        client.close()
    return out


def median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if len(s) % 2 else 0.5 * (s[len(s) // 2 - 1] + s[len(s) // 2])


def test_polls_per_second(benchmark, ratios, servers) -> None:
    port = servers.ports[0]
    result: dict[str, Any] = {}

    def run() -> None:
        result.update(asyncio.run(timed_batches(port, ROUNDS, POLLS_PER_BATCH)))

    benchmark.pedantic(run, rounds=1, iterations=1)
    case = "ModbusMeter.read, one SDM630 on loopback"
    wall = {k: median([w for w, _ in v]) / POLLS_PER_BATCH for k, v in result.items()}
    cpu = {k: median([c for _, c in v]) / POLLS_PER_BATCH for k, v in result.items()}
    ratios.add(
        benchmark, case, wall["gridtap"], {"pymodbus": wall["pymodbus"]}, unit="poll (wall)", key="wall_"
    )
    # issue 15: the adapter's CPU per poll at most 1.1x the plain pymodbus loop's
    ratios.add(
        benchmark,
        case,
        cpu["gridtap"],
        {"pymodbus": cpu["pymodbus"]},
        targets={"pymodbus": 1 / 1.1},
        unit="poll (CPU)",
        key="cpu_",
    )
    for label in ("gridtap", "pymodbus"):
        ratios.note(benchmark, case, f"{label}_polls_per_s", f"{1.0 / wall[label]:.0f}")
        ratios.note(benchmark, case, f"{label}_cpu_us_per_poll", f"{cpu[label] * 1e6:.0f}")
    benchmark.extra_info["polls_per_batch"] = POLLS_PER_BATCH
    benchmark.extra_info["rounds"] = ROUNDS


# ---- many meters at 1 Hz -------------------------------------------------------------------------


async def cancel_all(tasks: list[asyncio.Task[None]]) -> int:
    """Cancel the tasks until all have ended; returns how many cancellations were lost.

    On Python 3.11, `asyncio.wait_for` can swallow a cancellation that arrives as its inner
    awaitable completes (fixed in 3.12, where it is built on `asyncio.timeout`); a poll loop whose
    request used it then carries on. Cancelling again stops it; the count is reported."""
    lost = 0
    pending = set(tasks)
    for _ in range(10):
        for t in pending:
            t.cancel()
        _, pending = await asyncio.wait(pending, timeout=2.0)
        if not pending:
            return lost
        lost += len(pending)
    raise RuntimeError(f"{len(pending)} poll tasks ignore cancellation")


async def load_run(kind: str, servers: MeterServers) -> dict[str, float]:
    dal = Dal()
    loop = asyncio.get_running_loop()
    pollers: list[Any]
    if kind == "gridtap":
        pollers = [
            ModbusMeter.tcp(HOST, port, profile="sdm630", namespace=f"grid_m{i}")
            for i, port in enumerate(servers.ports)
        ]
    else:
        pollers = [PymodbusPoller(port, f"grid_m{i}") for i, port in enumerate(servers.ports)]

    def counts() -> tuple[int, int, int]:
        if kind == "gridtap":
            stats = [m.stats for m in pollers]
            return (
                sum(s.polls for s in stats),
                sum(s.missed_cycles for s in stats),
                sum(s.failed_polls for s in stats),
            )
        return (
            sum(p.polls for p in pollers),
            sum(p.missed_cycles for p in pollers),
            sum(p.failed_polls for p in pollers),
        )

    tasks = [asyncio.create_task(p.poll(dal, INTERVAL)) for p in pollers]
    try:
        await asyncio.sleep(LOAD_WARMUP)
        n0, srv0 = counts(), await loop.run_in_executor(None, servers.cpu_seconds)
        w0, c0, k0 = time.monotonic(), time.process_time(), resource.getrusage(resource.RUSAGE_SELF).ru_stime
        await asyncio.sleep(LOAD_SECONDS)
        w1, c1, k1 = time.monotonic(), time.process_time(), resource.getrusage(resource.RUSAGE_SELF).ru_stime
        n1, srv1 = counts(), await loop.run_in_executor(None, servers.cpu_seconds)
    finally:
        lost = await cancel_all(tasks)
        for p in pollers:
            await p.close()
    wall = w1 - w0
    fresh = sum(1 for name in dal.snapshot() if name.endswith("/Frequency"))
    return {
        "cpu_percent": 100.0 * (c1 - c0) / wall,
        "kernel_cpu_percent": 100.0 * (k1 - k0) / wall,
        "server_cpu_percent": 100.0 * (srv1 - srv0) / wall,
        "polls": n1[0] - n0[0],
        "expected_polls": len(pollers) * wall / INTERVAL,
        "missed_cycles": n1[1] - n0[1],
        "failed_polls": n1[2] - n0[2],
        "cpu_s_per_poll": (c1 - c0) / max(1, n1[0] - n0[0]),
        "meters_with_frequency": fresh,
        "lost_cancellations": lost,
        "wall_s": wall,
    }


@contextlib.contextmanager
def quiet_pymodbus() -> Iterator[None]:
    """Stopping 200 pollers mid-request makes pymodbus log an error per late reply."""
    logger = logging.getLogger("pymodbus")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def test_load_many_meters(benchmark, ratios, servers) -> None:
    result: dict[str, dict[str, float]] = {}

    def run() -> None:
        with quiet_pymodbus():
            for kind in ("gridtap", "pymodbus"):
                result[kind] = asyncio.run(load_run(kind, servers))

    benchmark.pedantic(run, rounds=1, iterations=1)
    case = f"{LOAD_METERS} meters at 1 Hz for {LOAD_SECONDS:g} s"
    g, b = result["gridtap"], result["pymodbus"]
    assert g["meters_with_frequency"] == LOAD_METERS
    ratios.add(
        benchmark, case, g["cpu_s_per_poll"], {"pymodbus": b["cpu_s_per_poll"]}, unit="poll (CPU)", key="cpu_"
    )
    for label, r in (("gridtap", g), ("pymodbus", b)):
        ratios.note(benchmark, case, f"{label}_cpu_percent_of_one_core", f"{r['cpu_percent']:.1f}")
        ratios.note(benchmark, case, f"{label}_of_which_kernel_percent", f"{r['kernel_cpu_percent']:.1f}")
        ratios.note(
            benchmark, case, f"{label}_polls_vs_expected", f"{r['polls']:.0f} / {r['expected_polls']:.0f}"
        )
        ratios.note(
            benchmark,
            case,
            f"{label}_missed_cycles",
            f"{r['missed_cycles']:.0f}",
            "0" if label == "gridtap" else "",
            r["missed_cycles"] == 0 if label == "gridtap" else None,
        )
        ratios.note(benchmark, case, f"{label}_failed_polls", f"{r['failed_polls']:.0f}")
        ratios.note(benchmark, case, f"{label}_run_server_cpu_percent", f"{r['server_cpu_percent']:.1f}")
        ratios.note(benchmark, case, f"{label}_lost_cancellations", f"{r['lost_cancellations']:.0f}")
    for label, r in result.items():
        for key, value in r.items():
            benchmark.extra_info[f"{label}_{key}"] = value
    benchmark.extra_info["meters"] = LOAD_METERS
    benchmark.extra_info["seconds"] = LOAD_SECONDS


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit(f"usage: {sys.argv[0]} serve N_METERS SEED")
