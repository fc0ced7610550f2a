"""The live status (python/gridtap/status.py) of a real polled meter and a real edge cycle.

A simulated SDM630 serves the spec's example site (L1 +15 kW, L2 −3 kW, L3 −2 kW at the grid) on
loopback; a `ModbusMeter` polls it into a `Dal`; `PhaseZeroExport` charges the exporting phases
(+3 kW on L2, +2 kW on L3). Then the simulator stops (the meter is unplugged).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from gridtap import Dal, Quality
from gridtap.control import EdgeCycle, PhaseZeroExport
from gridtap.modbus import ModbusMeter
from gridtap.pmu import PmuMeter
from gridtap.pollstats import PollStats
from gridtap.sim.pmu_server import PmuSimulator
from gridtap.sim.server import MeterSimulator
from gridtap.status import RecentLog, SiteStatus, StatusOptions, run_status
from simkit import SPEC_SITE, run, static_site, until

BATTERY = {"ActivePower_L1": 0.0, "ActivePower_L2": 0.0, "ActivePower_L3": 0.0, "ActivePower": 0.0,
           "MaxChargePower": 10000.0, "MaxDischargePower": 10000.0}  # fmt: skip


def row(table: str, first_cell: str) -> str:
    found = [line for line in table.splitlines() if line.strip().startswith(first_cell)]
    assert len(found) == 1, (first_cell, table)
    return found[0]


def test_table_and_log_lines_of_a_polled_meter():
    async def go() -> dict[str, object]:
        sim = MeterSimulator(static_site(**SPEC_SITE), "sdm630")
        port = await sim.start("127.0.0.1", 0)
        dal = Dal(default_max_age=2.0)
        meter = ModbusMeter.tcp("127.0.0.1", port, profile="sdm630", namespace="grid", timeout=0.5)
        cycle = EdgeCycle(dal, [PhaseZeroExport()])
        recent = RecentLog()
        status = SiteStatus(dal, [meter], [cycle], title="gridtap run — test", recent=recent)
        seen: dict[str, object] = {"changes_before": status.changes()}  # nothing polled yet
        task = asyncio.create_task(meter.poll(dal, interval=0.1))
        try:
            assert await until(lambda: meter.stats.polls >= 3 and meter.link_up, 10)
            dal.write_many("battery", BATTERY, dal.snapshot()["grid/ActivePower"].timestamp)
            cycle.run_once()
            logging.getLogger("gridtap.test").addHandler(recent)
            logging.getLogger("gridtap.test").warning("a line for the table")
            seen["up"] = status.render()
            seen["changes_up"] = status.changes()
            seen["changes_again"] = status.changes()
            seen["summary"] = status.summary()
            await sim.stop()
            assert await until(lambda: dal.snapshot()["grid/ActivePower"].quality is Quality.ERROR, 10)
            assert await until(lambda: not meter.link_up, 10)
            cycle.run_once()
            seen["down"] = status.render()
            seen["changes_down"] = status.changes()
        finally:
            logging.getLogger("gridtap.test").removeHandler(recent)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await meter.close()
            await sim.stop()
        seen["name"] = meter.name
        return seen

    seen = run(go())
    name = str(seen["name"])
    assert seen["changes_before"] == []
    up = str(seen["up"])
    assert up.startswith("gridtap run — test — ")
    meter_row = row(up, name)
    assert re.search(rf"{re.escape(name)}\s+grid\s+UP\s+\d+\.\d s\s+\d+\s+0\s+0\s+\d+\.\d ms", meter_row), (
        meter_row
    )
    grid_row = row(up, "grid ")
    assert re.search(
        r"grid\s+\+10\.00 kW import\s+\+15\.00 kW\s+-3\.00 kW\s+-2\.00 kW\s+50\.\d{3} Hz", grid_row
    ), grid_row
    assert "GOOD" in grid_row
    setpoints = row(up, "battery setpoint")
    assert re.search(r"\+0\.00 kW\s+\+3\.00 kW\s+\+2\.00 kW\s+\+5\.00 kW", setpoints), setpoints
    assert f"{PhaseZeroExport().name}: acting" in up
    assert "WARNING gridtap.test: a line for the table" in up
    changes_up = seen["changes_up"]
    assert isinstance(changes_up, list) and len(changes_up) == 2, changes_up
    assert changes_up[0] == f"{name} (grid): link up"
    assert changes_up[1].startswith("grid: GOOD, P +10.00 kW import, f 50."), changes_up
    assert seen["changes_again"] == []
    summary = str(seen["summary"])
    assert summary.startswith("1/1 links up, polls ")
    assert (
        "grid P +10.00 kW import, f 50." in summary
        and "battery setpoint +5.00 kW, controllers acting" in summary
    )

    down = str(seen["down"])
    meter_row = row(down, name)
    assert re.search(rf"{re.escape(name)}\s+grid\s+DOWN\s", meter_row), meter_row
    assert "cannot connect" in meter_row or "link lost" in meter_row or "no response" in meter_row, meter_row
    grid_row = row(down, "grid ")
    assert grid_row.split()[1:5] == ["ERROR", "ERROR", "ERROR", "ERROR"], grid_row
    assert f"{PhaseZeroExport().name}: HOLDS: grid/ActivePower" in down
    changes = seen["changes_down"]
    assert isinstance(changes, list) and len(changes) == 2, changes
    assert changes[0].startswith(f"{name} (grid): link DOWN: ")
    assert changes[1] == "grid: ERROR (was GOOD): " + ", ".join(
        ("ActivePower", "ActivePower_L1", "ActivePower_L2", "ActivePower_L3", "Frequency")
    )


class Source:
    def __init__(self, name: str, namespace: str | None) -> None:
        self.name, self.namespace, self.link_up, self.stats = name, namespace, False, PollStats()


def test_a_link_that_never_came_up_is_reported_once_a_poll_failed():
    src = Source("/dev/ttyUSB0", None)
    status = SiteStatus(Dal(), [src])
    assert status.changes(now=1e9) == []
    src.stats.failed_polls, src.stats.last_error = 1, "no response within 1.0 s (TimeoutError)"
    assert status.changes(now=1e9) == [
        "/dev/ttyUSB0 (bus): link DOWN: no response within 1.0 s (TimeoutError)"
    ]
    assert status.changes(now=1e9) == []
    src.link_up = True
    assert status.changes(now=1e9) == ["/dev/ttyUSB0 (bus): link up"]
    assert "(bus)" in status.render(now=1e9)


def test_stale_cells_are_marked_and_the_quality_counted():
    dal = Dal(default_max_age=5.0)
    dal.write_many("grid_main", {"ActivePower": -2500.0, "Frequency": 49.95}, 1000.0)
    dal.write("grid_main/ActivePower_L1", None, 1004.0)
    status = SiteStatus(dal)
    table = status.render(now=1006.0)
    grid_row = row(table, "grid_main")
    assert "-2.50 kW EXPORT STALE" in grid_row and "49.950 Hz STALE" in grid_row and "ERROR" in grid_row
    assert grid_row.rstrip().endswith("2 STALE, 1 ERROR")
    assert status.changes(now=1006.0) == ["grid_main: ERROR: ActivePower_L1"]


def test_quiet_mode_logs_changes_and_a_summary(caplog):
    dal = Dal()
    src = Source("10.0.0.5:502", "grid")
    status = SiteStatus(dal, [src])

    async def go() -> None:
        task = asyncio.create_task(
            run_status(status, StatusOptions(live=False, interval=0.05, summary_every=0.2))
        )
        await asyncio.sleep(0.1)
        src.link_up = True
        await asyncio.sleep(0.4)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.INFO, logger="gridtap.status"):
        run(go())
    messages = [r.getMessage() for r in caplog.records if r.name == "gridtap.status"]
    assert messages.count("10.0.0.5:502 (grid): link up") == 1
    assert any(m.startswith("status: 1/1 links up, polls 0") for m in messages), messages


def test_a_pmu_whose_readings_are_refused_says_why_with_its_link_up():
    """A PMU 3 s ahead of the local clock (the DAL allows 1 s): its link is up, yet nothing of it
    reaches the DAL; the table's row says why."""

    async def go() -> str:
        sim = PmuSimulator(static_site(**SPEC_SITE), idcode=8, rate=20)
        port = await sim.start(transport="tcp")
        sim.clock_offset = 3.0
        meter = PmuMeter.tcp("127.0.0.1", port, idcode=8, namespace="grid_pmu", name="pmu-roof")
        dal = Dal()
        task = asyncio.create_task(meter.poll(dal))
        try:
            assert await until(lambda: meter.stats.refused >= 3 and meter.link_up, 20)
            return SiteStatus(dal, [meter]).render()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await sim.stop()

    line = row(run(go(), timeout=60), "pmu-roof")
    assert " UP " in line
    lead = re.search(r"readings refused by the DAL: the PMU clock leads the local clock by ([0-9.]+) s", line)
    assert lead is not None and abs(float(lead.group(1)) - 3.0) < 0.3, line
