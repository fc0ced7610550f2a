"""The objects of a site, built from its checked configuration. `load_site` builds each once to
check it (so a constructor's refusal names the file and the key) and `run_site` builds the ones it
runs, with the same functions."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gridtap.dal import Dal

if TYPE_CHECKING:
    from gridtap.bus import ModbusBus
    from gridtap.control import EdgeCycle
    from gridtap.modbus import ModbusMeter
    from gridtap.pmu import PmuMeter
    from gridtap.sim import MeterSimulator
    from gridtap.telemetry import MqttPublisher
    from gridtap.virtual import VirtualGridMeter

__all__ = [
    "METER_OPTIONS",
    "edge_cycle",
    "meter_address",
    "meter_state_key",
    "meters",
    "pmu",
    "pmu_state_key",
    "publisher",
    "simulator",
    "virtual_meter",
]

# [[meter]] keys passed on to ModbusMeter as they are
METER_OPTIONS = (
    "unit_id", "invert", "slow_interval", "timeout", "max_backoff", "frozen_after", "rocof_window", "max_gap",
)  # fmt: skip


def pmu(m: Mapping[str, Any]) -> PmuMeter:
    """A [[pmu]] entry's PmuMeter (`interval` is poll's)."""
    from gridtap.pmu import PmuMeter

    kw = {k: v for k, v in m.items() if k not in ("transport", "host", "port", "interval")}
    return PmuMeter(m["host"], m["port"], transport=m["transport"], **kw)


def meters(entries: Sequence[Mapping[str, Any]]) -> tuple[list[ModbusBus], list[ModbusMeter]]:
    """The meters of `entries`, in their order, on one `ModbusBus` per serial device or TCP host
    and port (entries sharing one are polled in turn on one connection), and those buses."""
    from gridtap.bus import plan_buses

    built: list[Any] = [None] * len(entries)
    buses = []
    for plan in plan_buses(entries):
        members = [entries[i] for i in plan.members]
        bus = plan.open(
            timeout=max(m.get("timeout", 1.0) for m in members),
            max_backoff=min(m.get("max_backoff", 3.0) for m in members),
        )
        for i, m in zip(plan.members, members, strict=True):
            kw = {k: m[k] for k in METER_OPTIONS if k in m}
            # a meter alone on its connection keeps the connection's name, as ModbusMeter.tcp/.rtu
            name = bus.name if len(members) == 1 else None
            meter = bus.meter(profile=m["profile"], namespace=m["namespace"], name=name, **kw)
            meter.poll_interval = m.get("interval", 1.0)
            built[i] = meter
        buses.append(bus)
    return buses, built


def pmu_state_key(built: PmuMeter) -> str:
    from gridtap.state import pmu_key

    address = f"{built.transport}://{built.host}:{built.port}"
    return pmu_key(built.namespace, address, built.idcode, built.pmu, built.invert)


def meter_address(m: Mapping[str, Any]) -> str:
    """Where a meter is reached: `tcp://host:port`, `rtu-over-tcp://host:port` or `rtu:<device>`."""
    if m["transport"] == "rtu":
        return f"rtu:{m['device']}"
    return f"{m['transport']}://{m['host']}:{m.get('port', 502)}"


def meter_state_key(m: Mapping[str, Any], built: ModbusMeter) -> str:
    from gridtap.state import meter_key

    profile = (
        "sunspec" if m["profile"] == "sunspec" else built.profile.name if built.profile else m["profile"]
    )
    return meter_key(m["namespace"], meter_address(m), built.unit_id, profile, built.invert)


def simulator(s: Mapping[str, Any]) -> MeterSimulator:
    from gridtap.sim import GridScenario, MeterSimulator

    if "static" in s:
        static: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in s["static"].items()}
        scenario = GridScenario.static(start=time.time(), **static)
    else:
        scenario = GridScenario(seed=s.get("seed", 1), start=time.time(), battery_kw=s.get("battery_kw"))
    return MeterSimulator(
        scenario, s["profile"], unit_id=s.get("unit_id", 1), sunspec_model=s.get("sunspec_model")
    )


def virtual_meter(dal: Dal, v: Mapping[str, Any]) -> VirtualGridMeter:
    from gridtap.virtual import VirtualGridMeter

    return VirtualGridMeter(
        dal,
        load=v.get("load", "load"),
        pv=v.get("pv", "pv"),
        battery=v.get("battery", "battery"),
        namespace=v["namespace"],
        max_gap=v.get("max_gap", 60.0),
    )


CONTROLLER_KINDS = ("peak_shaving", "phase_zero_export")


def controller_class(kind: str) -> type:
    from gridtap.control import PeakShaving, PhaseZeroExport

    return {"peak_shaving": PeakShaving, "phase_zero_export": PhaseZeroExport}[kind]


def edge_cycle(dal: Dal, ctl: Mapping[str, Any]) -> EdgeCycle:
    from gridtap.control import EdgeCycle

    controllers = [controller_class(k)(**ctl[k]) for k in ctl["order"]]
    return EdgeCycle(
        dal,
        controllers,
        grid=ctl.get("grid", "grid"),
        battery=ctl.get("battery", "battery"),
        pv=ctl.get("pv", "pv"),
        ramp_w_per_s=ctl.get("ramp_w_per_s"),
    )


def publisher(dal: Dal, t: Mapping[str, Any]) -> MqttPublisher:
    from gridtap.telemetry import MqttPublisher

    return MqttPublisher(dal, **t)
