"""`gridtap pmu HOST PORT --id N`: a PMU stream's configuration, how it maps onto grid channels,
and its live values."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import sys
import time
from typing import Any

from gridtap.cli import args as types
from gridtap.dal import Quality, Reading


def describe_format(fmt: int) -> str:
    """The FORMAT word in words (C37.118.2 table 9)."""
    return ", ".join(
        (
            "FREQ/DFREQ float" if fmt & 0x8 else "FREQ/DFREQ integer",
            "analogs float" if fmt & 0x4 else "analogs integer",
            "phasors float" if fmt & 0x2 else "phasors integer",
            "polar" if fmt & 0x1 else "rectangular",
        )
    )


def describe_config(meter: Any) -> list[str]:
    """The stream's configuration and the meter's mapping, as lines."""
    cfg = meter.config
    lines = [
        f"PMU stream IDCODE {cfg.idcode} at {meter.host}:{meter.port} ({meter.transport.upper()}), "
        f"{meter.config_frame.upper().replace('CFG', 'CFG-')}: time base {cfg.time_base}, "
        f"{cfg.frame_rate:g} frames/s, {len(cfg.pmus)} PMU(s)"
    ]
    mapped = meter.pmu_config
    for pc in cfg.pmus:
        chosen = " (mapped)" if (pc.idcode, pc.station) == (mapped.idcode, mapped.station) else ""
        lines.append(
            f"  PMU {pc.station.strip()!r} IDCODE {pc.idcode}{chosen}: FORMAT 0x{pc.format:04X} "
            f"({describe_format(pc.format)}), {pc.fnom} Hz nominal, CFGCNT {pc.cfgcnt}"
        )
        for name, unit, scale, comp in zip(
            pc.phasor_names, pc.phasor_units, pc.phasor_scales, pc.phasor_components, strict=True
        ):
            what = f"  {comp}" if comp else ""
            lines.append(f"    phasor {name.strip():<16} {unit}  {scale:g} {unit}/count{what}")
        if pc.analog_names:
            lines.append(f"    analogs: {', '.join(n.strip() for n in pc.analog_names)}")
        if pc.digital_words:
            lines.append(f"    digital status words: {pc.digital_words}")
    m = meter.mapping
    lines.append(f"mapping ({m.mode}) onto {meter.namespace}/...:")
    lines += [f"  {line}" for line in m.describe().splitlines()]
    lines.append(f"left out: {', '.join(m.left_out) if m.left_out else 'nothing'}")
    return lines


def _v(r: Reading | None, fmt: str, scale: float = 1.0) -> str:
    if r is None:
        return "n/a"
    if r.value is None:
        return "ERROR"
    return format(r.value / scale, fmt)


def live_line(meter: Any, readings: dict[str, Reading]) -> str:
    """One frame's values on one line."""
    g = readings.get
    t = next(iter(readings.values())).timestamp
    stamp = time.strftime("%H:%M:%S", time.gmtime(t)) + f".{round((t % 1) * 1000) % 1000:03d}Z"
    parts = [
        stamp,
        f"f {_v(g('Frequency'), '.4f')} Hz",
        f"RoCoF {_v(g('Frequency_RoCoF'), '+.3f')} Hz/s",
    ]
    if "ActivePower" in readings:
        parts += [
            f"P {_v(g('ActivePower'), '+.3f', 1000)} kW",
            f"Q {_v(g('ReactivePower'), '+.3f', 1000)} kVAR",
            f"PF {_v(g('PowerFactor'), '+.3f')}",
        ]
    volts = [g(f"Voltage_L{i}") for i in (1, 2, 3) if f"Voltage_L{i}" in readings]
    if volts:
        parts.append("V " + "/".join(_v(r, ".1f") for r in volts))
    amps = [g(f"Current_L{i}") for i in (1, 2, 3) if f"Current_L{i}" in readings]
    if amps:
        parts.append("I " + "/".join(_v(r, ".2f") for r in amps))
    offset = meter.clock_offset
    if offset is not None:
        parts.append(f"clock {offset * 1000:+.1f} ms")
    if meter.time_flag:
        parts.append(f"[{meter.time_flag}]")
    if any(r.quality is Quality.ERROR for r in readings.values()):
        parts.append(f"[ERROR: {meter.stats.last_error}]")
    return "  ".join(parts)


async def _pmu(args: argparse.Namespace) -> int:
    from gridtap.pmu import PmuMeter

    kw: dict[str, Any] = {"timeout": args.timeout, "invert": args.invert}
    if args.cfg3:
        kw["config_frame"] = "cfg3"
    if args.pmu is not None:
        kw["pmu"] = int(args.pmu) if args.pmu.isdigit() else args.pmu
    factory = PmuMeter.udp if args.udp else PmuMeter.tcp
    meter = factory(args.host, args.port, idcode=args.id, **kw)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        readings = await meter.read()
        if meter.config is None or meter.mapping is None:
            print(f"gridtap pmu: {args.host}:{args.port}: {meter.stats.last_error}", file=sys.stderr)
            return 1
        for line in describe_config(meter):
            print(line)
        if args.header:
            try:
                print(f"header: {await meter.request_header()}")
            except Exception as e:
                print(f"header: none ({e})")
        print()
        good = any(r.quality is Quality.GOOD for r in readings.values())
        print(live_line(meter, readings), flush=True)
        deadline = time.monotonic() + args.duration if args.duration else math.inf
        while not stop.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(args.interval, max(0.0, deadline - time.monotonic())))
            if stop.is_set() or time.monotonic() >= deadline:
                break
            readings = await meter.read()
            good = good or any(r.quality is Quality.GOOD for r in readings.values())
            print(live_line(meter, readings), flush=True)
        if not good:
            print(f"gridtap pmu: no valid value: {meter.stats.last_error}", file=sys.stderr)
            return 1
        return 0
    finally:
        await meter.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


def _cmd_pmu(args: argparse.Namespace) -> int:
    return asyncio.run(_pmu(args))


def register(sub: Any) -> None:
    c = sub.add_parser("pmu", help="show a PMU's configuration (C37.118.2) and its live values")
    c.add_argument("host", help="PMU or PDC address")
    c.add_argument("port", type=types.port, help="its port (customarily 4712 for TCP, 4713 for UDP)")
    c.add_argument("--id", type=types.idcode, required=True, help="the stream's IDCODE (1..65534)")
    c.add_argument("--udp", action="store_true", help="commands and data over UDP instead of TCP")
    c.add_argument("--cfg3", action="store_true", help="ask for CFG-3 instead of CFG-2")
    c.add_argument("--pmu", help="which PMU of a multi-PMU stream: station name or IDCODE")
    c.add_argument("--invert", action="store_true", help="reversed CT: flip P and Q")
    c.add_argument("--header", action="store_true", help="also ask for the header frame")
    c.add_argument("--interval", type=types.seconds, default=0.5, help="seconds between printed frames")
    c.add_argument(
        "--duration", type=types.duration, default=0.0, help="seconds to run (default: until Ctrl-C)"
    )
    c.add_argument("--timeout", type=types.seconds, default=2.0, help="seconds to wait for the PMU")
    c.set_defaults(func=_cmd_pmu)
