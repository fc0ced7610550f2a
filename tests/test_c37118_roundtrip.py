"""Hypothesis round trips through the C37.118 encoder and decoder: every FORMAT combination, both
versions, absent data, the FRACSEC flags, configurations (CFG-1/2/3, CFG-3 in fragments). A round
trip proves consistency only; the byte-level truth is in test_c37118_vectors.py. Expected values
are derived from integer or float32 raws drawn here, so each must come back exactly (up to the
float error of one multiplication)."""

from __future__ import annotations

import math
import struct

import pytest
from gridtap import (
    C37118Config,
    C37118Decoder,
    C37118PmuConfig,
    C37118PmuData,
    InputError,
    decode_c37118,
    encode_c37118_config,
    encode_c37118_data,
)
from hypothesis import given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=120, deadline=None)

f32 = st.floats(width=32, allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)


def as_f32(x: float) -> float:
    return struct.unpack(">f", struct.pack(">f", x))[0]


@st.composite
def pmu_case(draw, idcode: int):
    """(PMU configuration, values to send, expected decoded values)."""
    fmt = draw(st.integers(0, 15))
    polar, ph_float, an_float, fr_float = fmt & 1, fmt & 2, fmt & 4, fmt & 8
    nph = draw(st.integers(0, 4))
    nan_ = draw(st.integers(0, 3))
    ndg = draw(st.integers(0, 2))
    fnom = draw(st.sampled_from([50, 60]))
    phunits = draw(st.lists(st.integers(1, 2**24 - 1), min_size=nph, max_size=nph))
    units = draw(st.lists(st.sampled_from(["V", "A"]), min_size=nph, max_size=nph))
    cfg = C37118PmuConfig(
        f"PMU {idcode}",
        idcode,
        fmt,
        phasor_names=[f"PH{i}" for i in range(nph)],
        phasor_units=units,
        phasor_scales=[u / 1e5 for u in phunits],
        analog_names=[f"AN{i}" for i in range(nan_)],
        digital_names=[f"D{i}" for i in range(16 * ndg)],
        fnom=fnom,
    )
    sent, expect = [], []
    for k in range(nph):
        if draw(st.booleans()) and draw(st.booleans()):  # absent about a quarter of the time
            part = draw(st.sampled_from(["re", "im", "both"]))
            v = complex(math.nan if part != "im" else 1.0, math.nan if part != "re" else 1.0)
            sent.append(v)
            expect.append(None)
            continue
        scale = phunits[k] / 1e5
        if ph_float and polar:
            mag = abs(draw(f32))
            ang = as_f32(draw(st.floats(-3.1, 3.1)))
            v = complex(mag * math.cos(ang), mag * math.sin(ang))
        elif ph_float:
            v = complex(draw(f32), draw(f32))
        elif polar:
            mag = draw(st.integers(0, 65535).filter(lambda m: m != 0x8000))
            ang = draw(st.integers(-31415, 31415))
            v = complex(mag * scale * math.cos(ang * 1e-4), mag * scale * math.sin(ang * 1e-4))
        else:
            v = complex(draw(st.integers(-32767, 32767)) * scale, draw(st.integers(-32767, 32767)) * scale)
        sent.append(v)
        expect.append(v)
    if draw(st.booleans()) and draw(st.booleans()):
        freq, rocof = math.nan, math.nan
    elif fr_float:
        freq, rocof = as_f32(draw(st.floats(40, 70))), draw(f32)
    else:
        freq = fnom + draw(st.integers(-32767, 32767)) / 1000
        rocof = draw(st.integers(-32767, 32767)) / 100
    analogs = []
    for _ in range(nan_):
        if draw(st.booleans()) and draw(st.booleans()):
            analogs.append(math.nan)
        else:
            analogs.append(draw(f32) if an_float else float(draw(st.integers(-32767, 32767))))
    digitals = draw(st.lists(st.integers(0, 0xFFFF), min_size=ndg, max_size=ndg))
    stat = draw(st.integers(0, 0xFFFF))
    data = C37118PmuData(sent, freq, rocof, analogs, digitals, stat=stat)
    return cfg, data, (expect, freq, rocof, analogs, digitals, stat)


