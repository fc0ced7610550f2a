"""Modbus meter adapter: reads a meter over TCP or RTU through its profile into standard channels.

Reliability habits: reads are planned into as few requests as the profile allows; a failed block
marks only its channels ERROR; a timeout or a dropped link marks every channel ERROR within the
same poll and reconnects with capped exponential backoff; nothing is ever republished with a fresh
timestamp; and `poll()` never lets an exception out (only cancellation ends it). Read-only by
default: only function codes 3 and 4 are sent unless `allow_writes=True`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException, ModbusIOException
from pymodbus.framer import FramerType

from gridtap._core import MeterPipeline
from gridtap.channels import catalogue_for, channel_spec
from gridtap.dal import Dal, Quality, Reading
from gridtap.errors import GridtapError
from gridtap.pollstats import PollStats
from gridtap.profile import Profile
from gridtap.profiles import load as load_profile
from gridtap.sunspec import MeterModel, discover_meter

__all__ = ["MeterStats", "ModbusMeter", "WritesNotAllowed"]

log = logging.getLogger(__name__)


class WritesNotAllowed(GridtapError, PermissionError):
    """A write was asked of a read-only adapter, or the profile defines no such write."""


class LinkDown(Exception):
    """The connection failed (refused, dropped, timed out): every channel is ERROR this poll."""


# a meter's poll statistics (kept under its old name too)
MeterStats = PollStats


def channel_blocks(p: Profile, invert: bool = False) -> dict[str, frozenset[int]]:
    """For each produced channel, the read blocks its value depends on (worked out by the core,
    next to the derivations themselves)."""
    return {ch: frozenset(blocks) for ch, blocks in p.compiled.channel_blocks(invert)}


class ModbusMeter:
    """A meter read over Modbus through a profile. Build with `ModbusMeter.tcp(...)` or `.rtu(...)`.

    `profile` is a bundled profile name, a path to a TOML file, a `Profile`, or "sunspec" to find
    the SunSpec meter model on the device. `namespace` is the DAL namespace (`grid`, `grid_main`,
    ...). `invert` is for a reversed CT. `timeout` bounds each request; `slow_interval` is how
    often the slow group (energy counters that need their own request) is read. `frozen_after`
    (s, off by default) flags a meter whose fast registers stop changing as ERROR.
    """

    def __init__(
        self,
        client_factory: Callable[[], Any],
        *,
        profile: str | Profile,
        unit_id: int = 1,
        namespace: str = "grid",
        invert: bool = False,
        timeout: float = 1.0,
        slow_interval: float = 10.0,
        max_backoff: float = 30.0,
        allow_writes: bool = False,
        frozen_after: float | None = None,
        rocof_window: float = 0.5,
        max_gap: float = 60.0,
        name: str | None = None,
    ) -> None:
        if not 0 <= unit_id <= 247:
            raise ValueError(f"unit_id must be 0..247, got {unit_id}")
        if timeout <= 0 or slow_interval <= 0 or max_backoff <= 0:
            raise ValueError("timeout, slow_interval and max_backoff must be positive seconds")
        catalogue_for(namespace)
        if not namespace.startswith("grid"):
            raise ValueError(f"a meter writes a grid namespace (grid, grid_<name>), got {namespace!r}")
        self._client_factory = client_factory
        self._client: Any = None
        self.unit_id = unit_id
        self.namespace = namespace
        self.invert = invert
        self.timeout = timeout
        self.slow_interval = slow_interval
        self.max_backoff = max_backoff
        self.allow_writes = allow_writes
        self.frozen_after = frozen_after
        self._pipeline_args = {"rocof_window": rocof_window, "max_gap": max_gap}
        self.name = name or namespace
        self.stats = MeterStats()
        self.sunspec_model: MeterModel | None = None
        self._want_sunspec = profile == "sunspec"
        self._pending_state: Mapping[str, Any] | None = None  # for a SunSpec meter not yet found
        self.profile: Profile | None = None
        if not self._want_sunspec:
            self._set_profile(profile if isinstance(profile, Profile) else load_profile(profile))
        self._last_slow: float | None = None
        self._last_change: float | None = None
        self._last_fast: np.ndarray | None = None
        self._frame: np.ndarray | None = None

    # --- construction ---------------------------------------------------------------------------

    @classmethod
    def tcp(
        cls, host: str, port: int = 502, *, profile: str | Profile, framer: str = "socket", **kw: Any
    ) -> ModbusMeter:
        """Modbus TCP (`framer="socket"`), or RTU framing over a TCP link (`framer="rtu"`, as
        serial-to-Ethernet gateways speak it)."""
        fr = {"socket": FramerType.SOCKET, "rtu": FramerType.RTU}[framer]
        timeout = kw.get("timeout", 1.0)

        def factory() -> AsyncModbusTcpClient:
            # retries=0 and no automatic reconnect: this adapter decides (see poll)
            return AsyncModbusTcpClient(
                host, port=port, framer=fr, timeout=timeout, retries=0, reconnect_delay=0
            )

        return cls(factory, profile=profile, name=kw.pop("name", f"{host}:{port}"), **kw)

    @classmethod
    def rtu(
        cls,
        port: str,
        baudrate: int = 9600,
        *,
        profile: str | Profile,
        parity: str = "N",
        stopbits: int = 1,
        bytesize: int = 8,
        **kw: Any,
    ) -> ModbusMeter:
        """Modbus RTU on a serial port (e.g. /dev/ttyUSB0)."""
        timeout = kw.get("timeout", 1.0)

        def factory() -> AsyncModbusSerialClient:
            return AsyncModbusSerialClient(
                port,
                framer=FramerType.RTU,
                baudrate=baudrate,
                parity=parity,
                stopbits=stopbits,
                bytesize=bytesize,
                timeout=timeout,
                retries=0,
                reconnect_delay=0,
            )

        return cls(factory, profile=profile, name=kw.pop("name", port), **kw)

    def _set_profile(self, profile: Profile) -> None:
        if profile.addressing != "absolute":
            raise ValueError(
                f"profile {profile.name} is relative to a SunSpec model; use profile='sunspec' to find it"
            )
        self.profile = profile
        self.pipeline = MeterPipeline(
            profile,
            self.invert,
            rocof_window=self._pipeline_args["rocof_window"],
            max_gap=self._pipeline_args["max_gap"],
        )
        self._deps = channel_blocks(profile, self.invert)
        self._fast_mask = np.concatenate([np.full(b.count, b.group == "fast") for b in profile.blocks])
        self._units = {ch: channel_spec(f"{self.namespace}/{ch}").unit for ch in profile.channels}
        if self._pending_state is not None:
            pending, self._pending_state = self._pending_state, None
            try:
                self.pipeline.restore_state(pending)
            except ValueError as e:
                log.warning("%s: saved state not restored: %s", self.name, e)

    @property
    def channels(self) -> list[str]:
        return list(self.profile.channels) if self.profile else []

    # --- connection -----------------------------------------------------------------------------

    async def _ensure_connected(self) -> Any:
        if self._client is not None and self._client.connected:
            return self._client
        await self._drop_client()
        client = self._client_factory()
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that arrives
            # together with the result, and poll() would never end
            async with asyncio.timeout(self.timeout + 1.0):
                ok = await client.connect()
        except (TimeoutError, OSError, ModbusException) as e:
            client.close()
            raise LinkDown(f"cannot connect: {e or type(e).__name__}") from None
        if not ok:
            client.close()
            raise LinkDown("cannot connect (refused or unreachable)")
        self._client = client
        self.stats.reconnects += 1
        if self._want_sunspec and self.profile is None:
            await self._discover()
        return client

    async def _drop_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def close(self) -> None:
        await self._drop_client()

    async def __aenter__(self) -> ModbusMeter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _discover(self) -> None:
        async def read_holding(address: int, count: int) -> list[int] | None:
            return await self._request(3, address, count, tolerate_exception=True)

        model = await discover_meter(read_holding)
        self.sunspec_model = model
        base = load_profile(model.profile_name)
        self._set_profile(base.located(model.address, model.model_id))
        log.info("%s: SunSpec meter model %d at %d", self.name, model.model_id, model.address)

    async def _request(
        self, function_code: int, address: int, count: int, tolerate_exception: bool = False
    ) -> list[int] | None:
        """One read. Returns the registers, or None for a Modbus exception response. Raises
        LinkDown for anything that means the link is not usable."""
        client = self._client
        if client is None:
            raise LinkDown("not connected")
        if function_code not in (3, 4):
            raise WritesNotAllowed(f"function code {function_code} is not a read")
        call = client.read_holding_registers if function_code == 3 else client.read_input_registers
        self.stats.requests += 1
        self.stats.function_codes.add(function_code)
        try:
            async with asyncio.timeout(self.timeout + 0.5):
                rr = await call(address, count=count, device_id=self.unit_id)
        except (TimeoutError, ModbusIOException) as e:
            self.stats.timeouts += 1
            # a late answer could be taken for the next request's: start over on a new link
            await self._drop_client()
            raise LinkDown(f"no response within {self.timeout} s ({type(e).__name__})") from None
        except (OSError, ModbusException, asyncio.IncompleteReadError) as e:
            await self._drop_client()
            raise LinkDown(f"link lost: {type(e).__name__}: {e}".rstrip(": ")) from None
        if rr.isError():
            code = getattr(rr, "exception_code", None)
            self.stats.block_errors += 1
            self.stats.last_error = (
                f"exception {code} reading {count} registers at {address} (FC {function_code})"
            )
            if not tolerate_exception:
                log.warning("%s: %s", self.name, self.stats.last_error)
            return None
        regs = list(rr.registers)
        if len(regs) < count:
            self.stats.last_error = f"short response: {len(regs)} of {count} registers at {address}"
            return None
        return regs[:count]

    # --- reading --------------------------------------------------------------------------------

    def _due_groups(self, now: float, groups: Iterable[str] | None) -> set[str]:
        if groups is not None:
            return set(groups)
        due = {"fast"}
        # a last slow read in the future: the wall clock stepped back, read them now
        if self._last_slow is None or not 0 <= now - self._last_slow < self.slow_interval:
            due.add("slow")
        return due

    async def read(self, groups: Iterable[str] | None = None) -> dict[str, Reading]:
        """Read the meter once: {channel: Reading} for the channels read this time.

        Never raises for communication problems: those come back as ERROR readings (value None)
        with the time of the attempt. `groups` picks "fast"/"slow"; by default fast, plus slow
        when `slow_interval` has passed.
        """
        t_start = time.time()
        try:
            await self._ensure_connected()
        except LinkDown as e:
            return self._all_error(t_start, str(e))
        except Exception as e:  # discovery found no meter, etc.
            return self._all_error(t_start, f"{type(e).__name__}: {e}")
        p = self.profile
        assert p is not None
        due = self._due_groups(t_start, groups)
        if self._frame is None:
            self._frame = np.zeros(p.frame_length, dtype=np.uint16)
        frame = self._frame
        attempted: set[int] = set()
        failed: set[int] = set()
        ok_flags = [False] * len(p.blocks)
        offset = 0
        try:
            for i, b in enumerate(p.blocks):
                if b.group in due:
                    attempted.add(i)
                    regs = await self._request(b.function_code, b.start, b.count)
                    if regs is None:
                        failed.add(i)
                    else:
                        frame[offset : offset + b.count] = regs
                        ok_flags[i] = True
                offset += b.count
        except LinkDown as e:
            return self._all_error(t_start, str(e))
        t_end = time.time()
        # the measurement lies within the request round trips: stamp it at their middle
        t = (t_start + t_end) / 2
        if "slow" in due:
            self._last_slow = t_start
        frozen = self._check_frozen(t, frame, p, ok_flags)
        try:
            values = self.pipeline.push(t, frame, ok_flags)
        except ValueError as e:  # clock went backwards: keep the previous state
            return self._all_error(t_start, f"pipeline refused the frame: {e}")
        out: dict[str, Reading] = {}
        for ch, v in values.items():
            deps = self._deps.get(ch, frozenset())
            if not deps <= attempted:
                continue  # depends on a block not read this time: leave its last reading alone
            bad = bool(deps & failed) or v is None or (frozen and ch not in _SLOW_CHANNELS)
            unit = self._units[ch]
            out[ch] = Reading(None, unit, t, Quality.ERROR) if bad else Reading(v, unit, t, Quality.GOOD)
        self.stats.polls += 1
        self.stats.latency.observe(t_end - t_start)
        if failed:
            self.stats.failed_polls += 1
        else:
            self.stats.last_ok = t
        return out

    def _check_frozen(self, t: float, frame: np.ndarray, p: Profile, ok: list[bool]) -> bool:
        """Whether the fast registers have not changed for `frozen_after` seconds."""
        if self.frozen_after is None:
            return False
        fast_ok = all(ok[i] for i, b in enumerate(p.blocks) if b.group == "fast")
        fast = frame[self._fast_mask]
        if not fast_ok or self._last_fast is None or not np.array_equal(fast, self._last_fast):
            self._last_fast = fast.copy() if fast_ok else None
            self._last_change = t
            return False
        assert self._last_change is not None
        if t - self._last_change >= self.frozen_after:
            self.stats.last_error = f"registers unchanged for {t - self._last_change:.1f} s (frozen meter?)"
            return True
        return False

    def _all_error(self, t: float, reason: str) -> dict[str, Reading]:
        self.stats.polls += 1
        self.stats.failed_polls += 1
        self.stats.last_error = reason
        channels = self.profile.channels if self.profile else ["ActivePower"]
        units = self._units if self.profile else {"ActivePower": "W"}
        return {ch: Reading(None, units[ch], t, Quality.ERROR) for ch in channels}

    @property
    def link_up(self) -> bool:
        return self._client is not None and bool(self._client.connected)

    # --- polling --------------------------------------------------------------------------------

    def publish(self, dal: Dal, readings: Mapping[str, Reading]) -> None:
        """Write one read's readings to the DAL atomically (ERROR readings with value None)."""
        by_time: dict[float, dict[str, float | None]] = {}
        for ch, r in readings.items():
            by_time.setdefault(r.timestamp, {})[ch] = r.value if r.quality is Quality.GOOD else None
        for ts, values in by_time.items():
            dal.write_many(self.namespace, values, ts)

    async def poll(self, dal: Dal, interval: float = 1.0) -> None:
        """Read every `interval` seconds into `dal` until cancelled. Never raises otherwise.

        After a link failure the channels are ERROR at once, and reconnection is tried after
        interval, 2·interval, 4·interval, ... up to `max_backoff`.
        """
        if interval <= 0 or not math.isfinite(interval):
            raise ValueError(f"interval must be positive seconds, got {interval}")
        self._default_slow_ages(dal, interval)
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        backoff = 0.0
        was_down = False
        me = asyncio.current_task()
        while True:
            # pymodbus awaits with asyncio.wait_for, which on Python 3.11 can swallow a cancel
            # that arrives together with the reply; the task still counts the request, so honour it
            if me is not None and me.cancelling():
                raise asyncio.CancelledError()
            try:
                readings = await self.read()
                link_failed = not self.link_up
                # while the link stays down the ERROR is already reported: re-writing adds nothing
                if not (link_failed and was_down):
                    self.publish(dal, readings)
                was_down = link_failed
            except asyncio.CancelledError:
                raise
            except Exception:
                # never let a bug or a DAL refusal end the poll loop
                log.exception("%s: poll failed", self.name)
                link_failed = False
            if link_failed:
                backoff = min(self.max_backoff, max(interval, backoff * 2))
                log.info("%s: link down (%s); retry in %.1f s", self.name, self.stats.last_error, backoff)
                await asyncio.sleep(backoff)
                next_tick = loop.time()
                continue
            backoff = 0.0
            next_tick += interval
            now = loop.time()
            if next_tick < now:
                missed = int((now - next_tick) // interval) + 1
                self.stats.missed_cycles += missed
                next_tick += missed * interval
            await asyncio.sleep(next_tick - now)

    def _default_slow_ages(self, dal: Dal, interval: float) -> None:
        """Channels read only every `slow_interval` would go STALE between reads under a maximum
        age meant for the fast ones: where the user set none, give them one that fits."""
        p = self.profile
        if p is None:
            return
        slow_blocks = {i for i, b in enumerate(p.blocks) if b.group == "slow"}
        age = max(dal.default_max_age, 2 * self.slow_interval + interval + self.timeout)
        for ch, deps in self._deps.items():
            full = f"{self.namespace}/{ch}"
            if deps and deps <= slow_blocks and not dal.has_max_age(full):
                dal.set_max_age(full, age)

    # --- state across restarts -----------------------------------------------------------------

    def _identity(self) -> dict[str, Any]:
        profile = "sunspec" if self._want_sunspec else self.profile.name if self.profile else None
        return {
            "namespace": self.namespace,
            "unit_id": self.unit_id,
            "profile": profile,
            "invert": self.invert,
        }

    def state(self) -> dict[str, Any] | None:
        """What must survive a restart (`MeterPipeline.state()` as "pipeline"), with the meter it
        belongs to: namespace, unit_id, profile ("sunspec" for a discovered one) and invert. None
        for a SunSpec meter that is not yet discovered and was given nothing to restore."""
        pipeline = self.pipeline.state() if self.profile is not None else self._pending_state
        return None if pipeline is None else {**self._identity(), "pipeline": dict(pipeline)}

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Continue from `state()` of this meter in an earlier process. ValueError, changing
        nothing, for the state of another meter (namespace, unit id, profile, invert) or one that
        does not fit the pipeline. A SunSpec meter not yet discovered applies it at discovery."""
        ident = self._identity()
        if not isinstance(state, Mapping) or set(state) != {*ident, "pipeline"}:
            raise ValueError(
                f"{self.name}: expected a meter state with keys {sorted({*ident, 'pipeline'})}, got {state!r:.200}"
            )
        for key, mine in ident.items():
            if state[key] != mine or type(state[key]) is not type(mine):
                raise ValueError(
                    f"{self.name}: the state is of {key} {state[key]!r}, this meter's is {mine!r}"
                )
        if not isinstance(state["pipeline"], Mapping):
            raise ValueError(f"{self.name}: state pipeline is {state['pipeline']!r:.100}, expected a dict")
        if self.profile is None:
            self._pending_state = state["pipeline"]
        else:
            self.pipeline.restore_state(state["pipeline"])

    # --- writes ---------------------------------------------------------------------------------

    async def write(self, action: str) -> None:
        """Perform a write the profile defines (e.g. an energy reset). Needs allow_writes=True."""
        if not self.allow_writes:
            raise WritesNotAllowed(
                f"{self.name} is read-only; create the adapter with allow_writes=True to run {action!r}"
            )
        p = self.profile
        if p is None or action not in p.writes:
            known = ", ".join(p.writes) if p and p.writes else "none"
            raise WritesNotAllowed(f"profile defines no write {action!r} (defined: {known})")
        w = p.writes[action]
        client = await self._ensure_connected()
        if w.function_code == 6:
            rr = await client.write_register(w.address, w.values[0], device_id=self.unit_id)
        else:
            rr = await client.write_registers(w.address, list(w.values), device_id=self.unit_id)
        self.stats.function_codes.add(w.function_code)
        if rr.isError():
            raise GridtapError(f"{self.name}: write {action!r} refused: {rr}")


_SLOW_CHANNELS = frozenset(
    {"EnergyImport", "EnergyExport", "EnergyNet", "ReactiveEnergyImport", "ReactiveEnergyExport"}
)
