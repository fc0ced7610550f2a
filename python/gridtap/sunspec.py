"""SunSpec discovery: find the "SunS" marker, walk the model chain, pick the meter model."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gridtap.errors import GridtapError

__all__ = [
    "BASES",
    "METER_MODELS",
    "MeterModel",
    "ModelEntry",
    "SunSpecError",
    "discover_meter",
    "scan_models",
]

# where devices put the "SunS" marker, in the order the SunSpec spec suggests trying them
BASES = (40000, 0, 50000)
MARKER = (0x5375, 0x6E53)  # "SunS"
END = 0xFFFF
METER_MODELS = {201: "sunspec_int", 202: "sunspec_int", 203: "sunspec_int", 204: "sunspec_int",
                211: "sunspec_float", 212: "sunspec_float", 213: "sunspec_float", 214: "sunspec_float"}  # fmt: skip
MAX_MODELS = 64  # a chain longer than this is corrupt

ReadHolding = Callable[[int, int], Awaitable[list[int] | None]]


class SunSpecError(GridtapError, LookupError):
    """No SunSpec marker, a corrupt model chain, or no meter model on the device."""


@dataclass(frozen=True)
class ModelEntry:
    model_id: int
    address: int  # the model's ID register
    length: int  # registers after the ID and length registers


@dataclass(frozen=True)
class MeterModel:
    model_id: int
    address: int
    length: int

    @property
    def profile_name(self) -> str:
        return METER_MODELS[self.model_id]


async def scan_models(read_holding: ReadHolding) -> tuple[int, list[ModelEntry]]:
    """The SunSpec base address and the models found there, in chain order.

    `read_holding(address, count)` returns registers, or None for an exception response.
    """
    for base in BASES:
        regs = await read_holding(base, 2)
        if regs is not None and tuple(regs[:2]) == MARKER:
            break
    else:
        raise SunSpecError(f"no SunSpec marker 'SunS' at {', '.join(map(str, BASES))}")
    models: list[ModelEntry] = []
    addr = base + 2
    for _ in range(MAX_MODELS):
        header = await read_holding(addr, 2)
        if header is None or len(header) < 2:
            raise SunSpecError(f"model chain broken at register {addr}: no header")
        model_id, length = header[0], header[1]
        if model_id == END:
            return base, models
        models.append(ModelEntry(model_id, addr, length))
        addr += 2 + length
        if addr > 0xFFFF:
            break
    raise SunSpecError(f"model chain from {base} does not end (more than {MAX_MODELS} models or past 65535)")


async def discover_meter(read_holding: ReadHolding) -> MeterModel:
    """The first meter model (201-204, 211-214) on the device."""
    _, models = await scan_models(read_holding)
    for m in models:
        if m.model_id in METER_MODELS:
            return MeterModel(m.model_id, m.address, m.length)
    found = ", ".join(str(m.model_id) for m in models) or "none"
    raise SunSpecError(f"no SunSpec meter model (201-204, 211-214) on the device; models found: {found}")
