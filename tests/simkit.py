"""Helpers for tests that run a simulated meter and the adapter on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

from gridtap.sim.scenario import GridScenario
from gridtap.sim.server import MeterSimulator

T = TypeVar("T")

# the spec's example site: L1 +15 kW, L2 −3 kW, L3 −2 kW at the grid
SPEC_SITE = {"load_w": (15000.0, 1000.0, 1000.0), "pv_w": (0.0, 4000.0, 3000.0)}


def static_site(**kw) -> GridScenario:
    """A constant site whose scenario time starts now (the server answers at wall-clock time)."""
    return GridScenario.static(start=time.time() - 1.0, **kw)


def random_site(seed: int = 1, **kw) -> GridScenario:
    return GridScenario(seed=seed, start=time.time() - 1.0, **kw)


def run(coro: Awaitable[T], timeout: float = 60.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


@contextlib.asynccontextmanager
async def served(
    scenario: GridScenario, profile: str = "sdm630", **kw
) -> AsyncIterator[tuple[MeterSimulator, int]]:
    sim = MeterSimulator(scenario, profile, **kw)
    port = await sim.start()
    try:
        yield sim, port
    finally:
        await sim.stop()


@contextlib.contextmanager
def in_thread(sim: Any) -> Iterator[int]:
    """Serve `sim` (a simulator: `await start()` → port, `await stop()`) from an event loop in a
    thread of its own, so that the code under test can run its own `asyncio.run`; yields the port."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        port = asyncio.run_coroutine_threadsafe(sim.start(), loop).result(10)
        try:
            yield port
        finally:
            asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until(cond: Callable[[], bool], timeout: float = 10.0, step: float = 0.02) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if cond():
            return True
        await asyncio.sleep(step)
    return cond()
