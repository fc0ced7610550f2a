"""What the DAL stores, and the rules that span writes: time never goes backwards (except past
readings that lie in the future) and energy counters never decrease.

A write is stored as one record for its channel set, not as one entry per channel: an adapter that
writes the same 33 channels on every poll replaces one record. `owner` says which set's record
holds each channel's latest value; it changes only when another set writes one of the channels.
The table is not thread-safe by itself: the DAL holds its lock around every call.
"""

from __future__ import annotations

from collections.abc import Mapping

from gridtap.dal.channelset import ChannelSet
from gridtap.dal.reading import Quality
from gridtap.errors import InvalidValueError, TimestampError

__all__ = ["Record", "Table"]

# One write: (values, timestamp, one quality per channel, max_future). A value is None for an
# ERROR reading; `max_future` is the tolerance the write was accepted with.
Record = tuple[tuple[float | None, ...], float, tuple[Quality, ...], float]


class Table:
    __slots__ = ("floors", "members", "owned", "owner", "records", "stamps")

    def __init__(self) -> None:
        self.records: dict[ChannelSet, Record] = {}
        self.owner: dict[str, ChannelSet] = {}  # channel → the set whose record holds it
        self.owned: dict[ChannelSet, int] = {}  # set → how many of its channels it holds
        # "ns/Timestamp" → (timestamp, max_future) of the namespace's newest record
        self.stamps: dict[str, tuple[float, float]] = {}
        self.members: dict[str, set[ChannelSet]] = {}  # namespace → sets holding its channels
        self.floors: dict[str, float] = {}  # counter channel → highest value written

    def commit(
        self,
        cs: ChannelSet,
        record: Record,
        first_ts: float,
        now: float,
        counters: Mapping[int, tuple[float, float]] | None = None,
    ) -> None:
        """Store `record` for `cs`, or raise and change nothing. `first_ts` is the write's
        earliest timestamp (a batch's first frame); `counters` (for batches) maps a counter's index
        in `cs` to its first and last valid value in the batch, else the record's values are used."""
        values, ts, _, max_future = record
        stamp = self.stamps.get(cs.stamp)
        older = stamp is not None and first_ts < stamp[0]
        if older:
            self._check_not_backwards(cs, first_ts, now)
        if cs.counters:
            self._check_counters(cs, values, counters)
        self.records[cs] = record
        if self.owned.get(cs) != cs.size:
            self._take(cs)
        if cs.counters:
            floors = self.floors
            for i, channel in cs.counters:
                last = values[i] if counters is None else counters.get(i, (None, None))[1]
                if last is not None:
                    floors[channel] = last
        if older:
            # a record that lay in the future was replaced: the newest may be any other
            newest = max((self.records[s] for s in self.members[cs.namespace]), key=_timestamp_of)
            self.stamps[cs.stamp] = (newest[1], newest[3])
        elif cs.size:
            self.stamps[cs.stamp] = (ts, max_future)

    def _take(self, cs: ChannelSet) -> None:
        """Make `cs`'s record the holder of all its channels."""
        owner, owned = self.owner, self.owned
        members = self.members.setdefault(cs.namespace, set())
        for channel in cs.names:
            previous = owner.get(channel)
            if previous is cs:
                continue
            if previous is not None:
                left = owned[previous] - 1
                if left:
                    owned[previous] = left
                else:  # holds nothing any more
                    del owned[previous]
                    del self.records[previous]
                    members.discard(previous)
            owner[channel] = cs
        owned[cs] = cs.size
        if cs.size:
            members.add(cs)
        else:
            # an empty write holds nothing: keep no record of it
            del owned[cs]
            del self.records[cs]

    def timestamp(self, channel: str) -> tuple[float, float] | None:
        """(timestamp, max_future) of a channel's latest reading."""
        cs = self.owner.get(channel)
        if cs is None:
            return None
        record = self.records[cs]
        return record[1], record[3]

    def _check_not_backwards(self, cs: ChannelSet, ts: float, now: float) -> None:
        for channel in cs.names:
            old = self.timestamp(channel)
            # a stored reading further ahead of the clock than its tolerance lies in the future
            # (the clock stepped back): a newer measurement replaces it
            if old is not None and ts < old[0] and old[0] - now <= old[1]:
                raise TimestampError(
                    f"{channel}: timestamp {ts} is older than the stored reading's "
                    f"{old[0]}; timestamps must not go backwards"
                )

    def _check_counters(
        self,
        cs: ChannelSet,
        values: tuple[float | None, ...],
        counters: Mapping[int, tuple[float, float]] | None,
    ) -> None:
        floors = self.floors
        for i, channel in cs.counters:
            v = values[i] if counters is None else counters.get(i, (None, None))[0]
            if v is None:
                continue
            floor = floors.get(channel)
            if floor is not None and v < floor:
                raise InvalidValueError(
                    f"{channel}: energy counter {v:.12g} {cs.units[i]} is below the {floor:.12g} "
                    f"{cs.units[i]} written before; a counter never decreases"
                )


def _timestamp_of(record: Record) -> float:
    return record[1]
