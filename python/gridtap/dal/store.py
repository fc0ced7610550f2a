"""`Dal`: the thread-safe channel store every adapter writes and every consumer reads."""

from __future__ import annotations

import logging
import math
import numbers
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from gridtap.channels import catalogue_for, channel_spec, split_channel
from gridtap.dal.channelset import ChannelSet
from gridtap.dal.clock import check_max_future, check_timestamp, future_error
from gridtap.dal.frames import check_batch
from gridtap.dal.reading import Quality, Reading, make_reading
from gridtap.dal.snapshot import MaxAges, Snapshot
from gridtap.dal.table import Record, Table
from gridtap.errors import ChannelError, InvalidValueError, ValueTypeError

__all__ = ["Dal", "Subscription"]

log = logging.getLogger(__name__)

_GOOD = Quality.GOOD
_ERROR = Quality.ERROR
_isfinite = math.isfinite
_CACHE_LIMIT = 10_000  # channel sets remembered; beyond it writes are checked from scratch


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


class Dal:
    """Thread-safe channel store.

    `default_max_age` (s) applies where no per-channel maximum age is set. `max_age` maps either a
    full channel name (`"grid_main/EnergyImport"`) or a bare channel name (`"EnergyImport"`, for every
    namespace) to seconds.

    `clock` is the DAL's clock (the wall clock, `time.time`; injectable for tests): snapshots
    evaluate staleness against it, and a write stamped more than `max_future` seconds ahead of it is
    refused (`FutureTimestampError`, naming the channel; 1 s by default). A source with a clock of
    its own (a PMU) passes its own tolerance with each write, and its readings are judged with it.
    A reading never goes backwards in time: a write older than the stored reading is refused,
    unless the stored one lies in the future by more than the tolerance it was written with (the
    wall clock stepped back), in which case the newer measurement, stamped by the stepped clock,
    replaces it. A reading ahead of a snapshot's time by more than that tolerance is STALE.

    Physical limits from the catalogue are enforced on every write: no negative current, voltage
    or energy counter, and an energy counter never decreases below the highest value written.

    Writes are atomic (all channels of a write or none) and a refused write changes nothing.
    Snapshots are immutable and consistent: each holds every write completely or not at all.
    """

    def __init__(
        self,
        default_max_age: float = 5.0,
        max_age: Mapping[str, float] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        max_future: float = 1.0,
    ) -> None:
        if not callable(clock):
            raise ValueTypeError(f"clock must be a callable returning seconds since the epoch, got {clock!r}")
        self._lock = threading.Lock()
        self._table = Table()
        self._subscribers: tuple[Subscription, ...] = ()
        self._sets: dict[tuple[object, ...], ChannelSet] = {}
        self._last: dict[str, ChannelSet] = {}  # namespace → the channel set written last
        self._single: dict[str, ChannelSet] = {}
        self._clock = clock
        self._max_future = check_max_future("max_future", max_future)
        self._ages = MaxAges({}, self._check_age("default_max_age", default_max_age))
        for name, age in (max_age or {}).items():
            self.set_max_age(name, age)

    # --- configuration -------------------------------------------------------------------------

    @staticmethod
    def _check_age(what: str, age: float) -> float:
        if isinstance(age, bool) or not isinstance(age, numbers.Real) or not age > 0 or math.isnan(age):
            raise InvalidValueError(f"{what}: maximum age must be a positive number of seconds, got {age!r}")
        return float(age)

    @property
    def default_max_age(self) -> float:
        return self._ages.default

    @default_max_age.setter
    def default_max_age(self, seconds: float) -> None:
        self._ages = MaxAges(self._ages.explicit, self._check_age("default_max_age", seconds))

    @property
    def max_future(self) -> float:
        """How far (s) a write's timestamp may lie ahead of the clock, unless the write says."""
        return self._max_future

    @property
    def clock(self) -> Callable[[], float]:
        return self._clock

    def set_max_age(self, channel: str, seconds: float) -> None:
        """Set the maximum age of one channel (`ns/Name`) or of a channel name in every namespace."""
        if "/" in channel:
            channel_spec(channel)
        elif not any(channel_spec_exists(ns, channel) for ns in ("grid", "load", "pv", "battery")):
            raise ChannelError(f"unknown channel name {channel!r} for a maximum age")
        age = self._check_age(channel, seconds)
        ages = self._ages
        self._ages = MaxAges({**ages.explicit, channel: age}, ages.default)

    def has_max_age(self, channel: str) -> bool:
        """Whether a maximum age was set for this channel (by full or bare name)."""
        explicit = self._ages.explicit
        return channel in explicit or channel.partition("/")[2] in explicit

    def max_age(self, channel: str) -> float:
        return self._ages.get(channel)

    # --- writing -------------------------------------------------------------------------------

    def write(
        self,
        channel: str,
        value: float | None,
        timestamp: float,
        quality: Quality = Quality.GOOD,
        *,
        max_future: float | None = None,
    ) -> None:
        """Write one reading. `value=None` (or quality ERROR) stores an ERROR reading without value.
        `max_future` overrides the DAL's tolerance for a timestamp ahead of its clock."""
        cs = self._single.get(channel) if type(channel) is str else None
        if cs is None:
            namespace, name = split_channel(channel)
            cs = ChannelSet(namespace, (name,))
            if len(self._single) < _CACHE_LIMIT:
                self._single[channel] = cs
        if type(timestamp) is not float or not _isfinite(timestamp):
            timestamp = check_timestamp(channel, timestamp)
        self._write(cs, (value,), timestamp, quality, max_future)

    def write_many(
        self,
        namespace: str,
        values: Mapping[str, float | None],
        timestamp: float,
        quality: Quality = Quality.GOOD,
        *,
        max_future: float | None = None,
    ) -> None:
        """Write several channels of one namespace atomically: all or nothing.

        `values` maps bare channel names to numbers, or to None for "no valid value" (ERROR).
        `max_future` overrides the DAL's tolerance for a timestamp ahead of its clock.
        """
        # the common case, checked in one pass by the core: the channels of the namespace's last
        # write, every value a finite float within its limits
        cs = self._last.get(namespace) if type(namespace) is str else None
        if cs is not None and quality is _GOOD and type(timestamp) is float and _isfinite(timestamp):
            fast = cs.layout.values(values)
            if fast is not None:
                self._store(cs, fast, cs.all_good, timestamp, max_future)
                return
        if type(values) is not dict and not isinstance(values, Mapping):
            raise ValueTypeError(f"{namespace}: values must be a mapping of channel name to number")
        try:
            cs = self._sets[(namespace, *values)]
        except (KeyError, TypeError):
            cs = self._channel_set(namespace, values)
        self._last[cs.namespace] = cs
        if type(timestamp) is not float or not _isfinite(timestamp):
            timestamp = check_timestamp(namespace, timestamp)
        self._write(cs, tuple(values.values()), timestamp, quality, max_future)

    def _channel_set(self, namespace: object, bare: Any) -> ChannelSet:
        if not isinstance(namespace, str):
            catalogue_for(namespace)  # type: ignore[arg-type]  # raises, naming it
        cs = ChannelSet(namespace, tuple(bare))  # type: ignore[arg-type]
        if len(self._sets) < _CACHE_LIMIT:
            self._sets[(namespace, *cs.bare)] = cs
        return cs

    def _write(
        self,
        cs: ChannelSet,
        values: tuple[Any, ...],
        ts: float,
        quality: Quality,
        max_future: float | None,
    ) -> None:
        if quality is _GOOD and cs.fast_values_ok(values):
            self._store(cs, values, cs.all_good, ts, max_future)
        else:
            checked, qualities = cs.checked_values(values, quality)
            self._store(cs, tuple(checked), tuple(qualities), ts, max_future)

    def _store(
        self,
        cs: ChannelSet,
        values: tuple[float | None, ...],
        qualities: tuple[Quality, ...],
        ts: float,
        max_future: float | None,
    ) -> None:
        """Store checked values: refuse a timestamp ahead of the clock, commit, notify."""
        mf = self._max_future if max_future is None else check_max_future("max_future", max_future)
        now = self._clock()
        if ts - now > mf:
            raise future_error(cs.names, ts, now, mf)
        record = (values, ts, qualities, mf)
        # a subscription made while a write runs may or may not see it, as with any later write
        subscribers = self._subscribers
        with self._lock:
            self._table.commit(cs, record, ts, now)
        if subscribers:
            _notify(subscribers, cs, record)

    def write_frames(
        self,
        namespace: str,
        timestamps: Any,
        columns: Mapping[str, Any],
        quality: Quality = Quality.GOOD,
        *,
        max_future: float | None = None,
    ) -> None:
        """Write the outcome of a batch of frames: what `MeterPipeline.push_many(timestamps, ...)`
        returns, `columns` mapping bare channel names to float64 arrays, one value per timestamp.

        The DAL keeps the latest value per channel: each channel's value in the last frame,
        stamped with the last timestamp; NaN there means no valid value (an ERROR reading). The
        result is that of `write_many` for every frame in order, checked as a whole first: the
        timestamps finite and non-decreasing, the first not older than what is stored (unless that
        lies in the future), the last not ahead of the clock; every value NaN or finite and within
        its physical limits; counters never decreasing, across the batch and from what is stored.
        On any error nothing is written. Subscribers are told once per batch, with the final
        readings. An empty batch writes nothing.
        """
        if not isinstance(columns, Mapping):
            raise ValueTypeError(f"{namespace}: columns must be a mapping of channel name to array")
        try:
            cs = self._sets[(namespace, *columns)]
        except (KeyError, TypeError):
            cs = self._channel_set(namespace, columns)
        if not isinstance(quality, Quality):
            raise ValueTypeError(f"{namespace}: quality must be a gridtap.Quality, got {quality!r}")
        batch = check_batch(cs, timestamps, columns, quality)
        if batch is None:
            return
        mf = self._max_future if max_future is None else check_max_future("max_future", max_future)
        now = self._clock()
        if batch.last_ts - now > mf:
            raise future_error(cs.names, batch.last_ts, now, mf)
        values = batch.values
        record = (values, batch.last_ts, tuple(_ERROR if v is None else quality for v in values), mf)
        subscribers = self._subscribers
        with self._lock:
            self._table.commit(cs, record, batch.first_ts, now, batch.counters)
        if subscribers:
            _notify(subscribers, cs, record)

    # --- reading -------------------------------------------------------------------------------

    def snapshot(self, now: float | None = None) -> Snapshot:
        """An immutable, consistent view of every channel with staleness evaluated at `now`
        (default: the DAL's clock). Readings are made when first looked up in it."""
        t = self._clock() if now is None else check_timestamp("snapshot", now)
        table = self._table
        with self._lock:
            owner = table.owner.copy()
            records = table.records.copy()
            stamps = table.stamps.copy()
        return Snapshot(owner, records, stamps, self._ages, float(t))

    def subscribe(self, callback: Callable[[list[tuple[str, Reading]]], None]) -> Subscription:
        """Call `callback(updates)` after every write, with the list of (channel, Reading) written
        (for `write_frames`, once per batch with the final readings)."""
        if not callable(callback):
            raise ValueTypeError(f"subscribe needs a callable, got {callback!r}")
        sub = Subscription(self, callback)
        with self._lock:
            self._subscribers = (*self._subscribers, sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subscribers = tuple(s for s in self._subscribers if s is not sub)


def _notify(subscribers: tuple[Subscription, ...], cs: ChannelSet, record: Record) -> None:
    values, ts, qualities, _ = record
    updates = [
        (channel, make_reading(v, unit, ts, q))
        for channel, v, unit, q in zip(cs.names, values, cs.units, qualities, strict=True)
    ]
    for sub in subscribers:
        try:
            sub.callback(updates)
        except Exception:
            log.exception("DAL subscriber %r failed", sub.callback)


def channel_spec_exists(namespace: str, name: str) -> bool:
    try:
        split_channel(f"{namespace}/{name}")
    except ChannelError:
        return False
    return True
