"""Running a site: simulators, meters, virtual meters, controllers and telemetry, together until
Ctrl-C or SIGTERM, then shut down cleanly.

With a state file, the meters' state (counter offsets, integrated energy, a PMU's integrated
energy) is restored before the first poll, saved every `state_interval` seconds and once more at
shutdown (see gridtap.state).
A task that ends with an error stops the site with exit code 1, instead of leaving it running
without that part.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from gridtap.dal import Dal
from gridtap.site import build
from gridtap.site.config import Site, SiteError
from gridtap.status import StatusOptions

if TYPE_CHECKING:
    from gridtap.bus import ModbusBus
    from gridtap.control import EdgeCycle
    from gridtap.metrics import MetricsServer
    from gridtap.modbus import ModbusMeter
    from gridtap.pmu import PmuMeter
    from gridtap.sim import MeterSimulator
    from gridtap.state import SiteState
    from gridtap.telemetry import MqttPublisher
    from gridtap.virtual import VirtualGridMeter

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


async def _every(interval: float, what: str, fn: Callable[[], Any]) -> None:
    while True:
        try:
            fn()
        except Exception:
            log.exception("%s failed", what)
        await asyncio.sleep(interval)


class _SiteRun:
    """One run of a site: what was started, so that shutdown stops exactly that."""

    def __init__(self, site: Site, dal: Dal) -> None:
        self.site, self.dal = site, dal
        self.sims: list[MeterSimulator] = []
        self.meters: list[tuple[dict[str, Any], ModbusMeter]] = []
        self.pmus: list[tuple[dict[str, Any], PmuMeter]] = []
        self.buses: list[ModbusBus] = []
        self.virtual_meters: list[tuple[dict[str, Any], VirtualGridMeter]] = []
        self.tasks: list[asyncio.Task[Any]] = []
        self.publisher: MqttPublisher | None = None
        self.cycles: list[EdgeCycle] = []
        self.metrics_server: MetricsServer | None = None
        self.state: SiteState | None = None
        self.stop = asyncio.Event()
        self.failed = False

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._ended)
        self.tasks.append(task)

    def _ended(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error(
                "%s stopped: %s: %s; stopping the site",
                task.get_name(),
                type(exc).__name__,
                exc,
                exc_info=exc,
            )
            self.failed = True
            self.stop.set()

    # --- starting, in order -------------------------------------------------------------------------

    async def start_simulators(self) -> None:
        for i, s in enumerate(self.site.simulators):
            sim = build.simulator(s)
            host = s.get("host", "127.0.0.1")
            try:
                await sim.start(host, s["port"])
            except OSError as e:
                raise SiteError(
                    f"{self.site.source}: simulator[{i}].port: cannot serve on {host}:{s['port']}: {e.strerror or e}"
                ) from None
            self.sims.append(sim)
            if "battery" in s:
                step = _battery_stand_in(self.dal, sim, s["battery"])
                self.spawn("simulated battery", _every(s.get("interval", 0.5), "simulated battery", step))
            log.info("simulated %s on %s:%d", s["profile"], host, s["port"])

    def build_meters(self) -> None:
        self.buses, built = build.meters(self.site.meters)
        self.meters = list(zip(self.site.meters, built, strict=True))
        self.pmus = [(m, build.pmu(m)) for m in self.site.pmus]

    def sources(self) -> list[Any]:
        """Every polled source, for the status view and the metrics: the buses with more than one
        meter (a bus of one shows as its meter), the meters, the PMUs."""
        shared = [b for b in self.buses if len(b.meters) > 1]
        return [*shared, *(meter for _, meter in self.meters), *(pmu for _, pmu in self.pmus)]

    def restore_state(self) -> None:
        """Give the meters and virtual meters their saved state before their first poll, and check
        at once that the state file can be written (StateFileError if not)."""
        if self.site.state_file is None:
            return
        from gridtap.state import HasState, SiteState, virtual_meter_key

        sources: dict[str, HasState] = {build.meter_state_key(m, meter): meter for m, meter in self.meters}
        for _, pmu in self.pmus:
            sources[build.pmu_state_key(pmu)] = pmu
        for _, vm in self.virtual_meters:
            sources[virtual_meter_key(vm.namespace, vm.load, vm.pv, vm.battery)] = vm
        state = SiteState(self.site.state_file, sources)
        state.restore()
        state.save()
        # only now: a file that could not be read must not be replaced by a save at shutdown
        self.state = state
        self.spawn("state file", self._keep_state(state, self.site.state_interval))

    async def _keep_state(self, state: SiteState, interval: float) -> None:
        from gridtap.state import StateFileError

        while True:
            await asyncio.sleep(interval)
            seq, meters = state.collect()
            try:
                # fsync can take a while on an SD card: not on the event loop
                await asyncio.to_thread(state.write, seq, meters)
            except StateFileError as e:
                log.error("%s", e)

    def start_polling(self) -> None:
        # one poller per connection: meters sharing a serial line or gateway take turns on it
        for bus in self.buses:
            what = ", ".join(m.namespace for m in bus.meters)
            self.spawn(f"meter {bus.name} ({what})", bus.poll(self.dal))
        for m, pmu in self.pmus:
            self.spawn(f"PMU {pmu.name} ({m['namespace']})", pmu.poll(self.dal, interval=m.get("interval")))

    def build_virtual_meters(self) -> None:
        self.virtual_meters = [(v, build.virtual_meter(self.dal, v)) for v in self.site.virtual_meters]

    def start_virtual_meters(self) -> None:
        for v, vm in self.virtual_meters:
            what = f"virtual meter {v['namespace']}"
            self.spawn(what, _every(v.get("interval", 1.0), what, vm.update))

    def start_controllers(self) -> None:
        ctl = self.site.controllers
        if ctl:
            cycle = build.edge_cycle(self.dal, ctl)
            self.cycles.append(cycle)
            self.spawn("edge cycle", _every(ctl.get("interval", 1.0), "edge cycle", cycle.run_once))

    def start_telemetry(self) -> None:
        if self.site.telemetry is not None:
            self.publisher = build.publisher(self.dal, self.site.telemetry)
            self.publisher.start()

    @property
    def publishers(self) -> list[MqttPublisher]:
        return [self.publisher] if self.publisher is not None else []

    def start_metrics(self, listen: str | None) -> None:
        if listen is not None:
            from gridtap.metrics import MetricsServer, SiteMetrics

            meters = self.sources()
            self.metrics_server = MetricsServer(
                SiteMetrics(self.dal, meters, self.cycles, self.publishers), listen
            ).start()

    def start_status(self, status: StatusOptions | None) -> None:
        if status is not None:
            from gridtap.status import SiteStatus, run_status

            meters = self.sources()
            view = SiteStatus(
                self.dal,
                meters,
                self.cycles,
                self.publishers,
                title=f"gridtap run {self.site.name}",
                recent=status.recent,
            )
            self.spawn("status", run_status(view, status))

    async def wait(self, duration: float) -> None:
        log.info(
            "site %s running: %d meter(s), %d virtual, %d task(s)",
            self.site.name,
            len(self.meters) + len(self.pmus),
            len(self.site.virtual_meters),
            len(self.tasks),
        )
        timeout = duration if duration and duration > 0 else math.inf
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stop.wait(), None if math.isinf(timeout) else timeout)

    # --- stopping ---------------------------------------------------------------------------------------

    async def shutdown(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.metrics_server is not None:
            self.metrics_server.stop()
        for bus in self.buses:
            await bus.close()
        for _, pmu in self.pmus:
            await pmu.close()
        if self.state is not None:
            from gridtap.state import StateFileError

            try:
                self.state.save()
                log.info("state saved to %s", self.state.path)
            except StateFileError as e:
                log.error("%s", e)
                self.failed = True
        if self.publisher is not None:
            self.publisher.stop()
        for sim in self.sims:
            await sim.stop()


async def run_site(
    site: Site,
    duration: float = 0.0,
    dal: Dal | None = None,
    *,
    metrics: str | None = None,
    status: StatusOptions | None = None,
) -> int:
    """Run a site until Ctrl-C/SIGTERM (or for `duration` s); shuts everything down cleanly.
    Returns 0, or 1 if a part of the site failed (logged). StateFileError if the state file cannot
    be read or written at start.

    `metrics`: serve /metrics there (overrides the site file's `[metrics] listen`). `status`: show
    the live status (a table or log lines, see gridtap.status)."""
    run = _SiteRun(site, dal or Dal(default_max_age=site.default_max_age))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, run.stop.set)
    try:
        await run.start_simulators()
        run.build_meters()
        run.build_virtual_meters()
        run.restore_state()
        run.start_polling()
        run.start_virtual_meters()
        run.start_controllers()
        run.start_telemetry()
        run.start_metrics(metrics or site.metrics)
        run.start_status(status)
        await run.wait(duration)
    finally:
        await run.shutdown()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    log.info("site %s stopped", site.name)
    return 1 if run.failed else 0
