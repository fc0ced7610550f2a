"""The channel catalogue: the one place where every channel's name, unit and meaning is defined.

Grid channels follow `spec/grid-meter-abstraction.md` in its order; extras that meters commonly
provide (line-to-line voltages, per-phase apparent power and power factor, phase imbalance) come
after them and are optional. Device namespaces (load, pv, battery) carry what the virtual meter and
the controllers need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gridtap.errors import ChannelError

__all__ = [
    "BATTERY_CHANNELS",
    "CHANNELS",
    "DEVICE_CATALOGUES",
    "LOAD_CHANNELS",
    "PV_CHANNELS",
    "ChannelSpec",
    "catalogue_for",
    "channel_spec",
    "namespace_of_kind",
    "split_channel",
]


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    name: str
    unit: str  # "" for dimensionless
    description: str
    optional: bool
    phase: str | None  # "L1", "L2", "L3", "L12", "L23", "L31" or None for totals
    # Physical limits the DAL enforces on every write. `minimum`: the lowest value that can be
    # physical (a magnitude or a counter is never negative). `monotonic`: a counter that never
    # decreases; the DAL refuses a value below the highest one written before.
    minimum: float | None = None
    monotonic: bool = False


def _phased(
    base: str,
    unit: str,
    text: str,
    optional: bool,
    phases: tuple[str, ...] = ("L1", "L2", "L3"),
    minimum: float | None = None,
) -> list[ChannelSpec]:
    return [
        ChannelSpec(f"{base}_{p}", unit, f"{text} on phase {p}.", optional or p != "L1", p, minimum)
        for p in phases
    ]


def _counter(name: str, unit: str, text: str, optional: bool) -> ChannelSpec:
    """An energy counter: never negative, never decreasing."""
    return ChannelSpec(name, unit, text, optional, None, minimum=0.0, monotonic=True)


_P, _Q = "W, + import / − export", "VAR, + inductive (lagging) / − capacitive (IEEE 1459)"

CHANNELS: tuple[ChannelSpec, ...] = (
    ChannelSpec("ActivePower", "W", f"Net active power, sum of all phases ({_P}).", False, None),
    *_phased("ActivePower", "W", f"Active power ({_P})", False),
    ChannelSpec("ReactivePower", "VAR", f"Net reactive power ({_Q}).", False, None),
    *_phased("ReactivePower", "VAR", f"Reactive power ({_Q})", True),
    ChannelSpec(
        "ApparentPower",
        "VA",
        "Net apparent power: arithmetic sum of the phases' S, else √(P²+Q²).",
        False,
        None,
        minimum=0.0,
    ),
    ChannelSpec(
        "PowerFactor", "", "Net power factor |P|/S, signed by P (IEC): + importing, − exporting.", False, None
    ),
    ChannelSpec("Frequency", "Hz", "Grid frequency.", False, None, minimum=0.0),
    ChannelSpec("Frequency_RoCoF", "Hz/s", "Rate of change of frequency (meter's or estimated).", True, None),
    *_phased("Voltage", "V", "Line-to-neutral RMS voltage", False, minimum=0.0),
    *_phased("Current", "A", "RMS current magnitude (≥ 0)", False, minimum=0.0),
    _counter("EnergyImport", "kWh", "Imported active energy counter; never decreases.", False),
    _counter("EnergyExport", "kWh", "Exported active energy counter; never decreases.", False),
    ChannelSpec("EnergyNet", "kWh", "EnergyImport − EnergyExport.", False, None),
    _counter("ReactiveEnergyImport", "kVARh", "Inductive (lagging) reactive energy counter.", True),
    _counter("ReactiveEnergyExport", "kVARh", "Capacitive (leading) reactive energy counter.", True),
    ChannelSpec(
        "Timestamp", "s", "Time of the namespace's newest measurement (added by the DAL).", False, None
    ),
    # extras beyond the spec's table
    *_phased("Voltage", "V", "Line-to-line RMS voltage", True, ("L12", "L23", "L31"), minimum=0.0),
    *_phased("ApparentPower", "VA", "Apparent power", True, minimum=0.0),
    *_phased("PowerFactor", "", "Power factor |P|/S signed by P", True),
    ChannelSpec("PhaseImbalance", "W", "Largest minus smallest phase active power.", True, None, minimum=0.0),
)

_LOAD_P = "W, + consumption"
LOAD_CHANNELS: tuple[ChannelSpec, ...] = (
    ChannelSpec("ActivePower", "W", f"Site load active power ({_LOAD_P}).", False, None),
    *_phased("ActivePower", "W", f"Load active power ({_LOAD_P})", False),
    ChannelSpec("ReactivePower", "VAR", f"Load reactive power ({_Q}).", True, None),
    *_phased("ReactivePower", "VAR", f"Load reactive power ({_Q})", True),
)

_PV_P = "W, + generation"
PV_CHANNELS: tuple[ChannelSpec, ...] = (
    ChannelSpec("ActivePower", "W", f"PV active power ({_PV_P}).", False, None),
    *_phased("ActivePower", "W", f"PV active power ({_PV_P})", False),
    ChannelSpec(
        "ReactivePower",
        "VAR",
        "PV reactive power, generator sense: + supplied to the site (grid Q = load + battery − pv).",
        True,
        None,
    ),
    *_phased("ReactivePower", "VAR", "PV reactive power, generator sense (+ supplied)", True),
    ChannelSpec(
        "SetActivePowerLimit", "W", "Curtailment setpoint: maximum PV output (≥ 0).", True, None, minimum=0.0
    ),
    *_phased("SetActivePowerLimit", "W", "Curtailment setpoint: maximum PV output", True, minimum=0.0),
)

_BAT_P = "W, + charging / − discharging"
BATTERY_CHANNELS: tuple[ChannelSpec, ...] = (
    ChannelSpec("ActivePower", "W", f"Measured battery power ({_BAT_P}).", False, None),
    *_phased("ActivePower", "W", f"Measured battery power ({_BAT_P})", True),
    ChannelSpec("ReactivePower", "VAR", f"Battery reactive power ({_Q}).", True, None),
    *_phased("ReactivePower", "VAR", f"Battery reactive power ({_Q})", True),
    ChannelSpec("SetActivePower", "W", f"Battery power setpoint ({_BAT_P}).", True, None),
    *_phased("SetActivePower", "W", f"Battery power setpoint ({_BAT_P})", True),
    ChannelSpec(
        "MaxChargePower",
        "W",
        "Largest charging power the battery accepts now (≥ 0).",
        True,
        None,
        minimum=0.0,
    ),
    ChannelSpec(
        "MaxDischargePower",
        "W",
        "Largest discharging power the battery gives now (≥ 0).",
        True,
        None,
        minimum=0.0,
    ),
    ChannelSpec("StateOfCharge", "%", "Battery state of charge.", True, None, minimum=0.0),
)

DEVICE_CATALOGUES: dict[str, tuple[ChannelSpec, ...]] = {
    "grid": CHANNELS,
    "load": LOAD_CHANNELS,
    "pv": PV_CHANNELS,
    "battery": BATTERY_CHANNELS,
}

_BY_NAME = {kind: {c.name: c for c in cat} for kind, cat in DEVICE_CATALOGUES.items()}
_NAMESPACE = re.compile(r"^(grid|load|pv|battery)(?:_([a-z0-9][a-z0-9_]*))?$")


def catalogue_for(namespace: str) -> tuple[ChannelSpec, ...]:
    """The catalogue of a namespace: `grid`, `grid_<name>`, `load[_<name>]`, `pv[_<name>]`, ..."""
    m = _NAMESPACE.match(namespace) if isinstance(namespace, str) else None
    if m is None:
        raise ChannelError(
            f"unknown namespace {namespace!r}: expected grid, grid_<name> (e.g. grid_main), "
            "load, pv or battery (optionally with _<name>), <name> in lowercase letters, digits and _"
        )
    return DEVICE_CATALOGUES[m.group(1)]


def namespace_of_kind(namespace: str, kind: str) -> str:
    """`namespace` if it is one of `kind` (grid, load, pv, battery: `kind` or `kind_<name>`), else
    a ChannelError saying what was expected."""
    if catalogue_for(namespace) is not DEVICE_CATALOGUES[kind]:
        raise ChannelError(f"expected a {kind} namespace ({kind} or {kind}_<name>), got {namespace!r}")
    return namespace


def split_channel(channel: str) -> tuple[str, str]:
    """`"grid_main/ActivePower"` → `("grid_main", "ActivePower")`, validating both parts."""
    if not isinstance(channel, str) or channel.count("/") != 1:
        raise ChannelError(f"channel {channel!r} is not of the form namespace/Channel, e.g. grid/ActivePower")
    namespace, name = channel.split("/")
    kind = _NAMESPACE.match(namespace)
    catalogue_for(namespace)
    assert kind is not None
    if name not in _BY_NAME[kind.group(1)]:
        known = ", ".join(c.name for c in DEVICE_CATALOGUES[kind.group(1)])
        raise ChannelError(f"unknown channel {channel!r}: {namespace} has {known}")
    return namespace, name


_SPEC_CACHE: dict[str, ChannelSpec] = {}


def channel_spec(channel: str) -> ChannelSpec:
    """The catalogue entry of a full channel name such as `"grid_main/ActivePower_L2"`."""
    spec = _SPEC_CACHE.get(channel) if isinstance(channel, str) else None
    if spec is None:
        namespace, name = split_channel(channel)
        kind = _NAMESPACE.match(namespace)
        assert kind is not None
        spec = _BY_NAME[kind.group(1)][name]
        if len(_SPEC_CACHE) < 100_000:  # valid names only; bounded whatever callers invent
            _SPEC_CACHE[channel] = spec
    return spec
