"""A simulated PMU: serves a GridScenario as an IEEE C37.118.2 stream over TCP or UDP.

It answers the commands a PMU answers (send CFG-1/CFG-2/CFG-3, send header, turn transmission
on and off) and, while on, sends one data frame per period, timestamped at whole multiples of the
period (SOC + k/rate, as PMUs report), in any FORMAT (integer or float, rectangular or polar,
FREQ integer or float) at any rate.

Phasors come from the scenario's per-phase values at the frame time: V_x of magnitude Voltage_Lx
at 0°, −120°, +120° plus the angle a frequency off nominal accumulates (so the scenario's
frequency events turn the phasors as a real grid does); I_x = conj(S_x / V_x) with
S_x = ActivePower_Lx + j·ReactivePower_Lx, so that V·conj(I) gives back the scenario's P and Q
(IEEE 1459 load convention). FREQ is the scenario's Frequency (absolute), DFREQ its RoCoF.
`phasors="positive"` sends the positive-sequence V1 and I1 only, as many PMUs do.

Fault switches, changeable while serving: `stat` (OR-ed into every frame's STAT), `time_quality`,
`leap_pending` / `leap_occurred` / `leap_delete` (FRACSEC flags), `clock_offset` (s the PMU's
clock leads the local one), `paused` (stop sending data, keep the connection), `absent` (phasor
names sent as absent data), `drop_connections()`.
"""

from __future__ import annotations

import asyncio
import cmath
import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any, cast

from gridtap._core import (
    C37118Config,
    C37118Decoder,
    C37118PmuConfig,
    C37118PmuData,
    encode_c37118_config,
    encode_c37118_data,
    encode_c37118_header,
)
from gridtap.errors import InvalidValueError
from gridtap.pmu_link import Command
from gridtap.sim.scenario import GridScenario

__all__ = ["PmuSimulator"]

log = logging.getLogger(__name__)

_A = cmath.rect(1.0, 2.0 * math.pi / 3.0)  # the 120° operator
_PHASE_ANGLES = (0.0, -2.0 * math.pi / 3.0, 2.0 * math.pi / 3.0)
_BLOCK_SECONDS = 1.0  # scenario values are fetched a second of frames at a time
_CONFIG_FRAMES: dict[int, str] = {
    Command.SEND_CFG1: "cfg1",
    Command.SEND_CFG2: "cfg2",
    Command.SEND_CFG3: "cfg3",
}


class _Client:
    """One client's stream: a TCP connection, or a UDP peer address."""

    def __init__(self, sim: PmuSimulator, send: Callable[[bytes], None]) -> None:
        self.sim = sim
        self.send = send
        self.decoder = C37118Decoder()
        self.task: asyncio.Task[None] | None = None
        self.close: Callable[[], None] = lambda: None

    def on_bytes(self, data: bytes) -> None:
        for f in self.decoder.feed(data):
            if f.type == "command" and f.idcode == self.sim.idcode and f.command is not None:
                self.sim.commands.append(f.command)
                self.on_command(f.command)

    def on_command(self, cmd: int) -> None:
        sim = self.sim
        now = sim.pmu_time()
        if cmd == Command.TURN_OFF:
            self.stop()
        elif cmd == Command.TURN_ON:
            if self.task is None or self.task.done():
                self.task = asyncio.get_running_loop().create_task(self._stream())
        elif cmd == Command.SEND_HEADER:
            self.send(encode_c37118_header(sim.idcode, sim.header, now, version=sim.version))
        elif cmd in _CONFIG_FRAMES and (cmd != Command.SEND_CFG3 or sim.version == 2):
            kind = _CONFIG_FRAMES[cmd]
            self.send(encode_c37118_config(sim.config, now, type=kind, version=sim.version))

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None

    async def _stream(self) -> None:
        sim = self.sim
        rate = sim.rate
        k = math.floor(sim.pmu_time() * rate) + 1  # the next whole multiple of the period
        theta = 0.0
        block: dict[str, list[float]] = {}
        block_start = k
        block_len = 0
        while True:
            due = k / rate - sim.clock_offset
            delay = due - sim.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            if sim.paused:
                k = math.floor(sim.pmu_time() * rate) + 1
                block_len = 0
                continue
            if not block_start <= k < block_start + block_len:
                block_start, block_len = k, max(1, int(_BLOCK_SECONDS * rate))
                block = sim.values_for(block_start, block_len)
            i = k - block_start
            freq = block["grid/Frequency"][i]
            try:
                self.send(sim.data_frame(k, block, i, theta))
            except (ConnectionError, OSError):
                return
            sim.frames_sent += 1
            # the phasors turn by the frequency's distance from nominal (C37.118.1 phasor definition)
            theta = math.remainder(theta + 2.0 * math.pi * (freq - sim.fnom) / rate, 2.0 * math.pi)
            k += 1


