"""Fleet scale on one machine: 50 simulated sites publish at 1 Hz to one local mosquitto.

Every site has its own Dal and MqttPublisher (prefix `fleet/site-NN`, client id `site-NN`) and
writes grid/ActivePower with its per-phase active power, voltage and current once a second. One
subscriber on `fleet/+/grid/#` must receive every message, none stale: each arrives less than 2 s
after its measurement, and each channel's timestamps increase. docs/fleet.md describes the layout.
"""

from __future__ import annotations

import itertools
import math
import statistics
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
from gridtap.dal import Dal
from gridtap.telemetry import MqttPublisher
from mqtt_broker import Broker, Subscriber

SITES = 50
SECONDS = 5  # writes per site, one a second
CHANNELS = [
    "ActivePower",
    *(f"{q}_L{n}" for q in ("ActivePower", "Voltage", "Current") for n in (1, 2, 3)),
]
MAX_STALENESS = 2.0  # s from measurement to arrival at the subscriber


def site_values(site: int, k: int) -> dict[str, float]:
    phases = [1000.0 * (1 + site % 7) + 100.0 * k + 10.0 * n for n in range(3)]
    values = {"ActivePower": sum(phases)}
    for n, p in enumerate(phases, start=1):
        voltage = 230.0 + 0.1 * n + 0.01 * k
        values[f"ActivePower_L{n}"] = p
        values[f"Voltage_L{n}"] = voltage
        values[f"Current_L{n}"] = abs(p) / voltage
    return values


@pytest.mark.slow
def test_fifty_sites_at_one_hertz_all_messages_arrive_fresh(tmp_path: Path) -> None:
    # One subscriber takes the whole fleet's stream: let the broker queue for it rather than drop.
    broker = Broker(tmp_path / "broker", extra_config=["max_queued_messages 100000"])
    broker.start()
    publishers: list[MqttPublisher] = []
    try:
        dals = [Dal(default_max_age=30.0) for _ in range(SITES)]
        # rate limit (0.5 s) below the data period (1 s): every sample goes out
        publishers = [
            MqttPublisher(
                dal,
                broker.host,
                broker.port,
                prefix=f"fleet/site-{i:02d}",
                client_id=f"site-{i:02d}",
                min_interval=0.5,
            )
            for i, dal in enumerate(dals)
        ]
        written: dict[tuple[int, str], list[float]] = defaultdict(list)
        written_lock = threading.Lock()

        with Subscriber(broker, "fleet/+/grid/#", qos=1) as sub:
            for pub in publishers:
                pub.start()
            assert all(pub.wait_connected(20) for pub in publishers), [p.last_error for p in publishers]

            t0 = time.time() + 0.2

            def run_site(i: int) -> None:
                offset = i * 0.9 / SITES  # sites are not synchronised: spread them over the second
                for k in range(SECONDS):
                    due = t0 + offset + k
                    time.sleep(max(0.0, due - time.time()))
                    ts = time.time()
                    dals[i].write_many("grid", site_values(i, k), ts)
                    with written_lock:
                        for name in CHANNELS:
                            written[(i, name)].append(ts)

            threads = [threading.Thread(target=run_site, args=(i,)) for i in range(SITES)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            expected = SITES * SECONDS * len(CHANNELS)
            arrived = sub.wait_for(lambda s: len(s.received()) >= expected, timeout=20)
            time.sleep(0.3)  # anything extra (duplicates) would show up now
            messages = sub.received()
        assert arrived, f"{len(messages)} of {expected} messages arrived"
        assert len(messages) == expected

        received: dict[tuple[int, str], list[float]] = defaultdict(list)
        staleness: list[float] = []
        for m in messages:
            _, site, namespace, name = m.topic.split("/")
            assert namespace == "grid"
            p = m.json()
            assert p["quality"] == "GOOD"
            received[(int(site.removeprefix("site-")), name)].append(p["timestamp"])
            staleness.append(m.received - p["timestamp"])
        for key, stamps in written.items():
            assert received[key] == stamps, key  # all of them, in order
            assert all(b > a for a, b in itertools.pairwise(stamps)), key
        assert len(received) == SITES * len(CHANNELS)
        worst = max(staleness)
        assert worst < MAX_STALENESS, f"worst staleness {worst:.3f} s"
        assert all(math.isfinite(s) and s > -0.01 for s in staleness)  # never fresher than measured
        print(
            f"\nfleet: {SITES} sites x {len(CHANNELS)} channels x {SECONDS} s = {len(messages)} messages, "
            f"all arrived; staleness median {statistics.median(staleness) * 1e3:.1f} ms, "
            f"p99 {statistics.quantiles(staleness, n=100)[98] * 1e3:.1f} ms, max {worst * 1e3:.1f} ms"
        )
    finally:
        for pub in publishers:
            pub.stop()
        broker.stop()
