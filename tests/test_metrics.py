"""The /metrics endpoint: a real HTTP GET on 127.0.0.1, parsed by prometheus-client's own parser.

The site parts are real: a simulated SDM630 served over Modbus TCP on loopback, a `ModbusMeter`
polling it into a `Dal`, an `EdgeCycle`, a mosquitto broker. Expected values come from the spec's
example site (L1 +15 kW, L2 −3 kW, L3 −2 kW at the grid) and from hand-counted histograms, not from
the code under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import pytest
from gridtap import Dal, Quality
from gridtap.control import EdgeCycle, PhaseZeroExport
from gridtap.metrics import MetricsError, MetricsServer, SiteMetrics, parse_listen
from gridtap.modbus import ModbusMeter
from gridtap.pollstats import PollStats
from gridtap.sim.server import MeterSimulator
from gridtap.telemetry import MqttPublisher
from mqtt_broker import Broker, mosquitto_fixture, wait_until  # noqa: F401
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from simkit import SPEC_SITE, run, static_site, until


def get(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.headers["Content-Type"], r.read().decode()


def parse(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """family sample name → {sorted labels: value}, as prometheus-client's parser reads the text."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def one(samples: dict[str, dict[Any, float]], name: str, **labels: str) -> float | None:
    want = tuple(sorted(labels.items()))
    found = [v for k, v in samples.get(name, {}).items() if all(item in k for item in want)]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else None


def test_a_polled_meter_through_http(tmp_path):
    async def go() -> list[dict[str, Any]]:
        sim = MeterSimulator(static_site(**SPEC_SITE), "sdm630")
        port = await sim.start("127.0.0.1", 0)
        dal = Dal(default_max_age=2.0)
        meter = ModbusMeter.tcp("127.0.0.1", port, profile="sdm630", namespace="grid", timeout=0.5)
        task = asyncio.create_task(meter.poll(dal, interval=0.1))
        server = MetricsServer(SiteMetrics(dal, [meter]), "127.0.0.1:0").start()
        scrapes: list[dict[str, Any]] = []

        async def scrape() -> None:
            ctype, text = await asyncio.to_thread(get, server.url)
            scrapes.append({"type": ctype, "text": text, "dal": dal.snapshot(), "samples": parse(text)})

        try:
            assert await until(lambda: meter.stats.polls >= 3, 10)
            await scrape()
            polls = meter.stats.polls
            assert await until(lambda: meter.stats.polls >= polls + 2, 10)
            await scrape()
            await sim.stop()  # unplugged
            assert await until(lambda: dal.snapshot()["grid/ActivePower"].quality is Quality.ERROR, 10)
            await scrape()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await meter.close()
            server.stop()
            await sim.stop()
        return scrapes

    first, second, unplugged = run(go())
    assert first["type"] == "text/plain; version=0.0.4; charset=utf-8"
    s = first["samples"]
    # the gauge carries the DAL's value, with the full channel name and the unit
    for ch, expected in (("grid/ActivePower_L1", 15000.0), ("grid/ActivePower_L2", -3000.0),
                         ("grid/ActivePower_L3", -2000.0), ("grid/ActivePower", 10000.0)):  # fmt: skip
        assert one(s, "gridtap_channel_value", channel=ch, unit="W") == expected == first["dal"][ch].value
        assert one(s, "gridtap_channel_quality", channel=ch) == 0.0
    assert (
        one(s, "gridtap_channel_value", channel="grid/Frequency", unit="Hz")
        == first["dal"]["grid/Frequency"].value
    )
    assert one(s, "gridtap_channel_value", channel="grid/EnergyImport", unit="kWh") is not None
    # every channel of the DAL is there, each with a quality
    assert {dict(k)["channel"] for k in s["gridtap_channel_quality"]} == set(first["dal"])

    src = {"source": meter_name(first), "namespace": "grid"}
    assert one(s, "gridtap_link_up", **src) == 1.0
    polls_1 = one(s, "gridtap_polls_total", **src)
    polls_2 = one(second["samples"], "gridtap_polls_total", **src)
    assert polls_1 is not None and polls_2 is not None and polls_2 > polls_1 >= 3
    assert one(s, "gridtap_poll_failures_total", **src) == 0.0
    assert one(s, "gridtap_modbus_requests_total", **src) >= 2 * polls_1  # SDM630: 2 requests a poll
    count = one(second["samples"], "gridtap_poll_duration_seconds_count", **src)
    assert count is not None and count >= polls_1
    assert one(second["samples"], "gridtap_poll_duration_seconds_bucket", le="+Inf", **src) == count
    assert 0 < one(second["samples"], "gridtap_poll_duration_seconds_sum", **src) < 0.5 * count
    assert one(s, "gridtap_last_good_poll_timestamp_seconds", **src) > first["dal"].time - 5

    # unplugged: ERROR, the value gone rather than 0, the link down, failures counted
    u = unplugged["samples"]
    assert one(u, "gridtap_channel_quality", channel="grid/ActivePower") == 2.0
    assert one(u, "gridtap_channel_value", channel="grid/ActivePower") is None
    assert one(u, "gridtap_link_up", **src) == 0.0
    assert one(u, "gridtap_poll_failures_total", **src) >= 1
    assert one(u, "gridtap_polls_total", **src) > polls_2


