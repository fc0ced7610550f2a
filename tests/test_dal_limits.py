"""The DAL refuses what cannot be physical where the catalogue says so: a negative magnitude, a
negative energy counter, or a counter written directly that decreases; the error names the channel
and the DAL is left unchanged."""

from __future__ import annotations

import pytest
from gridtap import Dal, InvalidValueError

T0 = 1_700_000_000.0  # in the past: the DAL refuses timestamps ahead of its clock


def test_the_catalogue_flags_magnitudes_and_counters():
    from gridtap.channels import DEVICE_CATALOGUES

    specs = [s for cat in DEVICE_CATALOGUES.values() for s in cat]
    for s in specs:
        if "≥ 0" in s.description or s.name.startswith(("Current", "Voltage", "ApparentPower")):
            assert s.minimum == 0.0, s.name
        assert s.monotonic == (s.unit in ("kWh", "kVARh") and s.name != "EnergyNet"), s.name
        if s.monotonic:
            assert s.minimum == 0.0, s.name
    # signed quantities have no minimum
    assert all(s.minimum is None for s in specs if s.name.startswith(("ActivePower", "ReactivePower")))
    assert {s.name for s in specs if s.monotonic} == {
        "EnergyImport", "EnergyExport", "ReactiveEnergyImport", "ReactiveEnergyExport"}  # fmt: skip


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda d: d.write("grid/Current_L2", -0.5, T0 + 1), r"grid/Current_L2: -0.5 A cannot be physical"),
        (
            lambda d: d.write_many("grid", {"ActivePower": -5.0, "Current_L1": -1.0}, T0 + 1),
            "grid/Current_L1",
        ),
        (
            lambda d: d.write("grid/EnergyExport", -1.0, T0 + 1),
            r"grid/EnergyExport: -1 kWh cannot be physical",
        ),
        (lambda d: d.write("grid/Voltage_L12", -400.0, T0 + 1), "grid/Voltage_L12"),
        (lambda d: d.write("battery/MaxChargePower", -1.0, T0 + 1), "battery/MaxChargePower"),
        (
            lambda d: d.write("grid/EnergyImport", 99.5, T0 + 1),
            r"grid/EnergyImport: .*99\.5 kWh is below the 100",
        ),
        (
            lambda d: d.write_many("grid", {"ActivePower": 1.0, "EnergyImport": 99.0}, T0 + 1),
            "never decreases",
        ),
        # the channels of the last write: the core's one-pass check sees them first
        (
            lambda d: d.write_many(
                "grid", {"ActivePower": 5.0, "Current_L1": -1.0, "EnergyImport": 100.0}, T0 + 1
            ),
            "grid/Current_L1",
        ),
        (
            lambda d: d.write_many(
                "grid", {"ActivePower": 5.0, "Current_L1": 1.0, "EnergyImport": 90.0}, T0 + 1
            ),
            "grid/EnergyImport",
        ),
    ],
)
def test_what_cannot_be_physical_is_refused_and_changes_nothing(call, fragment):
    dal = Dal()
    dal.write_many("grid", {"ActivePower": 5.0, "Current_L1": 1.0, "EnergyImport": 100.0}, T0)
    dal.write_many("grid", {"ActivePower": 5.0, "Current_L1": 1.0, "EnergyImport": 100.0}, T0)  # fast path
    before = dict(dal.snapshot(now=T0 + 10))
    with pytest.raises(InvalidValueError, match=fragment):
        call(dal)
    assert dict(dal.snapshot(now=T0 + 10)) == before


def test_a_counter_never_goes_below_its_highest_value():
    dal = Dal(default_max_age=1e9)
    dal.write_many("grid", {"EnergyImport": 100.0, "EnergyExport": 5.0}, T0)
    dal.write_many("grid", {"EnergyImport": 100.0, "EnergyExport": 5.0}, T0 + 1)  # equal: fine
    dal.write_many("grid", {"EnergyImport": None, "EnergyExport": 5.5}, T0 + 2)  # an ERROR between
    with pytest.raises(InvalidValueError, match="grid/EnergyImport"):
        dal.write("grid/EnergyImport", 99.0, T0 + 3)  # still below the 100 written before the ERROR
    dal.write("grid/EnergyImport", 100.25, T0 + 3)
    # a negative net energy is not a counter: it may fall and go below zero
    dal.write("grid/EnergyNet", -5.0, T0 + 4)
    dal.write("grid/EnergyNet", -7.0, T0 + 5)
    # counters are per channel: another namespace starts from nothing
    dal.write("grid_b/EnergyImport", 1.0, T0 + 5)
    snap = dal.snapshot(now=T0 + 5)
    assert (snap.value("grid/EnergyImport"), snap.value("grid/EnergyNet"), snap.value("grid_b/EnergyImport")) == (
        100.25, -7.0, 1.0)  # fmt: skip


def test_counters_the_pipeline_and_the_virtual_meter_publish_are_accepted():
    """Counter trackers and integrated energies never trip the DAL's check: SDM630 counters that
    wrap and are reset, and the integrated energy of power of random sign."""
    import numpy as np
    from gridtap import EnergyIntegrator, MeterPipeline, profiles

    sdm = profiles.load("sdm630")
    pipe = MeterPipeline(sdm)
    dal = Dal(default_max_age=1e9)
    rng = np.random.default_rng(3)
    raw = 1000.0
    for k in range(300):
        raw = 5.0 if k == 150 else raw + float(rng.uniform(0, 0.01))  # a reset at k = 150
        frame = sdm.encode({"Voltage_L1": 230.0, "Frequency": 50.0, "EnergyImport": raw, "EnergyExport": 7.0})
        dal.write_many("grid", pipe.push(T0 + k, frame), T0 + k)
    assert pipe.counter_resets == 1
    integ = EnergyIntegrator(max_gap=60.0)
    for k in range(2000):
        integ.update(np.array([T0 + k]), np.array([float(rng.normal(0.0, 1.0)) * 10 ** rng.uniform(-3, 4)]))
        dal.write_many("grid_v", {"EnergyImport": integ.import_kwh, "EnergyExport": integ.export_kwh}, T0 + k)
    assert dal.snapshot(now=T0 + 2000).value("grid_v/EnergyExport") == integ.export_kwh
