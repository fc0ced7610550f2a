"""Loopback stand-ins for what sits between an adapter and its meters at a real site: a Modbus TCP
gateway that takes one connection at a time, and a proxy that tampers with the replies.

Frames are taken apart and rebuilt here with `struct` and pymodbus's own CRC, not with gridtap's
framing code, so that tests of that code check it against an independent implementation.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable

from pymodbus.framer import FramerRTU

Tamper = Callable[[int, bytes], list[tuple[float, bytes]]]
"""(index of the reply, reply frame) -> [(delay in s, frame to send instead), ...]"""


def rtu_crc(frame: bytes) -> bytes:
    """The CRC bytes of an RTU frame as they go on the wire (low byte first)."""
    return FramerRTU.compute_CRC(frame).to_bytes(2, "big")


def split_reply(framer: str, frame: bytes) -> tuple[bytes, int, bytes]:
    """(header before the unit, unit ID, PDU) of one reply frame."""
    if framer == "socket":
        return frame[:6], frame[6], frame[7:]
    return b"", frame[0], frame[1:-2]


def join_reply(framer: str, head: bytes, unit: int, pdu: bytes) -> bytes:
    if framer == "socket":
        tid, proto, _ = struct.unpack(">HHH", head)
        return struct.pack(">HHHB", tid, proto, len(pdu) + 1, unit) + pdu
    body = bytes([unit]) + pdu
    return body + rtu_crc(body)


def oversized(extra_registers: int = 2) -> Callable[[str, bytes], bytes]:
    """A read reply carrying more registers than were asked for (byte count and data grown)."""

    def change(framer: str, frame: bytes) -> bytes:
        head, unit, pdu = split_reply(framer, frame)
        if pdu[0] not in (3, 4):
            return frame
        grown = bytes([pdu[0], pdu[1] + 2 * extra_registers]) + pdu[2:] + b"\x00\x00" * extra_registers
        return join_reply(framer, head, unit, grown)

    return change


def wrong_function_code(framer: str, frame: bytes) -> bytes:
    """FC 3 answered as FC 4 and the other way round (same registers)."""
    head, unit, pdu = split_reply(framer, frame)
    fc = pdu[0] & 0x7F
    if fc not in (3, 4):
        return frame
    swapped = (7 - fc) | (pdu[0] & 0x80)
    return join_reply(framer, head, unit, bytes([swapped]) + pdu[1:])


def wrong_unit(framer: str, frame: bytes) -> bytes:
    head, unit, pdu = split_reply(framer, frame)
    return join_reply(framer, head, (unit % 247) + 1, pdu)


# what a reply `marked()` with the default value decodes to, as a float32
MARK = struct.unpack(">f", struct.pack(">HH", 0x4049, 0x4049))[0]


def marked(value: int = 0x4049) -> Callable[[str, bytes], bytes]:
    """Every register of a read reply set to `value` (0x4049 0x4049 as a float32 is 3.1457...):
    a reply that must never be taken for another request's answer can be recognised."""

    def change(framer: str, frame: bytes) -> bytes:
        head, unit, pdu = split_reply(framer, frame)
        if pdu[0] not in (3, 4):
            return frame
        n = pdu[1] // 2
        return join_reply(framer, head, unit, pdu[:2] + struct.pack(f">{n}H", *([value] * n)))

    return change


def every(change: Callable[[str, bytes], bytes], framer: str, delay: float = 0.0) -> Tamper:
    return lambda _i, frame: [(delay, change(framer, frame))]


class ReplyProxy:
    """A TCP proxy in front of a Modbus server whose replies go through `tamper` (None: unchanged).

    `framer` is how the replies are framed ("socket" for Modbus TCP, "rtu" for RTU over TCP).
    `tamper` can be changed while running; `replies` counts the replies seen.
    """

    def __init__(self, upstream_port: int, framer: str = "socket", tamper: Tamper | None = None) -> None:
        self.upstream_port = upstream_port
        self.framer = framer
        self.tamper = tamper
        self.replies = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_w}
        pump = asyncio.create_task(self._requests(reader, up_w))
        self._tasks.add(pump)
        try:
            while True:
                frame = await self._read_reply(up_r)
                i, self.replies = self.replies, self.replies + 1
                out = self.tamper(i, frame) if self.tamper else [(0.0, frame)]
                for delay, data in out:
                    if delay > 0:
                        self._later(delay, writer, data)
                    else:
                        writer.write(data)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            pump.cancel()
            for w in (writer, up_w):
                w.close()
                self._writers.discard(w)

    def _later(self, delay: float, writer: asyncio.StreamWriter, data: bytes) -> None:
        async def send() -> None:
            await asyncio.sleep(delay)
            if not writer.is_closing():
                writer.write(data)

        t = asyncio.create_task(send())
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _requests(self, reader: asyncio.StreamReader, up: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(4096):
                up.write(data)
        up.close()

    async def _read_reply(self, r: asyncio.StreamReader) -> bytes:
        if self.framer == "socket":
            head = await r.readexactly(6)
            (length,) = struct.unpack(">H", head[4:6])
            return head + await r.readexactly(length)
        head = await r.readexactly(3)
        fc, third = head[1], head[2]
        if fc & 0x80:
            rest = 2
        elif fc in (3, 4):
            rest = third + 2
        else:
            rest = 5  # FC 6/16 echo: address (2), value or count (2), CRC (2), one byte already read
        return head + await r.readexactly(rest)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None


class OneConnectionGateway:
    """A Modbus TCP gateway stand-in: it forwards one client connection at a time to the server
    behind it (which holds several unit IDs) and closes any further connection at once, as the
    single-connection gateways found at sites do. `refused` counts the connections it closed."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.refused = 0
        self.accepted = 0
        self._busy = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._busy:
            self.refused += 1
            writer.close()
            return
        self._busy = True
        self.accepted += 1
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            self._writers |= {writer, up_w}

            async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                with contextlib.suppress(ConnectionError):
                    while data := await src.read(4096):
                        dst.write(data)

            pumps = [asyncio.create_task(pump(reader, up_w)), asyncio.create_task(pump(up_r, writer))]
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in pumps:
                    t.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
            for w in (writer, up_w):
                w.close()
                self._writers.discard(w)
        finally:
            self._busy = False

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
