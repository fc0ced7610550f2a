"""The one connection of a Modbus bus: a TCP socket or a serial port, one request at a time.

A link sends a request, waits for the reply and checks it (gridtap.framing). Between requests it
keeps the line clean: on RTU framing the receive buffer is emptied before every request, and after
a timeout or a bad reply the link first waits until the line has gone quiet, so that the rest of a
late or broken reply is dropped and never taken for the next answer. On a serial line it keeps
the inter-frame silence of Modbus over Serial Line §2.5.1.1 (3.5 character times; 1.75 ms above
19200 baud), and an optional pause whenever the unit ID changes, for meters that need it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from gridtap.errors import GridtapError
from gridtap.framing import BadReply, ExceptionReply, Garbled, Request, parse_mbap, parse_rtu

__all__ = ["LinkLost", "ModbusLink", "NoReply", "SerialLink", "TcpLink", "char_bits", "frame_gap"]

# after a timeout or a bad reply: how long the line must stay silent before the next request
LATE_GRACE = 0.05


class LinkLost(GridtapError):
    """The connection could not be opened, or it broke: no request can go out on it."""


class NoReply(GridtapError):
    """No reply came within the timeout."""


def char_bits(bytesize: int, parity: str, stopbits: float) -> float:
    """Bits one character takes on the wire: start bit, data bits, parity bit, stop bits."""
    return 1 + bytesize + (parity.upper() != "N") + stopbits


def frame_gap(baudrate: int, bits: float = 11) -> float:
    """The silence that separates two RTU frames: 3.5 character times, fixed at 1.75 ms above
    19200 baud (Modbus over Serial Line v1.02 §2.5.1.1)."""
    return 0.00175 if baudrate > 19200 else 3.5 * bits / baudrate


class ModbusLink:
    """A connection carrying Modbus requests, one at a time. Subclasses open and write."""

    framer = "socket"
    name = ""

    def __init__(self, unit_pause: float = 0.0) -> None:
        self.unit_pause = unit_pause
        self._rx = bytearray()
        self._lost: BaseException | None = None
        self._waiter: asyncio.Future[bool] | None = None
        self._lock = asyncio.Lock()
        self._tid = 0
        self._last_unit: int | None = None
        self._last_rx = 0.0
        self._last_tx_end = 0.0
        self._troubled_at: float | None = None  # a timeout or bad reply left the line unclean
        self.gap = 0.0  # inter-frame silence kept before each request
        self.char_time = 0.0  # seconds per character on the wire (serial lines)

    # --- subclass interface ---------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        raise NotImplementedError

    async def open(self, timeout: float) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    # --- receiving ------------------------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        self._rx += data
        self._last_rx = asyncio.get_running_loop().time()
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(True)

    def _on_lost(self, exc: BaseException | None) -> None:
        self._lost = exc or ConnectionResetError("closed by the other end")
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(True)

    async def _wait_data(self, loop: asyncio.AbstractEventLoop, deadline: float) -> bool:
        """Wait for more bytes (or the loss of the link) until `deadline`; False at the deadline."""
        if loop.time() >= deadline:
            return False
        fut: asyncio.Future[bool] = loop.create_future()
        self._waiter = fut
        timer = loop.call_at(deadline, _resolve, fut, False)
        try:
            return await fut
        finally:
            timer.cancel()
            self._waiter = None

    # --- one transaction ------------------------------------------------------------------------

    async def transact(self, req: Request, timeout: float) -> bytes:
        """Send `req` and return the PDU of its reply. Raises NoReply, BadReply (and the
        ExceptionReply subclass of GridtapError for an exception response) or LinkLost."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            if self._lost is not None or not self.connected:
                raise LinkLost(f"{self.name}: not connected")
            await self._before_request(loop, req.unit)
            rtu = self.framer == "rtu"
            if rtu:
                self._rx.clear()
                frame = req.rtu()
                tid = 0
            else:
                self._tid = tid = self._tid % 0xFFFF + 1
                frame = req.mbap(tid)
            try:
                self._write(frame)
            except OSError as e:
                self.close()
                raise LinkLost(f"{self.name}: write failed: {e}") from None
            sent = loop.time()
            self._last_unit = req.unit
            wire = len(frame) * self.char_time
            self._last_tx_end = sent + wire
            # on a serial line the reply cannot start before the request has left the wire
            deadline = sent + wire + timeout
            clean = False
            try:
                while True:
                    pdu = parse_rtu(self._rx, req) if rtu else parse_mbap(self._rx, req, tid)
                    if pdu is not None:
                        clean = True
                        return pdu
                    if self._lost is not None:
                        raise LinkLost(f"{self.name}: connection lost ({self._lost})")
                    if not await self._wait_data(loop, deadline):
                        raise NoReply(f"no response within {timeout:g} s")
            except Garbled as e:
                self.close()
                raise LinkLost(f"{self.name}: {e}") from None
            except BadReply:
                if not rtu:
                    clean = True  # a whole frame was consumed: the stream is in step
                raise
            except ExceptionReply:
                clean = True  # an exception response is a whole, valid frame
                raise
            finally:
                if not clean:
                    self._troubled_at = loop.time()

    async def _before_request(self, loop: asyncio.AbstractEventLoop, unit: int) -> None:
        if self._troubled_at is not None and self.framer == "rtu":
            # a late or broken reply may still be on its way: wait for the line to go quiet, then
            # drop whatever came (bounded, in case a device babbles without end)
            limit = loop.time() + 1.0
            while (now := loop.time()) < limit:
                quiet_from = max(self._troubled_at, self._last_rx)
                wait = quiet_from + max(LATE_GRACE, self.gap) - now
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
        self._troubled_at = None
        if self.gap:
            wait = max(self._last_rx, self._last_tx_end) + self.gap - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        if self.unit_pause and self._last_unit is not None and unit != self._last_unit:
            await asyncio.sleep(self.unit_pause)


