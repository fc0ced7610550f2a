"""MeterPipeline and decode: signs, invert, aggregation, validity, streaming stages, bad input."""

from __future__ import annotations

import itertools
import math
import tomllib

import numpy as np
import pytest
from gridtap import InputError, MeterPipeline, decode, profiles
from gridtap.profile import parse_profile
from hypothesis import given, settings
from hypothesis import strategies as st

T0 = 1_800_000_000.0


def profile_from(text: str):
    return parse_profile(tomllib.loads(text), "inline-test-profile")


SDM = profiles.load("sdm630")
SPEC_EXAMPLE = {"ActivePower_L1": 15000.0, "ActivePower_L2": -3000.0, "ActivePower_L3": -2000.0}


def sdm_frame(**values: float) -> np.ndarray:
    base = {"Voltage_L1": 230.0, "Voltage_L2": 230.0, "Voltage_L3": 230.0, "Frequency": 50.0}
    base.update(values)
    return SDM.encode(base)


def test_spec_example_through_sdm630_with_total_computed_from_phases():
    # a meter map with only the phase powers: the total is their sum
    p = profile_from(
        """
[meter]
name = "phases-only"
function_code = 4
[channels]
ActivePower_L1 = 0x000C
ActivePower_L2 = 0x000E
ActivePower_L3 = 0x0010
"""
    )
    frame = np.zeros(p.frame_length, dtype=np.uint16)
    frame[0:6] = SDM.encode(SPEC_EXAMPLE)[0x0C:0x12]
    out = MeterPipeline(p).push(T0, frame)
    assert (out["ActivePower_L1"], out["ActivePower_L2"], out["ActivePower_L3"]) == (
        15000.0,
        -3000.0,
        -2000.0,
    )
    assert out["ActivePower"] == 10000.0
    assert out["PhaseImbalance"] == 18000.0


def test_invert_flips_power_and_swaps_both_energy_pairs():
    values = dict(SPEC_EXAMPLE, ActivePower=10000.0, ReactivePower_L1=500.0, ReactivePower=500.0)
    values.update(EnergyImport=100.0, EnergyExport=40.0, ReactiveEnergyImport=7.0, ReactiveEnergyExport=3.0)
    values.update(ApparentPower_L1=15010.0, ApparentPower_L2=3000.0, ApparentPower_L3=2000.0)
    frame = sdm_frame(**values)
    normal = MeterPipeline(SDM).push(T0, frame)
    inverted = MeterPipeline(SDM, invert=True).push(T0, frame)
    assert inverted["ActivePower"] == -10000.0 and inverted["ActivePower_L2"] == 3000.0
    assert inverted["ReactivePower_L1"] == -500.0
    assert (inverted["EnergyImport"], inverted["EnergyExport"]) == (40.0, 100.0)
    assert (inverted["ReactiveEnergyImport"], inverted["ReactiveEnergyExport"]) == (3.0, 7.0)
    assert inverted["EnergyNet"] == -normal["EnergyNet"] == -60.0
    assert inverted["PowerFactor"] == -normal["PowerFactor"]


def test_native_export_positive_meter_is_normalised():
    p = profile_from(
        """
[meter]
name = "solaredge-like"
function_code = 3
type = "int16"
[signs]
active_power = "export_positive"
reactive_power = "capacitive_positive"
[channels]
ActivePower = { address = 0, scale = 0.1 }
ReactivePower = { address = 1, scale = 0.1 }
"""
    )
    # raw −15000 at scale 0.1 = −1500 W in the meter's "+export" sense = 1500 W import
    frame = np.array([0xC568, 100], dtype=np.uint16)
    out = MeterPipeline(p).push(T0, frame)
    assert out["ActivePower"] == 1500.0
    assert out["ReactivePower"] == -10.0


