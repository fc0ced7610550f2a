"""The DAL as it was before the record-per-write store (gridtap commit f866ec4), kept unchanged as
a baseline for benches/bench_dal.py: a reading per channel built at every write, every reading
rebuilt at every snapshot.

Writes carry the timestamp of the measurement and a quality. Snapshots are immutable and
consistent: a `write_many` is applied under one lock, so a snapshot holds all of it or none of it.
Staleness is evaluated when a snapshot is taken, against each channel's maximum age.
"""

from __future__ import annotations

import enum
import logging
import math
import numbers
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gridtap.channels import channel_spec, split_channel
from gridtap.errors import ChannelError, InvalidValueError, TimestampError, ValueTypeError

__all__ = ["Dal", "Quality", "Reading", "Snapshot", "Subscription"]

log = logging.getLogger(__name__)


class Quality(enum.Enum):
    GOOD = "GOOD"
    STALE = "STALE"  # older than the channel's maximum age
    ERROR = "ERROR"  # no valid value: the value is None

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Reading:
    value: float | None
    unit: str
    timestamp: float
    quality: Quality


class Snapshot(Mapping[str, Reading]):
    """An immutable view of every channel at one instant (`time`), with staleness evaluated then."""

    __slots__ = ("_readings", "time")

    def __init__(self, readings: dict[str, Reading], time: float) -> None:
        self._readings = MappingProxyType(readings)
        self.time = time

    def __getitem__(self, channel: str) -> Reading:
        return self._readings[channel]

    def __iter__(self) -> Iterator[str]:
        return iter(self._readings)

    def __len__(self) -> int:
        return len(self._readings)

    def value(self, channel: str) -> float | None:
        """The value of a GOOD reading, else None (missing, STALE or ERROR)."""
        r = self._readings.get(channel)
        return r.value if r is not None and r.quality is Quality.GOOD else None

    def __repr__(self) -> str:
        return f"Snapshot(time={self.time}, channels={len(self)})"


class Subscription:
    """Handle returned by `Dal.subscribe`; call `unsubscribe()` (or use it as a context manager)."""

    def __init__(self, dal: Dal, callback: Callable[[list[tuple[str, Reading]]], None]) -> None:
        self._dal = dal
        self.callback = callback

    def unsubscribe(self) -> None:
        self._dal._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.unsubscribe()


def _check_timestamp(channel: str, timestamp: object) -> float:
    if isinstance(timestamp, bool) or not isinstance(timestamp, numbers.Real):
        raise ValueTypeError(
            f"{channel}: timestamp must be a number (seconds since the Unix epoch), got {timestamp!r}"
        )
    ts = float(timestamp)
    if not math.isfinite(ts):
        raise TimestampError(f"{channel}: timestamp must be finite seconds since the Unix epoch, got {ts}")
    return ts


