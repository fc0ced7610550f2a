"""An RS485 line on loopback for tests: a `PtyLine` (two pseudo-terminals joined by a relay that
charges wire time) with a pymodbus RTU server holding several simulated meters on one end."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from gridtap.sim.line import PtyLine
from gridtap.sim.server import MeterGroup, MeterSimulator
from simkit import static_site


def unit_site(unit: int):
    """A site whose L1 power tells the unit apart: 1000 W × unit ID (exact in float32)."""
    return static_site(load_w=(1000.0 * unit, 100.0, 100.0), pv_w=(0.0, 0.0, 0.0))


@contextlib.asynccontextmanager
async def rtu_line(
    units: tuple[int, ...] = (1, 2, 3), baudrate: int = 38400, *, wire: bool = True, link_dir=None
) -> AsyncIterator[tuple[PtyLine, list[MeterSimulator]]]:
    """A line at `baudrate` with one SDM630 per unit ID (see `unit_site`); the adapter opens
    `line.master_port`."""
    line = PtyLine(baudrate if wire else None, link_dir=link_dir)
    sims = [MeterSimulator(unit_site(u), "sdm630", unit_id=u) for u in units]
    group = MeterGroup(sims)
    try:
        await group.start_rtu(line.meters_port, baudrate)
        yield line, sims
    finally:
        await group.stop()
        line.close()
