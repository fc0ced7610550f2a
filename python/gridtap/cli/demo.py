"""`gridtap demo`: a simulated meter served over Modbus TCP on loopback (or a simulated PMU over
C37.118.2 with --pmu), read by the adapter, shown live."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from gridtap.cli import args as types
from gridtap.dal import Dal, Quality, Snapshot


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
    stoppers: list[Callable[[], Awaitable[None]]] = []
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
    elif args.pmu:
        from gridtap.pmu import PmuMeter
        from gridtap.sim.pmu_server import PmuSimulator

        pmu_sim = PmuSimulator(scenario, idcode=1, rate=50)
        port = await pmu_sim.start("127.0.0.1", 0)
        stoppers.append(pmu_sim.stop)
        pmu = PmuMeter.tcp("127.0.0.1", port, idcode=1)
        stoppers.insert(0, pmu.close)
        source = f"simulated PMU on 127.0.0.1:{port}, C37.118.2 over TCP at 50 frames/s"
        tasks.append(asyncio.create_task(pmu.poll(dal)))
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
        for stopper in stoppers:
            await stopper()
    snap = dal.snapshot()
    good = snap.get("grid/ActivePower")
    if good is None or good.quality is Quality.ERROR:
        print("gridtap demo: no grid reading was obtained", file=sys.stderr)
        return 1
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    return asyncio.run(_demo(args))


def register(sub: Any) -> None:
    c = sub.add_parser("demo", help="simulated meter served over Modbus TCP on loopback, read and shown live")
    c.add_argument(
        "--duration", type=types.duration, default=0.0, help="seconds to run (default: until Ctrl-C)"
    )
    c.add_argument("--interval", type=types.seconds, default=0.5, help="poll and refresh interval, s")
    c.add_argument("--profile", default="sdm630", help="meter profile the simulator speaks")
    c.add_argument("--seed", type=int, default=1)
    c.add_argument(
        "--event", choices=("none", "ramp", "step"), default="ramp", help="scripted frequency event"
    )
    c.add_argument("--event-at", type=types.duration, default=5.0, help="seconds after start")
    c.add_argument("--rate", type=types.number, default=-1.0, help="ramp rate, Hz/s")
    c.add_argument("--event-duration", type=types.seconds, default=1.0, help="ramp duration, s")
    c.add_argument("--step", type=types.number, default=-0.2, help="step size, Hz")
    c.add_argument("--battery-kw", type=types.positive, default=None, help="add a battery of this power")
    c.add_argument("--virtual", action="store_true", help="virtual grid meter from load/pv/battery channels")
    c.add_argument("--pmu", action="store_true", help="a simulated PMU read over C37.118.2 instead of Modbus")
    c.set_defaults(func=_cmd_demo)
