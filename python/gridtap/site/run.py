"""Running a site: simulators, meters, virtual meters, controllers and telemetry, together until
Ctrl-C or SIGTERM, then shut down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gridtap.dal import Dal
from gridtap.site.config import _METER_COMMON, Site
from gridtap.status import StatusOptions

__all__ = ["run_site"]

log = logging.getLogger(__name__)


def _battery_stand_in(dal: Dal, sim: Any, ns: str) -> Callable[[], None]:
    """What a battery adapter does, for a simulated site: apply the setpoints found in the DAL to
    the scenario's battery and report its measured power and limits back."""

    def step() -> None:
        snap = dal.snapshot()
        now = time.time()
        state = sim.scenario.sample(now)
        phases = sum(1 for k in state.battery if k.startswith("ActivePower_L"))
        sets = [snap.value(f"{ns}/SetActivePower_L{i}") for i in range(1, phases + 1)]
        if phases and all(v is not None for v in sets):
            sim.scenario.set_battery_setpoints([float(v) for v in sets if v is not None])
            state = sim.scenario.sample(now)
        measured = {k: v for k, v in state.battery.items() if not k.startswith("Set")}
        if measured:
            dal.write_many(ns, measured, now)

    return step


async def run_site(
    site: Site,
    duration: float = 0.0,
    dal: Dal | None = None,
    *,
    metrics: str | None = None,
    status: StatusOptions | None = None,
) -> int:
    """Run a site until Ctrl-C/SIGTERM (or for `duration` s); shuts everything down cleanly.

    `metrics`: serve /metrics there (overrides the site file's `[metrics] listen`). `status`: show
    the live status (a table or log lines, see gridtap.status)."""
    from gridtap.control import EdgeCycle, PeakShaving, PhaseZeroExport
    from gridtap.modbus import ModbusMeter
    from gridtap.sim import GridScenario, MeterSimulator
    from gridtap.virtual import VirtualGridMeter

    dal = dal or Dal(default_max_age=site.default_max_age)
    sims: list[MeterSimulator] = []
    meters: list[ModbusMeter] = []
    tasks: list[asyncio.Task[Any]] = []
    publisher = None
    cycles: list[Any] = []
    metrics_server = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    async def every(interval: float, what: str, fn: Callable[[], Any]) -> None:
        while True:
            try:
                fn()
            except Exception:
                log.exception("%s failed", what)
            await asyncio.sleep(interval)

    try:
        for s in site.simulators:
            if "static" in s:
                static: dict[str, Any] = {
                    k: tuple(v) if isinstance(v, list) else v for k, v in s["static"].items()
                }
                scenario = GridScenario.static(start=time.time(), **static)
            else:
                scenario = GridScenario(
                    seed=s.get("seed", 1), start=time.time(), battery_kw=s.get("battery_kw")
                )
            sim = MeterSimulator(
                scenario, s["profile"], unit_id=s.get("unit_id", 1), sunspec_model=s.get("sunspec_model")
            )
            await sim.start(s.get("host", "127.0.0.1"), s["port"])
            sims.append(sim)
            if "battery" in s:
                tasks.append(
                    asyncio.create_task(
                        every(
                            s.get("interval", 0.5),
                            "simulated battery",
                            _battery_stand_in(dal, sim, s["battery"]),
                        )
                    )
                )
            log.info("simulated %s on %s:%d", s["profile"], s.get("host", "127.0.0.1"), s["port"])
        for m in site.meters:
            kw = {k: m[k] for k in _METER_COMMON if k in m and k != "interval"}
            profile = m["profile"]
            if profile.endswith(".toml") and not Path(profile).is_absolute():
                profile = str(Path(site.source).parent / profile)
            if m["transport"] == "rtu":
                serial = {k: m[k] for k in ("parity", "stopbits", "bytesize") if k in m}
                meter = ModbusMeter.rtu(
                    m["device"],
                    m.get("baudrate", 9600),
                    profile=profile,
                    namespace=m["namespace"],
                    **serial,
                    **kw,
                )
            else:
                framer = "rtu" if m["transport"] == "rtu-over-tcp" else "socket"
                meter = ModbusMeter.tcp(
                    m["host"],
                    m.get("port", 502),
                    profile=profile,
                    namespace=m["namespace"],
                    framer=framer,
                    **kw,
                )
            meters.append(meter)
            tasks.append(asyncio.create_task(meter.poll(dal, interval=m.get("interval", 1.0))))
        for v in site.virtual_meters:
            vm = VirtualGridMeter(
                dal,
                load=v.get("load", "load"),
                pv=v.get("pv", "pv"),
                battery=v.get("battery", "battery"),
                namespace=v["namespace"],
                max_gap=v.get("max_gap", 60.0),
            )
            tasks.append(
                asyncio.create_task(
                    every(v.get("interval", 1.0), f"virtual meter {v['namespace']}", vm.update)
                )
            )
        if site.controllers:
            ctl = site.controllers
            kinds = {"peak_shaving": PeakShaving, "phase_zero_export": PhaseZeroExport}
            controllers = [kinds[k](**ctl[k]) for k in ctl["order"]]
            cycle = EdgeCycle(
                dal,
                controllers,
                grid=ctl.get("grid", "grid"),
                battery=ctl.get("battery", "battery"),
                pv=ctl.get("pv", "pv"),
                ramp_w_per_s=ctl.get("ramp_w_per_s"),
            )
            cycles.append(cycle)
            tasks.append(asyncio.create_task(every(ctl.get("interval", 1.0), "edge cycle", cycle.run_once)))
        if site.telemetry is not None:
            from gridtap.telemetry import MqttPublisher

            publisher = MqttPublisher(dal, **site.telemetry)
            publisher.start()
        publishers = [publisher] if publisher is not None else []
        listen = metrics or site.metrics
        if listen is not None:
            from gridtap.metrics import MetricsServer, SiteMetrics

            metrics_server = MetricsServer(SiteMetrics(dal, meters, cycles, publishers), listen).start()
        if status is not None:
            from gridtap.status import SiteStatus, run_status

            view = SiteStatus(
                dal, meters, cycles, publishers, title=f"gridtap run {site.name}", recent=status.recent
            )
            tasks.append(asyncio.create_task(run_status(view, status)))
        log.info(
            "site %s running: %d meter(s), %d virtual, %d task(s)",
            site.name,
            len(meters),
            len(site.virtual_meters),
            len(tasks),
        )
        timeout = duration if duration and duration > 0 else math.inf
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), None if math.isinf(timeout) else timeout)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if metrics_server is not None:
            metrics_server.stop()
        for meter in meters:
            await meter.close()
        if publisher is not None:
            publisher.stop()
        for sim in sims:
            await sim.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    log.info("site %s stopped", site.name)
    return 0
