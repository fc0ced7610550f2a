"""100 PMU streams at 50 frames/s into one DAL on loopback: every frame sent is written, once."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter, defaultdict

from gridtap import Dal
from gridtap.pmu import PmuMeter
from gridtap.sim.pmu_server import PmuSimulator
from simkit import SPEC_SITE, run, static_site

STREAMS = 100
RATE = 50
SECONDS = 3.0


def test_100_streams_at_50_fps_lose_no_frame():
    scenario = static_site(**SPEC_SITE)
    writes: Counter[str] = Counter()
    times: dict[str, list[float]] = defaultdict(list)

    def count(updates):
        ns = updates[0][0].partition("/")[0]
        writes[ns] += 1
        times[ns].append(updates[0][1].timestamp)

    async def go():
        dal = Dal()
        dal.subscribe(count)
        sims, meters, tasks = [], [], []
        for n in range(STREAMS):
            # every FORMAT in turn: integer and float, rectangular and polar
            sim = PmuSimulator(scenario, idcode=n + 1, rate=RATE, format=n % 16)
            port = await sim.start()
            meter = PmuMeter.tcp("127.0.0.1", port, idcode=n + 1, namespace=f"grid_s{n:03d}", timeout=5.0)
            sims.append(sim)
            meters.append(meter)
            tasks.append(asyncio.create_task(meter.poll(dal)))
        await asyncio.sleep(SECONDS)
        for sim in sims:
            sim.paused = True
        await asyncio.sleep(1.0)  # what is on its way arrives
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        sent = {f"grid_s{n:03d}": sim.frames_sent for n, sim in enumerate(sims)}
        for sim in sims:
            await sim.stop()
        return sent, meters

    sent, meters = run(go(), timeout=120)
    assert all(m.stats.reconnects == 1 for m in meters)  # no stream had to be restarted
    for ns, n in sent.items():
        assert n >= 0.5 * SECONDS * RATE, (ns, n)
        assert writes[ns] == n, (ns, writes[ns], n)  # every frame sent, written once
        ts = times[ns]
        assert all(abs(b - a - 1 / RATE) < 1e-6 for a, b in itertools.pairwise(ts)), ns
    assert sum(m.stats.missed_cycles for m in meters) == 0
    assert sum(m.decoder_stats["crc_errors"] + m.decoder_stats["bytes_skipped"] for m in meters) == 0
