"""The `/metrics` endpoint of a running site, in the Prometheus text format (prometheus-client).

What it shows (docs/metrics.md has the list with PromQL examples):

- every DAL channel: `gridtap_channel_value{channel="grid/ActivePower",unit="W"}` (absent while
  the reading is ERROR: a missing value is never 0) and `gridtap_channel_quality{channel=...}`
  (0 GOOD, 1 STALE, 2 ERROR), staleness evaluated at scrape time;
- per meter or bus (any source with `.name`, `.namespace`, `.link_up` and a `PollStats` `.stats`):
  counters of polls, failed polls, timeouts, requests, exception responses, reconnects and missed
  cycles, the link state, the time of the last good poll, and the poll latency histogram;
- per edge cycle: the outputs it wrote, which controllers hold a safe output, the last cycle time;
- per MQTT publisher: connected or not, messages in flight and channels waiting to be sent;
- per PMU stream (a source whose `.stats` is a `PmuStats`): its clock offset (PMU time minus local
  arrival time of the latest frame), whether the DAL refuses its readings now, and counters of
  frames with a data error, a time flag, out of order, of a leap second, refused, of another
  stream, and configuration changes.

Everything is read when scraped: nothing is updated on the hot path. `SiteMetrics` is a
prometheus-client collector (register it in any `CollectorRegistry`); the endpoint formats the
same families itself, with label strings built once per series, because prometheus-client's
generic formatter costs about 4 µs a sample and a site of 200 meters has some 20,000 samples.
The two outputs parse to the same families (tests/test_metrics.py holds them to that).
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from gridtap.channels import channel_spec
from gridtap.dal import Dal, Quality
from gridtap.errors import GridtapError
from gridtap.pmu_quality import PmuStats
from gridtap.pollstats import LATENCY_BUCKETS, PollStats

__all__ = ["QUALITY_CODE", "MetricsError", "MetricsServer", "SiteMetrics", "parse_listen"]

log = logging.getLogger(__name__)

QUALITY_CODE = {Quality.GOOD: 0, Quality.STALE: 1, Quality.ERROR: 2}
DEFAULT_PORT = 9108


class MetricsError(GridtapError, ValueError):
    """A metrics listen address that cannot be used."""


class Source(Protocol):
    """A meter or bus: what every data source exposes (see gridtap.pollstats)."""

    @property
    def name(self) -> str: ...
    @property
    def namespace(self) -> str | None: ...
    @property
    def stats(self) -> PollStats: ...
    @property
    def link_up(self) -> bool: ...


# PollStats field → (metric name without _total, help)
_COUNTERS = (
    ("polls", "gridtap_polls", "Reads of a meter or bus attempted (one per poll cycle)."),
    ("failed_polls", "gridtap_poll_failures", "Polls where the link or at least one register block failed."),
    ("timeouts", "gridtap_poll_timeouts", "Requests that got no valid answer in time."),
    ("requests", "gridtap_modbus_requests", "Modbus requests sent."),
    ("block_errors", "gridtap_modbus_exceptions", "Modbus exception responses."),
    ("reconnects", "gridtap_reconnects", "Connections (re)established."),
    ("missed_cycles", "gridtap_missed_poll_cycles", "Poll cycles skipped because a poll overran."),
)
_FIELDS = tuple(f for f, _, _ in _COUNTERS)
_LE = tuple(floatToGoString(b) for b in (*LATENCY_BUCKETS, math.inf))
_SOURCE_LABELS = ("source", "namespace")


@dataclass(frozen=True)
class _Meta:
    name: str  # without the _total of a counter
    kind: str  # gauge, counter, histogram
    doc: str
    labels: tuple[str, ...]

    def header(self) -> str:
        full = f"{self.name}_total" if self.kind == "counter" else self.name
        return f"# HELP {full} {self.doc}\n# TYPE {full} {self.kind}\n"


_VALUE = _Meta("gridtap_channel_value", "gauge", "Channel value in its unit (absent while ERROR).",
               ("channel", "unit"))  # fmt: skip
_QUALITY = _Meta(
    "gridtap_channel_quality", "gauge", "Channel quality: 0 GOOD, 1 STALE, 2 ERROR.", ("channel",)
)
_SOURCE_METAS = (
    *(_Meta(name, "counter", doc, _SOURCE_LABELS) for _, name, doc in _COUNTERS),
    _Meta("gridtap_link_up", "gauge", "1 while the meter's or bus's link is up.", _SOURCE_LABELS),
    _Meta("gridtap_last_good_poll_timestamp_seconds", "gauge",
          "When the last poll with every block good was measured (Unix time).", _SOURCE_LABELS),
    _Meta("gridtap_poll_duration_seconds", "histogram", "Time one poll took.", _SOURCE_LABELS),
)  # fmt: skip
_OUTPUT = _Meta("gridtap_controller_output", "gauge", "Setpoints and limits the edge cycle wrote.",
                ("channel", "unit"))  # fmt: skip
_HOLDING = _Meta("gridtap_controller_holding", "gauge",
                 "1 while the controller holds a safe output (an input missing, STALE or ERROR, or it failed).",
                 ("controller",))  # fmt: skip
_CYCLE_TIME = _Meta("gridtap_controller_cycle_timestamp_seconds", "gauge",
                    "When the edge cycle last ran (Unix time).", ("battery",))  # fmt: skip
_MQTT_METAS = (
    _Meta("gridtap_mqtt_connected", "gauge", "1 while connected to the MQTT broker.", ("broker",)),
    _Meta("gridtap_mqtt_in_flight_messages", "gauge",
          "Messages handed to the MQTT client and not yet delivered.", ("broker",)),
    _Meta("gridtap_mqtt_waiting_channels", "gauge",
          "Channels whose newest reading waits to be sent (rate limit, or broker unreachable).", ("broker",)),
)  # fmt: skip
# PmuStats field → (metric name without _total, help)
_PMU_COUNTERS = (
    ("data_errors", "gridtap_pmu_data_error_frames", "PMU frames whose STAT word reports a data error."),
    ("time_flagged", "gridtap_pmu_time_flagged_frames",
     "PMU frames with a sync error, a long unlocked time or a clock failure."),
    ("out_of_order", "gridtap_pmu_out_of_order_frames", "PMU frames not newer than one already taken (dropped)."),
    ("leap_frames", "gridtap_pmu_leap_second_frames", "PMU frames of an inserted leap second (not published)."),
    ("refused", "gridtap_pmu_refused_frames", "PMU frames whose readings the DAL refused."),
    ("foreign_frames", "gridtap_pmu_foreign_frames", "Data frames of another stream's IDCODE (ignored)."),
    ("config_changes", "gridtap_pmu_config_changes", "PMU configurations received after the first."),
)  # fmt: skip
_PMU_METAS = (
    _Meta("gridtap_pmu_clock_offset_seconds", "gauge",
          "PMU time minus the local arrival time of its latest frame (absent before the first).", _SOURCE_LABELS),
    _Meta("gridtap_pmu_refusing", "gauge",
          "1 while the DAL refuses the PMU's readings (e.g. its clock lies too far ahead).", _SOURCE_LABELS),
    *(_Meta(name, "counter", doc, _SOURCE_LABELS) for _, name, doc in _PMU_COUNTERS),
)  # fmt: skip
_QUALITY_TEXT = {q: f"{c}\n" for q, c in QUALITY_CODE.items()}


@dataclass
class _Family:
    """One metric family as read at scrape time."""

    meta: _Meta
    # gauge/counter: (label values, value); histogram: (label values, cumulative counts, sum)
    samples: list[tuple[Any, ...]] = field(default_factory=list)


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _labels(meta: _Meta, values: Sequence[str], extra: str = "") -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in zip(meta.labels, values, strict=True))
    return f"{{{inner}{extra}}} "


class SiteMetrics(Collector):
    """The metrics of one site: a DAL, its sources (meters, buses), edge cycles, MQTT publishers.

    `render()` is what the endpoint serves; `collect()` yields the same gridtap families as
    prometheus-client objects. Staleness is evaluated at scrape time on `clock`. `process=True` adds prometheus-client's process metrics (CPU,
    memory, open files) to `render()`. The lists `sources`, `cycles` and `publishers` may be
    appended to while serving.
    """

    def __init__(
        self,
        dal: Dal,
        sources: Iterable[Source] = (),
        cycles: Iterable[Any] = (),
        publishers: Iterable[Any] = (),
        *,
        process: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not callable(getattr(dal, "snapshot", None)):
            raise TypeError(f"SiteMetrics needs a gridtap.Dal, got {dal!r}")
        self.dal = dal
        self.sources: list[Source] = list(sources)
        self.cycles: list[Any] = list(cycles)
        self.publishers: list[Any] = list(publishers)
        self._clock = clock  # staleness is evaluated at scrape time, on this clock
        self._extra = CollectorRegistry(auto_describe=False)
        if process:
            ProcessCollector(registry=self._extra)
        # label strings built once per series
        self._channels: list[str] = []
        self._value_prefixes: list[str] = []
        self._quality_prefixes: list[str] = []
        self._source_prefixes: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._lock = threading.Lock()  # the prefix caches, between concurrent scrapes

    # --- reading the site -------------------------------------------------------------------------

    def families(self, now: float | None = None) -> list[_Family]:
        """Every gridtap family as read now (staleness evaluated at `now`, default the clock)."""
        snap = self.dal.snapshot(self._clock() if now is None else now)
        values, quality = _Family(_VALUE), _Family(_QUALITY)
        for channel, r in snap.items():
            if r.value is not None:
                values.samples.append(((channel, r.unit), r.value))
            quality.samples.append(((channel,), QUALITY_CODE[r.quality]))
        sources = [_Family(m) for m in _SOURCE_METAS]
        *counters, up, last_ok, latency = sources
        for src in list(self.sources):
            key = (src.name, src.namespace or "")
            stats = src.stats
            for fam, f in zip(counters, _FIELDS, strict=True):
                fam.samples.append((key, getattr(stats, f)))
            up.samples.append((key, 1 if src.link_up else 0))
            if stats.last_ok is not None:
                last_ok.samples.append((key, stats.last_ok))
            latency.samples.append((key, *_histogram(stats)))
        return [values, quality, *sources, *self._small_families()]

    def _small_families(self) -> list[_Family]:
        """Controllers, MQTT and PMU streams: a handful of series, so formatted without caches."""
        out: list[_Family] = []
        if self.cycles:
            outputs, holding, last = _Family(_OUTPUT), _Family(_HOLDING), _Family(_CYCLE_TIME)
            for cycle in list(self.cycles):
                result = cycle.last_result
                for channel, w in sorted(cycle.outputs.items()):
                    outputs.samples.append(((channel, channel_spec(channel).unit), w))
                held = result.held if result is not None else {}
                for c in cycle.controllers:
                    holding.samples.append(((c.name,), 1 if c.name in held else 0))
                if result is not None:
                    last.samples.append(((cycle.battery,), result.time))
            out += [outputs, holding, last]
        if self.publishers:
            connected, in_flight, waiting = (_Family(m) for m in _MQTT_METAS)
            for pub in list(self.publishers):
                key = (f"{pub.host}:{pub.port}",)
                sent, queued = pub.backlog()
                connected.samples.append((key, 1 if pub.connected else 0))
                in_flight.samples.append((key, sent))
                waiting.samples.append((key, queued))
            out += [connected, in_flight, waiting]
        pmus = [src for src in list(self.sources) if isinstance(src.stats, PmuStats)]
        if pmus:
            offset, refusing, *counters = (_Family(m) for m in _PMU_METAS)
            for src in pmus:
                source_key = (src.name, src.namespace or "")
                stats = src.stats
                assert isinstance(stats, PmuStats)
                if stats.clock_offset is not None:
                    offset.samples.append((source_key, stats.clock_offset))
                refusing.samples.append((source_key, 1 if getattr(src, "refusing", False) else 0))
                for fam, (f, _, _) in zip(counters, _PMU_COUNTERS, strict=True):
                    fam.samples.append((source_key, getattr(stats, f)))
            out += [offset, refusing, *counters]
        return out

    # --- as prometheus-client objects -------------------------------------------------------------

    def collect(self) -> Iterator[Any]:
        for fam in self.families():
            meta = fam.meta
            if meta.kind == "histogram":
                h = HistogramMetricFamily(meta.name, meta.doc, labels=meta.labels)
                for key, cumulative, total in fam.samples:
                    h.add_metric(list(key), list(zip(_LE, cumulative, strict=True)), total)
                yield h
                continue
            cls = CounterMetricFamily if meta.kind == "counter" else GaugeMetricFamily
            m = cls(meta.name, meta.doc, labels=meta.labels)
            for key, value in fam.samples:
                m.add_metric(list(key), value)
            yield m

    # --- as text, fast ----------------------------------------------------------------------------

    def render(self, now: float | None = None) -> bytes:
        """The exposition text (Prometheus text format 0.0.4) that `/metrics` serves: the same
        families as `collect()`, then the process metrics."""
        snap = self.dal.snapshot(self._clock() if now is None else now)
        with self._lock:
            parts = [self._render_channels(snap), self._render_sources()]
        for fam in self._small_families():
            meta = fam.meta
            parts.append(meta.header())
            name = f"{meta.name}_total" if meta.kind == "counter" else meta.name
            for key, value in fam.samples:
                parts.append(f"{name}{_labels(meta, key)}{value!r}\n")
        return "".join(parts).encode() + generate_latest(self._extra)

    def _render_channels(self, snap: Any) -> str:
        # A site's channels rarely change: while the snapshot holds the same channels in the same
        # order, the label strings of the last scrape are reused as they are (a channel's unit is
        # fixed by the catalogue).
        channels = list(snap)
        if channels != self._channels:
            self._channels = channels
            readings = [snap[c] for c in channels]
            self._value_prefixes = [
                f"{_VALUE.name}{_labels(_VALUE, (c, r.unit))}"
                for c, r in zip(channels, readings, strict=True)
            ]
            self._quality_prefixes = [f"{_QUALITY.name}{_labels(_QUALITY, (c,))}" for c in channels]
        else:
            readings = [snap[c] for c in channels]
        q = _QUALITY_TEXT
        values = "".join(
            [
                f"{p}{r.value!r}\n"
                for p, r in zip(self._value_prefixes, readings, strict=True)
                if r.value is not None
            ]
        )
        quality = "".join([p + q[r.quality] for p, r in zip(self._quality_prefixes, readings, strict=True)])
        return f"{_VALUE.header()}{values}{_QUALITY.header()}{quality}"

    def _render_sources(self) -> str:
        n = len(_FIELDS)
        sections = [[m.header()] for m in _SOURCE_METAS]
        counters, up, last_ok, latency = sections[:n], sections[n], sections[n + 1], sections[n + 2]
        cache = self._source_prefixes
        for src in list(self.sources):
            key = (src.name, src.namespace or "")
            p = cache.get(key)
            if p is None:
                if len(cache) > 10_000:
                    cache.clear()
                p = cache[key] = self._source_prefix(key)
            stats = src.stats
            for lines, prefix, f in zip(counters, p[:n], _FIELDS, strict=True):
                lines.append(f"{prefix}{getattr(stats, f)}\n")
            up.append(f"{p[n]}{1 if src.link_up else 0}\n")
            if stats.last_ok is not None:
                last_ok.append(f"{p[n + 1]}{stats.last_ok!r}\n")
            cumulative, total = _histogram(stats)
            buckets = p[n + 2]
            for prefix, count in zip(buckets, cumulative, strict=True):
                latency.append(f"{prefix}{count}\n")
            latency.append(f"{p[n + 3]}{cumulative[-1]}\n{p[n + 4]}{total!r}\n")
        return "".join(line for lines in sections for line in lines)

    @staticmethod
    def _source_prefix(key: tuple[str, str]) -> tuple[Any, ...]:
        *plain, latency = _SOURCE_METAS
        name = latency.name
        return (
            *(f"{m.name}{'_total' if m.kind == 'counter' else ''}{_labels(m, key)}" for m in plain),
            tuple(f"{name}_bucket{_labels(latency, key, _le_label(le))}" for le in _LE),
            f"{name}_count{_labels(latency, key)}",
            f"{name}_sum{_labels(latency, key)}",
        )


def _le_label(le: str) -> str:
    return f',le="{le}"'


def _histogram(stats: PollStats) -> tuple[list[int], float]:
    """Cumulative bucket counts (ending with +Inf) and the sum. The count is the +Inf bucket, from
    the same list, so the two agree even while a poll in another thread observes a latency."""
    counts = list(stats.latency.counts)
    cumulative = list(itertools.accumulate(counts))
    return cumulative, stats.latency.sum


# --- serving ----------------------------------------------------------------------------------------


def parse_listen(text: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """`"127.0.0.1:9108"`, `"[::1]:9108"`, `"0.0.0.0:9108"` or a bare port `"9108"` (loopback)."""
    if not isinstance(text, str) or not text.strip():
        raise MetricsError(
            f"metrics listen address {text!r}: expected HOST:PORT, e.g. 127.0.0.1:{default_port}"
        )
    s = text.strip()
    host, port_text = "127.0.0.1", s
    if s.startswith("["):
        end = s.find("]")
        if end < 0 or s[end + 1 : end + 2] != ":":
            raise MetricsError(
                f"metrics listen address {text!r}: expected [IPv6]:PORT, e.g. [::1]:{default_port}"
            )
        host, port_text = s[1:end], s[end + 2 :]
    elif ":" in s:
        host, _, port_text = s.rpartition(":")
    try:
        if not (port_text.isascii() and port_text.isdigit()):
            raise ValueError(port_text)  # int() would take "1_9108" and " 9108"
        port = int(port_text)
    except ValueError:
        raise MetricsError(
            f"metrics listen address {text!r}: port {port_text!r} is not a number (expected HOST:PORT)"
        ) from None
    if not 0 <= port <= 65535:
        raise MetricsError(f"metrics listen address {text!r}: port {port} is outside 0..65535")
    if not host:
        raise MetricsError(
            f"metrics listen address {text!r}: no host before the port (e.g. 127.0.0.1:{port})"
        )
    with contextlib.suppress(ValueError):
        host = str(ipaddress.ip_address(host))
    return host, port


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            try:
                body = self.server.metrics.render()
            except Exception:
                log.exception("metrics scrape failed")
                self._reply(500, b"metrics scrape failed; see the gridtap log\n", "text/plain; charset=utf-8")
                return
            self._reply(200, body, CONTENT_TYPE_PLAIN_0_0_4)
        elif path == "/":
            self._reply(
                200, b'gridtap: metrics at <a href="/metrics">/metrics</a>\n', "text/html; charset=utf-8"
            )
        else:
            self._reply(404, b"not found: try /metrics\n", "text/plain; charset=utf-8")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("metrics %s: " + format, self.client_address[0], *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], metrics: SiteMetrics) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.metrics = metrics
        super().__init__(address, _Handler)


class MetricsServer:
    """Serves `metrics` at http://HOST:PORT/metrics from a thread of its own.

    `listen` is `"127.0.0.1:9108"` by default; port 0 picks a free port (see `.port`).
    """

    def __init__(self, metrics: SiteMetrics, listen: str = f"127.0.0.1:{DEFAULT_PORT}") -> None:
        self.metrics = metrics
        self.host, port = parse_listen(listen)
        try:
            self._server = _Server((self.host, port), metrics)
        except OSError as e:
            raise MetricsError(
                f"metrics listen address {listen!r}: cannot listen: {e.strerror or e}"
            ) from None
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def start(self) -> MetricsServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                name="gridtap-metrics",
                daemon=True,
                kwargs={"poll_interval": 0.2},
            )
            self._thread.start()
            log.info("metrics at %s", self.url)
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
