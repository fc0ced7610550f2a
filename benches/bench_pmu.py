"""PMU ingest end to end: C37.118.2 bytes from a socket to the DAL.

- Per frame, in turns on the same recorded stream: `PmuMeter`'s receive path (the Rust decoder
  with CRC and reframing, phasor mapping, STAT quality, energy and RoCoF batching, one
  `Dal.write_many`) against the code a user would otherwise write: a `struct` parser that checks
  the CRC with `binascii.crc_hqx`, maps the same phasors with the same `ChannelMapper` and writes
  the same DAL (no reframing across reads, no quality, energy or RoCoF: less work).
- Live: 100 simulated PMUs at 50 frames/s (`PmuSimulator`, all 16 FORMATs in turn) in a child
  process, read by 100 `PmuMeter.poll` tasks in this process into one `Dal`, for 20 s. Reported:
  per-frame time from the bytes' arrival in `data_received` to the DAL written (p50, p99, max;
  target p99 < 100 µs), frames written against frames sent (none lost), this process's CPU.

GRIDTAP_BENCH_QUICK=1 runs the live part with 20 streams for 3 s.
Run as `python bench_pmu.py serve N RATE` it is the child process that serves N PMUs.
"""

from __future__ import annotations

import asyncio
import binascii
import json
import struct
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from childkit import Child
from conftest import QUICK, interleaved_medians
from gridtap import Dal
from gridtap._core import encode_c37118_config
from gridtap.pmu import PmuMeter
from gridtap.pmu_mapping import ChannelMapper

HOST = "127.0.0.1"
STREAMS = 20 if QUICK else 100
RATE = 50
LIVE_SECONDS = 3.0 if QUICK else 20.0
WARMUP = 1.0 if QUICK else 3.0
RECORDED = 2000 if QUICK else 20000


# ---- the child process: N simulated PMUs --------------------------------------------------------


def serve(n: int, rate: int) -> None:
    """Serve `n` simulated PMUs; print their ports as one JSON line; answer "sent" with the frames
    sent so far and "cpu" with this process's CPU seconds; "pause" stops the data; "quit" ends."""
    from gridtap.sim.pmu_server import PmuSimulator
    from gridtap.sim.scenario import GridScenario

    async def main() -> None:
        scenario = GridScenario(seed=3, start=time.time() - 1.0)
        sims = [PmuSimulator(scenario, idcode=i + 1, rate=rate, format=i % 16) for i in range(n)]
        ports = [await s.start(HOST, 0) for s in sims]
        print(json.dumps({"ports": ports}), flush=True)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def commands() -> None:
            for line in sys.stdin:
                cmd = line.strip()
                if cmd == "sent":
                    print(json.dumps({"sent": [s.frames_sent for s in sims]}), flush=True)
                elif cmd == "cpu":
                    print(json.dumps({"cpu": time.process_time()}), flush=True)
                elif cmd == "pause":
                    for s in sims:
                        s.paused = True
                    print(json.dumps({"paused": True}), flush=True)
                elif cmd == "quit":
                    break
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=commands, daemon=True).start()
        await stop.wait()
        for s in sims:
            await s.stop()

    asyncio.run(main())


class PmuServers(Child):
    def __init__(self, n: int, rate: int) -> None:
        super().__init__(__file__, n, rate, what="PMU server")
        self.ports: list[int] = self.ready["ports"]


@pytest.fixture(scope="module")
def servers() -> Iterator[PmuServers]:
    s = PmuServers(STREAMS, RATE)
    try:
        yield s
    finally:
        s.close()


# ---- per frame, in turns ------------------------------------------------------------------------


