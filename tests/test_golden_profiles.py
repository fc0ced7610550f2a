"""Golden tests: every bundled profile against its vendor's register table.

The frames are built from the tables in tests/golden/ with `struct` (never from a profile's own
encoder or the simulator), read through the profile's read plan as a poll would, and decoded; every
channel's value and sign must be what the table and the grid conventions say. Extra frames make the
phases' S, every S and the totals go missing in turn, so the registers a profile only uses as a
fallback (total VA, PF) are pinned too. tests/test_golden_mutations.py checks that these tests
catch a wrong address, type, word order, scale or sign in any field.
"""

from __future__ import annotations

import math

import pytest
from golden import GOLDENS
from golden.model import SIGNS, check, expected, frames, load, read_frame, registers, table_problems
from gridtap import profiles


def test_every_bundled_profile_has_a_golden_table():
    assert {g.profile for g in GOLDENS} == set(profiles.names())


@pytest.mark.parametrize("golden", GOLDENS, ids=lambda g: g.label)
def test_profile_decodes_the_vendor_table(golden):
    assert check(golden, load(golden)) == []


@pytest.mark.parametrize("golden", GOLDENS, ids=lambda g: g.label)
def test_table_covers_every_field_of_the_profile(golden):
    p = load(golden)
    rows = {(r.channel, (golden.origin or 0) + r.address) for r in golden.rows if r.channel}
    fields = {(f.channel, a) for f in p.fields for a in f.addresses}
    assert fields == rows
    # and says for each where it comes from
    assert "(" in golden.source or "," in golden.source
    assert all(r.sign in SIGNS for r in golden.rows)


@pytest.mark.parametrize("golden", GOLDENS, ids=lambda g: g.label)
def test_table_values_show_any_wrong_field(golden):
    # distinct non-zero values whose words differ when swapped or byte-swapped
    assert table_problems(golden) == []


def test_frames_are_built_from_the_table_alone():
    # the SDM630 example encodings of reference/meters.md: 230.0 V = 0x4366 0x0000, −1500 W =
    # 0xC4BB 0x8000 (float32, high word first), built by struct from the table rows
    g = next(g for g in GOLDENS if g.profile == "sdm630")
    space = registers(g, {"Phase 1 line to neutral volts": 230.0, "Phase 1 active power": -1500.0})
    assert [space[(4, 0x0000)], space[(4, 0x0001)]] == [0x4366, 0x0000]
    assert [space[(4, 0x000C)], space[(4, 0x000D)]] == [0xC4BB, 0x8000]
    # EM340: int32 low word first, weight 10: −1500.0 W = [0xC568, 0xFFFF]; 1234.5 kWh = [0x3039, 0]
    g = next(g for g in GOLDENS if g.profile == "em340")
    space = registers(g, {"W L1": -1500.0, "kWh (+) TOT": 1234.5})
    assert [space[(4, 0x0012)], space[(4, 0x0013)]] == [0xC568, 0xFFFF]
    assert [space[(3, 0x0034)], space[(3, 0x0035)]] == [0x3039, 0x0000]
    # ABB: −1500.00 W = [0xFFFD, 0xB610]; 1234.56 kWh = [0, 0, 0x0001, 0xE240]; 49.95 Hz = 0x1383
    g = next(g for g in GOLDENS if g.profile == "abb_b23")
    space = registers(g, {"Active power, L1": -1500.0, "Active import kWh": 1234.56, "Frequency": 49.95})
    assert [space[(3, 0x5B16)], space[(3, 0x5B17)]] == [0xFFFD, 0xB610]
    assert [space[(3, 0x5000 + i)] for i in range(4)] == [0, 0, 0x0001, 0xE240]
    assert space[(3, 0x5B2C)] == 0x1383
    # SunSpec 203: W_SF = −1 (0xFFFF) and W = −15000 (0xC568) is −1500.0 W
    g = next(g for g in GOLDENS if g.model == 203)
    space = registers(g, {"W_SF": -1, "W": -1400.0, "WphA": -1500.0, "WphB": 30.0, "WphC": 70.0})
    assert space[(3, 40070 + 22)] == 0xFFFF and space[(3, 40070 + 19)] == 0xC568


def test_sunspec_meter_with_total_va_only_gets_apparent_power_and_pf():
    # the common case the per-frame fallback exists for: VAphA..C "not implemented"
    for golden in (g for g in GOLDENS if g.model in (203, 213)):
        p = load(golden)
        overrides = frames(golden)["no phase S"]
        out = p.decode(read_frame(p, registers(golden, overrides)))
        want, _ = expected(golden, overrides)
        assert out["ApparentPower"][0] == pytest.approx(golden.row("VA").value)
        assert out["PowerFactor"][0] == pytest.approx(golden.row("W").value / golden.row("VA").value)
        assert want["PowerFactor"] == pytest.approx(out["PowerFactor"][0])
        # each phase's PF from its PF register's magnitude, signed by the phase's power
        assert out["PowerFactor_L2"][0] == pytest.approx(-abs(golden.row("PFphB").value), rel=1e-6)
        assert math.isnan(out["ApparentPower_L1"][0])


def test_sunspec_float_pf_is_a_ratio_and_sunspec_int_pf_a_percentage():
    for model, row, raw_pf in ((213, "PFphA", 0.9581), (203, "PFphA", 0.96)):
        golden = next(g for g in GOLDENS if g.model == model)
        assert golden.row(row).value == raw_pf
        p = load(golden)
        out = p.decode(read_frame(p, registers(golden, frames(golden)["no phase S"])))
        assert out["PowerFactor_L1"][0] == pytest.approx(raw_pf, rel=1e-6)


def test_umg604_is_not_read_with_the_umg96rm_map():
    assert profiles.load("umg604").name == "umg604"
    g = next(g for g in GOLDENS if g.profile == "umg604")
    assert check(g, load(g)) == []
    umg96 = profiles.load("umg96rm")
    assert check(g, umg96) != []
