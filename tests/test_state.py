"""State across restarts, piece by piece: MeterPipeline and ModbusMeter state, the state file."""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gridtap import profiles
from gridtap._core import InputError, MeterPipeline
from gridtap.modbus import ModbusMeter
from gridtap.profile import parse_profile
from gridtap.state import SiteState, StateFile, StateFileError, meter_key
from simkit import run, served, static_site

T0 = 1.8e9
SDM630 = profiles.load("sdm630")
# no counters: energy is integrated from power
POWERS = parse_profile(
    tomllib.loads('[meter]\nname = "p"\nfunction_code = 4\n[channels]\nActivePower = 0\n'), "powers"
)


def frame(**values: float) -> np.ndarray:
    return SDM630.encode(values)


def json_round_trip(state: Any) -> Any:
    return json.loads(json.dumps(state, allow_nan=False))


# --- MeterPipeline --------------------------------------------------------------------------------


def test_a_reset_counter_keeps_its_offset_through_a_saved_state() -> None:
    a = MeterPipeline(SDM630)
    for i, kwh in enumerate([1000.0, 1500.0, 20.0, 25.0]):  # a reset from 1500 to 20
        out = a.push(T0 + i, frame(EnergyImport=kwh, EnergyExport=3.0))
    assert out["EnergyImport"] == 1505.0
    saved = json_round_trip(a.state())
    assert saved["counters"]["EnergyImport"] == {"published": 1505.0, "last_raw": 25.0, "modulus": None}
    assert saved["counter_resets"] == 1

    b = MeterPipeline(SDM630)
    b.restore_state(saved)
    assert b.counter_resets == 1
    assert b.push(T0 + 100, frame(EnergyImport=26.0, EnergyExport=3.5))["EnergyImport"] == 1506.0
    # export had no reset: it continues from its own raw value
    assert b.push(T0 + 101, frame(EnergyImport=26.0, EnergyExport=4.0))["EnergyExport"] == 4.0
    # without the state, the same register gives 26 kWh: the 1480 kWh before the reset are lost
    assert MeterPipeline(SDM630).push(T0, frame(EnergyImport=26.0))["EnergyImport"] == 26.0


def test_integrated_energy_continues_from_the_saved_total() -> None:
    p = POWERS.encode
    a = MeterPipeline(POWERS)
    a.push(T0, p({"ActivePower": 3600.0}))
    out = a.push(T0 + 10, p({"ActivePower": 3600.0}))  # 3.6 kW for 10 s = 0.01 kWh
    assert out["EnergyImport"] == pytest.approx(0.01, abs=1e-12)
    saved = json_round_trip(a.state())
    assert saved["integrated"]["active"]["import_ws"] == pytest.approx(36000.0)

    b = MeterPipeline(POWERS)
    b.restore_state(saved)
    # the first frame after a restart starts the history: nothing is invented for the gap
    assert b.push(T0 + 50, p({"ActivePower": 3600.0}))["EnergyImport"] == out["EnergyImport"]
    assert b.push(T0 + 60, p({"ActivePower": 3600.0}))["EnergyImport"] == pytest.approx(0.02, abs=1e-12)


def _bad(change: Any) -> Any:
    def make(state: dict[str, Any]) -> dict[str, Any]:
        s = copy.deepcopy(state)
        change(s)
        return s

    return make


