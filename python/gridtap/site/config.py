"""Site files: the meters, virtual meters, controllers and telemetry of one site, run together.

A site file is TOML, checked strictly: an unknown key or a missing field is an error naming the
file and the key. Example (docs/site.example.toml has every option):

    [site]
    name = "home"

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

import inspect
import logging
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridtap.channels import catalogue_for
from gridtap.errors import ChannelError, GridtapError

__all__ = ["Site", "SiteError", "load_site"]

log = logging.getLogger(__name__)


class SiteError(GridtapError, ValueError):
    """A site file that cannot be used: names the file, the key and the reason."""


@dataclass
class Site:
    name: str
    source: str
    default_max_age: float = 5.0
    meters: list[dict[str, Any]] = field(default_factory=list)
    virtual_meters: list[dict[str, Any]] = field(default_factory=list)
    simulators: list[dict[str, Any]] = field(default_factory=list)
    controllers: dict[str, Any] = field(default_factory=dict)
    telemetry: dict[str, Any] | None = None
    metrics: str | None = None  # [metrics] listen: where /metrics is served


_TYPES = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, reason: str) -> SiteError:
        return SiteError(f"{self.source}: {key}: {reason}")

    def table(
        self,
        data: Any,
        where: str,
        required: Mapping[str, type | tuple[type, ...]],
        optional: Mapping[str, type | tuple[type, ...]],
    ) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise self.fail(where, "expected a table")
        for k in data:
            if k not in required and k not in optional:
                allowed = ", ".join(sorted({*required, *optional}))
                raise self.fail(f"{where}.{k}", f"unknown key; expected one of {allowed}")
        for k in required:
            if k not in data:
                raise self.fail(f"{where}.{k}", "missing")
        out: dict[str, Any] = {}
        for k, v in data.items():
            want = required.get(k) or optional[k]
            kinds = want if isinstance(want, tuple) else (want,)
            ok = any(
                (isinstance(v, t) and not (t in (int, float) and isinstance(v, bool)))
                or (t is float and isinstance(v, int) and not isinstance(v, bool))
                for t in kinds
            )
            if not ok:
                names = " or ".join(_TYPES.get(t, t.__name__) for t in kinds)
                raise self.fail(f"{where}.{k}", f"expected {names}, got {v!r}")
            out[k] = float(v) if float in kinds and isinstance(v, int) and int not in kinds else v
        return out

    def namespace(self, where: str, ns: str, kind: str) -> str:
        try:
            catalogue_for(ns)
        except ChannelError as e:
            raise self.fail(where, str(e)) from None
        if not ns.startswith(kind):
            raise self.fail(where, f"expected a {kind} namespace ({kind} or {kind}_<name>), got {ns!r}")
        return ns

    def kwargs_for(
        self, where: str, table: Mapping[str, Any], target: Callable[..., Any], skip: tuple[str, ...]
    ) -> dict[str, Any]:
        """Keys of `table` must be keyword parameters of `target` (a constructor)."""
        params = inspect.signature(target).parameters
        allowed = {
            n
            for n, p in params.items()
            if n not in skip and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }
        for k in table:
            if k not in allowed:
                raise self.fail(f"{where}.{k}", f"unknown key; expected one of {', '.join(sorted(allowed))}")
        for n in allowed:
            p = params[n]
            if p.default is inspect.Parameter.empty and n not in table:
                raise self.fail(f"{where}.{n}", "missing")
        return dict(table)


_METER_COMMON: dict[str, type | tuple[type, ...]] = {
    "unit_id": int, "invert": bool, "interval": float, "slow_interval": float, "timeout": float,
    "max_backoff": float, "frozen_after": float, "rocof_window": float, "max_gap": float,
}  # fmt: skip


def load_site(path: str | Path) -> Site:
    """Read and check a site file."""
    p = Path(path)
    source = str(p)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise SiteError(f"{source}: cannot read: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise SiteError(f"{source}: not valid TOML: {e}") from None
    c = _Checker(source)
    top = c.table(
        data,
        "site file",
        {"site": dict},
        {
            "meter": list,
            "virtual_meter": list,
            "simulator": list,
            "controllers": dict,
            "telemetry": dict,
            "metrics": dict,
        },
    )
    head = c.table(top["site"], "site", {"name": str}, {"default_max_age": float})
    site = Site(name=head["name"], source=source, default_max_age=head.get("default_max_age", 5.0))
    seen: set[str] = set()

    for i, m in enumerate(top.get("meter", [])):
        where = f"meter[{i}]"
        transport = m.get("transport") if isinstance(m, Mapping) else None
        if transport == "rtu":
            t = c.table(m, where, {"namespace": str, "profile": str, "transport": str, "device": str},
                        {"baudrate": int, "parity": str, "stopbits": int, "bytesize": int, **_METER_COMMON})  # fmt: skip
        elif transport in ("tcp", "rtu-over-tcp"):
            t = c.table(m, where, {"namespace": str, "profile": str, "transport": str, "host": str},
                        {"port": int, **_METER_COMMON})  # fmt: skip
        else:
            raise c.fail(f"{where}.transport", f"expected tcp, rtu-over-tcp or rtu, got {transport!r}")
        c.namespace(f"{where}.namespace", t["namespace"], "grid")
        if t["namespace"] in seen:
            raise c.fail(f"{where}.namespace", f"{t['namespace']} is written by another meter already")
        seen.add(t["namespace"])
        profile = t["profile"]
        if profile != "sunspec":
            from gridtap.profiles import load as load_profile

            try:
                ppath = Path(profile)
                load_profile(
                    str(p.parent / ppath)
                    if profile.endswith(".toml") and not ppath.is_absolute()
                    else profile
                )
            except GridtapError as e:
                raise c.fail(f"{where}.profile", str(e)) from None
        site.meters.append(t)

    for i, v in enumerate(top.get("virtual_meter", [])):
        where = f"virtual_meter[{i}]"
        t = c.table(
            v,
            where,
            {"namespace": str},
            {"load": str, "pv": str, "battery": str, "interval": float, "max_gap": float},
        )
        c.namespace(f"{where}.namespace", t["namespace"], "grid")
        if t["namespace"] in seen:
            raise c.fail(f"{where}.namespace", f"{t['namespace']} is written by another meter already")
        seen.add(t["namespace"])
        for kind in ("load", "pv", "battery"):
            if kind in t:
                c.namespace(f"{where}.{kind}", t[kind], kind)
        site.virtual_meters.append(t)

    for i, s in enumerate(top.get("simulator", [])):
        where = f"simulator[{i}]"
        t = c.table(
            s,
            where,
            {"profile": str, "port": int},
            {"host": str, "seed": int, "unit_id": int, "static": dict, "battery_kw": float, "sunspec_model": int,
             "battery": str, "interval": float},
        )  # fmt: skip
        if "battery" in t:
            c.namespace(f"{where}.battery", t["battery"], "battery")
        if t.get("host", "127.0.0.1") not in ("127.0.0.1", "localhost", "::1"):
            raise c.fail(f"{where}.host", "a simulator serves on loopback only")
        if "static" in t:
            c.table(t["static"], f"{where}.static", {}, {"load_w": list, "pv_w": list, "battery_w": list, "load_var": list, "frequency": float, "voltage": float,
                                                         "battery_max_charge_w": float, "battery_max_discharge_w": float})  # fmt: skip
        site.simulators.append(t)

    if "controllers" in top:
        from gridtap.control import PeakShaving, PhaseZeroExport

        ctl = c.table(
            top["controllers"],
            "controllers",
            {},
            {"interval": float, "ramp_w_per_s": float, "grid": str, "battery": str, "pv": str,
             "order": list, "peak_shaving": dict, "phase_zero_export": dict},
        )  # fmt: skip
        kinds = {"peak_shaving": PeakShaving, "phase_zero_export": PhaseZeroExport}
        present = [k for k in kinds if k in ctl]
        order = ctl.get("order", sorted(present, key=lambda k: k != "phase_zero_export"))
        for k in order:
            if k not in present:
                raise c.fail(
                    "controllers.order",
                    f"{k!r} is not configured (configured: {', '.join(present) or 'none'})",
                )
        for k in present:
            c.kwargs_for(f"controllers.{k}", ctl[k], kinds[k], skip=("self",))
        ctl["order"] = order
        site.controllers = ctl

    if "telemetry" in top:
        from gridtap.telemetry import MqttPublisher

        site.telemetry = c.kwargs_for("telemetry", top["telemetry"], MqttPublisher, skip=("self", "dal"))

    if "metrics" in top:
        from gridtap.metrics import MetricsError, parse_listen

        listen = c.table(top["metrics"], "metrics", {"listen": str}, {})["listen"]
        try:
            parse_listen(listen)
        except MetricsError as e:
            raise c.fail("metrics.listen", str(e)) from None
        site.metrics = listen
    return site
