"""gridtap: the grid/site meter layer of an energy management system.

One set of `grid/...` channels with one sign convention (+ import; reactive + inductive),
timestamps and quality, whatever measures the grid connection.
"""

from __future__ import annotations

import collections.abc as _abc

from gridtap import profiles
from gridtap._core import (
    C37118Config,
    C37118Decoder,
    C37118Frame,
    C37118PmuConfig,
    C37118PmuData,
    ChannelValues,
    MeterPipeline,
    decode,
    decode_c37118,
    decode_values,
    encode_c37118_command,
    encode_c37118_config,
    encode_c37118_data,
    encode_c37118_header,
    encode_value,
)
from gridtap.channels import CHANNELS, ChannelSpec, channel_spec
from gridtap.control import EdgeCycle, PeakShaving, PhaseZeroExport, RampLimiter
from gridtap.dal import Dal, Quality, Reading, Snapshot, Subscription
from gridtap.errors import (
    ChannelError,
    FutureTimestampError,
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
from gridtap.virtual import VirtualGridMeter

__version__ = "0.1.0"

# what MeterPipeline.push returns is a read-only mapping of channel → value (None = no value)
_abc.Mapping.register(ChannelValues)

# Imported on first use: they pull in pymodbus / paho-mqtt, which acquisition loops that only use
# the kernels and the DAL need not pay for at import time.
_LAZY = {
    "ModbusBus": ("gridtap.bus", "ModbusBus"),
    "ModbusMeter": ("gridtap.modbus", "ModbusMeter"),
    "MqttPublisher": ("gridtap.telemetry", "MqttPublisher"),
    "PmuMeter": ("gridtap.pmu", "PmuMeter"),
    "sim": ("gridtap.sim", None),
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        mod = importlib.import_module(module)
        value = mod if attr is None else getattr(mod, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gridtap' has no attribute {name!r}")


__all__ = [
    "CHANNELS",
    "C37118Config",
    "C37118Decoder",
    "C37118Frame",
    "C37118PmuConfig",
    "C37118PmuData",
    "ChannelError",
    "ChannelSpec",
    "ChannelValues",
    "CounterTracker",
    "Dal",
    "EdgeCycle",
    "EnergyIntegrator",
    "FutureTimestampError",
    "GridtapError",
    "InputError",
    "InternalError",
    "InvalidValueError",
    "MeterPipeline",
    "ModbusBus",
    "ModbusMeter",
    "MqttPublisher",
    "PeakShaving",
    "PhaseZeroExport",
    "PmuMeter",
    "Profile",
    "ProfileError",
    "Quality",
    "RampLimiter",
    "Reading",
    "RocofEstimator",
    "RocofTrip",
    "Snapshot",
    "Subscription",
    "TimestampError",
    "ValueTypeError",
    "VirtualGridMeter",
    "__version__",
    "channel_spec",
    "decode",
    "decode_c37118",
    "decode_values",
    "encode_c37118_command",
    "encode_c37118_config",
    "encode_c37118_data",
    "encode_c37118_header",
    "encode_value",
    "profiles",
    "sim",
]
