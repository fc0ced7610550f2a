"""PMU streams on /metrics: the clock offset, refusal and the stream's own counters.

The PMU is real: the project's C37.118.2 simulator on loopback, its clock set 3 s ahead of the
local one, read by a `PmuMeter` into a real `Dal` (which refuses readings more than 1 s in the
future by default). The expected offset is the simulator's setting, not a number from the code
under test; the counters of the second test are set by hand.
"""

from __future__ import annotations

import asyncio
import urllib.request
from dataclasses import dataclass, field

import pytest
from gridtap import Dal
from gridtap.metrics import MetricsServer, SiteMetrics
from gridtap.pmu import PmuMeter
from gridtap.pmu_quality import PmuStats
from gridtap.pollstats import PollStats
from gridtap.sim.pmu_server import PmuSimulator
from prometheus_client import CollectorRegistry, generate_latest
from simkit import SPEC_SITE, run, static_site, until
from test_metrics import one, parse


def test_a_pmu_ahead_of_the_local_clock_shows_its_offset_and_refusal():
    async def go() -> dict:
        sim = PmuSimulator(static_site(**SPEC_SITE), idcode=8, rate=20)
        port = await sim.start(transport="tcp")
        sim.clock_offset = 3.0
        meter = PmuMeter.tcp("127.0.0.1", port, idcode=8, namespace="grid_pmu")
        dal = Dal()
        task = asyncio.create_task(meter.poll(dal))
        server = MetricsServer(SiteMetrics(dal, [meter], process=False), "127.0.0.1:0").start()
        try:
            assert await until(lambda: meter.stats.refused >= 5, 20)

            def get() -> str:
                with urllib.request.urlopen(server.url, timeout=10) as r:
                    return r.read().decode()

            return parse(await asyncio.to_thread(get))
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            server.stop()
            await sim.stop()

    s = run(go(), timeout=60)
    (labels,) = s["gridtap_pmu_refusing"]
    src = dict(labels)
    assert src["namespace"] == "grid_pmu"
    assert one(s, "gridtap_pmu_clock_offset_seconds", **src) == pytest.approx(3.0, abs=0.3)
    assert one(s, "gridtap_pmu_refusing", **src) == 1.0
    assert one(s, "gridtap_pmu_refused_frames_total", **src) >= 5
    # a clean stream otherwise: no data errors, time flags, foreign frames or new configurations
    for name in ("data_error", "time_flagged", "out_of_order", "leap_second", "foreign"):
        assert one(s, f"gridtap_pmu_{name}_frames_total", **src) == 0.0, name
    assert one(s, "gridtap_pmu_config_changes_total", **src) == 0.0
    assert one(s, "gridtap_link_up", **src) == 1.0


@dataclass
class FakeSource:
    name: str
    namespace: str | None
    link_up: bool = True
    refusing: bool = False
    stats: PollStats = field(default_factory=PollStats)


def test_pmu_counters_as_set_by_hand_and_as_prometheus_client_formats_them():
    pmu = FakeSource("10.0.0.9:4712", "grid_pmu", refusing=True, stats=PmuStats(
        polls=50, data_errors=1, time_flagged=2, out_of_order=3, leap_frames=4, refused=5,
        foreign_frames=6, config_changes=7, clock_offset=-0.0125))  # fmt: skip
    fresh = FakeSource("pmu-b", "grid_b", stats=PmuStats())  # no frame yet: no offset
    meter = FakeSource("10.0.0.5:502", "grid")  # a Modbus meter: no PMU series
    metrics = SiteMetrics(Dal(), [pmu, fresh, meter], process=False)
    ours = parse(metrics.render().decode())
    registry = CollectorRegistry()
    registry.register(metrics)
    assert ours == parse(generate_latest(registry).decode())

    src = {"source": "10.0.0.9:4712", "namespace": "grid_pmu"}
    for name, n in (("data_error_frames", 1), ("time_flagged_frames", 2), ("out_of_order_frames", 3),
                    ("leap_second_frames", 4), ("refused_frames", 5), ("foreign_frames", 6),
                    ("config_changes", 7)):  # fmt: skip
        assert one(ours, f"gridtap_pmu_{name}_total", **src) == n, name
    assert one(ours, "gridtap_pmu_clock_offset_seconds", **src) == -0.0125
    assert one(ours, "gridtap_pmu_refusing", **src) == 1.0
    assert one(ours, "gridtap_pmu_refusing", source="pmu-b") == 0.0
    assert one(ours, "gridtap_pmu_clock_offset_seconds", source="pmu-b") is None
    assert one(ours, "gridtap_pmu_refusing", source="10.0.0.5:502") is None
    assert one(ours, "gridtap_polls_total", **src) == 50  # and the generic source counters