def _set(path: str, value: Any) -> Any:
    def change(s: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for p in parents:
            s = s[p]
        s[last] = value

    return _bad(change)


def _drop(path: str) -> Any:
    def change(s: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for p in parents:
            s = s[p]
        del s[last]

    return _bad(change)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_set("counters.EnergyImport.published", -5.0), "expected a finite value >= 0"),
        (_set("counters.EnergyImport.published", math.nan), "expected a finite value >= 0"),
        (_set("counters.EnergyImport.published", math.inf), "expected a finite value >= 0"),
        (_set("counters.EnergyImport.published", True), "counters.EnergyImport.published: expected a number"),
        (_set("counters.EnergyImport.published", "1505"), "expected a number"),
        (_set("counters.EnergyImport.published", 1.0), "go backwards"),
        (_set("counters.EnergyImport", {"published": None, "last_raw": None, "modulus": None}), "go backwards"),
        (_set("counters.EnergyImport", {"published": None, "last_raw": 5.0, "modulus": None}),
         "last_raw but no published"),
        (_set("counters.EnergyImport.modulus", 65536.0), "modulus"),
        (_set("invert", True), "invert"),
        (_set("channels", ["ActivePower"]), "channels"),
        (_set("counter_wraps", -1), "counter_wraps: expected a count"),
        (_set("colour", 1), "colour: unknown key"),
        (_drop("counters.EnergyExport"), "counters.EnergyExport: missing"),
        (_drop("integrated"), "integrated: missing"),
        (_set("integrated.active", {"import_ws": 1.0, "export_ws": 0.0, "gap_count": 0, "gap_seconds": 0.0}),
         "integrated.active: unknown key"),
        (lambda s: "not a dict", "expected a dict"),
    ],
)  # fmt: skip
def test_a_state_that_does_not_fit_is_refused_and_changes_nothing(make: Any, says: str) -> None:
    a = MeterPipeline(SDM630)
    a.push(T0, frame(EnergyImport=1500.0, EnergyExport=3.0))
    b = MeterPipeline(SDM630)
    b.push(T0, frame(EnergyImport=100.0, EnergyExport=1.0))
    before = b.state()
    bad = make(a.state())
    with pytest.raises(InputError, match=says):
        b.restore_state(bad)
    assert b.state() == before
    assert b.push(T0 + 1, frame(EnergyImport=101.0, EnergyExport=1.0))["EnergyImport"] == 101.0


def test_integrated_totals_are_checked() -> None:
    a = MeterPipeline(POWERS)
    a.push(T0, POWERS.encode({"ActivePower": 1000.0}))
    a.push(T0 + 36, POWERS.encode({"ActivePower": 1000.0}))  # 36 kWs = 0.01 kWh
    for total, says in ((-1.0, "finite total >= 0"), (math.nan, "finite total >= 0"), (1.0, "go backwards")):
        s = a.state()
        s["integrated"]["active"]["import_ws"] = total
        with pytest.raises(InputError, match=says):
            a.restore_state(s)
    assert a.state()["integrated"]["active"]["import_ws"] == pytest.approx(36000.0)
    # a pipeline over a profile with counters refuses integrated totals, and the reverse
    with pytest.raises(InputError, match="channels"):
        MeterPipeline(SDM630).restore_state(a.state())


# --- ModbusMeter ----------------------------------------------------------------------------------


def test_meter_state_names_the_meter_it_belongs_to() -> None:
    m = ModbusMeter.tcp("127.0.0.1", 1, profile="sdm630", unit_id=3, namespace="grid_main")
    st = json_round_trip(m.state())
    assert {k: st[k] for k in ("namespace", "unit_id", "profile", "invert")} == {
        "namespace": "grid_main",
        "unit_id": 3,
        "profile": "sdm630",
        "invert": False,
    }
    for other in (
        ModbusMeter.tcp("127.0.0.1", 1, profile="sdm630", unit_id=4, namespace="grid_main"),
        ModbusMeter.tcp("127.0.0.1", 1, profile="sdm630", unit_id=3, namespace="grid"),
        ModbusMeter.tcp("127.0.0.1", 1, profile="sdm630", unit_id=3, namespace="grid_main", invert=True),
        ModbusMeter.tcp("127.0.0.1", 1, profile="sdm72", unit_id=3, namespace="grid_main"),
    ):
        with pytest.raises(ValueError, match="the state is of"):
            other.restore_state(st)
    same = ModbusMeter.tcp("127.0.0.1", 9, profile="sdm630", unit_id=3, namespace="grid_main")
    same.restore_state(st)
    with pytest.raises(ValueError, match="expected a meter state with keys"):
        same.restore_state({**st, "extra": 1})


