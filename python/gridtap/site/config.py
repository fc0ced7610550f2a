"""Site files: the meters, virtual meters, controllers and telemetry of one site, run together.

A site file is TOML, checked strictly when it is loaded: an unknown key, a missing field, a value
of the wrong type or out of range (intervals, timeouts and ages finite and > 0, ports 1-65535,
unit ids 1-247), a path that does not exist, or anything the objects it describes refuse, is an
error naming the file and the key. Relative paths (profiles, state file, TLS files) are relative
to the site file's folder. Example (docs/site.example.toml has every option):

    [site]
    name = "home"
    state_file = "home.state.json"

    [[meter]]
    namespace = "grid"
    profile = "sdm630"
    transport = "tcp"
    host = "192.168.1.50"

    [controllers]
    ramp_w_per_s = 2000
    [controllers.phase_zero_export]
    [controllers.peak_shaving]
    limit_w = 8000

    [telemetry]
    host = "127.0.0.1"
    prefix = "sites/home"
"""

from __future__ import annotations

import functools
import inspect
import logging
import tomllib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridtap.dal import Dal
from gridtap.errors import GridtapError
from gridtap.site import build
from gridtap.site.checks import (
    PORT,
    SECONDS,
    UNIT_ID,
    Checker,
    SiteError,
    Spec,
    by_annotation,
    choice,
    flag,
    integer,
    list_of,
    number,
    table,
    tables,
    text,
)

__all__ = ["Site", "SiteError", "load_site"]

log = logging.getLogger(__name__)

DEFAULT_STATE_INTERVAL = 60.0


@dataclass
class Site:
    name: str
    source: str
    default_max_age: float = 5.0
    state_file: str | None = None  # absolute
    state_interval: float = DEFAULT_STATE_INTERVAL
    meters: list[dict[str, Any]] = field(default_factory=list)
    pmus: list[dict[str, Any]] = field(default_factory=list)
    virtual_meters: list[dict[str, Any]] = field(default_factory=list)
    simulators: list[dict[str, Any]] = field(default_factory=list)
    controllers: dict[str, Any] = field(default_factory=dict)
    telemetry: dict[str, Any] | None = None
    metrics: str | None = None  # [metrics] listen: where /metrics is served


MAX_GAP = number(0.0, above=True, inf=True)  # the energy integrator's longest bridged gap; inf: none

_METER_COMMON: dict[str, Spec] = {
    "unit_id": UNIT_ID, "invert": flag, "interval": SECONDS, "slow_interval": SECONDS, "timeout": SECONDS,
    "max_backoff": SECONDS, "frozen_after": SECONDS, "rocof_window": SECONDS, "max_gap": MAX_GAP,
}  # fmt: skip
# [[pmu]]: PmuMeter's options; `interval` (publish at most one frame per interval) goes to poll
_PMU_OPTIONS: dict[str, Spec] = {
    "invert": flag, "time_error": choice("flag", "error"), "max_unlocked": SECONDS,
    "config_frame": choice("cfg2", "cfg3"), "timeout": SECONDS, "max_backoff": SECONDS,
    "rocof_window": SECONDS, "max_gap": MAX_GAP, "max_future": SECONDS,
    "interval": SECONDS,
}  # fmt: skip
_SERIAL: dict[str, Spec] = {
    "baudrate": integer(50, 4_000_000), "parity": choice("N", "E", "O"), "stopbits": choice(1, 2),
    "bytesize": choice(5, 6, 7, 8),
}  # fmt: skip
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_PER_PHASE = list_of(number(), lengths=(1, 3))
_STATIC: dict[str, Spec] = {
    "load_w": _PER_PHASE, "pv_w": _PER_PHASE, "battery_w": _PER_PHASE, "load_var": _PER_PHASE,
    "frequency": number(0.0, above=True), "voltage": number(0.0, above=True),
    "battery_max_charge_w": number(0.0), "battery_max_discharge_w": number(0.0),
}  # fmt: skip


