"""A PMU's integrated energy across restarts: saved in the site's state file under a key that names
the stream, restored before the first frame, never going backwards, never applied to another PMU."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gridtap import Dal
from gridtap.pmu import PmuMeter
from gridtap.sim.pmu_server import PmuSimulator
from gridtap.site import load_site, run_site
from gridtap.state import StateFile
from simkit import run, static_site

# 10 kW import, 2 kVAR inductive, on three phases
LOAD = {"load_w": (4000.0, 3000.0, 3000.0), "load_var": (1000.0, 500.0, 500.0)}

SITE = """
[site]
name = "pmu-state"
state_file = "{state}"
state_interval = 0.3

[[pmu]]
namespace = "grid_pmu"
transport = "tcp"
host = "127.0.0.1"
port = {port}
idcode = {idcode}
"""


def json_round_trip(x: Any) -> Any:
    return json.loads(json.dumps(x))


def _energy(state: dict[str, Any]) -> tuple[float, float]:
    """(import, reactive import) in W·s from a PMU state, summed over its phases."""
    e = state["energy"]
    return sum(p["import_ws"] for p in e["active"]), sum(p["import_ws"] for p in e["reactive"])


# --- the state and who it belongs to ----------------------------------------------------------------


def test_pmu_state_names_the_stream_it_belongs_to() -> None:
    m = PmuMeter.tcp("127.0.0.1", 4712, idcode=12, namespace="grid_pmu", pmu="STATION B")
    st = json_round_trip(m.state())
    assert {k: st[k] for k in ("namespace", "idcode", "pmu", "invert")} == {
        "namespace": "grid_pmu",
        "idcode": 12,
        "pmu": "STATION B",
        "invert": False,
    }
    for other in (
        PmuMeter.tcp("127.0.0.1", 4712, idcode=13, namespace="grid_pmu", pmu="STATION B"),
        PmuMeter.tcp("127.0.0.1", 4712, idcode=12, namespace="grid", pmu="STATION B"),
        PmuMeter.tcp("127.0.0.1", 4712, idcode=12, namespace="grid_pmu", pmu="STATION A"),
        PmuMeter.tcp("127.0.0.1", 4712, idcode=12, namespace="grid_pmu", pmu=None),
        PmuMeter.tcp("127.0.0.1", 4712, idcode=12, namespace="grid_pmu", pmu="STATION B", invert=True),
    ):
        with pytest.raises(ValueError, match="the state is of"):
            other.restore_state(st)
    same = PmuMeter.udp("127.0.0.1", 4713, idcode=12, namespace="grid_pmu", pmu="STATION B")
    same.restore_state(st)
    with pytest.raises(ValueError, match="expected a PMU state with keys"):
        same.restore_state({**st, "extra": 1})


def test_totals_that_do_not_fit_are_refused_and_change_nothing() -> None:
    m = PmuMeter.tcp("127.0.0.1", 4712, idcode=12)
    st = json_round_trip(m.state())
    st["energy"] = {"active": [{"import_ws": -5.0, "export_ws": 0.0, "gap_count": 0, "gap_seconds": 0.0}],
                    "reactive": [{"import_ws": 0.0, "export_ws": 0.0, "gap_count": 0, "gap_seconds": 0.0}]}  # fmt: skip
    before = m.state()
    with pytest.raises(ValueError, match=r"127\.0\.0\.1:4712/12: saved energy not restored"):
        m.restore_state(st)
    assert m.state() == before
    with pytest.raises(ValueError, match="expected a dict"):
        m.restore_state({**st, "energy": [1, 2]})


# --- through a site's state file -----------------------------------------------------------------------


async def _site_run(tmp_path: Path, port: int, idcode: int, seconds: float) -> list[tuple[float, float]]:
    """Run the site file for `seconds`; every (timestamp, EnergyImport) the PMU wrote."""
    path = tmp_path / "site.toml"
    path.write_text(SITE.format(state=tmp_path / "state.json", port=port, idcode=idcode))
    site = load_site(path)
    dal = Dal()
    written: list[tuple[float, float]] = []

    def seen(updates: list) -> None:
        for channel, r in updates:
            if channel == "grid_pmu/EnergyImport" and r.value is not None:
                written.append((r.timestamp, r.value))

    dal.subscribe(seen)
    assert await run_site(site, duration=seconds, dal=dal) == 0
    return written


def test_energy_continues_after_a_restart_and_never_goes_backwards(tmp_path: Path) -> None:
    async def go() -> tuple[list, dict, list, dict, int]:
        sim = PmuSimulator(static_site(**LOAD), idcode=12, rate=25)
        port = await sim.start()
        try:
            first = await _site_run(tmp_path, port, 12, 1.5)
            saved = StateFile(tmp_path / "state.json").load()
            second = await _site_run(tmp_path, port, 12, 1.5)
            again = StateFile(tmp_path / "state.json").load()
        finally:
            await sim.stop()
        return first, saved, second, again, port

    first, saved, second, again, port = run(go())
    [(key, state)] = saved.items()
    assert key == f"grid_pmu pmu tcp://127.0.0.1:{port} idcode 12"
    imported, reactive = _energy(state)
    # 10 kW and 2 kVAR for about the run's length (frames from the first to the last taken)
    span = imported / 10_000.0
    assert 0.5 < span < 1.6 and reactive == pytest.approx(span * 2_000.0, rel=1e-6)
    # the first run published what it integrated; the shutdown saved at least that
    assert len(first) >= 3 and max(v for _, v in first) <= imported / 3.6e6 + 1e-12
    # the second run starts from the saved total and only goes up from there
    values = [v for _, v in second]
    assert len(values) >= 3 and values[0] >= imported / 3.6e6
    assert values == sorted(values) and values[-1] > values[0]
    # from there on, 10 kW for the time between the energy's timestamps
    assert values[-1] - values[0] == pytest.approx((second[-1][0] - second[0][0]) * 10.0 / 3600.0, rel=1e-6)
    assert _energy(again[key])[0] > imported


def test_a_changed_site_file_does_not_apply_one_pmus_energy_to_another(tmp_path: Path) -> None:
    async def go() -> tuple[dict, list, dict]:
        twelve = PmuSimulator(static_site(**LOAD), idcode=12, rate=25)
        thirteen = PmuSimulator(static_site(load_w=(100.0, 100.0, 100.0)), idcode=13, rate=25)
        port12, port13 = await twelve.start(), await thirteen.start()
        try:
            await _site_run(tmp_path, port12, 12, 1.2)
            saved = StateFile(tmp_path / "state.json").load()
            # the same namespace now reads another PMU stream
            other = await _site_run(tmp_path, port13, 13, 1.2)
            after = StateFile(tmp_path / "state.json").load()
        finally:
            await twelve.stop()
            await thirteen.stop()
        return saved, other, after

    saved, other, after = run(go())
    [(key12, state12)] = saved.items()
    # 300 W from zero: about 0.0001 kWh, nowhere near the 10 kW stream's total
    assert other and max(v for _, v in other) < 0.0002 < _energy(state12)[0] / 3.6e6
    assert after[key12] == state12  # kept for when that PMU comes back
    [key13] = set(after) - {key12}
    assert key13.endswith(" idcode 13")
