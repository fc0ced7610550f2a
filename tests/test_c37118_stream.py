"""C37.118 stream reframing: any split of a stream decodes the same as the whole; garbage, corrupted
frames and unknown frames are skipped and counted without losing the good frames around them; the
batch decoder gives the same values as the stream decoder."""

from __future__ import annotations

import math
import random
import struct

import numpy as np
import pytest
from c37118_frames import (
    CFG2,
    COMMAND,
    DATA,
    HEADER,
    Pmu,
    cfg2_body,
    cfg3_body,
    cfg3_frames,
    crc_ccitt,
    frame,
)
from gridtap import C37118Decoder, InputError, decode_c37118
from hypothesis import given, settings
from hypothesis import strategies as st

SOC = 1_700_000_000
NAN32 = struct.unpack(">f", b"\x7f\xc0\x00\x00")[0]


def pdc_pmus() -> list[Pmu]:
    """Three PMUs in one PDC stream, in three FORMATs."""
    return [
        Pmu(station="INT RECT", idcode=101, format=0x0, phasors=[("V1", 1000, 0), ("I1", 50, 1)], fnom=50),
        Pmu(
            station="FLOAT POLAR",
            idcode=102,
            format=0xF,
            phasors=[("V1", 100000, 0)],
            analogs=[("A1", 1, 1)],
            digital_names=[f"d{i}" for i in range(16)],
            digital_masks=[(0, 0xFFFF)],
            fnom=50,
        ),
        Pmu(
            station="INT POLAR",
            idcode=103,
            format=0x1,
            phasors=[("V1", 1000, 0)],
            analogs=[("A1", 1, 1)],
            fnom=50,
        ),
    ]


def pdc_data(k: int, *, absent: bool = False) -> bytes:
    """Data frame k of the PDC stream (20 ms apart); `absent` puts absent data in every PMU."""
    a = 0x8000
    b = struct.pack(">H", 0x0000)
    b += (
        struct.pack(">hhhh", 12000 + k, -3000, -700, 1500)
        if not absent
        else struct.pack(">HHhh", a, a, -700, 1500)
    )
    b += struct.pack(">hh", 10 * k, -5) if not absent else struct.pack(">Hh", a, -5)
    b += struct.pack(">H", 0x8000 if absent else 0x0000)
    b += struct.pack(">ff", 230.0, 0.25) if not absent else struct.pack(">ff", NAN32, 0.25)
    b += struct.pack(">ff", 50.0 + k / 1000, 0.5) if not absent else struct.pack(">ff", NAN32, 0.5)
    b += struct.pack(">f", 1.5 * k) if not absent else struct.pack(">f", NAN32)
    b += struct.pack(">H", k & 0xFFFF)
    b += struct.pack(">H", 0x0000)
    b += struct.pack(">Hh", 20000, 10472) if not absent else struct.pack(">HH", 20000, a)
    b += struct.pack(">hh", -10, 0)
    b += struct.pack(">h", 7) if not absent else struct.pack(">H", a)
    return frame(DATA, 2, 9, SOC + (k * 20_000) // 1_000_000, (k * 20_000) % 1_000_000, b)


def pdc_stream(n: int = 6) -> bytes:
    cfg = frame(CFG2, 2, 9, SOC, 0, cfg2_body(pdc_pmus(), data_rate=50))
    hdr = frame(HEADER, 2, 9, SOC, 0, b"PDC 9, three PMUs")
    cmd = frame(COMMAND, 2, 9, SOC, 0, struct.pack(">H", 2))
    cfg3 = cfg3_frames(
        cfg3_body([Pmu(idcode=55, phasors=[("V", 0, 0)], phscale=[(0, 1, 1.0, 0.0)])]), 55, SOC, 0, 9
    )
    data = b"".join(pdc_data(k, absent=(k == 3)) for k in range(n))
    return cfg + hdr + cmd + cfg3 + data


def describe(f) -> tuple:
    """Everything a frame exposes, with NaN made comparable."""

    def v(x):
        if isinstance(x, float) and math.isnan(x):
            return "nan"
        if isinstance(x, complex):
            return (v(x.real), v(x.imag))
        if isinstance(x, list):
            return tuple(v(y) for y in x)
        return x

    pmus = tuple(
        (p.idcode, p.stat, v(p.freq), v(p.rocof), v(p.phasors), v(p.analogs), v(p.digitals)) for p in f.pmus
    )
    cfg = None if f.config is None else (f.config.idcode, len(f.config.pmus), f.config.data_rate)
    return (f.type, f.version, f.idcode, f.size, f.soc, f.fraction, f.time, pmus, cfg, f.command, f.text)


def decode_in_pieces(stream: bytes, cuts: list[int]) -> tuple[list[tuple], dict[str, int]]:
    d = C37118Decoder()
    out = []
    prev = 0
    for c in [*cuts, len(stream)]:
        out += [describe(f) for f in d.feed(stream[prev:c])]
        prev = c
    assert d.buffered == 0
    return out, d.stats


def test_whole_stream_decodes_every_frame():
    stream = pdc_stream()
    frames, stats = decode_in_pieces(stream, [])
    assert [f[0] for f in frames] == ["cfg2", "header", "command", "cfg3"] + ["data"] * 6
    assert stats["data"] == 6 and stats["cfg3_fragments"] > 1
    assert stats["bytes_skipped"] == stats["crc_errors"] == stats["unknown_frames"] == 0


def test_a_cut_at_every_byte_boundary_decodes_the_same():
    stream = pdc_stream()
    whole, whole_stats = decode_in_pieces(stream, [])
    for cut in range(len(stream) + 1):
        parts, stats = decode_in_pieces(stream, [cut])
        assert parts == whole, f"cut at {cut}"
        assert stats == whole_stats


def test_random_splits_and_byte_by_byte():
    stream = pdc_stream()
    whole, _ = decode_in_pieces(stream, [])
    rng = random.Random(5)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(stream)), rng.randint(2, 30)))
        assert decode_in_pieces(stream, cuts)[0] == whole
    assert decode_in_pieces(stream, list(range(1, len(stream))))[0] == whole