def _profile(c: Checker, key: str, value: str, *, sunspec: bool = True) -> str:
    """A bundled profile name (or alias), a path to a .toml file (relative to the site file's
    folder), or "sunspec" where discovery is possible; checked by loading it. Returns what
    ModbusMeter and MeterSimulator take."""
    from gridtap.profiles import load as load_profile

    if value == "sunspec" and sunspec:
        return value
    resolved = c.existing_file(key, value) if value.endswith(".toml") or "/" in value else value
    try:
        load_profile(resolved)
    except GridtapError as e:
        raise c.fail(key, str(e)) from None
    return resolved


def _kwargs_for(
    c: Checker, where: str, data: Any, target: Callable[..., Any], skip: tuple[str, ...]
) -> dict[str, Any]:
    """A table whose keys are keyword parameters of `target` (a class), each value checked by the
    parameter's type hint where TOML can express it; the class checks ranges when it is built."""
    if not isinstance(data, Mapping):
        raise c.fail(where, f"expected a table, got {data!r}")
    params = inspect.signature(target).parameters
    hints = typing.get_type_hints(target.__init__)
    allowed = {
        n for n, p in params.items() if n not in skip and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    required = {n: params[n] for n in allowed if params[n].default is inspect.Parameter.empty}
    specs = {n: by_annotation(hints.get(n)) or (lambda _c, _k, v: v) for n in allowed}
    return c.table(
        data, where, {n: specs[n] for n in required}, {n: specs[n] for n in allowed - set(required)}
    )


def load_site(path: str | Path) -> Site:
    """Read and check a site file; SiteError (naming the file and the key) if it cannot be used."""
    p = Path(path)
    source = str(p)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise SiteError(f"{source}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise SiteError(f"{source}: not a text file: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise SiteError(f"{source}: not valid TOML: {e}") from None
    c = Checker(source)
    top = c.table(
        data,
        "site file",
        {"site": table},
        {
            "meter": tables,
            "pmu": tables,
            "virtual_meter": tables,
            "simulator": tables,
            "controllers": table,
            "telemetry": table,
            "metrics": table,
        },
    )
    head = c.table(
        top["site"],
        "site",
        {"name": text},
        {"default_max_age": SECONDS, "state_file": text, "state_interval": SECONDS},
    )
    site = Site(
        name=head["name"],
        source=source,
        default_max_age=head.get("default_max_age", 5.0),
        state_interval=head.get("state_interval", DEFAULT_STATE_INTERVAL),
    )
    if "state_file" in head:
        site.state_file = str(state_file_path(c, "site.state_file", head["state_file"]))
    seen: set[str] = set()
    site.meters = [_meter(c, f"meter[{i}]", m, seen) for i, m in enumerate(top.get("meter", []))]
    site.pmus = [_pmu(c, f"pmu[{i}]", m, seen) for i, m in enumerate(top.get("pmu", []))]
    _buses(c, site.meters)
    site.virtual_meters = [
        _virtual_meter(c, f"virtual_meter[{i}]", v, seen) for i, v in enumerate(top.get("virtual_meter", []))
    ]
    ports: set[int] = set()
    site.simulators = [
        _simulator(c, f"simulator[{i}]", s, ports) for i, s in enumerate(top.get("simulator", []))
    ]
    if "controllers" in top:
        site.controllers = _controllers(c, top["controllers"])
    if "telemetry" in top:
        site.telemetry = _telemetry(c, top["telemetry"])
    if "metrics" in top:
        site.metrics = _metrics(c, top["metrics"])
    return site


def state_file_path(c: Checker, key: str, value: str) -> Path:
    p = c.path(key, value)
    if p.is_dir():
        raise c.fail(key, f"{p} is a folder; expected a file name")
    if p.exists() and not p.is_file():
        # a FIFO or a device would block the first read
        raise c.fail(key, f"{p} is not a regular file")
    if not p.parent.is_dir():
        raise c.fail(key, f"the folder {p.parent} does not exist")
    return p


def _unique_namespace(c: Checker, key: str, ns: str, seen: set[str]) -> None:
    c.namespace(key, ns, "grid")
    if ns in seen:
        raise c.fail(key, f"{ns} is written by another meter already")
    seen.add(ns)


def _meter(c: Checker, where: str, m: Any, seen: set[str]) -> dict[str, Any]:
    transport = m.get("transport") if isinstance(m, Mapping) else None
    if transport == "rtu":
        t = c.table(
            m,
            where,
            {"namespace": text, "profile": text, "transport": text, "device": text},
            {**_SERIAL, **_METER_COMMON},
        )
    elif transport in ("tcp", "rtu-over-tcp"):
        t = c.table(
            m,
            where,
            {"namespace": text, "profile": text, "transport": text, "host": text},
            {"port": PORT, **_METER_COMMON},
        )
    else:
        raise c.fail(f"{where}.transport", f"expected tcp, rtu-over-tcp or rtu, got {transport!r}")
    _unique_namespace(c, f"{where}.namespace", t["namespace"], seen)
    t["profile"] = _profile(c, f"{where}.profile", t["profile"])
    c.build(where, lambda: build.meters([t]), t)
    return t


def _station_or_idcode(c: Checker, key: str, v: Any) -> str | int:
    if isinstance(v, str) and v.strip():
        return v
    return integer(1, 65534)(c, key, v)


def _pmu(c: Checker, where: str, m: Any, seen: set[str]) -> dict[str, Any]:
    from gridtap.pmu_mapping import MappingError, check_roles

    t = c.table(
        m,
        where,
        {"namespace": text, "transport": choice("tcp", "udp"), "host": text, "port": PORT,
         "idcode": integer(1, 65534)},
        {"pmu": _station_or_idcode, "phasors": table, **_PMU_OPTIONS},
    )  # fmt: skip
    _unique_namespace(c, f"{where}.namespace", t["namespace"], seen)
    if "phasors" in t:
        try:
            check_roles(t["phasors"], f"{where}.phasors")
        except MappingError as e:
            raise SiteError(f"{c.source}: {e}") from None
    c.build(where, lambda: build.pmu(t), t)
    return t


def _buses(c: Checker, meters: list[dict[str, Any]]) -> None:
    """Meters on one serial device, or one TCP host and port, share one bus: their settings must
    agree (the error names both entries)."""
    from gridtap.bus import plan_buses

    try:
        plan_buses(meters)
    except ValueError as e:
        raise SiteError(f"{c.source}: {e}") from None


def _virtual_meter(c: Checker, where: str, v: Any, seen: set[str]) -> dict[str, Any]:
    t = c.table(
        v,
        where,
        {"namespace": text},
        {"load": text, "pv": text, "battery": text, "interval": SECONDS, "max_gap": MAX_GAP},
    )
    _unique_namespace(c, f"{where}.namespace", t["namespace"], seen)
    for kind in ("load", "pv", "battery"):
        if kind in t:
            c.namespace(f"{where}.{kind}", t[kind], kind)
    c.build(where, lambda: build.virtual_meter(Dal(), t), t)
    return t


def _simulator(c: Checker, where: str, s: Any, ports: set[int]) -> dict[str, Any]:
    t = c.table(
        s,
        where,
        {"profile": text, "port": PORT},
        {"host": text, "seed": integer(0, 2**32 - 1), "unit_id": UNIT_ID,
         "static": table, "battery_kw": number(0.0, above=True), "sunspec_model": integer(1, 65535),
         "battery": text, "interval": SECONDS},
    )  # fmt: skip
    if "battery" in t:
        c.namespace(f"{where}.battery", t["battery"], "battery")
    if t.get("host", "127.0.0.1") not in _LOOPBACK:
        raise c.fail(f"{where}.host", f"a simulator serves on loopback only ({', '.join(_LOOPBACK)})")
    if t["port"] in ports:
        raise c.fail(f"{where}.port", f"port {t['port']} is served by another simulator already")
    ports.add(t["port"])
    if "static" in t:
        t["static"] = c.table(t["static"], f"{where}.static", {}, _STATIC)
        for k in ("seed", "battery_kw"):
            if k in t:
                raise c.fail(f"{where}.{k}", "a static simulator has no random scenario; drop it or static")
    t["profile"] = _profile(c, f"{where}.profile", t["profile"], sunspec=False)
    if "sunspec_model" in t:
        from gridtap.profiles import load as load_profile

        served = load_profile(t["profile"])
        if served.addressing != "sunspec_model":
            raise c.fail(
                f"{where}.sunspec_model",
                f"{t['profile']} is not a SunSpec profile (sunspec_int, sunspec_float)",
            )
        if t["sunspec_model"] not in served.models:
            raise c.fail(
                f"{where}.sunspec_model",
                f"expected one of {', '.join(map(str, served.models))}, got {t['sunspec_model']}",
            )
    c.build(where, lambda: build.simulator(t), [*t, *(f"static.{k}" for k in t.get("static", ()))])
    return t


def _controllers(c: Checker, data: Any) -> dict[str, Any]:
    kinds = build.CONTROLLER_KINDS
    ctl = c.table(
        data,
        "controllers",
        {},
        {"interval": SECONDS, "ramp_w_per_s": number(0.0, above=True), "grid": text, "battery": text,
         "pv": text, "order": list_of(choice(*kinds)), **{k: table for k in kinds}},
    )  # fmt: skip
    for ns in ("grid", "battery", "pv"):
        if ns in ctl:
            c.namespace(f"controllers.{ns}", ctl[ns], ns)
    present = [k for k in kinds if k in ctl]
    order = ctl.get("order", sorted(present, key=lambda k: k != "phase_zero_export"))
    for k in order:
        if k not in present:
            raise c.fail(
                "controllers.order", f"{k!r} is not configured (configured: {', '.join(present) or 'none'})"
            )
    if len(set(order)) != len(order):
        raise c.fail("controllers.order", f"names a controller twice: {order}")
    for k in present:
        cls = build.controller_class(k)
        kw = ctl[k] = _kwargs_for(c, f"controllers.{k}", ctl[k], cls, skip=("self",))
        c.build(f"controllers.{k}", functools.partial(cls, **kw), kw)
    ctl["order"] = order
    c.build("controllers", lambda: build.edge_cycle(Dal(), ctl), ctl)
    return ctl


def _telemetry(c: Checker, data: Any) -> dict[str, Any]:
    from gridtap.mqtt_tls import TLS_KEYS
    from gridtap.telemetry import MqttPublisher

    tls_files = sorted(TLS_KEYS)
    t = _kwargs_for(c, "telemetry", data, MqttPublisher, skip=("self", "dal"))
    tls = t.get("tls")
    if isinstance(tls, Mapping):
        t["tls"] = c.table(tls, "telemetry.tls", {}, {k: text for k in tls_files})
        for k in t["tls"]:
            t["tls"][k] = c.existing_file(f"telemetry.tls.{k}", t["tls"][k])
    elif tls is not None and not isinstance(tls, bool):
        raise c.fail("telemetry.tls", f"expected true or a table of {', '.join(tls_files)}, got {tls!r}")
    c.build("telemetry", lambda: build.publisher(Dal(), t), t)
    return t


def _metrics(c: Checker, data: Any) -> str:
    from gridtap.metrics import MetricsError, parse_listen

    listen: str = c.table(data, "metrics", {"listen": text}, {})["listen"]
    try:
        parse_listen(listen)
    except MetricsError as e:
        raise c.fail("metrics.listen", str(e)) from None
    return listen
