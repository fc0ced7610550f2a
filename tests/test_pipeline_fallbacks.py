"""Per-frame fallbacks of the aggregated channels, and the metadata that says which source was used.

Frames are built with struct from a small float32 map; the expected values are the grid
conventions' formulas applied to the numbers written.
"""

from __future__ import annotations

import math
import struct
import tomllib

import numpy as np
import pytest
from gridtap import MeterPipeline
from gridtap.profile import parse_profile

T0 = 1_800_000_000.0
NAN = float("nan")

# one float32 per channel, two registers each, in this order
MAP = [
    "ActivePower_L1", "ActivePower_L2", "ActivePower_L3", "ActivePower",
    "ReactivePower_L1", "ReactivePower_L2", "ReactivePower_L3", "ReactivePower",
    "ApparentPower_L1", "ApparentPower_L2", "ApparentPower_L3", "ApparentPower",
    "PowerFactor_L1", "PowerFactor_L2", "PowerFactor_L3", "PowerFactor",
]  # fmt: skip

VALUES = {
    "ActivePower_L1": 4000.0, "ActivePower_L2": -3000.0, "ActivePower_L3": 1500.0, "ActivePower": 2510.0,
    "ReactivePower_L1": 300.0, "ReactivePower_L2": -200.0, "ReactivePower_L3": 100.0, "ReactivePower": 205.0,
    "ApparentPower_L1": 5000.0, "ApparentPower_L2": 4000.0, "ApparentPower_L3": 2000.0, "ApparentPower": 10500.0,
    "PowerFactor_L1": 0.7, "PowerFactor_L2": 0.6, "PowerFactor_L3": -0.5, "PowerFactor": 0.25,
}  # fmt: skip


def profile(channels=MAP, apparent="auto"):
    lines = "\n".join(f"{ch} = {2 * MAP.index(ch)}" for ch in channels)
    text = f'[meter]\nname = "t"\nfunction_code = 3\napparent_power = "{apparent}"\n[channels]\n{lines}\n'
    return parse_profile(tomllib.loads(text), "fallback-test")


def frame(p, **changes: float) -> np.ndarray:
    values = dict(VALUES, **changes)
    regs = {}
    for ch in MAP:
        hi, lo = struct.unpack(">HH", struct.pack(">f", values[ch]))
        regs[2 * MAP.index(ch)], regs[2 * MAP.index(ch) + 1] = hi, lo
    return np.array([regs[a] for b in p.blocks for a in range(b.start, b.end)], dtype=np.uint16)


def push(p, **changes: float):
    pl = MeterPipeline(p)
    return pl.push(T0, frame(p, **changes)), pl


def test_meter_registers_are_used_while_valid():
    out, pl = push(profile())
    assert out["ActivePower"] == 2510.0 and out["ReactivePower"] == 205.0
    # arithmetic S: the phases' sum, not the total register
    assert out["ApparentPower"] == 11000.0
    assert out["PowerFactor"] == pytest.approx(2510.0 / 11000.0)
    assert out["PowerFactor_L2"] == pytest.approx(-0.75)  # P/S signed by P, register ignored
    assert pl.sources == {
        "ActivePower": "meter", "ReactivePower": "meter", "ApparentPower": "phases",
        "ApparentPower_L1": "meter", "ApparentPower_L2": "meter", "ApparentPower_L3": "meter",
        "PowerFactor": "ratio", "PowerFactor_L1": "ratio", "PowerFactor_L2": "ratio", "PowerFactor_L3": "ratio",
    }  # fmt: skip


def test_a_missing_total_falls_back_to_the_sum_of_valid_phases():
    out, pl = push(profile(), ActivePower=NAN, ReactivePower=NAN)
    assert out["ActivePower"] == 2500.0 and out["ReactivePower"] == 200.0
    assert pl.sources["ActivePower"] == pl.sources["ReactivePower"] == "phases"
    # but not when a phase is missing too: no value rather than a partial sum
    out, pl = push(profile(), ActivePower=NAN, ActivePower_L3=NAN)
    assert out["ActivePower"] is None and pl.sources["ActivePower"] == "none"
    assert out["PowerFactor"] is None and out["PhaseImbalance"] is None


def test_a_missing_phase_s_falls_back_to_the_meters_total_s():
    out, pl = push(profile(), ApparentPower_L2=NAN)
    assert out["ApparentPower"] == 10500.0 and pl.sources["ApparentPower"] == "meter"
    assert out["PowerFactor"] == pytest.approx(2510.0 / 10500.0) and pl.sources["PowerFactor"] == "ratio"
    # the phase without S: PF from its register's magnitude, signed by that phase's power
    assert out["PowerFactor_L2"] == pytest.approx(-0.6) and pl.sources["PowerFactor_L2"] == "meter"
    assert out["ApparentPower_L2"] is None and pl.sources["ApparentPower_L2"] == "none"


