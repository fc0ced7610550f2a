"""gridtap: the grid/site meter layer of an energy management system.

One set of `grid/...` channels with one sign convention (+ import; reactive + inductive),
timestamps and quality, whatever measures the grid connection.
"""

from __future__ import annotations

from gridtap import profiles
from gridtap._core import MeterPipeline, decode, decode_values, encode_value
from gridtap.channels import CHANNELS, ChannelSpec, channel_spec
from gridtap.dal import Dal, Quality, Reading, Snapshot, Subscription
from gridtap.errors import (
    ChannelError,
    GridtapError,
    InputError,
    InternalError,
    InvalidValueError,
    ProfileError,
    TimestampError,
    ValueTypeError,
)
from gridtap.profile import Profile
from gridtap.signal import CounterTracker, EnergyIntegrator, RocofEstimator, RocofTrip

__version__ = "0.1.0"

__all__ = [
    "CHANNELS",
    "ChannelError",
    "ChannelSpec",
    "CounterTracker",
    "Dal",
    "EnergyIntegrator",
    "GridtapError",
    "InputError",
    "InternalError",
    "InvalidValueError",
    "MeterPipeline",
    "Profile",
    "ProfileError",
    "Quality",
    "Reading",
    "RocofEstimator",
    "RocofTrip",
    "Snapshot",
    "Subscription",
    "TimestampError",
    "ValueTypeError",
    "__version__",
    "channel_spec",
    "decode",
    "decode_values",
    "encode_value",
    "profiles",
]