class Dal:
    """Thread-safe channel store.

    `default_max_age` (s) applies where no per-channel maximum age is set. `max_age` maps either a
    full channel name (`"grid_main/EnergyImport"`) or a bare channel name (`"EnergyImport"`, for every
    namespace) to seconds.
    """

    def __init__(self, default_max_age: float = 5.0, max_age: Mapping[str, float] | None = None) -> None:
        self._lock = threading.Lock()
        self._readings: dict[str, Reading] = {}
        self._subscribers: list[Subscription] = []
        self._max_age: dict[str, float] = {}
        self.default_max_age = self._check_age("default_max_age", default_max_age)
        for name, age in (max_age or {}).items():
            self.set_max_age(name, age)

    @staticmethod
    def _check_age(what: str, age: float) -> float:
        if isinstance(age, bool) or not isinstance(age, numbers.Real) or not age > 0 or math.isnan(age):
            raise InvalidValueError(f"{what}: maximum age must be a positive number of seconds, got {age!r}")
        return float(age)

    def set_max_age(self, channel: str, seconds: float) -> None:
        """Set the maximum age of one channel (`ns/Name`) or of a channel name in every namespace."""
        if "/" in channel:
            channel_spec(channel)
        elif not any(channel_spec_exists(ns, channel) for ns in ("grid", "load", "pv", "battery")):
            raise ChannelError(f"unknown channel name {channel!r} for a maximum age")
        self._max_age[channel] = self._check_age(channel, seconds)

    def has_max_age(self, channel: str) -> bool:
        """Whether a maximum age was set for this channel (by full or bare name)."""
        return channel in self._max_age or channel.partition("/")[2] in self._max_age

    def max_age(self, channel: str) -> float:
        ages = self._max_age
        if channel in ages:
            return ages[channel]
        return ages.get(channel.partition("/")[2], self.default_max_age)

    # --- writing ---------------------------------------------------------------------------------

    def _make(self, channel: str, value: object, ts: float, quality: Quality) -> Reading:
        spec = channel_spec(channel)
        if spec.name == "Timestamp":
            raise ChannelError(
                f"{channel} is added by the DAL from the readings' timestamps; it is not written"
            )
        if not isinstance(quality, Quality):
            raise ValueTypeError(f"{channel}: quality must be a gridtap.Quality, got {quality!r}")
        if value is None or quality is Quality.ERROR:
            # An ERROR reading has no value; a missing value is never a number.
            return Reading(None, spec.unit, ts, Quality.ERROR)
        # float first: the common case, and the ABC check below costs more than the rest together
        if type(value) is not float and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
            raise ValueTypeError(
                f"{channel}: value must be a real number in {spec.unit or '1'}, got {value!r}"
            )
        v = float(value)
        if not math.isfinite(v):
            raise InvalidValueError(
                f"{channel}: {v} is not a valid {quality} value; write None (quality ERROR) for no value"
            )
        return Reading(v, spec.unit, ts, quality)

    def _apply(self, readings: list[tuple[str, Reading]]) -> None:
        with self._lock:
            current = self._readings
            for channel, r in readings:
                old = current.get(channel)
                if old is not None and r.timestamp < old.timestamp:
                    raise TimestampError(
                        f"{channel}: timestamp {r.timestamp} is older than the stored reading's "
                        f"{old.timestamp}; timestamps must not go backwards"
                    )
            current.update(readings)
            subscribers = list(self._subscribers)
        for sub in subscribers:
            try:
                sub.callback(readings)
            except Exception:
                log.exception("DAL subscriber %r failed", sub.callback)

    def write(
        self, channel: str, value: float | None, timestamp: float, quality: Quality = Quality.GOOD
    ) -> None:
        """Write one reading. `value=None` (or quality ERROR) stores an ERROR reading without value."""
        ts = _check_timestamp(channel, timestamp)
        self._apply([(channel, self._make(channel, value, ts, quality))])

    def write_many(
        self,
        namespace: str,
        values: Mapping[str, float | None],
        timestamp: float,
        quality: Quality = Quality.GOOD,
    ) -> None:
        """Write several channels of one namespace atomically: all or nothing.

        `values` maps bare channel names to numbers, or to None for "no valid value" (ERROR).
        """
        if not isinstance(values, Mapping):
            raise ValueTypeError(f"{namespace}: values must be a mapping of channel name to number")
        ts = _check_timestamp(namespace, timestamp)
        readings = [
            (f"{namespace}/{name}", self._make(f"{namespace}/{name}", value, ts, quality))
            for name, value in values.items()
        ]
        self._apply(readings)

    # --- reading ---------------------------------------------------------------------------------

    def snapshot(self, now: float | None = None) -> Snapshot:
        """An immutable, consistent view of every channel with staleness evaluated at `now`."""
        t = time.time() if now is None else _check_timestamp("snapshot", now)
        with self._lock:
            readings = dict(self._readings)
        out: dict[str, Reading] = {}
        newest: dict[str, float] = {}
        for channel, r in readings.items():
            if r.quality is Quality.GOOD and t - r.timestamp >= self.max_age(channel):
                r = Reading(r.value, r.unit, r.timestamp, Quality.STALE)
            out[channel] = r
            ns = channel.partition("/")[0]
            if r.timestamp > newest.get(ns, -math.inf):
                newest[ns] = r.timestamp
        for ns, ts in newest.items():
            out[f"{ns}/Timestamp"] = Reading(ts, "s", ts, Quality.GOOD)
        return Snapshot(out, t)

    def subscribe(self, callback: Callable[[list[tuple[str, Reading]]], None]) -> Subscription:
        """Call `callback(updates)` after every write, with the list of (channel, Reading) written."""
        if not callable(callback):
            raise ValueTypeError(f"subscribe needs a callable, got {callback!r}")
        sub = Subscription(self, callback)
        with self._lock:
            self._subscribers.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)


def channel_spec_exists(namespace: str, name: str) -> bool:
    try:
        split_channel(f"{namespace}/{name}")
    except ChannelError:
        return False
    return True
