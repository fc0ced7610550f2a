"""The `gridtap` command line: demo, read, scan, run, channels, profiles."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from gridtap.channels import DEVICE_CATALOGUES
from gridtap.dal import Dal, Quality, Snapshot

# --- channels / profiles --------------------------------------------------------------------------


def _cmd_channels(args: argparse.Namespace) -> int:
    kinds = [args.namespace] if args.namespace else list(DEVICE_CATALOGUES)
    for kind in kinds:
        cat = DEVICE_CATALOGUES[kind]
        print(f"{kind}/ ({len(cat)} channels)")
        print(f"  {'channel':<24} {'unit':<6} {'phase':<5} {'opt':<3} description")
        for c in cat:
            opt = "yes" if c.optional else ""
            print(f"  {c.name:<24} {c.unit or '-':<6} {c.phase or '-':<5} {opt:<3} {c.description}")
        print()
    return 0


def _cmd_profiles(args: argparse.Namespace) -> int:
    from gridtap import profiles

    print(f"{'profile':<14} {'phases':<6} {'requests':<8} {'registers':<9} {'S':<10} title")
    for name in profiles.names():
        p = profiles.load(name)
        if p.addressing == "sunspec_model":
            p = p.located(40070, p.models[-2])
        print(
            f"{name:<14} {p.phases:<6} {len(p.blocks):<8} {p.frame_length:<9} {p.apparent_power:<10} {p.title}"
        )
    return 0


# --- read / scan -------------------------------------------------------------------------------


def _meter_from_args(args: argparse.Namespace) -> Any:
    from gridtap.modbus import ModbusMeter

    kw = {"unit_id": args.unit, "namespace": args.namespace, "invert": args.invert, "timeout": args.timeout}
    if args.serial:
        return ModbusMeter.rtu(args.serial, args.baudrate, profile=args.profile, **kw)
    return ModbusMeter.tcp(args.host, args.port, profile=args.profile, framer=args.framer, **kw)


def _cmd_read(args: argparse.Namespace) -> int:
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
    else:
        for ch, r in readings.items():
            value = "-" if r.value is None else f"{r.value:.6g}"
            print(f"{args.namespace}/{ch:<24} {value:>14} {r.unit:<6} {r.quality.value}")
    if not ok:
        print(f"gridtap read: no valid value: {meter.stats.last_error}", file=sys.stderr)
        return 1
    return 0


def _cmd_scan(args: argparse.Namespace) -> int:
    from pymodbus.client import AsyncModbusTcpClient

    from gridtap.sunspec import METER_MODELS, SunSpecError, scan_models

    async def go() -> tuple[int, list[Any]]:
        client = AsyncModbusTcpClient(
            args.host, port=args.port, timeout=args.timeout, retries=0, reconnect_delay=0
        )
        if not await client.connect():
            raise SunSpecError(f"cannot connect to {args.host}:{args.port}")
        try:

            async def read_holding(address: int, count: int) -> list[int] | None:
                rr = await client.read_holding_registers(address, count=count, device_id=args.unit)
                return None if rr.isError() else list(rr.registers)

            return await scan_models(read_holding)
        finally:
            client.close()

    try:
        base, models = asyncio.run(go())
    except SunSpecError as e:
        print(f"gridtap scan: {e}", file=sys.stderr)
        return 1
    print(f"SunSpec base {base}: {len(models)} model(s)")
    for m in models:
        kind = f"meter -> profile {METER_MODELS[m.model_id]}" if m.model_id in METER_MODELS else ""
        print(f"  model {m.model_id:<5} at {m.address:<6} length {m.length:<4} {kind}")
    return 0


# --- demo --------------------------------------------------------------------------------------


def _fmt_power(v: float | None) -> str:
    if v is None:
        return "    --     "
    arrow = "import" if v > 0 else "EXPORT" if v < 0 else "  idle"
    return f"{v / 1000:+8.2f} kW {arrow}"


def render(snap: Snapshot, ns: str, title: str) -> str:
    """A text view of a grid namespace: per-phase powers, frequency, RoCoF, energy, quality."""

    def r(ch: str) -> Any:
        return snap.get(f"{ns}/{ch}")

    def val(ch: str) -> float | None:
        x = r(ch)
        return None if x is None else x.value

    def q(ch: str) -> str:
        x = r(ch)
        return "-" if x is None else x.quality.value

    lines = [title, ""]
    lines.append(f"  {'':<16}{'L1':>20}{'L2':>20}{'L3':>20}{'total':>20}")
    for label, base in (("active power", "ActivePower"),):
        cells = [_fmt_power(val(f"{base}_L{i}")) for i in (1, 2, 3)] + [_fmt_power(val(base))]
        lines.append(f"  {label:<16}" + "".join(f"{c:>20}" for c in cells))
    for label, base, unit, scale in (
        ("reactive power", "ReactivePower", "kVAR", 1000),
        ("voltage", "Voltage", "V", 1),
        ("current", "Current", "A", 1),
    ):
        cells = []
        for i in (1, 2, 3, 0):
            v = val(f"{base}_L{i}" if i else base)
            cells.append("--" if v is None else f"{v / scale:.2f} {unit}")
        lines.append(f"  {label:<16}" + "".join(f"{c:>20}" for c in cells))
    f, rocof = val("Frequency"), val("Frequency_RoCoF")
    pf = val("PowerFactor")
    lines.append("")
    lines.append(
        f"  frequency {('--' if f is None else f'{f:.3f} Hz'):>12}   RoCoF {('--' if rocof is None else f'{rocof:+.3f} Hz/s'):>14}"
        f"   PF {('--' if pf is None else f'{pf:+.3f}'):>7}   imbalance {_fmt_power(val('PhaseImbalance')).split(' kW')[0].strip()} kW"
    )
    e_imp, e_exp, e_net = val("EnergyImport"), val("EnergyExport"), val("EnergyNet")

    def kwh(x: float | None) -> str:
        return "--" if x is None else f"{x:.3f} kWh"

    lines.append(f"  energy   import {kwh(e_imp):>16}   export {kwh(e_exp):>16}   net {kwh(e_net):>16}")
    bad = sorted(
        ch.split("/", 1)[1]
        for ch, x in snap.items()
        if ch.startswith(f"{ns}/") and x.quality is not Quality.GOOD
    )
    lines.append(
        f"  quality  ActivePower {q('ActivePower')}, Frequency {q('Frequency')}, "
        + (f"not GOOD: {', '.join(bad)}" if bad else "all GOOD")
    )
    return "\n".join(lines)


async def _demo(args: argparse.Namespace) -> int:
    from gridtap.modbus import ModbusMeter
    from gridtap.sim import GridScenario
    from gridtap.sim.scenario import FrequencyEvent
    from gridtap.sim.server import MeterSimulator
    from gridtap.virtual import VirtualGridMeter

    events: list[FrequencyEvent] = []
    if args.event == "ramp":
        events.append(
            FrequencyEvent.ramp(at=args.event_at, rate_hz_s=args.rate, duration=args.event_duration)
        )
    elif args.event == "step":
        events.append(FrequencyEvent.step(at=args.event_at, delta_hz=args.step))
    start = time.time()
    scenario = GridScenario(seed=args.seed, start=start, events=events, battery_kw=args.battery_kw)
    dal = Dal(default_max_age=max(3 * args.interval, 2.0))
    tasks: list[asyncio.Task[Any]] = []
    sim = None
    meter = None
    if args.virtual:
        virtual = VirtualGridMeter(dal)
        source = "virtual meter: grid = load + battery − pv from simulated device channels"

        async def feed() -> None:
            # stand-ins for the load, PV and battery adapters of a site without a grid meter
            while True:
                now = time.time()
                state = scenario.sample(now)
                dal.write_many("load", {k: v for k, v in state.load.items()}, now)
                dal.write_many("pv", {k: v for k, v in state.pv.items() if not k.startswith("Set")}, now)
                if state.battery:
                    dal.write_many(
                        "battery", {k: v for k, v in state.battery.items() if not k.startswith("Set")}, now
                    )
                virtual.update(now)
                await asyncio.sleep(args.interval)

        tasks.append(asyncio.create_task(feed()))
    else:
        sim = MeterSimulator(scenario, args.profile)
        port = await sim.start("127.0.0.1", 0)
        profile = "sunspec" if sim.sunspec else args.profile
        meter = ModbusMeter.tcp("127.0.0.1", port, profile=profile, slow_interval=max(args.interval, 1.0))
        source = f"simulated {args.profile} on 127.0.0.1:{port}, read over Modbus TCP"
        tasks.append(asyncio.create_task(meter.poll(dal, interval=args.interval)))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    tty = sys.stdout.isatty()
    deadline = start + args.duration if args.duration else math.inf
    try:
        while not stop.is_set() and time.time() < deadline:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), args.interval)
            snap = dal.snapshot()
            title = f"gridtap demo — {source} — {time.time() - start:5.1f} s"
            text = render(snap, "grid", title)
            if tty:
                sys.stdout.write("\x1b[H\x1b[2J" + text + "\n(Ctrl-C to stop)\n")
            else:
                sys.stdout.write(text + "\n\n")
            sys.stdout.flush()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if meter is not None:
            await meter.close()
        if sim is not None:
            await sim.stop()
    snap = dal.snapshot()
    good = snap.get("grid/ActivePower")
    if good is None or good.quality is Quality.ERROR:
        print("gridtap demo: no grid reading was obtained", file=sys.stderr)
        return 1
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    return asyncio.run(_demo(args))


def _cmd_run(args: argparse.Namespace) -> int:
    from gridtap.site import SiteError, load_site, run_site

    try:
        site = load_site(args.site)
    except SiteError as e:
        print(f"gridtap run: {e}", file=sys.stderr)
        return 2
    return asyncio.run(run_site(site, duration=args.duration))


# --- parser --------------------------------------------------------------------------------------


def _add_link_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="Modbus TCP host")
    p.add_argument("--port", type=int, default=502, help="Modbus TCP port")
    p.add_argument("--unit", type=int, default=1, help="Modbus unit (slave) id")
    p.add_argument("--timeout", type=float, default=1.0, help="seconds per request")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gridtap", description="grid/site meter layer for energy management systems"
    )
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("channels", help="print the channel catalogue")
    c.add_argument("namespace", nargs="?", choices=sorted(DEVICE_CATALOGUES), help="one catalogue only")
    c.set_defaults(func=_cmd_channels)

    c = sub.add_parser("profiles", help="list the bundled device profiles")
    c.set_defaults(func=_cmd_profiles)

    c = sub.add_parser("read", help="read a meter once and print normalised channels")
    _add_link_args(c)
    c.add_argument("--profile", required=True, help="profile name, path to a .toml, or 'sunspec'")
    c.add_argument("--namespace", default="grid")
    c.add_argument("--invert", action="store_true", help="reversed CT")
    c.add_argument("--framer", choices=("socket", "rtu"), default="socket", help="rtu: RTU framing over TCP")
    c.add_argument("--serial", help="serial device for Modbus RTU (instead of TCP)")
    c.add_argument("--baudrate", type=int, default=9600)
    c.add_argument("--json", action="store_true", help="print JSON")
    c.set_defaults(func=_cmd_read)

    c = sub.add_parser("scan", help="report the SunSpec models found on a device")
    _add_link_args(c)
    c.set_defaults(func=_cmd_scan)

    c = sub.add_parser("demo", help="simulated meter served over Modbus TCP on loopback, read and shown live")
    c.add_argument("--duration", type=float, default=0.0, help="seconds to run (default: until Ctrl-C)")
    c.add_argument("--interval", type=float, default=0.5, help="poll and refresh interval, s")
    c.add_argument("--profile", default="sdm630", help="meter profile the simulator speaks")
    c.add_argument("--seed", type=int, default=1)
    c.add_argument(
        "--event", choices=("none", "ramp", "step"), default="ramp", help="scripted frequency event"
    )
    c.add_argument("--event-at", type=float, default=5.0, help="seconds after start")
    c.add_argument("--rate", type=float, default=-1.0, help="ramp rate, Hz/s")
    c.add_argument("--event-duration", type=float, default=1.0, help="ramp duration, s")
    c.add_argument("--step", type=float, default=-0.2, help="step size, Hz")
    c.add_argument("--battery-kw", type=float, default=None, help="add a battery of this power")
    c.add_argument("--virtual", action="store_true", help="virtual grid meter from load/pv/battery channels")
    c.set_defaults(func=_cmd_demo)

    c = sub.add_parser("run", help="run a site: meters, virtual meters, controllers, telemetry")
    c.add_argument("site", help="site file (TOML)")
    c.add_argument("--duration", type=float, default=0.0, help="seconds to run (default: until Ctrl-C)")
    c.set_defaults(func=_cmd_run)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
