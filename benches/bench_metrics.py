"""One `/metrics` scrape of a site with 200 meters, against prometheus-client's own formatter.

The site: 200 `ModbusMeter` objects (SDM630 profile, namespaces grid_m0 … grid_m199), each with
poll statistics and a latency histogram, and a `Dal` holding what their pipelines produced from
realistic frames (some channels ERROR): some 6,800 channels, about 18,000 samples in all.

- `SiteMetrics.render()`, what the endpoint serves (target: < 10 ms a scrape), against
  `prometheus_client.generate_latest` over the same `SiteMetrics` registered as a collector (the
  code a user of prometheus-client would otherwise run), timed in turns in the same process.
- A whole scrape over HTTP on loopback (`urllib` GET of the running `MetricsServer`), as a note.

GRIDTAP_BENCH_QUICK=1 runs briefly (CI).
"""

from __future__ import annotations

import random
import time
import urllib.request

from conftest import QUICK, benchmark_median, interleaved_medians, scenario_frames
from gridtap import Dal, MeterPipeline, profiles
from gridtap.metrics import MetricsServer, SiteMetrics
from gridtap.modbus import ModbusMeter
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

METERS = 200
REPEATS = 5 if QUICK else 41
TARGET_S = 0.010


def site(n_meters: int) -> tuple[Dal, list[ModbusMeter]]:
    profile = profiles.load("sdm630")
    frames = scenario_frames(profile, n_meters)
    dal = Dal(default_max_age=60.0)
    now = time.time()
    rng = random.Random(3)
    meters = []
    for i in range(n_meters):
        ns = f"grid_m{i}"
        meter = ModbusMeter.tcp(f"10.0.{i // 250}.{i % 250 + 1}", 502, profile=profile, namespace=ns)
        values = MeterPipeline(profile).push(now, frames[i])
        dal.write_many(ns, values, now)
        stats = meter.stats
        for _ in range(3600):  # an hour at 1 Hz
            stats.latency.observe(rng.lognormvariate(-5.0, 0.6))
        stats.polls, stats.requests, stats.failed_polls, stats.timeouts = 3600, 7200, i % 3, i % 2
        stats.last_ok = now
        meters.append(meter)
    return dal, meters


def test_scrape_200_meters(benchmark, ratios):
    dal, meters = site(METERS)
    metrics = SiteMetrics(dal, meters)
    registry = CollectorRegistry()
    registry.register(metrics)
    text = metrics.render().decode()
    samples = sum(len(f.samples) for f in text_string_to_metric_families(text))
    assert samples > 15_000  # the site is as large as claimed

    benchmark.pedantic(metrics.render, rounds=REPEATS, iterations=1, warmup_rounds=1)
    m = interleaved_medians(
        {"gridtap": metrics.render, "prometheus_client": lambda: generate_latest(registry)},
        max(3, REPEATS // 4),
        number=1,
    )
    case = f"/metrics, {METERS} SDM630 meters ({samples:,} samples)"
    ratios.add(benchmark, case, m["gridtap"], {"prometheus_client": m["prometheus_client"]}, unit="scrape")
    median = benchmark_median(benchmark) or m["gridtap"]
    ratios.note(
        benchmark,
        case,
        "render median",
        f"{median * 1e3:.2f} ms",
        f"< {TARGET_S * 1e3:g} ms",
        median < TARGET_S,
    )

    with MetricsServer(metrics, "127.0.0.1:0") as server:

        def http_get() -> bytes:
            with urllib.request.urlopen(server.url, timeout=10) as r:
                return bytes(r.read())

        http = interleaved_medians({"http": http_get}, max(3, REPEATS // 4), number=1)["http"]
    ratios.note(benchmark, case, "HTTP GET on loopback, median", f"{http * 1e3:.2f} ms")
