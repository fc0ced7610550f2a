"""PMU adapter: an IEEE C37.118.2 synchrophasor stream read over TCP or UDP into grid channels.

Start-up follows the customary client sequence: "send CFG-2", read the configuration, "turn
transmission on". Every data frame is then decoded in the Rust core, mapped onto grid channels
(see `gridtap.pmu_mapping`) and, while `poll(dal)` runs, written to the DAL from the event loop's
receive callback: one `write_many` per frame, stamped with the frame's own SOC/FRACSEC time.

Quality from STAT and the FRACSEC clock: see `gridtap.pmu_quality` (a data error is ERROR; a
sync error or long unlocked time is flagged, or ERROR with `time_error="error"`). Time: see
`gridtap.pmu_time` (leap seconds from the FRACSEC flags; lost and repeated frames). A PMU's clock
may lead the local one: `clock_offset` is the PMU time minus the local arrival time of the latest
frame; `max_future` is the DAL's tolerance for it, and readings the DAL refuses as lying further
in the future are counted and reported (see `gridtap.pmu_publish`). Energy and the RoCoF
estimate: see `gridtap.pmu_energy`; the energy totals survive restarts (`state()`).

Link failures (refused, closed, no data frame within `timeout` or three frame periods, no
configuration) mark every channel ERROR once and reconnect after capped exponential backoff;
`poll()` never raises except on cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from gridtap._core import (
    C37118Config,
    C37118Decoder,
    C37118Frame,
    C37118PmuConfig,
    encode_c37118_command,
)
from gridtap.channels import channel_spec, namespace_of_kind
from gridtap.dal import Dal, Quality, Reading
from gridtap.dal.clock import check_max_future
from gridtap.dal.reading import readings
from gridtap.durations import check_seconds
from gridtap.pmu_energy import FrameIntegrals
from gridtap.pmu_link import Command, LinkDown, PmuLink
from gridtap.pmu_mapping import ChannelMapper, MappingError, PhasorMapping, check_roles
from gridtap.pmu_publish import DalWriter
from gridtap.pmu_quality import ATTENTION, CLOCK_FAILURE, CONFIG_CHANGE, PmuStats, StatQuality
from gridtap.pmu_time import FrameTimeline
from gridtap.state import check_owner

__all__ = ["PmuMeter", "PmuStats"]

log = logging.getLogger(__name__)


class PmuMeter:
    """A PMU (or PDC) stream mapped onto one grid namespace. Build with `.tcp(...)` or `.udp(...)`.

    `idcode` is the stream's IDCODE (commands go to it; its data frames are taken). `pmu` picks
    one PMU block of a multi-PMU stream by its IDCODE or station name (default: the first).
    `phasors` is an explicit mapping {role: phasor name or index} (roles in
    `gridtap.pmu_mapping.ROLES`); without it phasors are chosen by name. `invert` is for a
    reversed CT. `time_error` is "flag" or "error" (what a sync error or long unlocked time
    does); `max_unlocked` (s) is the unlocked time from which it counts. `config_frame` "cfg2"
    or "cfg3" is the configuration asked for. `timeout` bounds connecting, the configuration's
    arrival and the silence between data frames (at least three frame periods). Energy is
    integrated from P frame by frame (`max_gap`) and published with each frame; the RoCoF
    estimate over `rocof_window` is a diagnostic (`rocof_estimate`). `max_future` (s), if
    given, is passed with every write as the DAL's tolerance for timestamps ahead of its clock
    (for a PMU whose GPS time leads a badly synchronised local clock); None keeps the DAL's.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        idcode: int,
        transport: str = "tcp",
        namespace: str = "grid",
        pmu: int | str | None = None,
        phasors: Mapping[str, str | int] | None = None,
        invert: bool = False,
        time_error: str = "flag",
        max_unlocked: float = 10.0,
        config_frame: str = "cfg2",
        timeout: float = 2.0,
        max_backoff: float = 30.0,
        rocof_window: float = 0.5,
        max_gap: float = 60.0,
        max_future: float | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(idcode, bool) or not isinstance(idcode, int) or not 1 <= idcode <= 65534:
            raise ValueError(f"idcode must be a stream IDCODE 1..65534, got {idcode!r}")
        namespace_of_kind(namespace, "grid")
        if time_error not in ("flag", "error"):
            raise ValueError(f"time_error must be 'flag' or 'error', got {time_error!r}")
        if config_frame not in ("cfg2", "cfg3"):
            raise ValueError(f"config_frame must be 'cfg2' or 'cfg3', got {config_frame!r}")
        timeout = check_seconds("timeout", timeout)
        max_backoff = check_seconds("max_backoff", max_backoff)
        max_unlocked = check_seconds("max_unlocked", max_unlocked)
        if phasors is not None:
            check_roles(phasors)
        if max_future is not None:
            max_future = check_max_future("max_future", max_future)
        self.host = host
        self.port = port
        self.idcode = idcode
        self.transport = transport
        self.namespace = namespace
        self.name = name or f"{host}:{port}/{idcode}"
        self.pmu = pmu
        self.explicit_phasors = dict(phasors) if phasors is not None else None
        self.invert = invert
        self.time_error = time_error
        self.max_unlocked = max_unlocked
        self.config_frame = config_frame
        self.timeout = timeout
        self.max_backoff = max_backoff
        self.stats = PmuStats()
        self.config: C37118Config | None = None
        self.pmu_config: C37118PmuConfig | None = None
        self.mapping: PhasorMapping | None = None
        self.header: str | None = None
        self._quality = StatQuality(self.name, time_error, self.max_unlocked)
        self._decoder = C37118Decoder()
        self._mapper: ChannelMapper | None = None
        self._pmu_index = 0
        self._units: dict[str, str] = {}
        self._link: PmuLink | None = None
        self._started = False
        self._down_reason: str | None = None
        self._down = asyncio.Event()
        self._config_waiter: asyncio.Future[C37118Config] | None = None
        self._header_waiter: asyncio.Future[str] | None = None
        self._readers: list[asyncio.Future[tuple[float, dict[str, float | None]]]] = []
        self._mapping_error: str | None = None
        self._announced: set[tuple[str, tuple[str, ...]]] = set()
        # time
        self._timeline = FrameTimeline(self.name)
        self._last_data = 0.0  # time.monotonic() of the latest data frame
        self._config_requested = -math.inf
        # publishing
        self._dal: Dal | None = None
        self._writer = DalWriter(self.name, namespace, self.stats, max_future)
        self._interval: float | None = None
        self._last_published = -math.inf
        # energy and RoCoF, integrated in batches on a time line that skips no leap second
        self._integrals = FrameIntegrals(max_gap, rocof_window)

    # --- construction ---------------------------------------------------------------------------

    @classmethod
    def tcp(cls, host: str, port: int = 4712, *, idcode: int, **kw: Any) -> PmuMeter:
        """Commands and data on one TCP connection (C37.118's customary port 4712)."""
        return cls(host, port, idcode=idcode, transport="tcp", **kw)

    @classmethod
    def udp(cls, host: str, port: int = 4713, *, idcode: int, **kw: Any) -> PmuMeter:
        """Commands and data as UDP datagrams between one local port and the PMU's (4713)."""
        return cls(host, port, idcode=idcode, transport="udp", **kw)

    # --- what it maps ---------------------------------------------------------------------------

    @property
    def channels(self) -> list[str]:
        """Channels this meter writes (known once the configuration has been read)."""
        return list(self.mapping.channels) if self.mapping else []

    @property
    def left_out(self) -> list[str]:
        """Grid channels the PMU's phasors cannot give (e.g. per-phase values from a PMU that
        sends positive sequence only)."""
        return list(self.mapping.left_out) if self.mapping else []

    @property
    def time_flag(self) -> str | None:
        """Why the PMU's time is suspect now (sync error, unlocked, clock failure), else None."""
        return self._quality.flag

    @property
    def clock_offset(self) -> float | None:
        """Seconds the latest frame's timestamp lies ahead of (> 0) or behind its local arrival."""
        return self.stats.clock_offset

    @property
    def max_future(self) -> float | None:
        """The DAL's tolerance (s) for this PMU's timestamps ahead of its clock (None: the DAL's)."""
        return self._writer.max_future

    @property
    def refusing(self) -> bool:
        """Whether the DAL refuses this PMU's readings now (see `stats.last_error` for why)."""
        return self._writer.refusing

    @property
    def rocof_estimate(self) -> float | None:
        """gridtap's RoCoF estimate (Hz/s) from FREQ over `rocof_window`, a diagnostic."""
        return self._integrals.rocof_estimate

    @property
    def rocof_estimate_time(self) -> float | None:
        """The PMU time the estimate stands for (the middle of its window)."""
        return self._integrals.rocof_estimate_time

    @property
    def link_up(self) -> bool:
        return self._started and self._link is not None and self._link.is_open and not self._down.is_set()

    @property
    def decoder_stats(self) -> dict[str, int]:
        """The frame decoder's counters (CRC errors, bytes skipped, frames by type, ...)."""
        return self._decoder.stats

    # --- state across restarts ------------------------------------------------------------------

    def _identity(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "idcode": self.idcode, "pmu": self.pmu, "invert": self.invert}

    def state(self) -> dict[str, Any]:
        """What must survive a restart: the integrated energy totals ("energy"), with the stream
        they belong to (namespace, idcode, pmu, invert). JSON-serialisable."""
        return {**self._identity(), "energy": self._integrals.state()}

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Continue the energy totals of `state()` from an earlier process, before the first data
        frame. ValueError, changing nothing, for the state of another stream (namespace, idcode,
        pmu, invert), totals that do not fit, or after the first data frame."""
        check_owner(state, self._identity(), ("energy",), self.name, "PMU")
        self._integrals.restore_state(state["energy"], self.name)

    # --- link -----------------------------------------------------------------------------------

    def _config_command(self) -> Command:
        return Command.SEND_CFG3 if self.config_frame == "cfg3" else Command.SEND_CFG2

    def _command(self, cmd: int) -> None:
        assert self._link is not None
        self._link.send(encode_c37118_command(self.idcode, cmd, time.time()))
        self.stats.requests += 1

    def _on_lost(self, reason: str) -> None:
        self._down_reason = reason
        self._down.set()
        self._fail_waiters(reason)

    def _fail_waiters(self, reason: str) -> None:
        for fut in (self._config_waiter, self._header_waiter, *self._readers):
            if fut is not None and not fut.done():
                fut.set_exception(LinkDown(reason))
        self._readers.clear()

    async def _start(self) -> None:
        """Connect, read the configuration, turn transmission on. Raises LinkDown."""
        self._teardown()
        loop = asyncio.get_running_loop()
        self._down = asyncio.Event()
        self._down_reason = None
        self._decoder.reset()
        link = PmuLink(self.host, self.port, self.transport, self._on_bytes, self._on_lost, self.timeout)
        await link.open()
        self._link = link
        self._mapping_error = None
        cmd = self._config_command()
        # datagrams can be lost: ask again; over TCP one request is enough
        attempts = 3 if self.transport == "udp" else 1
        config = None
        for _ in range(attempts):
            self._config_waiter = loop.create_future()
            try:
                self._command(cmd)
                async with asyncio.timeout(self.timeout / attempts):
                    config = await self._config_waiter
                break
            except TimeoutError:
                continue
            finally:
                self._config_waiter = None
        if config is None:
            self.stats.timeouts += 1
            raise LinkDown(
                f"no configuration ({self.config_frame.upper().replace('CFG', 'CFG-')}) for IDCODE "
                f"{self.idcode} within {self.timeout:g} s"
            )
        if self._mapping_error is not None:
            raise LinkDown(self._mapping_error)
        self._command(Command.TURN_ON)
        self._last_data = time.monotonic()
        self._started = True
        self.stats.reconnects += 1

    def _teardown(self) -> None:
        self._started = False
        if self._link is not None:
            link, self._link = self._link, None
            if link.is_open:
                # over UDP a PMU would go on sending to a port nobody reads
                with contextlib.suppress(LinkDown, OSError):
                    link.send(encode_c37118_command(self.idcode, Command.TURN_OFF, time.time()))
            link.close()

    async def close(self) -> None:
        self._teardown()
        self._fail_waiters("closed")

    async def __aenter__(self) -> PmuMeter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _data_timeout(self) -> float:
        return max(self.timeout, 3.0 * self._timeline.period)

    # --- frames ---------------------------------------------------------------------------------

    def _on_bytes(self, data: bytes, arrival: float) -> None:
        # runs in the event loop's receive callback: an exception here would close the transport
        try:
            frames = self._decoder.feed(data)
            for f in frames:
                kind = f.type
                if kind == "data":
                    self._on_data(f, arrival)
                elif kind == "cfg2" or kind == "cfg3":
                    self._on_config(f)
                elif kind == "header" and f.idcode == self.idcode:
                    self.header = f.text
                    if self._header_waiter is not None and not self._header_waiter.done():
                        self._header_waiter.set_result(f.text or "")
        except Exception as e:
            log.exception("%s: frame handling failed", self.name)
            self.stats.last_error = f"frame handling failed: {type(e).__name__}: {e}"

    def _on_config(self, frame: C37118Frame) -> None:
        config = frame.config
        if frame.idcode != self.idcode or config is None:
            return
        if self.config is not None and self._started:
            self.stats.config_changes += 1
            log.info("%s: new configuration received (CFGCNT change)", self.name)
        try:
            index, mapping = PhasorMapping.for_config(config, self.pmu, self.explicit_phasors, self.name)
        except MappingError as e:
            self._mapping_error = str(e)
            self.stats.last_error = str(e)
            log.error("%s: %s", self.name, e)
        else:
            self._mapping_error = None
            self.config, self.pmu_config, self._pmu_index = config, config.pmus[index], index
            self._set_mapping(mapping)
            self._timeline.period = 1.0 / config.frame_rate
        if self._config_waiter is not None and not self._config_waiter.done():
            self._config_waiter.set_result(config)

    def _set_mapping(self, mapping: PhasorMapping) -> None:
        self.mapping = mapping
        self._mapper = ChannelMapper(mapping, self.invert)
        self._units = {ch: channel_spec(f"{self.namespace}/{ch}").unit for ch in mapping.channels}
        key = (mapping.station, mapping.left_out)
        if mapping.left_out and key not in self._announced:
            self._announced.add(key)
            log.warning("%s: %s", self.name, mapping.left_out_note())

    def _on_data(self, f: C37118Frame, arrival: float) -> None:
        if f.idcode != self.idcode:
            self.stats.foreign_frames += 1
            return
        mapper = self._mapper
        if mapper is None or not self._started:
            return
        stats = self.stats
        self._last_data = time.monotonic()
        t = f.time
        stats.clock_offset = t - arrival
        timeline = self._timeline
        kernel = timeline.take(f, t, stats, self._data_timeout())
        if kernel is None:
            return
        publish = not timeline.repeating
        pmu = f.pmus[self._pmu_index]
        values = mapper.block(pmu)
        bad = False
        stat = pmu.stat
        if stat & ATTENTION or f.time_quality == CLOCK_FAILURE:
            if stat & CONFIG_CHANGE:
                self._request_config()
            bad = self._quality.check(stat, f.time_quality, stats)
        if bad:
            values = dict.fromkeys(values)
            failed = True
        else:
            failed = None in values.values()
            integrals = self._integrals
            freq = values["Frequency"]
            if freq is not None:
                integrals.add_frequency(kernel, freq, timeline.shift)
            p = values.get("ActivePower")
            if p is not None:
                # the counters integrated through this frame, with its time
                values.update(integrals.add_power(kernel, p, values["ReactivePower"]))
        stats.polls += 1
        stats.latency.observe(max(0.0, arrival - t))
        if failed:
            stats.failed_polls += 1
        else:
            stats.last_ok = t
        if not publish:
            return
        dal = self._dal
        due = dal is not None and (
            self._interval is None or t - self._last_published >= self._interval - 0.5 * self._timeline.period
        )
        if self._readers:
            for fut in self._readers:
                if not fut.done():
                    fut.set_result((t, values))
            self._readers.clear()
        if due:
            assert dal is not None
            if self._writer.write(dal, values, t):
                self._last_published = t

    def _request_config(self) -> None:
        """STAT says the configuration changes within a minute: ask for it (at most every 10 s);
        the decoder takes the new one for the data frames that follow it."""
        now = time.monotonic()
        if now - self._config_requested >= 10.0 and self._link is not None and self._link.is_open:
            self._config_requested = now
            self._command(self._config_command())

    # --- reading --------------------------------------------------------------------------------

    def _readings(self, t: float, values: Mapping[str, float | None]) -> dict[str, Reading]:
        return readings(values, self._units, t)

    def _error_time(self, now: float) -> float:
        # an ERROR is noticed now, but must not lie before a reading taken from a leading PMU clock
        last = self._timeline.last_time
        return now if last is None or now > last else last + 1e-6

    def _all_error(self, now: float, reason: str) -> dict[str, Reading]:
        self.stats.polls += 1
        self.stats.failed_polls += 1
        self.stats.last_error = reason
        t = self._error_time(now)
        channels: Sequence[str] = (
            self.mapping.channels if self.mapping else ("ActivePower", "Frequency", "Frequency_RoCoF")
        )
        return {
            ch: Reading(None, channel_spec(f"{self.namespace}/{ch}").unit, t, Quality.ERROR)
            for ch in channels
        }

    async def read(self) -> dict[str, Reading]:
        """The channels of the next data frame: {channel: Reading}, stamped with the frame's time.

        Connects and starts the stream first if needed. Never raises for communication problems:
        those come back as ERROR readings (value None) with the time of the attempt.
        """
        now = time.time()
        if not self.link_up:
            try:
                await self._start()
            except LinkDown as e:
                self._teardown()
                return self._all_error(now, str(e))
        fut: asyncio.Future[tuple[float, dict[str, float | None]]] = (
            asyncio.get_running_loop().create_future()
        )
        self._readers.append(fut)
        try:
            async with asyncio.timeout(self._data_timeout()):
                t, values = await fut
        except TimeoutError:
            self.stats.timeouts += 1
            self._teardown()
            return self._all_error(now, f"no data frame within {self._data_timeout():.1f} s")
        except LinkDown as e:
            self._teardown()
            return self._all_error(now, str(e))
        finally:
            if fut in self._readers:
                self._readers.remove(fut)
        return self._readings(t, values)

    async def request_header(self) -> str:
        """Ask for the header frame (free text about the PMU); raises LinkDown if none comes."""
        if not self.link_up:
            await self._start()
        self._header_waiter = asyncio.get_running_loop().create_future()
        try:
            self._command(Command.SEND_HEADER)
            async with asyncio.timeout(self.timeout):
                return await self._header_waiter
        except TimeoutError:
            raise LinkDown(f"no header frame within {self.timeout} s") from None
        finally:
            self._header_waiter = None

    # --- polling --------------------------------------------------------------------------------

    async def poll(self, dal: Dal, interval: float | None = None) -> None:
        """Write every data frame into `dal` as it arrives, until cancelled. Never raises otherwise.

        `interval` (s) publishes at most one frame per interval instead (energy and quality still
        follow every frame). After a link failure every channel is ERROR at once, and
        reconnection is tried after 0.5 s, 1 s, 2 s, ... up to `max_backoff`.
        """
        if interval is not None:
            interval = check_seconds("interval", interval)
        self._dal = dal
        self._interval = interval
        backoff = 0.0
        was_down = False
        try:
            while True:
                try:
                    if not self.link_up:
                        await self._start()
                    was_down = False
                    backoff = 0.0
                    await self._watch()
                except LinkDown as e:
                    reason = str(e)
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    # never let a bug end the poll loop
                    log.exception("%s: poll failed", self.name)
                    reason = f"{type(e).__name__}: {e}"
                self._teardown()
                readings = self._all_error(time.time(), reason)
                if not was_down:
                    self._publish_error(dal, readings)
                was_down = True
                backoff = min(self.max_backoff, max(0.5, backoff * 2))
                log.info("%s: link down (%s); retry in %.1f s", self.name, reason, backoff)
                await asyncio.sleep(backoff)
        finally:
            self._dal = None
            self._teardown()

    def _publish_error(self, dal: Dal, readings: Mapping[str, Reading]) -> None:
        if readings:
            t = next(iter(readings.values())).timestamp
            self._writer.write_error(dal, list(readings), t)

    async def _watch(self) -> None:
        """Return... never: raise LinkDown when the link fails or falls silent."""
        while True:
            limit = self._data_timeout()
            try:
                async with asyncio.timeout(limit / 4):
                    await self._down.wait()
                raise LinkDown(self._down_reason or "link lost")
            except TimeoutError:
                silent = time.monotonic() - self._last_data
                if silent > limit:
                    self.stats.timeouts += 1
                    raise LinkDown(f"no data frame for {silent:.1f} s") from None