def _resolve(fut: asyncio.Future[bool], value: bool) -> None:
    if not fut.done():
        fut.set_result(value)


class _StreamProtocol(asyncio.Protocol):
    def __init__(self, link: TcpLink) -> None:
        self.link = link

    def data_received(self, data: bytes) -> None:
        self.link._on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.link._on_lost(exc)


class TcpLink(ModbusLink):
    """Modbus TCP (`framer="socket"`), or RTU frames over TCP (`framer="rtu"`, as many
    serial-to-Ethernet gateways speak)."""

    def __init__(
        self, host: str, port: int = 502, *, framer: str = "socket", unit_pause: float = 0.0
    ) -> None:
        if framer not in ("socket", "rtu"):
            raise ValueError(f"framer must be 'socket' or 'rtu', got {framer!r}")
        super().__init__(unit_pause)
        self.host = host
        self.port = port
        self.framer = framer
        self.name = f"{host}:{port}"
        self._transport: asyncio.Transport | None = None

    @property
    def connected(self) -> bool:
        return self._transport is not None and self._lost is None and not self._transport.is_closing()

    async def open(self, timeout: float) -> None:
        self.close()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, _ = await loop.create_connection(
                    lambda: _StreamProtocol(self), self.host, self.port
                )
        except TimeoutError:
            raise LinkLost(f"cannot connect to {self.name}: no answer within {timeout:g} s") from None
        except OSError as e:
            raise LinkLost(f"cannot connect to {self.name}: {e.strerror or e}") from None
        self._transport = transport
        self._rx.clear()
        self._lost = None
        self._last_unit = None
        self._troubled_at = None

    def close(self) -> None:
        t, self._transport = self._transport, None
        if t is not None:
            t.abort()  # no lingering half-sent frame; late replies go nowhere

    def _write(self, data: bytes) -> None:
        assert self._transport is not None
        self._transport.write(data)


class SerialLink(ModbusLink):
    """Modbus RTU on a serial port (e.g. /dev/ttyUSB0 to an RS485 line), opened exclusively."""

    framer = "rtu"

    def __init__(
        self,
        device: str,
        baudrate: int = 9600,
        *,
        parity: str = "N",
        stopbits: float = 1,
        bytesize: int = 8,
        unit_pause: float = 0.0,
    ) -> None:
        if isinstance(baudrate, bool) or not isinstance(baudrate, int) or baudrate <= 0:
            raise ValueError(f"{device}: baudrate must be a positive integer, got {baudrate!r}")
        if parity.upper() not in ("N", "E", "O", "M", "S"):
            raise ValueError(f"{device}: parity must be N, E, O, M or S, got {parity!r}")
        if stopbits not in (1, 1.5, 2):
            raise ValueError(f"{device}: stopbits must be 1, 1.5 or 2, got {stopbits!r}")
        if bytesize not in (5, 6, 7, 8):
            raise ValueError(f"{device}: bytesize must be 5..8, got {bytesize!r}")
        super().__init__(unit_pause)
        self.device = device
        self.baudrate = baudrate
        self.parity = parity.upper()
        self.stopbits = stopbits
        self.bytesize = bytesize
        self.name = device
        bits = char_bits(bytesize, self.parity, stopbits)
        self.char_time = bits / baudrate
        self.gap = frame_gap(baudrate, bits)
        self._port: Any = None
        self._fd: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._out = bytearray()

    @property
    def settings(self) -> tuple[int, str, float, int]:
        return (self.baudrate, self.parity, self.stopbits, self.bytesize)

    @property
    def connected(self) -> bool:
        return self._fd is not None and self._lost is None

    async def open(self, timeout: float) -> None:
        import serial

        self.close()
        try:
            port = serial.serial_for_url(
                self.device,
                baudrate=self.baudrate,
                parity=self.parity,
                stopbits=self.stopbits,
                bytesize=self.bytesize,
                exclusive=True,
                timeout=0,
                write_timeout=0,
            )
        except (serial.SerialException, OSError, ValueError) as e:
            raise LinkLost(f"cannot open {self.device}: {e}") from None
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._port = port
        self._fd = port.fileno()
        with contextlib.suppress(Exception):
            port.reset_input_buffer()
        loop.add_reader(self._fd, self._readable)
        self._rx.clear()
        self._out.clear()
        self._lost = None
        self._last_unit = None
        self._troubled_at = None

    def _readable(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError as e:  # EIO: the device went away (USB adapter pulled, pty closed)
            self._drop_fd()
            self._on_lost(e)
            return
        if not data:
            self._drop_fd()
            self._on_lost(None)
            return
        self._on_data(data)

    def _write(self, data: bytes) -> None:
        assert self._fd is not None
        if self._out:
            self._out += data
            return
        n = os.write(self._fd, data)
        if n < len(data):
            self._out += data[n:]
            assert self._loop is not None
            self._loop.add_writer(self._fd, self._writable)

    def _writable(self) -> None:
        assert self._fd is not None
        try:
            n = os.write(self._fd, self._out)
        except BlockingIOError:
            return
        except OSError as e:
            self._drop_fd()
            self._on_lost(e)
            return
        del self._out[:n]
        if not self._out and self._loop is not None:
            self._loop.remove_writer(self._fd)

    def _drop_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(fd)
            self._loop.remove_writer(fd)
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()

    def close(self) -> None:
        self._drop_fd()
        self._out.clear()