def meter_name(scrape: dict[str, Any]) -> str:
    (labels,) = scrape["samples"]["gridtap_link_up"]
    return dict(labels)["source"]


@dataclass
class FakeSource:
    """The duck-typed interface every data source has (name, namespace, link_up, stats)."""

    name: str
    namespace: str | None
    link_up: bool = True
    stats: PollStats = field(default_factory=PollStats)


def test_histogram_and_counters_as_counted_by_hand():
    stats = PollStats(polls=5, failed_polls=1, timeouts=2, requests=9, block_errors=1, reconnects=3,
                      missed_cycles=4, last_ok=1767225600.5)  # fmt: skip
    for x in (0.0007, 0.003, 0.003, 0.2, 7.0):
        stats.latency.observe(x)
    bus = FakeSource("/dev/ttyUSB0", None, link_up=False, stats=stats)
    s = parse(SiteMetrics(Dal(), [bus], process=False).render().decode())
    src = {"source": "/dev/ttyUSB0", "namespace": ""}
    le = {"0.001": 1, "0.0025": 1, "0.005": 3, "0.01": 3, "0.025": 3, "0.05": 3, "0.1": 3, "0.25": 4,
          "0.5": 4, "1.0": 4, "2.5": 4, "5.0": 4, "+Inf": 5}  # fmt: skip
    for bound, n in le.items():
        assert one(s, "gridtap_poll_duration_seconds_bucket", le=bound, **src) == n, bound
    assert len(s["gridtap_poll_duration_seconds_bucket"]) == len(le)
    assert one(s, "gridtap_poll_duration_seconds_count", **src) == 5
    assert one(s, "gridtap_poll_duration_seconds_sum", **src) == pytest.approx(7.2067)
    for name, n in (("polls", 5), ("poll_failures", 1), ("poll_timeouts", 2), ("modbus_requests", 9),
                    ("modbus_exceptions", 1), ("reconnects", 3), ("missed_poll_cycles", 4)):  # fmt: skip
        assert one(s, f"gridtap_{name}_total", **src) == n, name
    assert one(s, "gridtap_link_up", **src) == 0
    assert one(s, "gridtap_last_good_poll_timestamp_seconds", **src) == 1767225600.5


def test_stale_and_error_channels():
    dal = Dal(default_max_age=5.0)
    dal.write_many("grid", {"ActivePower": 1234.5, "Frequency": 50.01}, timestamp=1000.0)
    dal.write("grid_sub/ActivePower", None, timestamp=1003.0)
    s = parse(SiteMetrics(dal, process=False).render(now=1006.0).decode())
    assert one(s, "gridtap_channel_quality", channel="grid/ActivePower") == 1  # 6 s old: STALE
    assert one(s, "gridtap_channel_value", channel="grid/ActivePower", unit="W") == 1234.5  # still shown
    assert one(s, "gridtap_channel_quality", channel="grid_sub/ActivePower") == 2
    assert one(s, "gridtap_channel_value", channel="grid_sub/ActivePower") is None
    s = parse(SiteMetrics(dal, process=False).render(now=1004.0).decode())
    assert one(s, "gridtap_channel_quality", channel="grid/ActivePower") == 0


def test_the_fast_text_parses_to_what_prometheus_client_formats():
    """`render()` formats the families itself for speed; prometheus-client's own formatter, given
    the same collector, must produce the same samples (label escaping included)."""
    dal = Dal()
    dal.write_many(
        "grid", {"ActivePower_L1": 15000.0, "ActivePower_L2": -3000.0, "Frequency": 49.987654321}, 1e9
    )
    dal.write_many("grid_main", {"EnergyImport": 123456.789012, "ActivePower": None}, 1e9)
    stats = PollStats(polls=7, failed_polls=2, last_ok=1e9)
    stats.latency.observe(0.004)
    sources = [FakeSource('bus "A" \\ rs485\nline', None, stats=stats), FakeSource("10.0.0.5:502", "grid")]
    cycle = EdgeCycle(dal, [PhaseZeroExport()])
    cycle.run_once(1e9 + 0.5)
    metrics = SiteMetrics(dal, sources, [cycle], process=False, clock=lambda: 1e9 + 1)
    registry = CollectorRegistry()
    registry.register(metrics)
    ours = parse(metrics.render().decode())
    reference = parse(generate_latest(registry).decode())
    assert ours == reference
    assert one(ours, "gridtap_polls_total", source='bus "A" \\ rs485\nline', namespace="") == 7
    types = {f.name: f.type for f in text_string_to_metric_families(metrics.render().decode())}
    assert types["gridtap_polls"] == "counter" and types["gridtap_poll_duration_seconds"] == "histogram"
    assert types["gridtap_channel_value"] == "gauge"