def test_power_factor_is_p_over_s_signed_by_p_and_ignores_meter_pf_sign():
    frame = sdm_frame(
        ActivePower_L2=-3000.0, ApparentPower_L2=5000.0, PowerFactor_L2=+0.6,  # meter says + while exporting
        ActivePower_L1=4000.0, ApparentPower_L1=5000.0, PowerFactor_L1=-0.8,
        ActivePower_L3=0.0, ApparentPower_L3=0.0,
        ActivePower=1000.0,
    )  # fmt: skip
    out = MeterPipeline(SDM).push(T0, frame)
    assert out["PowerFactor_L2"] == -0.6
    assert out["PowerFactor_L1"] == 0.8
    assert out["PowerFactor_L3"] == 1.0  # idle phase: no current, unity by convention
    assert out["ApparentPower"] == 10000.0  # arithmetic sum of the phases' S
    assert out["PowerFactor"] == pytest.approx(0.1)


def test_arithmetic_and_vector_apparent_power_under_imbalance():
    # accuracy.md: R, L and C loads of 10 A at 230 V on phases a, b, c: S_A = 6900 VA, S_V = 2300 VA
    text = """
[meter]
name = "rlc"
function_code = 4
apparent_power = "{mode}"
[channels]
ActivePower_L1 = 0
ActivePower_L2 = 2
ActivePower_L3 = 4
ReactivePower_L1 = 6
ReactivePower_L2 = 8
ReactivePower_L3 = 10
"""
    vals = {"ActivePower_L1": 2300.0, "ReactivePower_L2": 2300.0, "ReactivePower_L3": -2300.0,
            "ActivePower_L2": 0.0, "ActivePower_L3": 0.0, "ReactivePower_L1": 0.0}  # fmt: skip
    arith = profile_from(text.format(mode="arithmetic"))
    vector = profile_from(text.format(mode="vector"))
    assert arith.apparent_power == "arithmetic" and vector.apparent_power == "vector"
    a = MeterPipeline(arith).push(T0, arith.encode(vals))
    v = MeterPipeline(vector).push(T0, vector.encode(vals))
    assert a["ApparentPower"] == pytest.approx(6900.0)
    assert v["ApparentPower"] == pytest.approx(2300.0)
    assert a["ApparentPower_L2"] == pytest.approx(2300.0)
    assert a["PowerFactor"] == pytest.approx(2300.0 / 6900.0)


def test_sentinels_nan_and_out_of_range_become_none_never_zero():
    sun = profiles.load("sunspec_int").located(40070, 203)
    vals = {"ActivePower": 1000.0, "Voltage_L1": 230.0, "EnergyImport": 5.0}
    frame = sun.encode(vals)  # everything else encodes as "not implemented"
    out = MeterPipeline(sun).push(T0, frame)
    assert out["ActivePower"] == 1000.0
    assert out["Voltage_L2"] is None and out["Frequency"] is None
    assert out["EnergyExport"] is None  # acc32 0 = not implemented, not zero energy
    assert out["EnergyNet"] is None
    # a 400 V value that overflowed int16 at scale factor −2 reads negative: out of physical range
    frame2 = frame.copy()
    off = sun.frame_offset(3, 40070 + 8)
    sf = sun.frame_offset(3, 40070 + 15)
    frame2[sf] = np.uint16(0xFFFE)  # V_SF = −2
    frame2[off] = np.uint16(40000 & 0xFFFF)
    assert MeterPipeline(sun).push(T0, frame2)["Voltage_L1"] is None
    # float NaN in an SDM630 register
    f = sdm_frame(ActivePower=1.0)
    f[0x46:0x48] = [0x7FC0, 0x0000]
    assert MeterPipeline(SDM).push(T0, f)["Frequency"] is None


def test_failed_block_marks_only_its_channels_invalid():
    frame = sdm_frame(**SPEC_EXAMPLE, ActivePower=10000.0, Voltage_L12=400.0)
    out = MeterPipeline(SDM).push(T0, frame, block_ok=[True, False])
    assert out["ActivePower"] == 10000.0 and out["Voltage_L12"] is None
    out = MeterPipeline(SDM).push(T0, frame, block_ok=[False, True])
    assert out["ActivePower"] is None and out["Voltage_L12"] == 400.0 and out["EnergyImport"] is None


