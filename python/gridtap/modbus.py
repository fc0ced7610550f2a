"""Modbus meter adapter: reads a meter over TCP or RTU through its profile into standard channels.

Every meter talks through a `ModbusBus` (gridtap.bus), the one owner of a serial port or TCP
connection; `ModbusMeter.tcp/.rtu` make a bus of one. Reliability habits: reads are planned into
as few requests as the profile allows; a failed block (an exception, or a reply that does not
answer the request) marks only its channels ERROR; a timeout or a dropped link marks every channel
ERROR within the same poll and the meter is retried with capped exponential backoff; nothing is
ever republished with a fresh timestamp; and `poll()` never lets an exception out (only
cancellation ends it). Read-only by default: only function codes 3 and 4 are sent unless
`allow_writes=True`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from gridtap._core import MeterPipeline
from gridtap.channels import channel_spec, namespace_of_kind
from gridtap.dal import Dal, Quality, Reading
from gridtap.dal.reading import readings
from gridtap.durations import check_seconds
from gridtap.errors import GridtapError
from gridtap.framing import BadReply, ExceptionReply, Request
from gridtap.link import LinkLost, NoReply
from gridtap.pollstats import PollStats
from gridtap.profile import Profile
from gridtap.profiles import load as load_profile
from gridtap.state import check_owner
from gridtap.sunspec import MeterModel, SunSpecError, discover_meter

if TYPE_CHECKING:
    from gridtap.bus import ModbusBus

__all__ = ["MeterStats", "ModbusMeter", "WritesNotAllowed"]

log = logging.getLogger(__name__)


class WritesNotAllowed(GridtapError, PermissionError):
    """A write was asked of a read-only adapter, or the profile defines no such write."""


# a meter's poll statistics (kept under its old name too)
MeterStats = PollStats


def channel_blocks(p: Profile, invert: bool = False) -> dict[str, frozenset[int]]:
    """For each produced channel, the read blocks its value depends on (worked out by the core,
    next to the derivations themselves)."""
    return {ch: frozenset(blocks) for ch, blocks in p.compiled.channel_blocks(invert)}


class ModbusMeter:
    """A meter read over Modbus through a profile. Build with `ModbusMeter.tcp(...)` or `.rtu(...)`
    (a meter with a connection of its own), or `bus.meter(...)` (one of several on a `ModbusBus`).

    `profile` is a bundled profile name, a path to a TOML file, a `Profile`, or "sunspec" to find
    the SunSpec meter model on the device. `namespace` is the DAL namespace (`grid`, `grid_main`,
    ...). `invert` is for a reversed CT. `timeout` bounds each request; `slow_interval` is how
    often the slow group (energy counters that need their own request) is read; after a failure
    the meter is retried after interval, 2·interval, ... up to `max_backoff`. `frozen_after`
    (s, off by default) flags a meter whose fast registers stop changing as ERROR.
    """

    def __init__(
        self,
        bus: ModbusBus,
        *,
        profile: str | Profile,
        unit_id: int = 1,
        namespace: str = "grid",
        invert: bool = False,
        timeout: float = 1.0,
        slow_interval: float = 10.0,
        max_backoff: float = 3.0,
        allow_writes: bool = False,
        frozen_after: float | None = None,
        rocof_window: float = 0.5,
        max_gap: float = 60.0,
        name: str | None = None,
    ) -> None:
        if isinstance(unit_id, bool) or not isinstance(unit_id, int) or not 0 <= unit_id <= 247:
            raise ValueError(f"unit_id must be 0..247, got {unit_id!r}")
        self.timeout = check_seconds("timeout", timeout)
        self.slow_interval = check_seconds("slow_interval", slow_interval)
        self.max_backoff = check_seconds("max_backoff", max_backoff)
        self.frozen_after = None if frozen_after is None else check_seconds("frozen_after", frozen_after)
        namespace_of_kind(namespace, "grid")
        self.bus = bus
        self.unit_id = unit_id
        self.namespace = namespace
        self.invert = invert
        self.allow_writes = allow_writes
        self._pipeline_args = {"rocof_window": rocof_window, "max_gap": max_gap}
        self.name = name or f"{bus.name} unit {unit_id}"
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
        self._owns_bus = False
        # the last read's outcome, for the bus's scheduler: "ok", "answered" (some blocks failed),
        # "silent" (no answer in time, or no usable device) or "link" (no connection)
        self.outcome: str | None = None
        self.poll_interval: float | None = None  # this meter's own interval on a shared bus
        # scheduling state kept by the bus between cycles
        self._next = 0.0
        self._backoff = 0.0
        self._down = False

    # --- construction ---------------------------------------------------------------------------

    @classmethod
    def tcp(
        cls, host: str, port: int = 502, *, profile: str | Profile, framer: str = "socket", **kw: Any
    ) -> ModbusMeter:
        """Modbus TCP (`framer="socket"`), or RTU framing over a TCP link (`framer="rtu"`, as
        serial-to-Ethernet gateways speak it), on a connection of its own."""
        from gridtap.bus import ModbusBus

        bus = ModbusBus.tcp(
            host, port, framer=framer, timeout=kw.get("timeout", 1.0), max_backoff=kw.get("max_backoff", 3.0)
        )
        return bus._own(bus.meter(profile=profile, name=kw.pop("name", f"{host}:{port}"), **kw))

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
        """Modbus RTU on a serial port (e.g. /dev/ttyUSB0) of its own. Several meters on one
        RS485 line share it through `ModbusBus.rtu(...)` instead."""
        from gridtap.bus import ModbusBus

        bus = ModbusBus.rtu(
            port,
            baudrate,
            parity=parity,
            stopbits=stopbits,
            bytesize=bytesize,
            timeout=kw.get("timeout", 1.0),
            max_backoff=kw.get("max_backoff", 3.0),
        )
        return bus._own(bus.meter(profile=profile, name=kw.pop("name", port), **kw))

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
        # per block: its request, where its registers go in the frame, and its bit in a block mask
        self._reads: list[tuple[int, str, Request, int, int]] = []
        offset = 0
        for i, b in enumerate(profile.blocks):
            self._reads.append(
                (i, b.group, Request.read(self.unit_id, b.function_code, b.start, b.count), offset, b.count)
            )
            offset += b.count
        self._dep_mask = {ch: sum(1 << i for i in deps) for ch, deps in self._deps.items()}
        # for each set of groups read: the channels that depend only on blocks read then
        self._emit: dict[frozenset[str], list[tuple[str, int]]] = {}
        for due in (frozenset({"fast"}), frozenset({"fast", "slow"}), frozenset({"slow"})):
            read_mask = sum(1 << i for i, b in enumerate(profile.blocks) if b.group in due)
            self._emit[due] = [
                (ch, m)
                for ch, m in ((c, self._dep_mask.get(c, 0)) for c in profile.channels)
                if m & ~read_mask == 0
            ]
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

    async def close(self) -> None:
        """Close the meter's connection if it has one of its own (a meter on a shared bus leaves
        the bus open: close the bus instead)."""
        if self._owns_bus:
            await self.bus.close()

    async def __aenter__(self) -> ModbusMeter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _discover(self) -> None:
        async def read_holding(address: int, count: int) -> list[int] | None:
            req = Request.read(self.unit_id, 3, address, count)
            try:
                return req.registers(await self.bus._request(self, req, self.timeout))
            except (ExceptionReply, BadReply):
                return None

        model = await discover_meter(read_holding)
        self.sunspec_model = model
        base = load_profile(model.profile_name)
        self._set_profile(base.located(model.address, model.model_id))
        self._frame = None
        log.info("%s: SunSpec meter model %d at %d", self.name, model.model_id, model.address)

    @property
    def link_up(self) -> bool:
        """The bus is connected and this meter answered its last request."""
        return self.bus.link_up and self.outcome not in ("silent", "link")

    # --- reading --------------------------------------------------------------------------------

    def _due_groups(self, now: float, groups: Iterable[str] | None) -> frozenset[str]:
        if groups is not None:
            return frozenset(groups)
        # a last slow read in the future: the wall clock stepped back, read them now
        if self._last_slow is None or not 0 <= now - self._last_slow < self.slow_interval:
            return frozenset({"fast", "slow"})
        return frozenset({"fast"})

    async def read(self, groups: Iterable[str] | None = None) -> dict[str, Reading]:
        """Read the meter once: {channel: Reading} for the channels read this time.

        Never raises for communication problems: those come back as ERROR readings (value None)
        with the time of the attempt. `groups` picks "fast"/"slow"; by default fast, plus slow
        when `slow_interval` has passed.
        """
        t, values = await self._acquire(groups)
        return readings(values, self._units if self.profile else {"ActivePower": "W"}, t)

    async def _acquire(self, groups: Iterable[str] | None = None) -> tuple[float, dict[str, float | None]]:
        """One read: (measurement time, {channel: value, None where ERROR}); sets `outcome`."""
        t_start = time.time()
        try:
            await self.bus._ensure_link()
            if self.profile is None:
                await self._discover()
        except LinkLost as e:
            return self._all_error(t_start, str(e), "link")
        except NoReply as e:
            return self._all_error(t_start, f"SunSpec discovery: {e}", "silent")
        except (SunSpecError, BadReply, ValueError) as e:  # no usable meter (yet): try again later
            return self._all_error(t_start, f"SunSpec discovery failed: {e}", "silent")
        p = self.profile
        assert p is not None
        due = self._due_groups(t_start, groups)
        if self._frame is None:
            self._frame = np.zeros(p.frame_length, dtype=np.uint16)
        frame = self._frame
        ok_flags = [False] * len(p.blocks)
        failed = 0
        request = self.bus._request
        for i, group, req, offset, count in self._reads:
            if group not in due:
                continue
            try:
                pdu = await request(self, req, self.timeout)
            except ExceptionReply as e:
                failed |= 1 << i
                self.stats.last_error = f"{e} reading {count} registers at {req.address}"
                log.warning("%s: %s", self.name, self.stats.last_error)
                continue
            except BadReply as e:
                failed |= 1 << i
                self.stats.last_error = f"bad reply to {count} registers at {req.address}: {e}"
                log.warning("%s: %s", self.name, self.stats.last_error)
                continue
            except NoReply as e:
                return self._all_error(t_start, str(e), "silent")
            except LinkLost as e:
                return self._all_error(t_start, str(e), "link")
            frame[offset : offset + count] = np.frombuffer(pdu, dtype=">u2", count=count, offset=2)
            ok_flags[i] = True
        t_end = time.time()
        # the measurement lies within the request round trips: stamp it at their middle
        t = (t_start + t_end) / 2
        if "slow" in due:
            self._last_slow = t_start
        frozen = self._check_frozen(t, frame, p, ok_flags)
        try:
            values = self.pipeline.push(t, frame, ok_flags)
        except ValueError as e:  # clock went backwards: keep the previous state
            return self._all_error(t_start, f"pipeline refused the frame: {e}", "answered")
        emit = self._emit.get(due)
        if emit is None:  # an unusual choice of groups
            mask = sum(1 << i for i, b in enumerate(p.blocks) if b.group in due)
            emit = [(ch, m) for ch, m in self._dep_mask.items() if m & ~mask == 0]
        allv = values.to_dict()
        if failed or frozen:
            out = {
                ch: None if (m & failed or (frozen and ch not in _SLOW_CHANNELS)) else allv[ch]
                for ch, m in emit
            }
        elif len(emit) == len(allv):
            out = allv
        else:
            out = {ch: allv[ch] for ch, _ in emit}
        st = self.stats
        st.polls += 1
        st.latency.observe(t_end - t_start)
        if failed:
            st.failed_polls += 1
            self.outcome = "answered"
        else:
            st.last_ok = t
            self.outcome = "ok"
        return t, out

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

    def _all_error(self, t: float, reason: str, outcome: str) -> tuple[float, dict[str, float | None]]:
        self.stats.polls += 1
        self.stats.failed_polls += 1
        self.stats.last_error = reason
        self.outcome = outcome
        return t, self.error_values()

    def error_values(self) -> dict[str, float | None]:
        """Every channel without a value (what a meter that cannot be read publishes)."""
        return dict.fromkeys(self.profile.channels if self.profile else ["ActivePower"])

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

        After a failure the channels are ERROR at once, and the meter is tried again after
        interval, 2·interval, 4·interval, ... up to `max_backoff` (3 s by default, so that a meter
        is GOOD again within a few seconds of a fault ending). On a shared bus, `bus.poll` polls
        every meter on it in turn; this polls only this one.
        """
        await self.bus._run([self], dal, interval)

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
        check_owner(state, self._identity(), ("pipeline",), self.name, "meter")
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
        req = Request.write(self.unit_id, w.function_code, w.address, tuple(w.values))
        try:
            await self.bus._ensure_link()
            await self.bus._request(self, req, self.timeout)
        except ExceptionReply as e:
            raise GridtapError(f"{self.name}: write {action!r} refused: {e}") from None
        except (BadReply, NoReply, LinkLost) as e:
            raise GridtapError(f"{self.name}: write {action!r} failed: {e}") from None


_SLOW_CHANNELS = frozenset(
    {"EnergyImport", "EnergyExport", "EnergyNet", "ReactiveEnergyImport", "ReactiveEnergyExport"}
)
