"""The connection to a PMU stream: TCP, or UDP carrying commands and data both.

Bytes go straight from the event loop's protocol callback to the meter (no queue, no task per
read), stamped with their arrival time: at 50 frames/s from a hundred PMUs that path is the cost
that matters. Commands are sent on the same connection.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from enum import IntEnum
from typing import Any

__all__ = ["Command", "LinkDown", "PmuLink"]


class Command(IntEnum):
    """CMD of a command frame (C37.118.2-2011 table 15)."""

    TURN_OFF = 1
    TURN_ON = 2
    SEND_HEADER = 3
    SEND_CFG1 = 4
    SEND_CFG2 = 5
    SEND_CFG3 = 6


class LinkDown(Exception):
    """The link failed (refused, dropped, silent, no configuration): channels go ERROR."""


BytesHandler = Callable[[bytes, float], None]
LostHandler = Callable[[str], None]


class _StreamProtocol(asyncio.Protocol):
    def __init__(self, on_bytes: BytesHandler, on_lost: LostHandler) -> None:
        self.on_bytes = on_bytes
        self.on_lost = on_lost

    def data_received(self, data: bytes) -> None:
        self.on_bytes(data, time.time())

    def eof_received(self) -> bool | None:
        self.on_lost("connection closed by the PMU")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.on_lost(f"connection lost: {exc}" if exc else "connection closed")


class _DatagramProtocol(asyncio.DatagramProtocol):
    def __init__(self, on_bytes: BytesHandler, on_lost: LostHandler) -> None:
        self.on_bytes = on_bytes
        self.on_lost = on_lost

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.on_bytes(data, time.time())

    def error_received(self, exc: Exception) -> None:
        # on a connected UDP socket an ICMP "port unreachable" surfaces here: nobody listens
        self.on_lost(f"UDP error: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc))

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self.on_lost(f"UDP socket closed: {exc}")


class PmuLink:
    """One open connection; `on_bytes(data, arrival_epoch)` for what arrives, `on_lost(reason)`
    once when it fails or closes."""

    def __init__(
        self,
        host: str,
        port: int,
        transport: str,
        on_bytes: BytesHandler,
        on_lost: LostHandler,
        timeout: float,
    ) -> None:
        if transport not in ("tcp", "udp"):
            raise ValueError(f"transport must be 'tcp' or 'udp', got {transport!r}")
        self.host = host
        self.port = port
        self.transport_kind = transport
        self.timeout = timeout
        self._on_bytes = on_bytes
        self._on_lost = on_lost
        self._transport: Any = None
        self._lost = False

    def _lost_once(self, reason: str) -> None:
        if not self._lost:
            self._lost = True
            self._on_lost(reason)

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        transport: Any
        where = f"{self.transport_kind.upper()} {self.host}:{self.port}"
        try:
            async with asyncio.timeout(self.timeout):
                if self.transport_kind == "tcp":
                    transport, _ = await loop.create_connection(
                        lambda: _StreamProtocol(self._on_bytes, self._lost_once), self.host, self.port
                    )
                    sock = transport.get_extra_info("socket")
                    if sock is not None:
                        # a frame is tens of bytes: do not let Nagle hold commands back
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                else:
                    transport, _ = await loop.create_datagram_endpoint(
                        lambda: _DatagramProtocol(self._on_bytes, self._lost_once),
                        remote_addr=(self.host, self.port),
                    )
        except TimeoutError:
            raise LinkDown(f"cannot connect to {where}: no answer within {self.timeout} s") from None
        except OSError as e:
            raise LinkDown(f"cannot connect to {where}: {e.strerror or e}") from None
        self._transport = transport

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._lost and not self._transport.is_closing()

    def send(self, frame: bytes) -> None:
        if not self.is_open:
            raise LinkDown("not connected")
        if self.transport_kind == "tcp":
            self._transport.write(frame)
        else:
            self._transport.sendto(frame)

    def close(self) -> None:
        self._lost = True  # a close we asked for is not a failure to report
        if self._transport is not None:
            self._transport.close()
            self._transport = None