def test_rocof_and_energy_are_computed_where_the_meter_lacks_them():
    p = profile_from(
        """
[meter]
name = "p-and-f"
function_code = 4
[channels]
ActivePower = 0
Frequency = 2
"""
    )
    pipe = MeterPipeline(p, rocof_window=0.5)
    assert "Frequency_RoCoF" in pipe.channels and "EnergyImport" in pipe.channels
    n, fs = 3601, 10.0
    ts = T0 + np.arange(n) / fs
    freq = 50.0 + 0.01 * (ts - T0)  # +0.01 Hz/s
    power = np.full(n, 3600.0)
    frames = np.stack(
        [p.encode({"ActivePower": pw, "Frequency": f}) for pw, f in zip(power, freq, strict=True)]
    )
    out = pipe.push_many(ts, frames)
    assert np.isnan(out["Frequency_RoCoF"][0])  # not enough history yet: NaN, not 0
    assert np.allclose(out["Frequency_RoCoF"][10:], 0.01, atol=1e-3)  # float32 frequency resolution
    # 3600 W for 360 s = 0.36 kWh
    assert out["EnergyImport"][-1] == pytest.approx(0.36, rel=1e-12)
    assert out["EnergyExport"][-1] == 0.0
    assert out["EnergyNet"][-1] == pytest.approx(0.36, rel=1e-12)


def test_meter_counters_stay_monotonic_across_wrap_and_reset():
    p = profile_from(
        """
[meter]
name = "wrapping"
function_code = 4
type = "uint16"
[channels]
ActivePower = { address = 0, type = "int16" }
EnergyImport = 1
EnergyExport = 2
"""
    )
    pipe = MeterPipeline(p)
    raw = [65530, 65535, 4, 10, 3, 8]  # wrap after 65535, then a reset to 3
    frames = np.array([[0, r, 0] for r in raw], dtype=np.uint16)
    out = pipe.push_many(T0 + np.arange(len(raw), dtype=float), frames)
    imp = out["EnergyImport"]
    assert imp[:4].tolist() == [65530.0, 65535.0, 65540.0, 65546.0]
    assert np.all(np.diff(imp) >= 0)
    assert imp[-1] == 65546.0 + 5.0
    assert pipe.counter_wraps == 1 and pipe.counter_resets == 1


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(1, 59), max_size=6, unique=True))
def test_results_identical_whichever_way_frames_are_split(cuts):
    rng = np.random.default_rng(7)
    n = 60
    ts = T0 + np.cumsum(rng.uniform(0.05, 0.15, n))
    p = profile_from("[meter]\nname = 's'\nfunction_code = 4\n[channels]\nActivePower = 0\nFrequency = 2\n")
    sub = np.stack(
        [
            p.encode(
                {"ActivePower": float(rng.normal(0, 3000)), "Frequency": float(50 + rng.normal(0, 0.02))}
            )
            for _ in range(n)
        ]
    )
    whole = MeterPipeline(p).push_many(ts, sub)
    pieces = MeterPipeline(p)
    bounds = [0, *sorted(cuts), n]
    parts = [pieces.push_many(ts[a:b], sub[a:b]) for a, b in itertools.pairwise(bounds)]
    one = MeterPipeline(p)
    singles = [one.push(t, f) for t, f in zip(ts, sub, strict=True)]
    for ch in whole:
        joined = np.concatenate([part[ch] for part in parts])
        assert np.array_equal(joined, whole[ch], equal_nan=True), ch
        single = np.array([math.nan if s[ch] is None else s[ch] for s in singles])
        assert np.array_equal(single, whole[ch], equal_nan=True), ch


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda p: p.push(T0, np.zeros(85, dtype=np.uint16)), "expected \\(86,\\)"),
        (lambda p: p.push(T0, np.zeros(86, dtype=np.int32)), "uint16"),
        (lambda p: p.push(T0, np.zeros((2, 86), dtype=np.uint16)), "push_many"),
        (lambda p: p.push(math.nan, np.zeros(86, dtype=np.uint16)), "finite"),
        (lambda p: p.push(T0, np.zeros(86, dtype=np.uint16)), "does not increase"),  # a repeated frame
        (lambda p: p.push(T0 + 1, np.zeros(86, dtype=np.uint16), block_ok=[True]), "block_ok"),
        (
            lambda p: p.push_many(np.array([T0 + 2, T0 + 1]), np.zeros((2, 86), dtype=np.uint16)),
            "does not increase",
        ),
        (
            lambda p: p.push_many(np.array([T0 + 2]), np.zeros((2, 86), dtype=np.uint16)),
            "expected \\(1, 86\\)",
        ),
        (lambda p: p.push_many([T0 + 2], np.zeros((1, 86), dtype=np.uint16)), "float64"),
    ],
)
def test_bad_input_is_refused_and_leaves_the_pipeline_unchanged(call, fragment):
    frame = sdm_frame(ActivePower=100.0)
    pipe = MeterPipeline(SDM)
    pipe.push(T0, frame)
    with pytest.raises(InputError, match=fragment):
        call(pipe)
    assert pipe.last_timestamp == T0
    # the next frame gives exactly what a pipeline that never saw the bad call gives
    clean = MeterPipeline(SDM)
    clean.push(T0, frame)
    assert pipe.push(T0 + 3, frame) == clean.push(T0 + 3, frame)