class _TcpProtocol(asyncio.Protocol):
    def __init__(self, sim: PmuSimulator) -> None:
        self.sim = sim
        self.client: _Client | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.client = _Client(self.sim, transport.write)
        self.client.close = transport.close
        self.sim._clients.add(self.client)

    def data_received(self, data: bytes) -> None:
        assert self.client is not None
        self.client.on_bytes(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client is not None:
            self.client.stop()
            self.sim._clients.discard(self.client)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, sim: PmuSimulator) -> None:
        self.sim = sim
        self.transport: asyncio.DatagramTransport | None = None
        self.peers: dict[Any, _Client] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (on 3.11 the selector's datagram transport does not subclass DatagramTransport)
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        client = self.peers.get(addr)
        if client is None:
            transport = self.transport
            assert transport is not None

            def send(frame: bytes, addr: Any = addr) -> None:
                transport.sendto(frame, addr)

            client = self.peers[addr] = _Client(self.sim, send)
            client.close = lambda: self._forget(addr)
            self.sim._clients.add(client)
        client.on_bytes(data)

    def _forget(self, addr: Any) -> None:
        client = self.peers.pop(addr, None)
        if client is not None:
            client.stop()
            self.sim._clients.discard(client)

    def error_received(self, exc: Exception) -> None:
        pass  # a peer that went away: its stream ends when it sends "off" or we stop

    def connection_lost(self, exc: Exception | None) -> None:
        for addr in list(self.peers):
            self._forget(addr)


class PmuSimulator:
    """Serve `scenario` as a PMU with stream IDCODE `idcode`.

    `format` is the C37.118 FORMAT word (bit 3 FREQ/DFREQ float, bit 2 analogs float, bit 1
    phasors float, bit 0 polar). `rate` is frames per second. `phasors` is "phases" (VA, VB, VC,
    IA, IB, IC; VA and IA for a single-phase scenario), "positive" (V1, I1) or "both".
    `voltage_scale` / `current_scale` are the volts / amperes per count of integer phasors.
    """

    def __init__(
        self,
        scenario: GridScenario,
        *,
        idcode: int = 1,
        format: int = 0x000E,
        rate: int = 50,
        version: int = 2,
        station: str = "GRIDTAP SIM",
        phasors: str = "phases",
        fnom: int = 50,
        voltage_scale: float = 0.01,
        current_scale: float = 0.01,
        time_base: int = 1_000_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= 1000:
            raise InvalidValueError(f"rate must be whole frames per second 1..1000, got {rate!r}")
        if not isinstance(format, int) or not 0 <= format <= 0xF:
            raise InvalidValueError(f"format must be a FORMAT word 0x0..0xF, got {format!r}")
        if version not in (1, 2):
            raise InvalidValueError(f"version must be 1 (2005) or 2 (2011), got {version!r}")
        phases = sum(
            1 for k in scenario.sample(scenario.start).grid if k.startswith("Voltage_L") and len(k) == 10
        )
        names, units, scales, components = _phasor_layout(phasors, phases, voltage_scale, current_scale)
        self.scenario = scenario
        self.idcode = idcode
        self.rate = rate
        self.version = version
        self.fnom = fnom
        self.phases = phases
        self.phasor_set = phasors
        self.clock = clock
        self.config = C37118Config(
            idcode,
            [
                C37118PmuConfig(
                    station,
                    idcode,
                    format,
                    phasor_names=names,
                    phasor_units=units,
                    phasor_scales=scales,
                    phasor_components=components,
                    fnom=fnom,
                )
            ],
            time_base=time_base,
            data_rate=rate,
        )
        self.header = f"gridtap simulated PMU {station!r}: a GridScenario served over IEEE C37.118.2"
        self.phasor_names = names
        # fault switches
        self.stat = 0
        self.time_quality = 0
        self.leap_pending = False
        self.leap_occurred = False
        self.leap_delete = False
        self.clock_offset = 0.0
        self.paused = False
        self.absent: set[str] = set()
        # what happened
        self.commands: list[int] = []
        self.frames_sent = 0
        self._clients: set[_Client] = set()
        self._server: Any = None
        self._udp: asyncio.DatagramTransport | None = None
        self._listen: tuple[str, int, str] | None = None
        self._task: asyncio.Task[None] | None = None

    # --- values ---------------------------------------------------------------------------------

    def pmu_time(self) -> float:
        """The PMU's clock: the local one plus `clock_offset`."""
        return self.clock() + self.clock_offset

    def values_for(self, k0: int, n: int) -> dict[str, list[float]]:
        """Scenario values for frames k0 .. k0+n-1 (frame k is at k/rate)."""
        t0 = max(k0 / self.rate, self.scenario.start)
        series = self.scenario.series(t0, t0 + (n - 1) / self.rate, 1.0 / self.rate)
        return {key: v.tolist() for key, v in series.items()}

    def phasors_at(self, values: dict[str, list[float]], i: int, theta: float) -> list[complex]:
        """The phasors of frame i of a block, the reference angle turned by `theta` (rad)."""
        volts, amps = [], []
        for n in range(self.phases):
            p = f"L{n + 1}"
            v = cmath.rect(values[f"grid/Voltage_{p}"][i], theta + _PHASE_ANGLES[n])
            s = complex(values[f"grid/ActivePower_{p}"][i], values[f"grid/ReactivePower_{p}"][i])
            volts.append(v)
            amps.append((s / v).conjugate())
        out: list[complex] = []
        if self.phasor_set in ("phases", "both"):
            out += volts + amps
        if self.phasor_set in ("positive", "both"):
            out.append((volts[0] + _A * volts[1] + _A * _A * volts[2]) / 3.0)
            out.append((amps[0] + _A * amps[1] + _A * _A * amps[2]) / 3.0)
        if self.absent:
            nan = complex(math.nan, math.nan)
            out = [nan if name in self.absent else x for name, x in zip(self.phasor_names, out, strict=True)]
        return out

    def data_frame(self, k: int, values: dict[str, list[float]], i: int, theta: float) -> bytes:
        """The data frame for frame number k (at k/rate s since the epoch)."""
        soc, index = divmod(k, self.rate)
        fraction = round(index * self.config.time_base / self.rate)
        pmu = C37118PmuData(
            phasors=self.phasors_at(values, i, theta),
            freq=values["grid/Frequency"][i],
            rocof=values["grid/Frequency_RoCoF"][i],
            stat=self.stat,
        )
        return encode_c37118_data(
            self.config,
            (soc, fraction),
            [pmu],
            version=self.version,
            time_quality=self.time_quality,
            leap_pending=self.leap_pending,
            leap_occurred=self.leap_occurred,
            leap_delete=self.leap_delete,
        )

    # --- serving --------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, transport: str = "tcp") -> int:
        """Listen for clients (TCP) or command datagrams (UDP); returns the port."""
        loop = asyncio.get_running_loop()
        if transport == "tcp":
            self._server = await loop.create_server(lambda: _TcpProtocol(self), host, port)
            bound = int(self._server.sockets[0].getsockname()[1])
        elif transport == "udp":
            udp, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self), local_addr=(host, port))
            self._udp = udp
            bound = int(udp.get_extra_info("sockname")[1])
        else:
            raise InvalidValueError(f"transport must be 'tcp' or 'udp', got {transport!r}")
        self._listen = (host, bound, transport)
        return bound

    @property
    def clients(self) -> int:
        return len(self._clients)

    async def drop_connections(self, down_for: float = 0.0) -> None:
        """Cut every client. With `down_for` > 0 the PMU also stops listening for that long."""
        for client in list(self._clients):
            client.stop()
            client.close()
        if down_for > 0 and self._listen is not None:
            host, port, transport = self._listen
            await self._close_listener()

            async def come_back() -> None:
                await asyncio.sleep(down_for)
                await self.start(host, port, transport=transport)

            self._task = asyncio.create_task(come_back())

    async def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for client in list(self._clients):
            client.stop()
            client.close()
        await self._close_listener()

    async def __aenter__(self) -> PmuSimulator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _phasor_layout(
    phasors: str, phases: int, voltage_scale: float, current_scale: float
) -> tuple[list[str], list[str], list[float], list[str | None]]:
    names: list[str] = []
    units: list[str] = []
    components: list[str | None] = []
    if phasors not in ("phases", "positive", "both"):
        raise InvalidValueError(f"phasors must be 'phases', 'positive' or 'both', got {phasors!r}")
    if phasors != "phases" and phases != 3:
        raise InvalidValueError(f"a {phases}-phase scenario has no positive sequence to send")
    if phasors in ("phases", "both"):
        letters = "ABC"[:phases]
        names += [f"V{x}" for x in letters] + [f"I{x}" for x in letters]
        units += ["V"] * phases + ["A"] * phases
        components += list(letters) * 2
    if phasors in ("positive", "both"):
        names += ["V1", "I1"]
        units += ["V", "A"]
        components += ["positive", "positive"]
    scales = [voltage_scale if u == "V" else current_scale for u in units]
    return names, units, scales, components
