"""`gridtap read` and `gridtap scan`: one reading of a meter; the SunSpec models on a device."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from gridtap.cli import args as types
from gridtap.dal import Quality


def _where(args: argparse.Namespace) -> str:
    return args.serial if getattr(args, "serial", None) else f"{args.host}:{args.port}"


def _meter_from_args(args: argparse.Namespace) -> Any:
    from gridtap.modbus import ModbusMeter

    kw = {"unit_id": args.unit, "namespace": args.namespace, "invert": args.invert, "timeout": args.timeout}
    if args.serial:
        return ModbusMeter.rtu(args.serial, args.baudrate, profile=args.profile, **kw)
    return ModbusMeter.tcp(args.host, args.port, profile=args.profile, framer=args.framer, **kw)


def quadrant(p: float | None, q: float | None) -> str | None:
    """The power quadrant in the grid convention (P + import, Q + inductive): Q1 import and
    inductive, Q2 export and inductive, Q3 export and capacitive, Q4 import and capacitive."""
    if p is None or q is None:
        return None
    flow = "import" if p > 0 else "export" if p < 0 else "no active power"
    kind = "inductive" if q > 0 else "capacitive" if q < 0 else "no reactive power"
    number = {(True, True): "Q1", (False, True): "Q2", (False, False): "Q3", (True, False): "Q4"}
    label = number[(p > 0, q > 0)] if p and q else "--"
    return f"{label} {flow}, {kind}"


def _quadrant_lines(namespace: str, readings: dict[str, Any]) -> list[str]:
    def value(ch: str) -> float | None:
        r = readings.get(ch)
        return None if r is None else r.value

    lines = []
    for suffix in ("", "_L1", "_L2", "_L3"):
        text = quadrant(value(f"ActivePower{suffix}"), value(f"ReactivePower{suffix}"))
        if text:
            lines.append(f"{namespace}/{'quadrant' + suffix:<24} {text}")
    if lines:
        lines.append(
            "  (inductive/capacitive follow the profile's reactive sign: docs/profiles.md says how to confirm it)"
        )
    return lines


def _cmd_read(args: argparse.Namespace) -> int:
    from gridtap.channels import namespace_of_kind

    namespace_of_kind(args.namespace, "grid")  # ChannelError (one line, exit 2) before any connection

    async def go() -> tuple[Any, dict[str, Any]]:
        meter = _meter_from_args(args)
        try:
            return meter, await meter.read(groups=("fast", "slow"))
        finally:
            await meter.close()

    meter, readings = asyncio.run(go())
    ok = any(r.quality is Quality.GOOD for r in readings.values())
    if args.json:
        out = {
            f"{args.namespace}/{ch}": {
                "value": r.value,
                "unit": r.unit,
                "timestamp": r.timestamp,
                "quality": r.quality.value,
            }
            for ch, r in readings.items()
        }
        print(json.dumps(out, indent=2))
    elif ok:  # a table of nothing but ERROR says less than the one line below
        for ch, r in readings.items():
            value = "-" if r.value is None else f"{r.value:.6g}"
            print(f"{args.namespace}/{ch:<24} {value:>14} {r.unit:<6} {r.quality.value}")
        for line in _quadrant_lines(args.namespace, readings):
            print(line)
    if not ok:
        print(f"gridtap read: {_where(args)}: no valid value: {meter.stats.last_error}", file=sys.stderr)
        return 1
    return 0


def _cmd_scan(args: argparse.Namespace) -> int:
    from gridtap.framing import BadReply, ExceptionReply, Request
    from gridtap.link import LinkLost, NoReply, TcpLink
    from gridtap.sunspec import METER_MODELS, SunSpecError, scan_models

    where = _where(args)

    async def go() -> tuple[int, list[Any]]:
        # the adapter's own connection: every reply checked against its request
        link = TcpLink(args.host, args.port)
        try:
            await link.open(args.timeout + 1.0)

            async def read_holding(address: int, count: int) -> list[int] | None:
                req = Request.read(args.unit, 3, address, count)
                try:
                    return req.registers(await link.transact(req, args.timeout))
                except (ExceptionReply, BadReply):
                    return None
                except (NoReply, LinkLost) as e:
                    raise SunSpecError(
                        f"{where}: {e} reading {count} registers at {address} (unit {args.unit})"
                    ) from None

            return await scan_models(read_holding)
        finally:
            link.close()

    try:
        base, models = asyncio.run(go())
    except (SunSpecError, LinkLost) as e:
        print(f"gridtap scan: {e}", file=sys.stderr)
        return 1
    print(f"SunSpec base {base}: {len(models)} model(s)")
    for m in models:
        kind = f"meter -> profile {METER_MODELS[m.model_id]}" if m.model_id in METER_MODELS else ""
        print(f"  model {m.model_id:<5} at {m.address:<6} length {m.length:<4} {kind}")
    return 0


def add_link_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="Modbus TCP host")
    p.add_argument("--port", type=types.port, default=502, help="Modbus TCP port")
    p.add_argument("--unit", type=types.unit_id, default=1, help="Modbus unit (slave) id, 1..247")
    p.add_argument("--timeout", type=types.seconds, default=1.0, help="seconds per request")


def register(sub: Any) -> None:
    c = sub.add_parser("read", help="read a meter once and print normalised channels")
    add_link_args(c)
    c.add_argument("--profile", required=True, help="profile name, path to a .toml, or 'sunspec'")
    c.add_argument("--namespace", default="grid")
    c.add_argument("--invert", action="store_true", help="reversed CT")
    c.add_argument("--framer", choices=("socket", "rtu"), default="socket", help="rtu: RTU framing over TCP")
    c.add_argument("--serial", help="serial device for Modbus RTU (instead of TCP)")
    c.add_argument("--baudrate", type=types.positive_int, default=9600)
    c.add_argument("--json", action="store_true", help="print JSON")
    c.set_defaults(func=_cmd_read)
    c = sub.add_parser("scan", help="report the SunSpec models found on a device")
    add_link_args(c)
    c.set_defaults(func=_cmd_scan)
