"""A Modbus bus: the one owner of a serial port (an RS485 line) or of a TCP gateway connection,
and the meters on it, polled in turn.

At a site the grid, PV and battery meters often share one RS485 line or sit behind one gateway
that takes a single connection. Two clients on one port corrupt each other's frames, and a late
reply taken for the next request's answer puts one meter's values into another's channels. So
one `ModbusBus` owns the connection; its meters' requests go out one at a time (gridtap.link),
every reply is checked against its request (gridtap.framing), and `poll()` schedules the meters
fairly: each gets its turn every cycle, earliest due first; a meter that does not answer costs the
others at most one timeout per cycle and is backed off on its own; a broken connection is
reopened with one cheap attempt per retry for the whole bus, not one per meter.

    bus = ModbusBus.rtu("/dev/ttyUSB0", 9600)
    grid = bus.meter(profile="sdm630", unit_id=1, namespace="grid")
    pv = bus.meter(profile="sdm72", unit_id=2, namespace="grid_pv")
    await bus.poll(dal, interval=1.0)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gridtap.dal import Dal
from gridtap.durations import check_seconds
from gridtap.framing import BadReply, ExceptionReply, Request
from gridtap.link import LinkLost, ModbusLink, NoReply, SerialLink, TcpLink
from gridtap.modbus import ModbusMeter
from gridtap.pollstats import PollStats
from gridtap.profile import Profile

__all__ = ["BusPlan", "ModbusBus", "plan_buses"]

log = logging.getLogger(__name__)


class ModbusBus:
    """One connection (a serial port, or a TCP connection to a gateway or meter) and the meters
    on it. Build with `ModbusBus.tcp(...)` or `ModbusBus.rtu(...)`, add meters with `meter()`.

    `timeout` bounds opening the connection; `max_backoff` caps the wait between attempts to
    reopen it; `unit_pause` (s, 0 by default) is waited before a request whose unit ID differs
    from the previous one, for devices that need it.
    """

    namespace = None  # a bus writes no channels of its own

    def __init__(
        self,
        link: ModbusLink,
        *,
        name: str | None = None,
        timeout: float = 1.0,
        max_backoff: float = 3.0,
    ) -> None:
        self.link = link
        self.name = name or link.name
        self.timeout = check_seconds("timeout", timeout)
        self.max_backoff = check_seconds("max_backoff", max_backoff)
        self.meters: list[ModbusMeter] = []
        self.stats = PollStats()
        self._connect_lock = asyncio.Lock()
        self._silent: set[int] = set()  # units that timed out since anyone last answered

    @classmethod
    def tcp(
        cls,
        host: str,
        port: int = 502,
        *,
        framer: str = "socket",
        timeout: float = 1.0,
        max_backoff: float = 3.0,
        unit_pause: float = 0.0,
        name: str | None = None,
    ) -> ModbusBus:
        """Modbus TCP (`framer="socket"`) or RTU frames over TCP (`framer="rtu"`) to one host and
        port: a meter, or a gateway in front of an RS485 line."""
        return cls(
            TcpLink(
                host, port, framer=framer, unit_pause=check_seconds("unit_pause", unit_pause, allow_zero=True)
            ),
            name=name,
            timeout=timeout,
            max_backoff=max_backoff,
        )

    @classmethod
    def rtu(
        cls,
        device: str,
        baudrate: int = 9600,
        *,
        parity: str = "N",
        stopbits: float = 1,
        bytesize: int = 8,
        timeout: float = 1.0,
        max_backoff: float = 3.0,
        unit_pause: float = 0.0,
        name: str | None = None,
    ) -> ModbusBus:
        """Modbus RTU on a serial port (an RS485 line with one or more meters)."""
        link = SerialLink(
            device,
            baudrate,
            parity=parity,
            stopbits=stopbits,
            bytesize=bytesize,
            unit_pause=check_seconds("unit_pause", unit_pause, allow_zero=True),
        )
        return cls(link, name=name, timeout=timeout, max_backoff=max_backoff)

    def meter(
        self,
        *,
        profile: str | Profile,
        unit_id: int = 1,
        namespace: str = "grid",
        invert: bool = False,
        **kw: Any,
    ) -> ModbusMeter:
        """A meter on this bus (the keywords of `ModbusMeter`: timeout, slow_interval, ...)."""
        m = ModbusMeter(self, profile=profile, unit_id=unit_id, namespace=namespace, invert=invert, **kw)
        self.meters.append(m)
        return m

    def _own(self, meter: ModbusMeter) -> ModbusMeter:
        meter._owns_bus = True
        return meter

    @property
    def link_up(self) -> bool:
        return self.link.connected

    async def close(self) -> None:
        self.link.close()

    async def __aenter__(self) -> ModbusBus:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- requests -------------------------------------------------------------------------------

    async def _ensure_link(self) -> None:
        if self.link.connected:
            return
        async with self._connect_lock:
            if self.link.connected:
                return
            try:
                await self.link.open(self.timeout + 1.0)
            except LinkLost as e:
                self.stats.last_error = str(e)
                raise
            self._silent.clear()
            self.stats.reconnects += 1
            for m in self.meters:
                m.stats.reconnects += 1

    async def _request(self, meter: ModbusMeter, req: Request, timeout: float) -> bytes:
        """One request for `meter`, counted in its statistics and the bus's."""
        ms, bs = meter.stats, self.stats
        ms.requests += 1
        bs.requests += 1
        fc = req.function_code
        if fc not in ms.function_codes:
            ms.function_codes.add(fc)
            bs.function_codes.add(fc)
        try:
            pdu = await self.link.transact(req, timeout)
        except NoReply as e:
            ms.timeouts += 1
            bs.timeouts += 1
            bs.last_error = f"unit {req.unit}: {e}"
            self._silent.add(req.unit)
            if len(self._silent) >= len({m.unit_id for m in self.meters} | {req.unit}):
                # nobody on the bus answers: the connection itself is suspect (a gateway or
                # server that hangs on to a dead session); the next request opens a new one
                self.link.close()
            raise
        except BadReply as e:
            ms.timeouts += 1  # no valid answer
            bs.timeouts += 1
            bs.last_error = f"unit {req.unit}: {e}"
            self._silent.clear()
            raise
        except ExceptionReply:
            ms.block_errors += 1
            bs.block_errors += 1
            self._silent.clear()
            raise
        except LinkLost as e:
            bs.last_error = str(e)
            raise
        self._silent.clear()
        return pdu

    # --- polling --------------------------------------------------------------------------------

    async def poll(self, dal: Dal, interval: float = 1.0) -> None:
        """Poll every meter on the bus into `dal` every `interval` seconds until cancelled. Never
        raises otherwise. A meter's own `poll_interval`, where set, replaces `interval`."""
        await self._run(self.meters, dal, interval)

    async def _run(self, meters: Sequence[ModbusMeter], dal: Dal, interval: float) -> None:
        interval = check_seconds("interval", interval)
        if not meters:
            raise ValueError(f"{self.name}: no meters to poll")
        loop = asyncio.get_running_loop()
        now = loop.time()
        period = {
            m: interval if m.poll_interval is None else check_seconds("interval", m.poll_interval)
            for m in meters
        }
        for m in meters:
            m._default_slow_ages(dal, period[m])
            m._next, m._backoff, m._down = now, 0.0, False
        aged = {m for m in meters if m.profile is not None}
        link_backoff = 0.0
        link_retry = now
        down_since: float | None = None
        me = asyncio.current_task()
        while True:
            if me is not None and me.cancelling():
                raise asyncio.CancelledError()
            # earliest due first: every meter gets its turn, however late the cycle runs
            m = min(meters, key=_due)
            due = m._next if self.link.connected else max(m._next, link_retry)
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            t0 = loop.time()
            try:
                t, values = await m._acquire()
                outcome = m.outcome
            except asyncio.CancelledError:
                raise
            except Exception:
                # never let a bug end the poll loop
                log.exception("%s: read failed", m.name)
                t, values, outcome = 0.0, {}, "answered"
            failed = outcome in ("silent", "link")
            # while a meter stays unreachable its ERROR is already published: re-writing adds nothing
            if values and not (failed and m._down):
                _publish(dal, m, values, t)
            recovered = m._down and not failed
            m._down = failed
            if m not in aged and m.profile is not None:
                m._default_slow_ages(dal, period[m])
                aged.add(m)
            self.stats.polls += 1
            if failed:
                self.stats.failed_polls += 1
            if outcome == "link":
                if down_since is None:
                    down_since = t0
                    log.warning("%s: connection down: %s", self.name, m.stats.last_error)
                    for other in meters:
                        if not other._down:
                            other.stats.last_error = m.stats.last_error
                            _publish(dal, other, other.error_values(), t)
                            other._down = True
                link_backoff = min(self.max_backoff, max(interval, 2 * link_backoff))
                link_retry = t0 + link_backoff
                continue
            if down_since is not None:
                log.warning("%s: connection back after %.1f s", self.name, t0 - down_since)
                down_since = None
            link_backoff = 0.0
            if outcome == "silent":
                if m._backoff == 0.0:
                    log.warning("%s: %s", m.name, m.stats.last_error)
                m._backoff = min(m.max_backoff, max(period[m], 2 * m._backoff))
                # counted from the end of the failed attempt: a reply that comes after the
                # timeout is flushed before this meter's same request goes out again
                m._next = loop.time() + m._backoff
                continue
            if m._backoff:
                log.info("%s: answering again", m.name)
            m._backoff = 0.0
            step = period[m]
            if recovered:
                m._next = t0  # a new rhythm from the first good read: the outage is no missed cycle
            m._next += step
            now = loop.time()
            if m._next < now:
                missed = int((now - m._next) // step) + 1
                m.stats.missed_cycles += missed
                self.stats.missed_cycles += missed
                m._next += missed * step


def _due(m: ModbusMeter) -> float:
    return m._next


def _publish(dal: Dal, m: ModbusMeter, values: dict[str, float | None], t: float) -> None:
    try:
        dal.write_many(m.namespace, values, t)
    except Exception:
        log.exception("%s: the DAL refused the values", m.name)


# --- site files ---------------------------------------------------------------------------------

_SERIAL_DEFAULTS: dict[str, Any] = {"baudrate": 9600, "parity": "N", "stopbits": 1, "bytesize": 8}


@dataclass
class BusPlan:
    """Meters of a site file that share one connection: `members` are indexes into the list of
    meter entries, `kind` is "rtu" (key: the device) or "tcp" (key: host, port, framer)."""

    kind: str
    key: tuple[Any, ...]
    settings: dict[str, Any]
    members: list[int] = field(default_factory=list)

    def open(self, **kw: Any) -> ModbusBus:
        """The bus this plan describes (keywords go to ModbusBus: timeout, max_backoff, ...)."""
        if self.kind == "rtu":
            return ModbusBus.rtu(self.key[0], **self.settings, **kw)
        host, port, framer = self.key
        return ModbusBus.tcp(host, port, framer=framer, **kw)


def plan_buses(entries: Sequence[Mapping[str, Any]], label: str = "meter") -> list[BusPlan]:
    """Group a site file's `[[meter]]` entries by the connection they use: the same RTU `device`,
    or the same TCP `host` and `port`, is one bus. Raises ValueError naming both entries when two
    entries on one serial device ask for different serial settings, or when one TCP host and port
    is asked for with two framings. (Two entries may read one unit ID: one device read into two
    namespaces, or through two profiles.)"""
    plans: dict[tuple[Any, ...], BusPlan] = {}
    for i, e in enumerate(entries):
        transport = e.get("transport", "tcp")
        if transport == "rtu":
            key: tuple[Any, ...] = ("rtu", e["device"])
            settings = {k: e.get(k, d) for k, d in _SERIAL_DEFAULTS.items()}
            if isinstance(settings["parity"], str):
                settings["parity"] = settings["parity"].upper()
        else:
            framer = "rtu" if transport == "rtu-over-tcp" else "socket"
            key = ("tcp", e["host"], e.get("port", 502))
            settings = {"framer": framer}
        plan = plans.get(key)
        if plan is None:
            plans[key] = BusPlan(
                key[0], key[1:] if key[0] == "rtu" else (*key[1:], settings["framer"]), settings, [i]
            )
            continue
        first = plan.members[0]
        where = f"{label}[{first}] and {label}[{i}]"
        for k, v in settings.items():
            if plan.settings[k] != v:
                what = f"serial device {e['device']}" if key[0] == "rtu" else f"{key[1]}:{key[2]}"
                raise ValueError(
                    f"{where} share {what} but differ in {k} ({plan.settings[k]!r} vs {v!r}); "
                    "meters on one line use the same settings"
                )
        plan.members.append(i)
    return list(plans.values())