def test_noncontiguous_frames_are_accepted():
    frames = np.stack([sdm_frame(ActivePower=float(k)) for k in range(4)])
    wide = np.zeros((4, 2 * SDM.frame_length), dtype=np.uint16)
    wide[:, ::2] = frames
    out = MeterPipeline(SDM).push_many(T0 + np.arange(4.0), wide[:, ::2])
    assert out["ActivePower"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_stateless_decode_one_and_many_frames():
    frame = sdm_frame(**SPEC_EXAMPLE, ActivePower=10000.0)
    one = decode(SDM, frame)
    many = decode(SDM, np.stack([frame, frame]))
    assert one["ActivePower"].tolist() == [10000.0]
    assert many["ActivePower_L2"].tolist() == [-3000.0, -3000.0]
    assert "Frequency_RoCoF" not in one  # needs a stream
    with pytest.raises(InputError, match="expected \\(86,\\)"):
        decode(SDM, np.zeros(10, dtype=np.uint16))
    with pytest.raises(InputError, match="Profile"):
        decode("sdm630", frame)


_PLACED = {}
for _name in profiles.names():
    _p = profiles.load(_name)
    _PLACED[_name] = _p.located(40070, _p.models[2]) if _p.addressing == "sunspec_model" else _p


@settings(max_examples=120, deadline=None)
@given(
    name=st.sampled_from(sorted(_PLACED)),
    data=st.data(),
    invert=st.booleans(),
)
def test_no_uint16_frame_crashes_any_profile(name, data, invert):
    p = _PLACED[name]
    n = data.draw(st.integers(1, 4))
    words = data.draw(
        st.lists(st.integers(0, 0xFFFF), min_size=n * p.frame_length, max_size=n * p.frame_length)
    )
    frames = np.array(words, dtype=np.uint16).reshape(n, p.frame_length)
    out = MeterPipeline(p, invert).push_many(T0 + np.arange(n, dtype=float), frames)
    for ch, col in out.items():
        # every value is a finite number or NaN ("no valid value"), never an infinity
        assert not np.any(np.isinf(col)), ch
    for ch in ("Voltage_L1", "Current_L1", "ApparentPower", "EnergyImport"):
        if ch in out:
            col = out[ch]
            assert np.all(np.isnan(col) | (col >= 0)), ch  # magnitudes and counters never negative
    if "PowerFactor" in out:
        pf = out["PowerFactor"]
        assert np.all(np.isnan(pf) | (np.abs(pf) <= 1.0))


def test_fortran_ordered_frames_are_read_row_by_row():
    frames = np.stack([sdm_frame(ActivePower=float(k)) for k in range(3)])
    fortran = np.asfortranarray(frames)
    assert not fortran.flags.c_contiguous
    out = MeterPipeline(SDM).push_many(T0 + np.arange(3.0), fortran)
    assert out["ActivePower"].tolist() == [0.0, 1.0, 2.0]
    assert decode(SDM, fortran)["ActivePower"].tolist() == [0.0, 1.0, 2.0]


def test_push_returns_a_read_only_mapping_of_channels():
    from collections.abc import Mapping

    from gridtap import ChannelValues

    out = MeterPipeline(SDM).push(T0, sdm_frame(**SPEC_EXAMPLE, ActivePower=10000.0))
    assert isinstance(out, ChannelValues) and isinstance(out, Mapping)
    assert len(out) == len(MeterPipeline(SDM).channels) == len(list(out))
    assert list(out.keys()) == MeterPipeline(SDM).channels
    assert out["ActivePower_L2"] == -3000.0 and out.get("ActivePower_L2") == -3000.0
    assert out["Frequency_RoCoF"] is None  # no history yet: no value, not 0
    assert "ActivePower" in out and "Nope" not in out and 5 not in out
    assert out.get("Nope") is None and out.get("Nope", 1.5) == 1.5
    with pytest.raises(KeyError):
        out["Nope"]
    with pytest.raises(TypeError):
        out["ActivePower"] = 1.0  # type: ignore[index]
    d = dict(out)
    assert d == out and out == d and out.to_dict() == d
    assert dict(out.items()) == d and list(out.values()) == list(d.values())
    assert out != {**d, "ActivePower": 1.0}


def test_items_is_a_reiterable_view_of_every_pair():
    out = MeterPipeline(SDM).push(T0, sdm_frame(**SPEC_EXAMPLE, ActivePower=10000.0))
    by_key = [(ch, out[ch]) for ch in out]  # one value at a time, not through items()
    items = out.items()
    assert list(items) == by_key and list(items) == by_key  # a view: iterates again, same pairs
    assert len(items) == len(by_key) == len(out)
    assert ("ActivePower_L2", -3000.0) in items and ("Frequency_RoCoF", None) in items
    assert ("ActivePower_L2", 3000.0) not in items and ("Nope", 1.0) not in items and 5 not in items
    assert repr(items) == f"ChannelItems({by_key!r})"
    assert out.to_dict() == dict(by_key) and list(out.to_dict()) == list(out.keys())
    assert out.values() == [v for _, v in by_key]


def test_batches_across_tile_boundaries_equal_frame_by_frame():
    # the kernels work 64 frames at a time: batches that straddle tiles must not differ
    rng = np.random.default_rng(3)
    p = profile_from(
        "[meter]\nname = 'tiles'\nfunction_code = 4\n[channels]\n"
        "ActivePower_L1 = 0\nActivePower_L2 = 2\nReactivePower_L1 = 4\nFrequency = 6\nEnergyImport = 8\nEnergyExport = 10\n"
    )
    n = 700
    ts = T0 + np.cumsum(rng.uniform(0.01, 0.03, n))
    frames = np.stack(
        [
            p.encode(
                {
                    "ActivePower_L1": float(rng.normal(0, 2000)),
                    "ActivePower_L2": float(rng.normal(0, 2000)),
                    "ReactivePower_L1": float(rng.normal(0, 500)),
                    "Frequency": float(50 + rng.normal(0, 0.01)),
                    "EnergyImport": 100.0 + k * 0.01 if k % 97 else None,  # some invalid frames
                    "EnergyExport": 50.0 + k * 0.005,
                }
            )
            for k in range(n)
        ]
    )
    whole = MeterPipeline(p).push_many(ts, frames)
    pieces = MeterPipeline(p)
    bounds = [0, 1, 63, 64, 65, 255, 256, 257, 513, 600, n]
    parts = [pieces.push_many(ts[a:b], frames[a:b]) for a, b in itertools.pairwise(bounds)]
    one = MeterPipeline(p)
    singles = [one.push(t, f) for t, f in zip(ts, frames, strict=True)]
    stateless = decode(p, frames)
    for ch in whole:
        joined = np.concatenate([part[ch] for part in parts])
        assert np.array_equal(joined, whole[ch], equal_nan=True), ch
        single = np.array([math.nan if s[ch] is None else s[ch] for s in singles])
        assert np.array_equal(single, whole[ch], equal_nan=True), ch
        if ch in stateless:
            assert np.array_equal(stateless[ch], whole[ch], equal_nan=True), ch
    assert np.isnan(whole["EnergyImport"][97]) and not np.isnan(whole["EnergyImport"][98])