def close(a: float, b: float, tol: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol


@st.composite
def stream_case(draw):
    n = draw(st.integers(1, 4))
    cases = [draw(pmu_case(100 + i)) for i in range(n)]
    time_base = draw(st.sampled_from([1_000, 1_000_000, 10_000_000, 2**24 - 1]))
    soc = draw(st.integers(0, 2**32 - 1))
    fraction = draw(st.integers(0, time_base - 1))
    flags = {
        "time_quality": draw(st.integers(0, 15)),
        "leap_pending": draw(st.booleans()),
        "leap_occurred": draw(st.booleans()),
        "leap_delete": draw(st.booleans()),
    }
    version = draw(st.sampled_from([1, 2]))
    config = C37118Config(7, [c[0] for c in cases], time_base=time_base, data_rate=draw(st.integers(1, 120)))
    return config, cases, (soc, fraction), flags, version


@SETTINGS
@given(stream_case())
def test_data_frames_round_trip(case):
    config, cases, (soc, fraction), flags, version = case
    raw = encode_c37118_config(config, (soc, 0), version=version) + encode_c37118_data(
        config, (soc, fraction), [c[1] for c in cases], version=version, **flags
    )
    d = C37118Decoder()
    [c, f] = d.feed(raw)
    assert c.config == config
    assert (f.type, f.version, f.idcode, f.soc, f.fraction) == ("data", version, 7, soc, fraction)
    assert f.time == soc + fraction / config.time_base
    assert (f.time_quality, f.leap_pending, f.leap_occurred, f.leap_delete) == tuple(flags.values())
    for (pcfg, _, (expect, freq, rocof, analogs, digitals, stat)), p in zip(cases, f.pmus, strict=True):
        assert (p.idcode, p.stat, p.digitals) == (pcfg.idcode, stat, digitals)
        tol_f = 0.0 if math.isnan(freq) else 1e-9 * max(1.0, abs(freq))
        assert close(p.freq, freq, tol_f), (p.freq, freq)
        assert close(p.rocof, rocof, 1e-9 * max(1.0, abs(rocof) if not math.isnan(rocof) else 1.0))
        for got, want in zip(p.analogs, analogs, strict=True):
            assert close(got, want, 0.0)
        for k, (got, want) in enumerate(zip(p.phasors, expect, strict=True)):
            if want is None:
                assert math.isnan(got.real) and math.isnan(got.imag)
                continue
            # integer phasors come back to the count; float ones to float32 (polar: its trig)
            tol = 1e-9 * pcfg.phasor_scales[k] * 65536 + 1e-6 * abs(want)
            assert abs(got - want) <= tol, (pcfg.format, got, want)
    assert d.stats["data"] == 1 and d.stats["bytes_skipped"] == 0


@SETTINGS
@given(stream_case())
def test_batch_decode_matches_feed(case):
    config, cases, (soc, fraction), flags, version = case
    raw = encode_c37118_config(config, (soc, 0), version=version)
    for k in range(3):
        t = (soc, (fraction + k) % config.time_base)
        raw += encode_c37118_data(config, t, [c[1] for c in cases], version=version, **flags)
    frames = [f for f in C37118Decoder().feed(raw) if f.type == "data"]
    out = decode_c37118(raw)
    assert sorted(out) == sorted(p.idcode for p in config.pmus)
    for i, pcfg in enumerate(config.pmus):
        cols = out[pcfg.idcode]
        assert cols["time"].tolist() == [f.time for f in frames]
        for j, f in enumerate(frames):
            p = f.pmus[i]
            assert close(cols["freq"][j], p.freq, 0.0) and close(cols["rocof"][j], p.rocof, 0.0)
            assert cols["stat"][j] == p.stat
            for got, want in zip(cols["phasors"][j], p.phasors, strict=True):
                assert close(got.real, want.real, 0.0) and close(got.imag, want.imag, 0.0)


@st.composite
def cfg3_config(draw):
    n = draw(st.integers(1, 3))
    pmus = []
    for i in range(n):
        nph = draw(st.integers(0, 5))
        nan_ = draw(st.integers(0, 3))
        ndg = draw(st.integers(0, 1))
        name = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20).filter(
            lambda s: len(s.encode()) <= 255
        )
        pmus.append(
            C37118PmuConfig(
                draw(name),
                10 + i,
                draw(st.integers(0, 15)),
                phasor_names=draw(st.lists(name, min_size=nph, max_size=nph)),
                phasor_units=draw(st.lists(st.sampled_from(["V", "A"]), min_size=nph, max_size=nph)),
                phasor_scales=draw(st.lists(f32, min_size=nph, max_size=nph)),
                phasor_components=draw(
                    st.lists(
                        st.sampled_from(["A", "B", "C", "positive", "negative", "zero", None]),
                        min_size=nph,
                        max_size=nph,
                    )
                ),
                phasor_angle_offsets=draw(st.lists(st.floats(-3, 3, width=32), min_size=nph, max_size=nph)),
                phasor_flags=draw(st.lists(st.integers(0, 0xFFFF), min_size=nph, max_size=nph)),
                analog_names=draw(st.lists(name, min_size=nan_, max_size=nan_)),
                analog_scales=draw(st.lists(f32, min_size=nan_, max_size=nan_)),
                analog_offsets=draw(st.lists(f32, min_size=nan_, max_size=nan_)),
                digital_names=draw(st.lists(name, min_size=16 * ndg, max_size=16 * ndg)),
                digital_masks=draw(
                    st.lists(
                        st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)), min_size=ndg, max_size=ndg
                    )
                ),
                fnom=draw(st.sampled_from([50, 60])),
                cfgcnt=draw(st.integers(0, 0xFFFF)),
                g_pmu_id=draw(st.binary(min_size=16, max_size=16)),
                latitude=draw(st.floats(-90, 90, width=32)),
                longitude=draw(st.floats(-180, 180, width=32)),
                elevation=draw(st.one_of(st.just(math.inf), st.floats(-500, 9000, width=32))),
                service_class=draw(st.sampled_from(["M", "P"])),
                window=draw(st.integers(-(2**31), 2**31 - 1)),
                group_delay=draw(st.integers(-(2**31), 2**31 - 1)),
            )
        )
    return C37118Config(
        draw(st.integers(1, 65534)),
        pmus,
        time_base=draw(st.integers(1, 2**24 - 1)),
        data_rate=draw(st.integers(-32767, 32767).filter(bool)),
        phasor_scaling="cfg3",  # what a configuration decoded from CFG-3 has
    )


