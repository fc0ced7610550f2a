"""A simulated meter: serves a GridScenario through any profile's register map over Modbus.

The registers are encoded exactly as the profile says the meter encodes them (types, word orders,
scales, SunSpec scale factors and native signs), so the real adapter reads it as it would read a
physical meter. Fault switches make it drop connections, answer slowly, answer with exceptions,
or freeze its registers. Several simulators can answer on one server (`MeterGroup`), as meters
on one RS485 line or behind one gateway do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from gridtap.profile import Profile
from gridtap.profiles import load as load_profile
from gridtap.sim.scenario import GridScenario

__all__ = ["MeterGroup", "MeterSimulator", "SunSpecLayout"]

log = logging.getLogger(__name__)

COMMON_MODEL_LENGTH = 66  # SunSpec model 1 (common): manufacturer, model, serial, ...


def _text_registers(text: str, count: int) -> list[int]:
    raw = text.encode("ascii")[: 2 * count].ljust(2 * count, b"\0")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, 2 * count, 2)]


class SunSpecLayout:
    """Where a SunSpec device's marker, common model, meter model and end marker sit."""

    def __init__(self, base: int, model_id: int, length: int) -> None:
        self.base = base
        self.model_id = model_id
        self.length = length
        self.common = base + 2
        self.model = self.common + 2 + COMMON_MODEL_LENGTH  # = base + 70, i.e. 40070 for 40000
        self.end = self.model + 2 + length

    def header_registers(self) -> dict[int, list[int]]:
        names = _text_registers("gridtap", 16) + _text_registers("simulated meter", 16)
        common = [1, COMMON_MODEL_LENGTH, *names]
        common += [0] * (COMMON_MODEL_LENGTH + 2 - len(common))
        return {
            self.base: [0x5375, 0x6E53],
            self.common: common,
            self.model: [self.model_id, self.length],
            self.end: [0xFFFF, 0],
        }


_MODEL_LENGTH = {"sunspec_int": 105, "sunspec_float": 124}