def test_absent_data_decodes_to_nan_everywhere():
    frames, _ = decode_in_pieces(pdc_stream(), [])
    absent = frames[4 + 3][7]
    (_, _, f1, _, ph1, _, _), (_, _, f2, _, ph2, an2, _), (_, _, _, _, ph3, an3, _) = absent
    assert f1 == "nan" and ph1[0] == ("nan", "nan") and ph1[1] != ("nan", "nan")
    assert f2 == "nan" and ph2[0] == ("nan", "nan") and an2 == ("nan",)
    assert ph3[0] == ("nan", "nan") and an3 == ("nan",)


GARBAGE = [
    b"\x00",
    b"\xaa",
    b"\xaa\x01",
    b"\xaa\x01\x00",
    b"\xaa\x01\x00\x05",  # FRAMESIZE below the minimum
    b"hello world",
    b"\xaa\xaa\xaa\xaa",
    bytes(range(256)),
]


@pytest.mark.parametrize("garbage", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_between_frames_is_skipped_and_counted(garbage):
    frames = [pdc_data(k) for k in range(3)]
    cfg = frame(CFG2, 2, 9, SOC, 0, cfg2_body(pdc_pmus(), data_rate=50))
    stream = cfg + frames[0] + garbage + frames[1] + garbage + frames[2] + garbage[:0]
    out, stats = decode_in_pieces(stream, [])
    clean, _ = decode_in_pieces(cfg + b"".join(frames), [])
    assert out == clean
    assert stats["bytes_skipped"] == 2 * len(garbage)
    # and split anywhere
    for cut in range(0, len(stream), 7):
        assert decode_in_pieces(stream, [cut])[0] == clean


def test_leading_and_trailing_garbage():
    cfg = frame(CFG2, 2, 9, SOC, 0, cfg2_body(pdc_pmus(), data_rate=50))
    d = C37118Decoder()
    assert [f.type for f in d.feed(b"\x01\x02\x03" + cfg + pdc_data(0) + b"zz")] == ["cfg2", "data"]
    assert d.stats["bytes_skipped"] == 5 and d.buffered == 0


def test_a_bad_crc_at_a_plausible_sync_loses_only_that_frame():
    cfg = frame(CFG2, 2, 9, SOC, 0, cfg2_body(pdc_pmus(), data_rate=50))
    bad = bytearray(pdc_data(1))
    bad[30] ^= 0x40
    stream = cfg + pdc_data(0) + bytes(bad) + pdc_data(2)
    d = C37118Decoder()
    out = d.feed(stream)
    assert [f.type for f in out] == ["cfg2", "data", "data"]
    assert [f.time for f in out[1:]] == [SOC, SOC + 0.04]
    assert d.stats["crc_errors"] == 1 and d.stats["bytes_skipped"] == len(bad)


def test_a_truncated_frame_loses_only_itself():
    cfg = frame(CFG2, 2, 9, SOC, 0, cfg2_body(pdc_pmus(), data_rate=50))
    cut = pdc_data(1)[:-9]  # the sender died mid-frame and reconnected
    d = C37118Decoder()
    out = d.feed(cfg + pdc_data(0) + cut + pdc_data(2) + pdc_data(3))
    assert [f.time for f in out if f.type == "data"] == [SOC, SOC + 0.04, SOC + 0.06]
    assert d.stats["bytes_skipped"] == len(cut)


def test_a_false_sync_with_a_large_framesize_does_not_hold_up_the_stream():
    cfg = frame(CFG2, 2, 9, SOC, 0, cfg2_body(pdc_pmus(), data_rate=50))
    d = C37118Decoder()
    d.feed(cfg)
    # 0xAA 0x01 = a plausible data-frame SYNC, FRAMESIZE 0xF000: the real frames follow at once
    out = d.feed(b"\xaa\x01\xf0\x00" + pdc_data(0) + pdc_data(1))
    assert [f.time for f in out] == [SOC, SOC + 0.02]
    assert d.stats["bytes_skipped"] == 4 and d.buffered == 0


def rechecksum(raw: bytes) -> bytes:
    return raw[:-2] + struct.pack(">H", crc_ccitt(raw[:-2]))


def test_unknown_version_or_frame_type_is_skipped_and_counted_not_fatal():
    cfg = frame(CFG2, 2, 9, SOC, 0, cfg2_body(pdc_pmus(), data_rate=50))
    v3 = rechecksum(bytes([0xAA, 0x03]) + pdc_data(0)[2:])  # version 3
    t6 = rechecksum(bytes([0xAA, 0x62]) + pdc_data(0)[2:])  # frame type 6
    bit7 = rechecksum(bytes([0xAA, 0x82]) + pdc_data(0)[2:])  # reserved bit 7
    d = C37118Decoder()
    out = d.feed(cfg + v3 + pdc_data(1) + t6 + bit7 + pdc_data(2))
    assert [f.type for f in out] == ["cfg2", "data", "data"]
    assert d.stats["unknown_frames"] == 3 and d.stats["bytes_skipped"] == 0


def test_data_without_configuration_or_of_the_wrong_size():
    d = C37118Decoder()
    assert d.feed(pdc_data(0)) == []
    assert d.stats["no_config"] == 1
    d.feed(frame(CFG2, 2, 9, SOC, 0, cfg2_body(pdc_pmus(), data_rate=50)))
    short = frame(DATA, 2, 9, SOC, 0, b"\x00" * 10)
    assert d.feed(short) == []
    assert d.stats["malformed"] == 1
    assert len(d.feed(pdc_data(0))) == 1
    assert set(d.configs) == {9}


def test_reset_drops_a_partial_frame():
    cfg = frame(CFG2, 2, 9, SOC, 0, cfg2_body(pdc_pmus(), data_rate=50))
    d = C37118Decoder()
    d.feed(cfg + pdc_data(0)[:20])
    assert d.buffered == 20
    d.reset()
    assert d.buffered == 0
    assert [f.time for f in d.feed(pdc_data(1))] == [SOC + 0.02]  # the configuration is kept


def test_bytearray_and_memoryview_are_accepted():
    stream = pdc_stream()
    whole, _ = decode_in_pieces(stream, [])
    for wrap in (bytearray, memoryview):
        d = C37118Decoder()
        assert [describe(f) for f in d.feed(wrap(stream))] == whole
    with pytest.raises(InputError, match="bytes"):
        C37118Decoder().feed("not bytes")  # type: ignore[arg-type]


# ---- batch ----


def test_batch_decode_gives_the_same_values_as_feed():
    stream = pdc_stream(8)
    out = decode_c37118(stream)
    assert list(out) == [101, 102, 103]
    frames = [f for f in C37118Decoder().feed(stream) if f.type == "data"]
    for i, pid in enumerate([101, 102, 103]):
        cols = out[pid]
        assert cols["time"].dtype == np.float64 and cols["stat"].dtype == np.uint16
        assert cols["phasors"].dtype == np.complex128 and cols["digitals"].dtype == np.uint16
        assert cols["time"].tolist() == [f.time for f in frames]
        np.testing.assert_array_equal(cols["freq"], [f.pmus[i].freq for f in frames])
        np.testing.assert_array_equal(cols["rocof"], [f.pmus[i].rocof for f in frames])
        np.testing.assert_array_equal(cols["stat"], [f.pmus[i].stat for f in frames])
        np.testing.assert_array_equal(cols["phasors"], np.array([f.pmus[i].phasors for f in frames]))
        assert cols["analogs"].shape == (8, len(frames[0].pmus[i].analogs))
        np.testing.assert_array_equal(
            cols["analogs"], np.array([f.pmus[i].analogs for f in frames]).reshape(8, -1)
        )
        np.testing.assert_array_equal(
            cols["digitals"], np.array([f.pmus[i].digitals for f in frames], dtype=np.uint16).reshape(8, -1)
        )
    assert np.isnan(out[101]["freq"][3]) and np.isnan(out[101]["phasors"][3, 0])
    assert out[101]["phasors"].shape == (8, 2) and out[103]["phasors"].shape == (8, 1)


def test_batch_with_a_configuration_given_and_garbage():
    from gridtap import C37118Decoder as Dec

    cfg = Dec().feed(frame(CFG2, 2, 9, SOC, 0, cfg2_body(pdc_pmus(), data_rate=50)))[0].config
    data = b"junk" + pdc_data(0) + b"\xaa" + pdc_data(1)
    assert decode_c37118(data) == {}
    out = decode_c37118(data, cfg)
    assert out[102]["time"].tolist() == [SOC, SOC + 0.02]


def test_batch_refuses_a_pmu_whose_channel_count_changes():
    cfg_a = frame(CFG2, 2, 9, SOC, 0, cfg2_body(pdc_pmus(), data_rate=50))
    pmus = pdc_pmus()
    pmus[0].phasors = pmus[0].phasors[:1]
    cfg_b = frame(CFG2, 2, 9, SOC, 0, cfg2_body(pmus, data_rate=50))
    short = pdc_data(1)
    short = frame(DATA, 2, 9, SOC, 0, short[14:16] + short[20:-2])  # one phasor fewer for PMU 101
    with pytest.raises(InputError, match="PMU 101"):
        decode_c37118(cfg_a + pdc_data(0) + cfg_b + short)


# ---- hostile input ----


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.integers(1, 64))
def test_arbitrary_bytes_never_raise(data, chunk):
    d = C37118Decoder()
    for i in range(0, len(data), chunk):
        d.feed(data[i : i + chunk])
    decode_c37118(data)
    s = d.stats
    assert s["bytes"] == len(data)
    assert s["bytes_skipped"] + d.buffered <= len(data)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_corrupted_frames_with_a_valid_crc_are_counted_not_fatal(data):
    # a frame whose contents disagree with themselves but whose CHK is right: the worst case
    body_frames = [
        frame(CFG2, 2, 9, SOC, 0, cfg2_body(pdc_pmus(), data_rate=50)),
        cfg3_frames(
            cfg3_body([Pmu(idcode=55, phasors=[("V", 0, 0)], phscale=[(0, 1, 1.0, 0.0)])]), 55, SOC, 0
        ),
        pdc_data(0),
        frame(COMMAND, 2, 9, SOC, 0, struct.pack(">H", 8) + b"xy"),
    ]
    raw = bytearray(data.draw(st.sampled_from(body_frames)))
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(14, len(raw) - 3))
        raw[i] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):  # truncate or pad the body, fixing FRAMESIZE
        cut = data.draw(st.integers(16, len(raw) + 8))
        raw = (raw[:-2] + bytes(8))[: cut - 2] + b"\0\0"
        raw[2:4] = struct.pack(">H", len(raw))
    raw[-2:] = struct.pack(">H", crc_ccitt(bytes(raw[:-2])))
    d = C37118Decoder()
    prefix = frame(CFG2, 2, 9, SOC, 0, cfg2_body(pdc_pmus(), data_rate=50))
    d.feed(prefix + bytes(raw) + pdc_data(1))
    assert d.stats["bytes_skipped"] == 0  # the frame was taken whole, good or malformed
    try:
        decode_c37118(prefix + bytes(raw) + pdc_data(1))
    except InputError as e:  # the one refusal: a PMU whose channel counts change mid-recording
        assert "changes from" in str(e)