def test_without_any_s_pf_comes_from_the_register_magnitude_signed_by_p():
    out, pl = push(profile(), ApparentPower=NAN, ApparentPower_L1=NAN, ApparentPower_L3=NAN)
    assert out["ApparentPower"] is None
    assert out["PowerFactor"] == pytest.approx(0.25) and pl.sources["PowerFactor"] == "meter"
    assert out["PowerFactor_L3"] == pytest.approx(0.5)  # register says −0.5, the phase imports
    # a PF register out of range or missing P: no value
    out, pl = push(profile(), ApparentPower_L1=NAN, PowerFactor_L1=1.5)
    assert out["PowerFactor_L1"] is None and pl.sources["PowerFactor_L1"] == "none"
    out, pl = push(profile(), ApparentPower_L1=NAN, ActivePower_L1=NAN)
    assert out["PowerFactor_L1"] is None


def test_meter_mode_falls_back_to_the_phases_and_vector_mode_to_the_meter():
    p = profile(apparent="meter")
    assert p.apparent_power == "meter"
    out, pl = push(p)
    assert out["ApparentPower"] == 10500.0 and pl.sources["ApparentPower"] == "meter"
    out, pl = push(p, ApparentPower=NAN)
    assert out["ApparentPower"] == 11000.0 and pl.sources["ApparentPower"] == "phases"
    p = profile(apparent="vector")
    out, pl = push(p)
    assert out["ApparentPower"] == pytest.approx(math.hypot(2510.0, 205.0))
    assert pl.sources["ApparentPower"] == "vector"
    out, pl = push(p, ActivePower=NAN, ActivePower_L1=NAN)
    assert out["ApparentPower"] == 10500.0 and pl.sources["ApparentPower"] == "meter"


def test_derived_phase_s_is_reported_as_vector():
    p = profile([c for c in MAP if not c.startswith(("ApparentPower", "PowerFactor"))])
    out, pl = push(p)
    assert out["ApparentPower_L1"] == pytest.approx(math.hypot(4000.0, 300.0))
    assert pl.sources["ApparentPower_L1"] == "vector" and pl.sources["ApparentPower"] == "phases"


def test_sources_of_push_many_match_push_and_are_counted():
    p = profile()
    rows = [frame(p), frame(p, ActivePower=NAN), frame(p, ApparentPower_L1=NAN), frame(p)]
    one = MeterPipeline(p)
    seen = []
    for i, f in enumerate(rows):
        one.push(T0 + i, f)
        seen.append(one.sources["ActivePower"])
    assert seen == ["meter", "phases", "meter", "meter"]
    many = MeterPipeline(p)
    out = many.push_many(T0 + np.arange(4.0), np.stack(rows))
    assert out["ActivePower"].tolist() == [2510.0, 2500.0, 2510.0, 2510.0]
    assert many.sources == one.sources
    assert many.source_counts == one.source_counts
    assert many.source_counts["ActivePower"] == {"meter": 3, "phases": 1}
    assert many.source_counts["ApparentPower"] == {"phases": 3, "meter": 1}


def test_sources_are_empty_before_the_first_frame_and_follow_invert():
    p = profile()
    assert MeterPipeline(p).sources == {}
    pl = MeterPipeline(p, invert=True)
    out = pl.push(T0, frame(p, ActivePower=NAN))
    assert out["ActivePower"] == -2500.0 and pl.sources["ActivePower"] == "phases"


@pytest.mark.parametrize("channels", [["ActivePower", "ReactivePower"], ["ActivePower", "ApparentPower"]])
def test_a_meter_without_phases_has_no_sum_to_fall_back_to(channels):
    # a sum over no phases is no value, never 0 W (the SDM72D-M V1 reads a total only)
    out, pl = push(profile(channels), ActivePower=NAN, ReactivePower=NAN, ApparentPower=NAN)
    for ch in channels:
        assert out[ch] is None and pl.sources[ch] == "none", ch
    many = MeterPipeline(profile(channels)).push_many(
        np.array([T0]), frame(profile(channels), ActivePower=NAN, ReactivePower=NAN, ApparentPower=NAN)[None]
    )
    assert all(math.isnan(many[ch][0]) for ch in channels)


def test_the_sdm72v1_publishes_no_power_when_its_total_register_is_nan():
    from gridtap import decode, profiles

    p = profiles.load("sdm72v1")
    regs = np.zeros(p.frame_length, dtype=np.uint16)
    # ActivePower at 0x0034, the first register of the frame (Eastron float32, big-endian)
    regs[0:2] = struct.unpack(">HH", struct.pack(">f", NAN))
    assert math.isnan(decode(p, regs)["ActivePower"][0])
    assert MeterPipeline(p).push(T0, regs)["ActivePower"] is None