def recorded_stream(n: int) -> tuple[bytes, list[bytes], float]:
    """A CFG-2 and n data frames (float rectangular, three phases) of a simulated PMU, 50 frames/s."""
    from gridtap.sim.pmu_server import PmuSimulator
    from gridtap.sim.scenario import GridScenario

    t0 = 1_800_000_000.0
    sim = PmuSimulator(GridScenario(seed=5, start=t0), idcode=1, rate=RATE, format=0x000E)
    values = sim.values_for(int(t0 * RATE), n)
    frames = [sim.data_frame(int(t0 * RATE) + i, values, i, 0.0) for i in range(n)]
    return encode_c37118_config(sim.config, t0), frames, t0


class StructParser:
    """What a user would write: one frame per read, header, CRC, STAT, float phasors, FREQ/DFREQ."""

    def __init__(
        self, mapper: ChannelMapper, dal: Dal, namespace: str, n_phasors: int, time_base: int
    ) -> None:
        self.mapper = mapper
        self.dal = dal
        self.namespace = namespace
        self.body = struct.Struct(f">H{2 * n_phasors + 2}f")
        self.n = n_phasors
        self.time_base = time_base

    def on_bytes(self, data: bytes) -> None:
        if len(data) < 16 or data[0] != 0xAA:
            return
        size = int.from_bytes(data[2:4], "big")
        if binascii.crc_hqx(data[: size - 2], 0xFFFF) != int.from_bytes(data[size - 2 : size], "big"):
            return
        soc, fracsec = struct.unpack_from(">II", data, 6)
        t = soc + (fracsec & 0xFFFFFF) / self.time_base
        stat, *x = self.body.unpack_from(data, 14)
        phasors = [complex(x[2 * i], x[2 * i + 1]) for i in range(self.n)]
        values = self.mapper.values(phasors, x[-2], x[-1])
        if stat & 0xC000:
            values = dict.fromkeys(values)
        self.dal.write_many(self.namespace, values, t)


def test_per_frame_against_a_struct_parser(benchmark, ratios) -> None:
    cfg, frames, t0 = recorded_stream(RECORDED)
    # the recorded stream lies in the future: the DAL's clock is set past its last frame
    dal = Dal(default_max_age=1e9, clock=lambda: t0 + RECORDED / RATE + 60.0)
    meter = PmuMeter.tcp(HOST, 1, idcode=1, namespace="grid_pmu")
    # the receive path as a started poll runs it, without a socket
    meter._started = True
    meter._on_bytes(cfg, t0)
    meter._dal = dal
    assert meter.mapping is not None and meter.mapping.mode == "per-phase"
    base = StructParser(ChannelMapper(meter.mapping), dal, "grid_base", 6, 1_000_000)
    mine, theirs = iter(frames), iter(frames)
    # the same values either way
    meter._on_bytes(next(mine), t0)
    base.on_bytes(next(theirs))
    snap = dal.snapshot(now=t0)
    for ch in ("ActivePower", "ReactivePower_L2", "Voltage_L3", "Frequency"):
        assert snap.value(f"grid_pmu/{ch}") == pytest.approx(snap.value(f"grid_base/{ch}"), rel=1e-12), ch

    def gridtap_frame() -> None:
        meter._on_bytes(next(mine), t0)

    def struct_frame() -> None:
        base.on_bytes(next(theirs))

    per_round = 200
    rounds = (len(frames) - 1) // per_round - 1
    medians = interleaved_medians({"gridtap": gridtap_frame, "struct": struct_frame}, rounds, per_round)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    assert meter.stats.missed_cycles == 0 and meter.stats.polls > 0
    case = "PMU frame, bytes to DAL (6 phasors, float)"
    ratios.add(
        benchmark, case, medians["gridtap"], {"struct + crc_hqx parser": medians["struct"]}, unit="frame"
    )


# ---- live: many streams -------------------------------------------------------------------------


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


