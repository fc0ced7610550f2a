"""C37.118.2 frames built by hand with `struct` (independent of gridtap's encoder), and a scripted
PMU that answers the start-up commands and then sends exactly the frames a test gives it."""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import math
import struct
from collections.abc import AsyncIterator, Sequence

# FORMAT: FREQ float, analogs float, phasors float, rectangular (C37.118.2 table 9)
FLOAT_RECT = 0x000E
# FRACSEC flag bits (bits 31-24 of FRACSEC)
LEAP_DELETE, LEAP_OCCURRED, LEAP_PENDING = 0x40, 0x20, 0x10
# a UTC midnight long past: 2017-01-01T00:00:00Z, right after the last leap second so far
MIDNIGHT = 1483228800


def crc_ccitt(data: bytes) -> int:
    # CRC-CCITT: polynomial 0x1021, initial 0xFFFF, no reflection, no final XOR (binascii's CRC-CCITT)
    return binascii.crc_hqx(data, 0xFFFF)


def _frame(kind: int, idcode: int, soc: int, fracsec: int, body: bytes, version: int = 2) -> bytes:
    size = 14 + len(body) + 2
    head = struct.pack(">BBHHII", 0xAA, (kind << 4) | version, size, idcode, soc, fracsec)
    data = head + body
    return data + struct.pack(">H", crc_ccitt(data))


def fracsec(fraction: int, flags: int = 0, time_quality: int = 0) -> int:
    return ((flags | time_quality) << 24) | fraction


def cfg2(
    idcode: int,
    phasors: Sequence[tuple[str, str]],
    *,
    station: str = "TEST PMU",
    fmt: int = FLOAT_RECT,
    rate: int = 10,
    time_base: int = 1_000_000,
    fnom_50: bool = True,
    phunit_scale: int = 1,
) -> bytes:
    """A CFG-2 frame for one PMU: phasors as (name, "V" or "A"); no analogs or digitals."""
    body = struct.pack(">IH", time_base, 1)
    body += station.encode().ljust(16)
    body += struct.pack(">HHHHH", idcode, fmt, len(phasors), 0, 0)
    for name, _ in phasors:
        body += name.encode().ljust(16)
    for _, unit in phasors:
        body += struct.pack(">I", ((0 if unit == "V" else 1) << 24) | phunit_scale)
    body += struct.pack(">HH", 1 if fnom_50 else 0, 1)
    body += struct.pack(">h", rate)
    return _frame(3, idcode, 0, 0, body)


def data_frame(
    idcode: int,
    soc: int,
    fraction: int,
    phasors: Sequence[complex],
    *,
    freq: float = 50.0,
    rocof: float = 0.0,
    stat: int = 0,
    flags: int = 0,
    time_quality: int = 0,
) -> bytes:
    """A data frame in FLOAT_RECT (NaN components are absent data)."""
    body = struct.pack(">H", stat)
    for x in phasors:
        body += struct.pack(">ff", x.real, x.imag)
    body += struct.pack(">ff", freq, rocof)
    return _frame(0, idcode, soc, fracsec(fraction, flags, time_quality), body)


def command_of(frame: bytes) -> int | None:
    if len(frame) >= 18 and frame[0] == 0xAA and (frame[1] >> 4) & 7 == 4:
        return int(struct.unpack(">H", frame[14:16])[0])
    return None


BALANCED = ("VA", "V"), ("VB", "V"), ("VC", "V"), ("IA", "A"), ("IB", "A"), ("IC", "A")


def three_phase(v: float, i: float, phi: float, theta: float = 0.0) -> list[complex]:
    """Balanced phasors: voltages v at theta, theta−120°, theta+120°; currents i lagging by phi."""
    shifts = (0.0, -2 * math.pi / 3, 2 * math.pi / 3)
    volts = [complex(v * math.cos(theta + s), v * math.sin(theta + s)) for s in shifts]
    amps = [complex(i * math.cos(theta + s - phi), i * math.sin(theta + s - phi)) for s in shifts]
    return volts + amps


class ScriptedPmu:
    """Answers "send CFG-2" with `cfg` and "turn on" by writing `frames` (a list of bytes, each
    written on its own after `gap` seconds, or all in one write when `gap` is None)."""

    def __init__(self, cfg: bytes, frames: Sequence[bytes], gap: float | None = 0.0) -> None:
        self.cfg = cfg
        self.frames = list(frames)
        self.gap = gap
        self.commands: list[int] = []
        self.sent = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readexactly(4)
                size = struct.unpack(">H", head[2:4])[0]
                frame = head + await reader.readexactly(size - 4)
                cmd = command_of(frame)
                if cmd is None:
                    continue
                self.commands.append(cmd)
                if cmd == 5:
                    writer.write(self.cfg)
                elif cmd == 2:
                    if self.gap is None:
                        writer.write(b"".join(self.frames))
                    else:
                        for f in self.frames:
                            await asyncio.sleep(self.gap)
                            writer.write(f)
                    await writer.drain()
                    self.sent.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)


@contextlib.asynccontextmanager
async def scripted(
    cfg: bytes, frames: Sequence[bytes], gap: float | None = 0.0
) -> AsyncIterator[tuple[ScriptedPmu, int]]:
    pmu = ScriptedPmu(cfg, frames, gap)
    port = await pmu.start()
    try:
        yield pmu, port
    finally:
        await pmu.stop()
