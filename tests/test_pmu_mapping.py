"""Phasor selection by name and by explicit mapping, and the grid channels computed from phasors,
checked against numpy computations of the IEEE 1459 definitions written out in the tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gridtap.pmu_mapping import ChannelMapper, MappingError, PhasorMapping, classify_phasor_name

SIX = ["VA", "VB", "VC", "IA", "IB", "IC"]
SIX_UNITS = ["V", "V", "V", "A", "A", "A"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("VA", "L1"), ("VB", "L2"), ("VC", "L3"), ("IA", "L1"), ("Ic", "L3"),
        ("VAY", "L1"), ("IBW", "L2"), ("VAN", "L1"), ("BUS1 VA", "L1"), ("LINE2_IC", "L3"),
        ("PHASE A", "L1"), ("PHB", "L2"), ("VL3", "L3"), ("L2 current", "L2"), ("Va_mag", "L1"),
        ("V1", "positive"), ("I1W", "positive"), ("V1Y", "positive"), ("+SV", "positive"),
        ("BUS1 +SI", "positive"), ("VPOS", "positive"), ("V+", "positive"), ("PSV", "positive"),
        ("VAB", None), ("VCA", None), ("V2", None), ("I0", None), ("-SV", None), ("CT", None),
        ("FREQ", None), ("VA V1", None),  # conflicting tokens: not guessed
    ],
)  # fmt: skip
def test_names_are_classified(name, expected):
    assert classify_phasor_name(name) == expected


def test_digits_are_phases_when_a_third_one_exists():
    m = PhasorMapping.build("P", ["V1", "V2", "V3", "I1", "I2", "I3"], SIX_UNITS)
    assert m.voltages == (0, 1, 2) and m.currents == (3, 4, 5)
    assert m.positive_voltage is None and m.mode == "per-phase"
    m = PhasorMapping.build("P", ["V1", "I1", "V2"], ["V", "A", "V"])
    assert m.positive_voltage == 0 and m.positive_current == 1 and m.voltages == (None, None, None)


def test_units_decide_voltage_or_current_and_components_win_over_names():
    # a PMU calling a current "BUS A": the unit (PHUNIT) says current
    m = PhasorMapping.build("P", ["BUS A", "BUS B", "BUS C", "X", "Y", "Z"], ["A", "A", "A", "V", "V", "V"],
                            components=[None, None, None, "A", "B", "C"])  # fmt: skip
    assert m.currents == (0, 1, 2) and m.voltages == (3, 4, 5)


def test_two_candidates_for_one_role_are_an_error_naming_both():
    with pytest.raises(MappingError, match=r"'BUS1 VA' and 'BUS2 VA' both look like Voltage_L1"):
        PhasorMapping.build("P", ["BUS1 VA", "BUS2 VA"], ["V", "V"])


def test_explicit_mapping_by_name_and_index_and_its_errors():
    names = ["BUS1 VA", "BUS2 VA", "BUS1 IA", "BUS2 IA"]
    units = ["V", "V", "A", "A"]
    m = PhasorMapping.build("P", names, units, explicit={"Voltage_L1": "BUS2 VA", "Current_L1": 3})
    assert m.voltages == (1, None, None) and m.currents == (3, None, None)
    assert m.channels[:2] == ("ActivePower", "ActivePower_L1")
    with pytest.raises(MappingError, match=r"no such phasor; it has 'BUS1 VA'"):
        PhasorMapping.build("P", names, units, explicit={"Voltage_L1": "VA"})
    with pytest.raises(MappingError, match=r"Current_L1 = 'BUS1 VA' is not a current"):
        PhasorMapping.build("P", names, units, explicit={"Current_L1": "BUS1 VA"})
    with pytest.raises(MappingError, match=r"unknown phasor role 'Voltage_L4'"):
        PhasorMapping.build("P", names, units, explicit={"Voltage_L4": 0})
    with pytest.raises(MappingError, match=r"index out of range 0..3"):
        PhasorMapping.build("P", names, units, explicit={"Voltage_L1": 7})


def _random_phasors(rng, n=6):
    mags = np.concatenate([rng.uniform(200, 250, 3), rng.uniform(0.1, 80, 3)])
    angles = rng.uniform(-math.pi, math.pi, n)
    return mags * np.exp(1j * angles)


@pytest.mark.parametrize("invert", [False, True])
def test_channels_match_numpy_ieee1459(invert):
    rng = np.random.default_rng(5)
    mapper = ChannelMapper(PhasorMapping.build("P", SIX, SIX_UNITS), invert=invert)
    for _ in range(50):
        ph = _random_phasors(rng)
        v, i = ph[:3], ph[3:]
        s = v * np.conj(i)  # IEEE 1459: S = V·I*, load convention
        sign = -1.0 if invert else 1.0
        p, q = sign * s.real, sign * s.imag
        sa = np.abs(v) * np.abs(i)
        out = mapper.values([complex(x) for x in ph], 50.01, -0.12)
        for k, ph_name in enumerate(("L1", "L2", "L3")):
            assert out[f"Voltage_{ph_name}"] == pytest.approx(abs(v[k]))
            assert out[f"Current_{ph_name}"] == pytest.approx(abs(i[k]))
            assert out[f"ActivePower_{ph_name}"] == pytest.approx(p[k])
            assert out[f"ReactivePower_{ph_name}"] == pytest.approx(q[k])
            assert out[f"ApparentPower_{ph_name}"] == pytest.approx(sa[k])
            assert out[f"PowerFactor_{ph_name}"] == pytest.approx(p[k] / sa[k])
        assert out["ActivePower"] == pytest.approx(p.sum())
        assert out["ReactivePower"] == pytest.approx(q.sum())
        assert out["ApparentPower"] == pytest.approx(sa.sum())  # arithmetic sum of phase S
        assert out["PowerFactor"] == pytest.approx(p.sum() / sa.sum())
        assert out["PhaseImbalance"] == pytest.approx(p.max() - p.min())
        assert out["Voltage_L12"] == pytest.approx(abs(v[0] - v[1]))
        assert out["Voltage_L31"] == pytest.approx(abs(v[2] - v[0]))
        assert out["Frequency"] == 50.01 and out["Frequency_RoCoF"] == -0.12


def test_sign_conventions_on_hand_made_cases():
    mapper = ChannelMapper(PhasorMapping.build("P", ["VA", "IA"], ["V", "A"]))
    lag = complex(10 * math.cos(-0.5), 10 * math.sin(-0.5))  # current lagging: inductive load
    out = mapper.values([230 + 0j, lag], 50.0, 0.0)
    assert out["ActivePower_L1"] == pytest.approx(2300 * math.cos(0.5)) and out["ActivePower_L1"] > 0
    assert out["ReactivePower_L1"] == pytest.approx(2300 * math.sin(0.5)) and out["ReactivePower_L1"] > 0
    export = mapper.values([230 + 0j, -10 + 0j], 50.0, 0.0)  # current opposite the voltage
    assert export["ActivePower_L1"] == pytest.approx(-2300.0)
    assert export["PowerFactor_L1"] == pytest.approx(-1.0)  # signed by P: exporting
    idle = mapper.values([230 + 0j, 0j], 50.0, 0.0)
    assert idle["PowerFactor_L1"] == 1.0 and idle["ApparentPower_L1"] == 0.0


def test_absent_phasor_makes_its_channels_and_the_totals_none():
    mapper = ChannelMapper(PhasorMapping.build("P", SIX, SIX_UNITS))
    ph = [complex(x) for x in _random_phasors(np.random.default_rng(1))]
    ph[4] = complex(math.nan, math.nan)
    out = mapper.values(ph, math.nan, 0.1)
    assert out["Current_L2"] is None and out["ActivePower_L2"] is None and out["PowerFactor_L2"] is None
    assert out["Voltage_L2"] is not None and out["ActivePower_L1"] is not None
    assert out["ActivePower"] is None and out["ApparentPower"] is None and out["PhaseImbalance"] is None
    assert out["Frequency"] is None and out["Frequency_RoCoF"] == 0.1


def test_positive_sequence_only_maps_totals_and_lists_what_it_leaves_out():
    m = PhasorMapping.build("P", ["V1", "I1"], ["V", "A"])
    assert m.mode == "positive-sequence"
    for ch in ("Voltage_L1", "Current_L2", "ActivePower_L3", "Voltage_L12", "PhaseImbalance"):
        assert ch in m.left_out
    assert set(m.channels) >= {"ActivePower", "ReactivePower", "ApparentPower", "PowerFactor", "Frequency",
                               "Frequency_RoCoF", "EnergyImport", "EnergyExport", "EnergyNet"}  # fmt: skip
    rng = np.random.default_rng(9)
    ph = _random_phasors(rng)
    a = np.exp(2j * np.pi / 3)
    v1 = (ph[0] + a * ph[1] + a * a * ph[2]) / 3
    i1 = (ph[3] + a * ph[4] + a * a * ph[5]) / 3
    out = ChannelMapper(m, invert=True).values([complex(v1), complex(i1)], 60.0, 0.0)
    s1 = 3 * v1 * np.conj(i1)
    assert out["ActivePower"] == pytest.approx(-s1.real)
    assert out["ReactivePower"] == pytest.approx(-s1.imag)
    assert out["ApparentPower"] == pytest.approx(3 * abs(v1) * abs(i1))
    assert "Voltage_L1" not in out


def test_positive_sequence_power_equals_phase_power_when_balanced():
    volts = [230 * np.exp(1j * (0.3 - k * 2 * np.pi / 3)) for k in range(3)]
    amps = [12 * np.exp(1j * (0.3 - 0.4 - k * 2 * np.pi / 3)) for k in range(3)]
    a = np.exp(2j * np.pi / 3)
    v1 = (volts[0] + a * volts[1] + a * a * volts[2]) / 3
    i1 = (amps[0] + a * amps[1] + a * a * amps[2]) / 3
    pos = ChannelMapper(PhasorMapping.build("P", ["V1", "I1"], ["V", "A"])).values([v1, i1], 50, 0)
    phases = ChannelMapper(PhasorMapping.build("P", SIX, SIX_UNITS)).values(volts + amps, 50, 0)
    assert pos["ActivePower"] == pytest.approx(phases["ActivePower"])
    assert pos["ReactivePower"] == pytest.approx(phases["ReactivePower"])


def test_partial_currents_give_no_totals():
    m = PhasorMapping.build("P", ["VA", "VB", "VC", "IA"], ["V", "V", "V", "A"])
    assert "ActivePower_L1" in m.channels and "ActivePower" not in m.channels
    assert "ActivePower" in m.left_out and "EnergyImport" in m.left_out
    out = ChannelMapper(m).values([230 + 0j, 230 + 0j, 230 + 0j, 1 + 0j], 50, 0)
    assert "ActivePower" not in out and out["ActivePower_L1"] == pytest.approx(230.0)


def test_voltages_only_pmu():
    m = PhasorMapping.build("P", ["VA", "VB", "VC"], ["V", "V", "V"])
    assert m.mode == "none" and "ActivePower" in m.left_out and "Voltage_L23" in m.channels
