"""Snapshots: every channel of a DAL at one instant, immutable and consistent.

A snapshot is a copy of the DAL's table (which record holds each channel, and the records) taken
under its lock; the `Reading` of a channel, with its quality evaluated at the snapshot's time, is
made when it is first asked for. Taking a snapshot of a thousand channels therefore costs a dict
copy, and a consumer that looks at ten channels pays for ten readings.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, Mapping, ValuesView
from itertools import chain

from gridtap.dal.channelset import ChannelSet
from gridtap.dal.reading import Quality, Reading, make_reading
from gridtap.dal.table import Record

__all__ = ["MaxAges", "Snapshot"]

_GOOD = Quality.GOOD
_STALE = Quality.STALE


class MaxAges:
    """Maximum ages (s) by full channel name, by bare name for every namespace, else a default.
    Immutable: the DAL replaces it when an age is set, so a snapshot keeps the ages it was taken
    with."""

    __slots__ = ("_cache", "_sets", "default", "explicit")

    def __init__(self, explicit: Mapping[str, float], default: float) -> None:
        self.explicit = dict(explicit)
        self.default = default
        self._cache: dict[str, float] = {}
        self._sets: dict[ChannelSet, tuple[float, ...]] = {}

    def of_set(self, cs: ChannelSet) -> tuple[float, ...]:
        """The maximum ages of a channel set's channels, in its order."""
        ages = self._sets.get(cs)
        if ages is None:
            ages = tuple(map(self.get, cs.names))
            if len(self._sets) < 10_000:
                self._sets[cs] = ages
        return ages

    def get(self, channel: str) -> float:
        age = self._cache.get(channel)
        if age is None:
            explicit = self.explicit
            age = explicit.get(channel)
            if age is None:
                age = explicit.get(channel.partition("/")[2], self.default)
            if len(self._cache) < 100_000:  # bounded whatever names callers invent
                self._cache[channel] = age
        return age


class Snapshot(Mapping[str, Reading]):
    """An immutable view of every channel at one instant (`time`), with staleness evaluated then.

    A reading is GOOD when it was written GOOD, is younger than its channel's maximum age and lies
    no further ahead of `time` than the tolerance it was written with. `ns/Timestamp` holds the
    time of the namespace's newest measurement. Made by `Dal.snapshot()`.
    """

    __slots__ = ("_ages", "_built", "_owner", "_records", "_stamps", "time")

    def __init__(
        self,
        owner: dict[str, ChannelSet],
        records: dict[ChannelSet, Record],
        stamps: dict[str, tuple[float, float]],
        ages: MaxAges,
        time: float,
    ) -> None:
        self._owner = owner
        self._records = records
        self._stamps = stamps  # "ns/Timestamp" → (newest timestamp, its max_future)
        self._ages = ages
        self._built: dict[str, Reading] = {}
        self.time = time

    def __getitem__(self, channel: str) -> Reading:
        r = self._built.get(channel)
        if r is not None:
            return r
        cs = self._owner.get(channel)
        t = self.time
        if cs is not None:
            values, ts, qualities, max_future = self._records[cs]
            i = cs.index[channel]
            quality = qualities[i]
            if quality is _GOOD and (ts - t > max_future or t - ts >= self._ages.get(channel)):
                quality = _STALE
            r = make_reading(values[i], cs.units[i], ts, quality)
        else:
            stamp = self._stamps.get(channel)
            if stamp is None:
                raise KeyError(channel)
            ts, max_future = stamp
            r = make_reading(ts, "s", ts, _STALE if ts - t > max_future else _GOOD)
        self._built[channel] = r
        return r

    def __contains__(self, channel: object) -> bool:
        return channel in self._owner or channel in self._stamps

    def __iter__(self) -> Iterator[str]:
        return chain(self._owner, self._stamps)

    def __len__(self) -> int:
        return len(self._owner) + len(self._stamps)

    def values(self) -> ValuesView[Reading]:
        return _Values(self)

    def items(self) -> ItemsView[str, Reading]:
        return _Items(self)

    def _every(self) -> dict[str, Reading]:
        """Every reading, made in one pass over the records (for consumers that look at all)."""
        built = self._built
        if len(built) == len(self):
            return built
        t, owner, ages = self.time, self._owner, self._ages
        for cs, (values, ts, qualities, max_future) in self._records.items():
            ahead = ts - t > max_future
            age = t - ts
            limits = ages.of_set(cs)
            units = cs.units
            for i, channel in enumerate(cs.names):
                if channel in built or owner.get(channel) is not cs:
                    continue
                quality = qualities[i]
                if quality is _GOOD and (ahead or age >= limits[i]):
                    quality = _STALE
                built[channel] = make_reading(values[i], units[i], ts, quality)
        for channel in self._stamps:
            if channel not in built:
                self[channel]
        return built

    def value(self, channel: str) -> float | None:
        """The value of a GOOD reading, else None (missing, STALE or ERROR)."""
        cs = self._owner.get(channel)
        if cs is None:
            if channel in self._stamps:
                r = self[channel]
                return r.value if r.quality is _GOOD else None
            return None
        values, ts, qualities, max_future = self._records[cs]
        i = cs.index[channel]
        t = self.time
        if qualities[i] is not _GOOD or ts - t > max_future or t - ts >= self._ages.get(channel):
            return None
        return values[i]

    def __repr__(self) -> str:
        return f"Snapshot(time={self.time}, channels={len(self)})"


class _Values(ValuesView[Reading]):
    _mapping: Snapshot

    def __iter__(self) -> Iterator[Reading]:
        return map(self._mapping._every().__getitem__, self._mapping)


class _Items(ItemsView[str, Reading]):
    _mapping: Snapshot

    def __iter__(self) -> Iterator[tuple[str, Reading]]:
        every = self._mapping._every()
        return ((channel, every[channel]) for channel in self._mapping)