def test_a_sunspec_meter_applies_its_state_when_it_finds_its_model() -> None:
    async def go() -> tuple[Any, Any, float | None]:
        site = static_site(load_w=(1000.0, 1000.0, 1000.0))
        async with served(site, "sunspec_int", sunspec_model=203, overrides={"EnergyImport": 7.0}) as (
            _,
            port,
        ):
            first = ModbusMeter.tcp("127.0.0.1", port, profile="sunspec")
            await first.read(groups=("fast", "slow"))
            await first.close()
            st = json_round_trip(first.state())
            assert st["profile"] == "sunspec"
            st["pipeline"]["counters"]["EnergyImport"]["published"] = 5000.0
            st["pipeline"]["counters"]["EnergyImport"]["last_raw"] = 7.0
            again = ModbusMeter.tcp("127.0.0.1", port, profile="sunspec")
            again.restore_state(st)
            pending = again.state()  # before discovery: what it was given, not nothing
            readings = await again.read(groups=("fast", "slow"))
            await again.close()
            return pending, st, readings["EnergyImport"].value

    pending, st, value = run(go())
    assert pending == st
    assert value == 5000.0  # raw 7 kWh, unchanged since the save: published continues at 5000


# --- the state file -------------------------------------------------------------------------------


class Source:
    def __init__(self, state: Any = None, refuse: bool = False) -> None:
        self._state, self.refuse, self.restored = state, refuse, None

    def state(self) -> Any:
        return self._state

    def restore_state(self, state: Any) -> None:
        if self.refuse:
            raise ValueError("does not fit")
        self.restored = state


def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    f = StateFile(tmp_path / "s.json")
    f.save({"a": {"x": 1}})
    f.save({"a": {"x": 2}})
    assert f.load() == {"a": {"x": 2}}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]
    data = json.loads((tmp_path / "s.json").read_text())
    assert (data["format"], data["version"]) == ("gridtap-state", 1)
    with pytest.raises(StateFileError, match="not serialisable"):
        f.save({"a": {"x": math.nan}})
    assert f.load() == {"a": {"x": 2}}  # untouched


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"meters": {}}', "not a gridtap state file"),
        (b'{"format": "gridtap-state", "version": 2, "meters": {}}', "version 2"),
        (b'{"format": "gridtap-state", "version": 1, "meters": []}', "not a table"),
    ],
)
def test_an_unusable_file_is_set_aside_never_overwritten(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes, why: str
) -> None:
    path = tmp_path / "s.json"
    earlier = []
    for _ in range(2):  # twice: the second copy must not replace the first
        path.write_bytes(content)
        with caplog.at_level(logging.WARNING, logger="gridtap.state"):
            assert StateFile(path).load() == {}
        assert not path.exists()
        aside = sorted(tmp_path.glob("s.json.bad-*"))
        assert len(aside) == len(earlier) + 1
        new = next(p for p in aside if p not in earlier)
        assert new.read_bytes() == content
        assert any(str(new) in r.getMessage() and why in r.getMessage() for r in caplog.records)
        earlier = aside


def test_temporaries_of_a_killed_save_are_removed_and_others_kept(tmp_path: Path) -> None:
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / f".s.json.tmp-{int(dead.stdout)}"
    alive = tmp_path / f".s.json.tmp-{os.getppid()}"
    other = tmp_path / ".t.json.tmp-1"
    for p in (stale, alive, other):
        p.write_text("{")
    StateFile(tmp_path / "s.json").save({"a": {}})
    assert StateFile(tmp_path / "s.json").load() == {"a": {}}
    assert not stale.exists() and alive.exists() and other.exists()


def test_an_unreadable_file_is_an_error_not_a_fresh_start(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.mkdir()  # reading a folder fails like a file without permission, also as root
    with pytest.raises(StateFileError, match="cannot read"):
        StateFile(path).load()


def test_site_state_restores_by_key_keeps_others_and_sets_aside_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.json"
    ka = meter_key("grid", "tcp://10.0.0.5:502", 1, "sdm630", False)
    kb = meter_key("grid_sub", "rtu:/dev/ttyUSB0", 7, "sdm72", True)
    assert ka == "grid tcp://10.0.0.5:502 unit 1 sdm630" and kb.endswith(" inverted")
    StateFile(path).save({ka: {"v": 1}, kb: {"v": 2}, "gone": {"v": 3}})
    a, b = Source({"v": 10}), Source({"v": 20}, refuse=True)
    keeper = SiteState(path, {ka: a, kb: b})
    with caplog.at_level(logging.WARNING, logger="gridtap.state"):
        assert keeper.restore() == 1
    assert a.restored == {"v": 1}
    copies = list(tmp_path.glob("s.json.bad-*"))
    assert len(copies) == 1 and kb in json.loads(copies[0].read_text())["meters"]
    assert any(kb in r.getMessage() and "does not fit" in r.getMessage() for r in caplog.records)
    keeper.save()
    # the meters' current states, plus the one whose meter is not in this site
    assert StateFile(path).load() == {ka: {"v": 10}, kb: {"v": 20}, "gone": {"v": 3}}


def test_an_older_collection_never_replaces_a_newer_save(tmp_path: Path) -> None:
    src = Source({"v": 1})
    keeper = SiteState(tmp_path / "s.json", {"k": src})
    old = keeper.collect()
    src._state = {"v": 2}
    keeper.save()
    keeper.write(*old)  # a periodic save that was slow to get to the disk
    assert StateFile(tmp_path / "s.json").load() == {"k": {"v": 2}}


def test_a_folder_that_cannot_be_written_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StateFileError, match="cannot write"):
        StateFile(tmp_path / "missing" / "s.json").save({})


