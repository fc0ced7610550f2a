"""MQTT telemetry: every DAL channel update, as JSON, on `{prefix}/{namespace}/{Channel}`.

The payload is the reading as the DAL holds it (gridtap.mqtt_payload): `{"value": 1234.5, "unit":
"W", "timestamp": 1767225600.25, "quality": "GOOD"}`; an ERROR reading has `"value": null`. The timestamp is always
the measurement's, never the time of sending, so a value is never made to look fresher than it is.

What goes out, per channel:

- A change of quality (GOOD → ERROR, GOOD → STALE, ...) is sent at once, whatever the rate limit
  or deadband say.
- Otherwise at most one message per `min_interval` seconds. A value held back by the rate limit is
  not dropped: the newest one is sent when the interval has elapsed (a trailing send), so the
  broker always ends up with the latest value.
- With a deadband, a value within the deadband of the last value sent is not sent, except as a
  heartbeat every `max_interval` seconds so that the broker's timestamp does not fall far behind.
- A GOOD reading that is not refreshed within the DAL's maximum age for its channel is re-sent,
  unchanged but for quality STALE (same value, same measurement timestamp). Age is measured
  against the DAL's clock, and a reading the DAL holds STALE because it lies in the future (the
  wall clock stepped back) is re-sent STALE too.
- Readings go out in time order per channel; an older one arriving late (another writer's thread)
  is dropped, unless the DAL holds it as the channel's current reading: after the wall clock steps
  back, the new readings, stamped by the stepped clock, replace those in the future (DESIGN.md
  "Time") and are sent at once.

Messages are retained by default, so a subscriber that connects later gets the last value of every
channel at once. `{prefix}/status` says `online`, or `offline` (also as the connection's will, so
the broker says it when the site vanishes).

While the broker is unreachable only the newest reading of each channel is kept; paho reconnects
with capped exponential backoff, and on every (re)connection the newest reading of every channel
is published again (after anything paho still had in flight, so the retained value is the newest),
which also restores the retained values of a broker that restarted without persistence.

With `homeassistant=True`, Home Assistant MQTT discovery configs for the grid channels are
published (retained) under `homeassistant/sensor/<node>/<grid_ns>_<Channel>/config`
(gridtap.homeassistant). TLS: gridtap.mqtt_tls.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import numbers
import re
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gridtap.dal import Dal, Quality, Reading, Snapshot, Subscription
from gridtap.errors import InvalidValueError, ValueTypeError
from gridtap.homeassistant import discovery_config, ha_id
from gridtap.mqtt_payload import decode_reading, encode_reading
from gridtap.mqtt_tls import ssl_context

__all__ = ["MqttPublisher", "decode_reading", "encode_reading"]

log = logging.getLogger(__name__)

_TOPIC_LEVEL = re.compile(r"^[^+#\x00]+$")


class _PahoAtDebug(logging.Filter):
    """paho's own messages go to DEBUG: the publisher reports each connection event itself, once
    (paho logs ERROR for a broker that went away, and for its loop running once more after a
    disconnect). An exception caught in a callback stays an ERROR: that is a bug."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG and not str(record.msg).startswith("Caught exception"):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return _PAHO_LOG.isEnabledFor(logging.DEBUG)
        return True


_PAHO_LOG = log.getChild("paho")
_PAHO_LOG.addFilter(_PahoAtDebug())


@dataclass(slots=True, eq=False)
class _Channel:
    """Publishing state of one channel; guarded by MqttPublisher._lock."""

    topic: str
    deadband: float | None
    latest: Reading | None = None  # the newest reading seen
    sent: Reading | None = None  # the last one handed to paho on this connection
    sent_at: float = -math.inf  # time.monotonic() of that
    announced: bool = False  # HA discovery config sent on this connection


def _settled(info: mqtt.MQTTMessageInfo) -> bool:
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return True  # not queued, or failed: nothing more will come of it