async def live_run(servers: PmuServers) -> dict[str, float]:
    dal = Dal()
    samples: list[float] = []
    meters = []
    for i, port in enumerate(servers.ports):
        meter = PmuMeter.tcp(HOST, port, idcode=i + 1, namespace=f"grid_p{i:03d}", timeout=5.0)

        def timed(data: bytes, arrival: float, original=meter._on_bytes) -> None:
            start = time.perf_counter()
            original(data, arrival)
            samples.append(time.perf_counter() - start)

        meter._on_bytes = timed  # type: ignore[method-assign]
        meters.append(meter)
    # frames written, counted as the DAL accepts them (a subscriber would also build a Reading per
    # channel of every write: a consumer's cost, not the ingest's)
    writes = [0]
    write_many = dal.write_many

    def counted(*args: Any, **kw: Any) -> None:
        write_many(*args, **kw)
        writes[0] += 1

    dal.write_many = counted  # type: ignore[method-assign]
    tasks = [asyncio.create_task(m.poll(dal)) for m in meters]
    loop = asyncio.get_running_loop()
    await asyncio.sleep(WARMUP)
    samples.clear()
    c0, w0 = time.process_time(), time.monotonic()
    srv0 = (await loop.run_in_executor(None, servers.ask, "cpu"))["cpu"]
    await asyncio.sleep(LIVE_SECONDS)
    c1, w1 = time.process_time(), time.monotonic()
    srv1 = (await loop.run_in_executor(None, servers.ask, "cpu"))["cpu"]
    timed_samples = list(samples)
    await loop.run_in_executor(None, servers.ask, "pause")
    await asyncio.sleep(1.0)
    sent = sum((await loop.run_in_executor(None, servers.ask, "sent"))["sent"])
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    taken = sum(m.stats.polls for m in meters)
    return {
        "p50_s": percentile(timed_samples, 0.50),
        "p99_s": percentile(timed_samples, 0.99),
        "max_s": max(timed_samples),
        "frames_timed": len(timed_samples),
        "frames_sent": sent,
        "frames_taken": taken,
        "frames_written": writes[0],
        "missed_cycles": sum(m.stats.missed_cycles for m in meters),
        "reconnects": sum(m.stats.reconnects for m in meters),
        "cpu_percent": 100.0 * (c1 - c0) / (w1 - w0),
        "server_cpu_percent": 100.0 * (srv1 - srv0) / (w1 - w0),
        "frames_per_s": len(timed_samples) / (w1 - w0),
    }


def test_live_streams_into_one_dal(benchmark, ratios, servers) -> None:
    result: dict[str, float] = {}
    benchmark.pedantic(lambda: result.update(asyncio.run(live_run(servers))), rounds=1, iterations=1)
    case = f"{STREAMS} PMUs x {RATE} fps, {LIVE_SECONDS:g} s, one DAL"
    assert result["frames_written"] == result["frames_taken"] == result["frames_sent"], result
    assert result["missed_cycles"] == 0 and result["reconnects"] == STREAMS
    p99 = result["p99_s"]
    ratios.note(benchmark, case, "p50 per frame", f"{result['p50_s'] * 1e6:.1f} us")
    ratios.note(benchmark, case, "p99 per frame", f"{p99 * 1e6:.1f} us", "< 100 us", p99 < 100e-6)
    ratios.note(benchmark, case, "max per frame", f"{result['max_s'] * 1e6:.0f} us")
    ratios.note(
        benchmark,
        case,
        "frames written / sent",
        f"{result['frames_written']:.0f} / {result['frames_sent']:.0f}",
        "none lost",
        result["frames_written"] == result["frames_sent"],
    )
    ratios.note(benchmark, case, "frames/s timed", f"{result['frames_per_s']:.0f}")
    ratios.note(benchmark, case, "CPU of this process", f"{result['cpu_percent']:.1f}% of a core")
    ratios.note(benchmark, case, "CPU of the PMU servers", f"{result['server_cpu_percent']:.1f}% of a core")
    for key, value in result.items():
        benchmark.extra_info[key] = value


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit(f"usage: {sys.argv[0]} serve N_STREAMS RATE")