class MeterSimulator:
    """Serve `scenario` as a meter of type `profile` (a name, path or Profile).

    For a SunSpec profile the device gets the "SunS" marker at `sunspec_base`, a common model and
    the meter model `sunspec_model` (default 203 or 213). `overrides` forces channel values (None =
    the meter's "not available" encoding). Fault switches, changeable while serving:
    `delay` (s before each answer), `exception` (an ExcCodes for every read, or None),
    `exception_at` (start addresses whose reads fail with ILLEGAL_ADDRESS), `frozen` (serve the last
    registers unchanged), `silent` (answer nothing, as a meter that is off or unplugged), and
    `await drop_connections()`.
    """

    def __init__(
        self,
        scenario: GridScenario,
        profile: str | Profile = "sdm630",
        *,
        unit_id: int = 1,
        clock: Callable[[], float] = time.time,
        sunspec_base: int = 40000,
        sunspec_model: int | None = None,
        overrides: Mapping[str, float | None] | None = None,
    ) -> None:
        self.scenario = scenario
        p = profile if isinstance(profile, Profile) else load_profile(profile)
        self.sunspec: SunSpecLayout | None = None
        if p.addressing == "sunspec_model":
            model = sunspec_model or p.models[min(2, len(p.models) - 1)]
            if model not in p.models:
                raise ValueError(f"{p.name} serves SunSpec models {p.models}, not {model}")
            self.sunspec = SunSpecLayout(sunspec_base, model, _MODEL_LENGTH[p.name])
            p = p.located(self.sunspec.model, model)
        self.profile = p
        self.unit_id = unit_id
        self.clock = clock
        self.overrides: dict[str, float | None] = dict(overrides or {})
        # fault switches
        self.delay = 0.0
        self.exception: ExcCodes | None = None
        self.exception_at: set[int] = set()
        self.frozen = False
        self.silent = False
        self.requests: deque[tuple[int, int, int]] = deque(maxlen=1000)
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self._listen: tuple[str, int, str] | None = None
        self._layout()

    # --- register image -------------------------------------------------------------------------

    def _layout(self) -> None:
        spans = [(b.start, b.end) for b in self.profile.blocks]
        headers = self.sunspec.header_registers() if self.sunspec else {}
        spans += [(a, a + len(regs)) for a, regs in headers.items()]
        self._lo = min(lo for lo, _ in spans)
        self._hi = max(hi for _, hi in spans)
        self._image = np.zeros(self._hi - self._lo, dtype=np.uint16)
        for addr, regs in headers.items():
            self._image[addr - self._lo : addr - self._lo + len(regs)] = regs
        # frame offset → image offset, block by block
        self._scatter = []
        pos = 0
        for b in self.profile.blocks:
            self._scatter.append((pos, b.start - self._lo, b.count))
            pos += b.count

    def values_at(self, t: float) -> dict[str, float | None]:
        """The channel values served at time t (standard convention)."""
        values: dict[str, float | None] = dict(self.scenario.sample(t).grid)
        phases = self.profile.phases
        if phases < 3:
            # a meter with fewer phases sees only its own: its totals are their sums
            for q in ("ActivePower", "ReactivePower", "ApparentPower"):
                parts = [values.get(f"{q}_L{i}") for i in range(1, phases + 1)]
                if all(v is not None for v in parts):
                    values[q] = float(sum(v for v in parts if v is not None))
        values.update(self.overrides)
        return values

    def refresh(self, t: float | None = None) -> np.ndarray:
        """Recompute the register image for time t (now by default), unless frozen."""
        if not self.frozen:
            values = self.values_at(self.clock() if t is None else t)
            frame = self.profile.encode(values)
            for pos, off, count in self._scatter:
                self._image[off : off + count] = frame[pos : pos + count]
        return self._image

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if self.silent:
            # with ignore_missing_devices the server then sends no response at all
            raise NoSuchIdException(f"unit {self.unit_id} is silent")
        self.requests.append((function_code, address, count))
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        if set_values is not None:
            return ExcCodes.ILLEGAL_FUNCTION  # a meter: read-only
        if self.exception is not None:
            return self.exception
        if address in self.exception_at:
            return ExcCodes.ILLEGAL_ADDRESS
        image = self.refresh()
        lo = address - start_address
        base = self._lo - start_address
        registers[base : base + len(image)] = image.tolist()
        if lo < 0:
            return ExcCodes.ILLEGAL_ADDRESS
        return None

    def _device(self) -> SimDevice:
        data = SimData(self._lo, count=self._hi - self._lo, values=0, datatype=DataType.REGISTERS)
        return SimDevice(id=self.unit_id, simdata=[data], action=self._action)

    # --- serving --------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, framer: str = "socket") -> int:
        """Serve Modbus TCP (or RTU framing over TCP with framer="rtu"); returns the port."""
        self._server, bound = await _serve_tcp(self._device(), host, port, framer)
        self._listen = (host, bound, framer)
        return bound

    async def start_rtu(self, device: str, baudrate: int = 9600) -> None:
        """Serve Modbus RTU on a serial device (e.g. one end of a pty pair)."""
        self._server = await _serve_rtu(self._device(), device, baudrate)

    async def drop_connections(self, down_for: float = 0.0) -> None:
        """Cut every client connection. With `down_for` > 0 the meter also stops listening for
        that long (refusing reconnects), as a meter or gateway that went away would."""
        server = self._server
        if server is None:
            return
        for conn in list(server.active_connections.values()):
            conn.close()
        if down_for > 0 and self._listen is not None:
            host, port, framer = self._listen
            await server.shutdown()
            self._server = None

            async def come_back() -> None:
                await asyncio.sleep(down_for)
                await self.start(host, port, framer=framer)

            self._task = asyncio.create_task(come_back())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._server is not None:
            await self._server.shutdown()
            self._server = None

    async def __aenter__(self) -> MeterSimulator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def request_function_codes(self) -> set[int]:
        return {fc for fc, _, _ in self.requests}

    def requested_blocks(self) -> Iterable[tuple[int, int, int]]:
        return list(self.requests)


async def _serve_tcp(devices: Any, host: str, port: int, framer: str) -> tuple[Any, int]:
    """A Modbus TCP server (or RTU framing over TCP) for one device or several, started: (server,
    bound port)."""
    fr = {"socket": FramerType.SOCKET, "rtu": FramerType.RTU}[framer]
    server = ModbusTcpServer(devices, address=(host, port), framer=fr, ignore_missing_devices=True)
    await server.serve_forever(background=True)
    return server, int(server.transport.sockets[0].getsockname()[1])  # type: ignore[attr-defined]


async def _serve_rtu(devices: Any, device: str, baudrate: int) -> Any:
    """A Modbus RTU server on a serial device for one simulated device or several, started."""
    server = ModbusSerialServer(
        devices, port=device, baudrate=baudrate, framer=FramerType.RTU, ignore_missing_devices=True
    )
    await server.serve_forever(background=True)
    return server


class MeterGroup:
    """Several simulated meters answering on one server, each on its own unit ID: the meters of
    one RS485 line (`start_rtu`) or behind one Modbus TCP gateway (`start`). Each keeps its own
    scenario and fault switches; a `silent` one answers nothing while the others go on."""

    def __init__(self, sims: Sequence[MeterSimulator]) -> None:
        ids = [s.unit_id for s in sims]
        if len(set(ids)) != len(ids):
            raise ValueError(f"meters on one line need distinct unit IDs, got {ids}")
        self.sims = list(sims)
        self._server: Any = None

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, framer: str = "socket") -> int:
        self._server, bound = await _serve_tcp([s._device() for s in self.sims], host, port, framer)
        return bound

    async def start_rtu(self, device: str, baudrate: int = 9600) -> None:
        self._server = await _serve_rtu([s._device() for s in self.sims], device, baudrate)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None