# --- virtual meters and the Python EnergyIntegrator ------------------------------------------------


def test_energy_integrator_state_per_phase() -> None:
    from gridtap._core import EnergyIntegrator

    e = EnergyIntegrator(max_gap=60.0)
    ts = np.array([T0, T0 + 36.0])
    e.update(ts, np.array([[1000.0, -2000.0], [1000.0, -2000.0]]), np.array([[500.0, 0.0], [500.0, 0.0]]))
    st = json_round_trip(e.state())
    assert [p["import_ws"] for p in st["active"]] == [36000.0, 0.0]  # 1 kW for 36 s on L1
    assert [p["export_ws"] for p in st["active"]] == [0.0, 72000.0]
    assert st["reactive"][0]["import_ws"] == 18000.0
    again = EnergyIntegrator(max_gap=60.0)
    again.restore_state(st)
    assert again.import_kwh_phases == [0.01, 0.0] and again.export_kwh == 0.02
    assert again.last_timestamp is None  # the gap across the restart is not integrated
    with pytest.raises(InputError, match="2 phase"):
        e2 = EnergyIntegrator()
        e2.update(np.array([T0]), np.array([1.0]))
        e2.restore_state(st)
    bad = copy.deepcopy(st)
    bad["active"][1]["export_ws"] = -1.0
    fresh = EnergyIntegrator()
    with pytest.raises(InputError, match="phase 1: energy state export_ws is -1"):
        fresh.restore_state(bad)
    assert fresh.state() == {"active": [], "reactive": []}


def test_a_virtual_meter_continues_its_integrated_energy() -> None:
    from gridtap.dal import Dal
    from gridtap.virtual import VirtualGridMeter

    def meter() -> tuple[Dal, VirtualGridMeter]:
        # T0 lies ahead of the wall clock: the DAL's clock is set past the test's last instant
        dal = Dal(default_max_age=1e9, clock=lambda: T0 + 1000)
        return dal, VirtualGridMeter(dal, pv=None, battery=None, namespace="grid_v")

    dal, a = meter()
    for t in (T0, T0 + 10):
        dal.write("load/ActivePower", 3600.0, t)
        a.update(t)
    assert dal.snapshot(T0 + 10).value("grid_v/EnergyImport") == pytest.approx(0.01)
    st = json_round_trip(a.state())
    with pytest.raises(ValueError, match="before the first update"):
        a.restore_state(st)

    dal, b = meter()
    b.restore_state(st)
    dal.write("load/ActivePower", 3600.0, T0 + 100)
    b.update(T0 + 100)
    assert dal.snapshot(T0 + 100).value("grid_v/EnergyImport") == pytest.approx(0.01)
    dal.write("load/ActivePower", 3600.0, T0 + 110)
    b.update(T0 + 110)
    assert dal.snapshot(T0 + 110).value("grid_v/EnergyImport") == pytest.approx(0.02)
    other = VirtualGridMeter(Dal(), pv=None, battery=None, namespace="grid_w")
    with pytest.raises(ValueError, match="the state is of namespace 'grid_v'"):
        other.restore_state(st)


def test_an_unusable_file_that_cannot_be_set_aside_is_one_error_naming_it() -> None:
    """/proc/version is not JSON, and no copy of it can be made beside it: StateFileError naming
    the file and why, not the OSError of the copy."""
    with pytest.raises(
        StateFileError, match=r"state file /proc/version: unusable \(not valid JSON.*cannot be set aside"
    ):
        StateFile("/proc/version").load()