@SETTINGS
@given(cfg3_config(), st.integers(19, 400), st.integers(0, 2**32 - 1))
def test_cfg3_round_trips_with_any_fragment_size(config, max_frame_size, soc):
    raw = encode_c37118_config(config, (soc, 0), type="cfg3", max_frame_size=max_frame_size)
    d = C37118Decoder()
    frames = d.feed(raw)
    assert [f.type for f in frames] == ["cfg3"]
    assert frames[0].config == config
    assert d.stats["bytes_skipped"] == 0 and d.stats["malformed"] == 0
    # fragments are whole frames of at most max_frame_size
    i, sizes = 0, []
    while i < len(raw):
        sizes.append(struct.unpack(">H", raw[i + 2 : i + 4])[0])
        i += sizes[-1]
    assert max(sizes) <= max_frame_size and i == len(raw)


def test_encoder_refuses_what_a_field_cannot_hold():
    pmu = C37118PmuConfig("P", 1, 0, phasor_names=["V"], phasor_scales=[0.01])
    cfg = C37118Config(1, [pmu])
    with pytest.raises(InputError, match="16-bit"):
        encode_c37118_data(cfg, 1.0, [C37118PmuData([complex(400.0, 0)], 50.0, 0.0)])
    with pytest.raises(InputError, match="FREQ"):
        encode_c37118_data(cfg, 1.0, [C37118PmuData([0j], 90.0, 0.0)])
    with pytest.raises(InputError, match="0 phasors given"):
        encode_c37118_data(cfg, 1.0, [C37118PmuData([], 50.0, 0.0)])
    with pytest.raises(InputError, match="PMU"):
        encode_c37118_data(cfg, 1.0, [])
    with pytest.raises(InputError, match="version"):
        encode_c37118_config(cfg, 1.0, type="cfg3", version=1)
    odd = C37118Config(1, [C37118PmuConfig("P", 1, 0, phasor_names=["V"], phasor_scales=[1.234567e-6])])
    with pytest.raises(InputError, match="PHUNIT"):
        encode_c37118_config(odd, 1.0)
    assert encode_c37118_config(odd, 1.0, type="cfg3")  # CFG-3 carries any f32 scale