def _check_seconds(what: str, value: object, *, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueTypeError(f"{what} must be a number of seconds, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and (v >= 0 if allow_zero else v > 0)):
        raise InvalidValueError(
            f"{what} must be a finite number of seconds {'≥' if allow_zero else '>'} 0, got {v}"
        )
    return v


def _check_deadband(what: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueTypeError(f"deadband {what} must be a number in the channel's unit, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and v >= 0):
        raise InvalidValueError(f"deadband {what} must be a finite number ≥ 0, got {v}")
    return v


class MqttPublisher:
    """Publish the channels of a `Dal` to an MQTT broker; see the module docstring for the rules.

    `dal`: the channel store to follow. `prefix`: topic prefix, e.g. `"fleet/site-07"` (no
    wildcards, no leading/trailing `/`). `client_id`: stable per site in a fleet; by default
    `gridtap-<prefix>-<random>`. `tls`: an `ssl.SSLContext`, a dict of `ca_certs`/`certfile`/
    `keyfile` paths, or True for the system's CAs (an SSLContext of the caller's is used as given).
    `qos`/`retain`: of the value messages.
    `min_interval`: rate limit per channel, s (0: none). `deadband`: absolute deadband in the
    channel's unit, one float for all channels or a dict of fnmatch pattern → deadband (an exact
    channel name wins, else the first matching pattern). `channels`: fnmatch patterns of the
    channels to publish (all by default). `homeassistant`: publish HA discovery configs for grid
    channels. `max_interval`: heartbeat for deadband-suppressed channels (None: never).
    `publish_stale`: re-send GOOD readings as STALE when they outlive the DAL's maximum age.
    `reconnect_delay`: (min, max) seconds of paho's exponential reconnect backoff.
    `flush_timeout`: how long `stop()` (and a reconnection) waits for the broker's acknowledgements.
    """

    def __init__(
        self,
        dal: Dal,
        host: str = "127.0.0.1",
        port: int = 1883,
        prefix: str = "gridtap",
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | Mapping[str, str] | bool | None = None,
        qos: int = 1,
        retain: bool = True,
        min_interval: float = 1.0,
        deadband: float | Mapping[str, float] | None = None,
        channels: Iterable[str] | None = None,
        homeassistant: bool = False,
        keepalive: int = 30,
        *,
        max_interval: float | None = 60.0,
        publish_stale: bool = True,
        reconnect_delay: tuple[int, int] | list[int] = (1, 30),
        ha_prefix: str = "homeassistant",
        flush_timeout: float = 5.0,
    ) -> None:
        if not isinstance(dal, Dal):
            raise ValueTypeError(f"MqttPublisher needs a gridtap Dal, got {dal!r}")
        if not isinstance(host, str) or not host:
            raise ValueTypeError(f"host must be a host name or address, got {host!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidValueError(f"port must be an integer 1..65535, got {port!r}")
        if not isinstance(prefix, str) or not prefix or prefix.startswith("/") or prefix.endswith("/"):
            raise InvalidValueError(
                f"prefix must be a topic such as 'gridtap' or 'fleet/site-07', got {prefix!r}"
            )
        if not all(_TOPIC_LEVEL.match(level) for level in prefix.split("/")):
            raise InvalidValueError(
                f"prefix {prefix!r} has an empty level or a wildcard (+, #): expected e.g. 'fleet/site-07'"
            )
        if qos not in (0, 1, 2) or isinstance(qos, bool):
            raise InvalidValueError(f"qos must be 0, 1 or 2, got {qos!r}")
        if isinstance(keepalive, bool) or not isinstance(keepalive, int) or keepalive < 5:
            raise InvalidValueError(f"keepalive must be an integer number of seconds ≥ 5, got {keepalive!r}")
        # a list too: site files are TOML
        pair = tuple(reconnect_delay) if isinstance(reconnect_delay, tuple | list) else ()
        lo, hi = pair if len(pair) == 2 else (0, 0)
        if not (isinstance(lo, int) and isinstance(hi, int) and 0 < lo <= hi):
            raise InvalidValueError(
                f"reconnect_delay must be (min, max) whole seconds with 0 < min ≤ max, got {reconnect_delay!r}"
            )
        if isinstance(deadband, Mapping):
            self._deadband: float | dict[str, float] | None = {
                str(p): _check_deadband(repr(p), v) for p, v in deadband.items()
            }
        else:
            self._deadband = None if deadband is None else _check_deadband("", deadband)
        if isinstance(channels, str):
            raise ValueTypeError(
                f"channels must be an iterable of patterns such as ['grid/*'], got {channels!r}"
            )
        self._patterns = None if channels is None else tuple(channels)
        if self._patterns is not None and not all(isinstance(p, str) for p in self._patterns):
            raise ValueTypeError(f"channels must be fnmatch patterns (strings), got {self._patterns!r}")

        self.dal = dal
        self.host, self.port, self.prefix = host, port, prefix
        self.client_id = client_id or f"gridtap-{ha_id(prefix)}-{uuid.uuid4().hex[:8]}"
        self.username, self.password = username, password
        self.qos, self.retain = qos, bool(retain)
        self.min_interval = _check_seconds("min_interval", min_interval, allow_zero=True)
        self.max_interval = (
            None if max_interval is None else _check_seconds("max_interval", max_interval, allow_zero=False)
        )
        self.homeassistant, self.ha_prefix = bool(homeassistant), ha_prefix
        self.keepalive = keepalive
        self.publish_stale = bool(publish_stale)
        self.reconnect_delay = (lo, hi)
        self.flush_timeout = _check_seconds("flush_timeout", flush_timeout, allow_zero=True)
        self.status_topic = f"{prefix}/status"
        self._ssl = ssl_context(tls)

        self._lock = threading.Lock()  # channel states, and every publish of a value (per-topic order)
        self._channels: dict[str, _Channel] = {}
        self._ignored: set[str] = set()
        self._unacked: list[mqtt.MQTTMessageInfo] = []
        self._client: mqtt.Client | None = None
        self._subscription: Subscription | None = None
        self._thread: threading.Thread | None = None
        self._online = threading.Event()  # connected, and the latest values re-published
        # The flush thread sleeps on _wake. paho's callbacks only set flags under it: they never take
        # _lock, since paho may call them while holding its own locks that publish() needs.
        self._wake = threading.Condition(threading.Lock())
        self._wake_at = 0.0  # time.monotonic() when the flush thread looks next (guarded by _lock)
        self._kicked = False
        self._resync_needed = False
        self._stopping = False
        self._generation = 0  # counts connections and disconnections
        self._session_up = False  # a CONNACK accepted since the last disconnection
        self._refused = False  # a CONNACK refused the connection (reported) since the last disconnection
        self.last_error: str | None = None

    # --- public ----------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while connected and the latest values have been published on this connection."""
        return self._online.is_set()

    def wait_connected(self, timeout: float | None = None) -> bool:
        return self._online.wait(timeout)

    def backlog(self) -> tuple[int, int]:
        """The queue, as `/metrics` and the live status show it: (messages handed to the MQTT
        client and not yet delivered, channels whose newest reading is waiting to be sent)."""
        now = time.monotonic()
        with self._lock:
            in_flight = sum(1 for info in self._unacked if not _settled(info))
            waiting = sum(1 for st in self._channels.values() if self._due(st, now) is not None)
        return in_flight, waiting

    def topic(self, channel: str) -> str:
        return f"{self.prefix}/{channel}"

    def start(self) -> MqttPublisher:
        """Follow the DAL and connect in the background (paho retries until the broker is there)."""
        if self._client is not None:
            raise RuntimeError("MqttPublisher is already started")
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv311)
        client.enable_logger(_PAHO_LOG)
        client.max_inflight_messages_set(0)  # no client-side queue behind the in-flight window
        client.reconnect_delay_set(*self.reconnect_delay)
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self._ssl is not None:
            client.tls_set_context(self._ssl)
        client.will_set(self.status_topic, "offline", qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        self._client = client
        self._stopping = False
        self._resync_needed = self._kicked = False

        self._subscription = self.dal.subscribe(self._on_update)
        # subscribed first, then the current values: a write in between is seen twice, never missed
        snapshot = self.dal.snapshot()
        self._on_update([(c, r) for c, r in snapshot.items() if not c.endswith("/Timestamp")])

        self._thread = threading.Thread(target=self._run, name=f"gridtap-mqtt-{self.client_id}", daemon=True)
        self._thread.start()
        client.connect_async(self.host, self.port, keepalive=self.keepalive)
        client.loop_start()
        log.info(
            "MQTT publisher %s: connecting to %s:%d, topics %s/...",
            self.client_id,
            self.host,
            self.port,
            self.prefix,
        )
        return self

    def stop(self) -> None:
        """Stop following the DAL; if connected, send what is pending, say `offline` and disconnect."""
        client = self._client
        if client is None:
            return
        if self._subscription is not None:
            self._subscription.unsubscribe()
            self._subscription = None
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if client.is_connected():
            with self._lock:
                now = time.monotonic()
                if self._online.is_set():
                    for channel, st in self._channels.items():
                        if self._due(st, now, flushing=True) is not None:
                            self._send(channel, st, now)
                else:
                    self._publish_all(now)
                self._track(client.publish(self.status_topic, "offline", qos=1, retain=True))
            if not self._wait_settled(self.flush_timeout, client):
                log.warning(
                    "MQTT publisher %s: broker did not acknowledge everything before stop", self.client_id
                )
        self._online.clear()
        client.disconnect()
        client.loop_stop()
        with self._lock:
            self._client = None
            self._unacked.clear()  # a next start() has a new client; these would never settle
        log.info("MQTT publisher %s stopped", self.client_id)

    def __enter__(self) -> MqttPublisher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "connected" if self.connected else ("started" if self._client else "stopped")
        return f"MqttPublisher({self.host}:{self.port}, prefix={self.prefix!r}, {state})"

    # --- deciding what to send (all under _lock) ---------------------------------------------------

    def _state(self, channel: str) -> _Channel | None:
        st = self._channels.get(channel)
        if st is not None or channel in self._ignored:
            return st
        if self._patterns is not None and not any(fnmatch.fnmatchcase(channel, p) for p in self._patterns):
            self._ignored.add(channel)
            return None
        st = self._channels[channel] = _Channel(self.topic(channel), self._deadband_for(channel))
        return st

    def _deadband_for(self, channel: str) -> float | None:
        db = self._deadband
        if db is None or isinstance(db, float):
            return db
        if channel in db:
            return db[channel]
        return next((v for p, v in db.items() if fnmatch.fnmatchcase(channel, p)), None)

    @staticmethod
    def _within_deadband(st: _Channel, latest: Reading, sent: Reading) -> bool:
        if st.deadband is None:
            return False
        if latest.value is None or sent.value is None:
            return latest.value is None and sent.value is None
        return abs(latest.value - sent.value) < st.deadband

    def _due(self, st: _Channel, now: float, *, flushing: bool = False) -> float | None:
        """When `st.latest` should go out (monotonic time; ≤ now: at once), or None: not at all.

        `flushing` (at stop): the rate limit no longer holds anything back; the deadband still does.
        """
        latest, sent = st.latest, st.sent
        if latest is None or latest is sent:
            return None
        if sent is None or latest.quality is not sent.quality:
            return now
        if self._within_deadband(st, latest, sent):
            if flushing or self.max_interval is None:
                return None
            return st.sent_at + self.max_interval
        return now if flushing else st.sent_at + self.min_interval

    def _on_update(self, updates: list[tuple[str, Reading]]) -> None:
        """DAL subscriber: may be called from any thread, and out of order between threads."""
        now = time.monotonic()
        kick = False
        with self._lock:
            online = self._online.is_set()
            for channel, reading in updates:
                st = self._state(channel)
                if st is None:
                    continue
                if (
                    st.latest is not None
                    and reading.timestamp < st.latest.timestamp
                    and not self._current(channel, reading)
                ):
                    continue  # an older reading delivered late by another writer's thread
                st.latest = reading
                if online:
                    due = self._due(st, now)
                    if due is None:
                        continue
                    if due <= now:
                        self._send(channel, st, now)
                    elif due < self._wake_at:
                        kick = True
        if kick:
            with self._wake:
                self._kicked = True
                self._wake.notify()

    def _current(self, channel: str, reading: Reading) -> bool:
        """Whether the DAL holds `reading` as the channel's current one: an older reading than the
        last seen that replaced one in the future (the clock stepped back)."""
        held = self.dal.snapshot().get(channel)
        return held is not None and held.timestamp == reading.timestamp

    # --- sending (under _lock) ---------------------------------------------------------------------

    def _track(self, info: mqtt.MQTTMessageInfo) -> None:
        if info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
            self._online.clear()  # lost meanwhile: on_connect will re-publish everything
        if len(self._unacked) > 4096:
            self._unacked = [i for i in self._unacked if not _settled(i)]
        self._unacked.append(info)

    def _send(self, channel: str, st: _Channel, now: float) -> None:
        client, reading = self._client, st.latest
        assert client is not None and reading is not None
        if self.homeassistant and not st.announced:
            st.announced = True
            config = discovery_config(
                channel,
                st.topic,
                prefix=self.prefix,
                status_topic=self.status_topic,
                ha_prefix=self.ha_prefix,
            )
            if config is not None:
                self._track(client.publish(config[0], config[1], qos=1, retain=True))
        self._track(client.publish(st.topic, encode_reading(reading), qos=self.qos, retain=self.retain))
        st.sent, st.sent_at = reading, now

    def _publish_all(self, now: float) -> None:
        """Status `online` and the latest reading of every channel (a new connection's first words)."""
        assert self._client is not None
        self._track(self._client.publish(self.status_topic, "online", qos=1, retain=True))
        for channel, st in self._channels.items():
            st.announced = False
            if st.latest is not None:
                self._send(channel, st, now)

    # --- the flush thread: trailing sends, staleness, re-publishing on (re)connection ---------------

    def _run(self) -> None:
        while True:
            with self._wake:
                while not (self._stopping or self._resync_needed or self._kicked):
                    remaining = self._wake_at - time.monotonic()
                    if remaining <= 0:
                        break
                    self._wake.wait(min(remaining, 60.0))
                if self._stopping:
                    return
                resync, generation = self._resync_needed, self._generation
                self._resync_needed = self._kicked = False
            try:
                if resync:
                    self._resync(generation)
                self._tick()
            except Exception:
                log.exception("MQTT publisher %s: flush loop failed; retrying in 1 s", self.client_id)
                with self._lock:
                    self._wake_at = time.monotonic() + 1.0

    def _wait_settled(self, timeout: float, client: mqtt.Client) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                self._unacked = [i for i in self._unacked if not _settled(i)]
                if not self._unacked:
                    return True
            if time.monotonic() >= deadline or not client.is_connected():
                return False
            time.sleep(0.01)

    def _resync(self, generation: int) -> None:
        client = self._client
        assert client is not None
        # paho re-sends what was in flight when the connection dropped right after the CONNACK:
        # let that go first, so what is retained in the end is the newest reading, not an older one.
        self._wait_settled(self.flush_timeout, client)
        with self._lock:
            if self._stopping or generation != self._generation or not client.is_connected():
                return  # lost again meanwhile (the next on_connect asks again), or stopping
            self._publish_all(time.monotonic())
            self._online.set()
            n = sum(1 for st in self._channels.values() if st.latest is not None)
        log.info(
            "MQTT publisher %s: connected to %s:%d, published the latest value of %d channels",
            self.client_id,
            self.host,
            self.port,
            n,
        )

    def _tick(self) -> None:
        """Send what has become due; mark outlived GOOD readings STALE; schedule the next look."""
        now, wall = time.monotonic(), self.dal.clock()
        tolerance = self.dal.max_future
        next_look = now + 1.0
        snapshot: Snapshot | None = None
        with self._lock:
            self._unacked = [i for i in self._unacked if not _settled(i)]
            online = self._online.is_set()
            for channel, st in self._channels.items():
                r = st.latest
                if r is None:
                    continue
                if self.publish_stale and r.quality is Quality.GOOD:
                    expires = r.timestamp + self.dal.max_age(channel)
                    if r.timestamp - wall > tolerance:
                        # in the future: the clock stepped back. The DAL says whether it is STALE
                        # (a source with a clock of its own may write ahead with more tolerance).
                        if snapshot is None:
                            snapshot = self.dal.snapshot(wall)
                        held = snapshot.get(channel)
                        if (
                            held is not None
                            and held.timestamp == r.timestamp
                            and held.quality is Quality.STALE
                        ):
                            st.latest = Reading(r.value, r.unit, r.timestamp, Quality.STALE)
                    elif wall >= expires:
                        st.latest = Reading(r.value, r.unit, r.timestamp, Quality.STALE)
                    else:
                        next_look = min(next_look, now + (expires - wall))
                if online:
                    due = self._due(st, now)
                    if due is None:
                        continue
                    if due <= now:
                        self._send(channel, st, now)
                    else:
                        next_look = min(next_look, due)
            self._wake_at = next_look

    # --- paho callbacks (network thread): flags only, never _lock ------------------------------------

    def _report(self, level: int, message: str) -> None:
        # the same failure on every retry is logged once at its level, then at DEBUG
        log.log(level if message != self.last_error else logging.DEBUG, "%s", message)
        self.last_error = message

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        where = f"MQTT broker {self.host}:{self.port}"
        if reason.is_failure:
            hint = ""
            if reason.getName() in ("Not authorized", "Bad user name or password"):
                hint = " (check username and password)"
            with self._wake:
                self._refused = True
            self._report(logging.ERROR, f"{where} refused the connection: {reason.getName()}{hint}")
            return
        self.last_error = None
        with self._wake:
            self._session_up = True
            self._generation += 1
            self._online.clear()
            self._resync_needed = True
            self._wake.notify()

    def _no_connack(self, reason: ReasonCode) -> str:
        where = f"MQTT broker {self.host}:{self.port}"
        if reason.getName() == "Keep alive timeout":
            what = f"{where} accepted the connection but sent no CONNACK within {self.keepalive} s"
        else:
            what = f"{where} closed the connection before accepting it"
        hint = "a TLS-only port? then set tls" if self._ssl is None else "not MQTT over TLS?"
        return f"{what} ({hint}; or not an MQTT broker); retrying"

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # paho calls this inside its `except OSError`, so the exception is still at hand
        exc = sys.exception()
        why = f"{type(exc).__name__}: {exc}" if exc is not None else "connection failed"
        # a plain broker drops a TLS handshake it reads as garbage
        plain_port = isinstance(exc, ConnectionResetError | ssl.SSLEOFError) or "WRONG_VERSION_NUMBER" in str(
            exc
        )
        if self._ssl is not None and plain_port:
            why += " (tls is set: is this a plain MQTT port?)"
        self._report(
            logging.WARNING, f"cannot connect to MQTT broker {self.host}:{self.port}: {why}; retrying"
        )

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._wake:
            self._generation += 1
            self._online.clear()
            was_up, self._session_up = self._session_up, False
            stopping = self._stopping
        with self._wake:
            refused, self._refused = self._refused, False
        if not was_up and not stopping and not refused:
            # the connection ended before any CONNACK: paho reports nothing else about it
            self._report(logging.ERROR, self._no_connack(reason))
        if was_up and not stopping:  # (a refused CONNACK is followed by a disconnect: reported already)
            # a dropped TCP connection comes as "Unspecified error": say nothing rather than that
            why = "" if reason.getName() == "Unspecified error" else f" ({reason.getName()})"
            self._report(
                logging.WARNING,
                f"lost the connection to MQTT broker {self.host}:{self.port}{why}; "
                "reconnecting, keeping the latest value of each channel",
            )