def test_controller_outputs_and_holding():
    dal = Dal(default_max_age=5.0)
    t = 1.7e9  # in the past: the DAL refuses timestamps ahead of its clock
    # the spec's site at the grid, battery idle: PhaseZeroExport charges the exporting phases
    dal.write_many("grid", {"ActivePower_L1": 15000.0, "ActivePower_L2": -3000.0, "ActivePower_L3": -2000.0,
                            "ActivePower": 10000.0}, t)  # fmt: skip
    dal.write_many("battery", {"ActivePower_L1": 0.0, "ActivePower_L2": 0.0, "ActivePower_L3": 0.0,
                               "ActivePower": 0.0, "MaxChargePower": 10000.0, "MaxDischargePower": 10000.0}, t)  # fmt: skip
    cycle = EdgeCycle(dal, [PhaseZeroExport()])
    metrics = SiteMetrics(dal, cycles=[cycle], process=False)
    cycle.run_once(t + 0.1)
    s = parse(metrics.render(now=t + 0.2).decode())
    assert one(s, "gridtap_controller_output", channel="battery/SetActivePower_L2", unit="W") == 3000.0
    assert one(s, "gridtap_controller_output", channel="battery/SetActivePower_L3", unit="W") == 2000.0
    assert one(s, "gridtap_controller_holding", controller=PhaseZeroExport().name) == 0
    assert one(s, "gridtap_controller_cycle_timestamp_seconds", battery="battery") == t + 0.1
    dal.write("grid/ActivePower_L2", None, t + 1)  # the meter lost L2: the controller must hold
    cycle.run_once(t + 1.1)
    assert PhaseZeroExport().name in (cycle.last_result.held if cycle.last_result else {})
    s = parse(metrics.render(now=t + 1.2).decode())
    assert one(s, "gridtap_controller_holding", controller=PhaseZeroExport().name) == 1
    assert one(s, "gridtap_controller_cycle_timestamp_seconds", battery="battery") == t + 1.1


def test_mqtt_connection_and_queue(mosquitto: Broker):
    dal = Dal()
    pub = MqttPublisher(dal, host=mosquitto.host, port=mosquitto.port, prefix="m", reconnect_delay=(1, 1))
    metrics = SiteMetrics(dal, publishers=[pub], process=False)
    broker = {"broker": f"{mosquitto.host}:{mosquitto.port}"}
    with pub:
        assert pub.wait_connected(10)
        dal.write_many("grid", {"ActivePower": 1.0, "Frequency": 50.0}, 1e9)
        assert wait_until(
            lambda: one(parse(metrics.render().decode()), "gridtap_mqtt_waiting_channels", **broker) == 0
        )
        s = parse(metrics.render().decode())
        assert one(s, "gridtap_mqtt_connected", **broker) == 1
        mosquitto.kill()
        assert wait_until(lambda: not pub.connected, 10)
        dal.write_many("grid", {"ActivePower": 2.0, "Frequency": 50.1, "Voltage_L1": 230.0}, 1e9 + 1)
        s = parse(metrics.render().decode())
        assert one(s, "gridtap_mqtt_connected", **broker) == 0
        assert one(s, "gridtap_mqtt_waiting_channels", **broker) == 3  # kept for the reconnection
        mosquitto.start()
        assert pub.wait_connected(10)
        assert wait_until(
            lambda: one(parse(metrics.render().decode()), "gridtap_mqtt_waiting_channels", **broker) == 0
        )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("127.0.0.1:9108", ("127.0.0.1", 9108)),
        ("9108", ("127.0.0.1", 9108)),  # a bare port stays on loopback
        ("0.0.0.0:9100", ("0.0.0.0", 9100)),
        ("[::1]:9108", ("::1", 9108)),
        ("localhost:0", ("localhost", 0)),
    ],
)
def test_listen_addresses(text, expected):
    assert parse_listen(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "127.0.0.1:x", "127.0.0.1:70000", ":9108", "[::1]9108", "127.0.0.1:1_9108", "127.0.0.1: 9108"],
)
def test_bad_listen_addresses_name_the_address(text):
    with pytest.raises(MetricsError, match="metrics listen address"):
        parse_listen(text)


def test_the_server_binds_loopback_and_reports_a_busy_port():
    metrics = SiteMetrics(Dal(), process=False)
    with MetricsServer(metrics, "127.0.0.1:0") as server:
        assert server.host == "127.0.0.1" and server.port > 0
        with pytest.raises(MetricsError, match=f"127.0.0.1:{server.port}.*cannot listen"):
            MetricsServer(metrics, f"127.0.0.1:{server.port}")
        with pytest.raises(urllib.error.HTTPError) as info:
            get(server.url.replace("/metrics", "/nope"))
        assert info.value.code == 404
        info.value.close()
        _, text = get(server.url)
        assert "process_resident_memory_bytes" not in text  # process=False
    assert "process_resident_memory_bytes" in SiteMetrics(Dal()).render().decode()
