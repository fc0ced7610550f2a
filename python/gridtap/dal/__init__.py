"""The Device Abstraction Layer: the channel store every adapter writes and every consumer reads.

Writes carry the timestamp of the measurement and a quality. Snapshots are immutable and
consistent: a `write_many` is applied under one lock, so a snapshot holds all of it or none of it.
Staleness is evaluated when a snapshot is taken, against each channel's maximum age and the DAL's
clock (see "Time" in DESIGN.md).

- `reading`: `Quality` and `Reading`.
- `store`: `Dal` (writes, batches of frames, snapshots, subscriptions).
- `snapshot`: `Snapshot`, the lazily evaluated view.
- `channelset`: the checked channels of one kind of write, and the value checks.
- `clock`: timestamps against the clock.
"""

from __future__ import annotations

from gridtap.dal.reading import Quality, Reading
from gridtap.dal.snapshot import Snapshot
from gridtap.dal.store import Dal, Subscription, channel_spec_exists

__all__ = ["Dal", "Quality", "Reading", "Snapshot", "Subscription", "channel_spec_exists"]
