"""C37.118 frames against bytes from independent sources: c37118.md's known-answer vector, pypmu's
published frames, and frames built by hand with `struct` (tests/c37118_frames.py) for every FORMAT
combination, both versions, and CFG-3 with fragments. Decoded, and encoded byte for byte."""

from __future__ import annotations

import math
import struct

import pytest
from c37118_frames import (
    BREAKERS,
    CFG1,
    CFG2,
    DATA,
    KAT_DATA_HEX,
    PYPMU_CFG2_HEX,
    PYPMU_COMMAND_HEX,
    PYPMU_HEADER_HEX,
    PYPMU_MULTI_DATA_HEX,
    Pmu,
    cfg2_body,
    cfg3_body,
    cfg3_frames,
    frame,
    kat_cfg2,
    kat_pmu,
)
from gridtap import (
    C37118Config,
    C37118Decoder,
    C37118PmuConfig,
    C37118PmuData,
    encode_c37118_command,
    encode_c37118_config,
    encode_c37118_data,
    encode_c37118_header,
)

KAT_PHASORS_RAW = [(14635, 0), (-7318, -12676), (-7318, 12675), (1092, 0)]
KAT_PHUNIT = [915527, 915527, 915527, 45776]


def kat_config() -> C37118Config:
    """The same CFG-2 through the public constructor."""
    pmu = C37118PmuConfig(
        "Station A",
        7734,
        0x0004,
        phasor_names=["VA", "VB", "VC", "I1"],
        phasor_units=["V", "V", "V", "A"],
        phasor_scales=[u / 1e5 for u in KAT_PHUNIT],
        analog_names=["ANALOG1", "ANALOG2", "ANALOG3"],
        analog_kinds=[0, 1, 2],
        digital_names=BREAKERS,
        digital_masks=[(0x0000, 0xFFFF)],
        fnom=60,
        cfgcnt=22,
    )
    return C37118Config(7734, [pmu], time_base=1_000_000, data_rate=30)


def test_hand_built_cfg2_is_pypmus_vector():
    # the hand-built CFG-2 and pypmu's published bytes agree: the builder is a sound reference
    assert kat_cfg2() == bytes.fromhex(PYPMU_CFG2_HEX)


def test_known_answer_vector_decodes():
    d = C37118Decoder()
    cfg_frame, data = d.feed(kat_cfg2() + bytes.fromhex(KAT_DATA_HEX))
    assert (cfg_frame.type, cfg_frame.version, cfg_frame.idcode) == ("cfg2", 1, 7734)
    assert (data.type, data.version, data.idcode, data.size) == ("data", 1, 7734, 0x34)
    assert (data.soc, data.fraction) == (1149580800, 16817)
    assert data.time == 1149580800 + 16817 / 1_000_000
    assert (data.time_quality, data.leap_pending, data.leap_occurred, data.leap_delete) == (
        0,
        False,
        False,
        False,
    )
    [pmu] = data.pmus
    assert (pmu.idcode, pmu.stat, pmu.data_error) == (7734, 0, 0)
    expected = [
        complex(re * u * 1e-5, im * u * 1e-5) for (re, im), u in zip(KAT_PHASORS_RAW, KAT_PHUNIT, strict=True)
    ]
    assert pmu.phasors == pytest.approx(expected, rel=1e-12)
    assert pmu.freq == 62.5  # +2500 mHz on a 60 Hz system
    assert pmu.rocof == 0.0
    assert pmu.analogs == [100.0, 1000.0, 10000.0]
    assert pmu.digitals == [0x3C12]
    assert d.stats["data"] == 1 and d.stats["crc_errors"] == 0


def test_known_answer_configuration_fields():
    [f] = C37118Decoder().feed(kat_cfg2())
    cfg = f.config
    assert f.time_quality == 6 and f.leap_pending and f.leap_delete and not f.leap_occurred
    assert f.fraction == 463000
    assert (cfg.idcode, cfg.time_base, cfg.data_rate, cfg.frame_rate, cfg.data_frame_size) == (
        7734,
        1_000_000,
        30,
        30.0,
        0x34,
    )
    [p] = cfg.pmus
    assert (p.station, p.idcode, p.format, p.fnom, p.cfgcnt) == ("Station A", 7734, 4, 60, 22)
    assert (p.freq_float, p.analogs_float, p.phasors_float, p.polar) == (False, True, False, False)
    assert p.phasor_names == ["VA", "VB", "VC", "I1"]
    assert p.phasor_units == ["V", "V", "V", "A"]
    assert p.phasor_scales == [9.15527, 9.15527, 9.15527, 0.45776]
    assert p.analog_names == ["ANALOG1", "ANALOG2", "ANALOG3"]
    assert p.analog_kinds == [0, 1, 2] and p.analog_scales == [1.0, 1.0, 1.0]
    assert p.digital_names == BREAKERS and p.digital_masks == [(0, 0xFFFF)] and p.digital_words == 1
    assert cfg == kat_config()


def test_known_answer_vector_encodes_byte_for_byte():
    cfg = kat_config()
    assert encode_c37118_config(
        cfg, (1149577200, 463000), version=1, time_quality=6, leap_pending=True, leap_delete=True
    ) == bytes.fromhex(PYPMU_CFG2_HEX)
    phasors = [
        complex(re * u * 1e-5, im * u * 1e-5) for (re, im), u in zip(KAT_PHASORS_RAW, KAT_PHUNIT, strict=True)
    ]
    pmu = C37118PmuData(phasors, 62.5, 0.0, [100.0, 1000.0, 10000.0], [0x3C12], stat=0)
    out = encode_c37118_data(cfg, (1149580800, 16817), [pmu], version=1)
    assert out.hex() == KAT_DATA_HEX


def test_pypmu_multi_pmu_data_frame():
    pmu_a, pmu_b = kat_pmu(), kat_pmu()
    cfg = frame(CFG2, 1, 7734, 1149577200, 463000, cfg2_body([pmu_a, pmu_b]))
    [_, data] = C37118Decoder().feed(cfg + bytes.fromhex(PYPMU_MULTI_DATA_HEX))
    assert len(data.pmus) == 2
    for p in data.pmus:
        assert p.freq == 62.5 and p.digitals == [0x3C12] and p.analogs == [100.0, 1000.0, 10000.0]


def test_pypmu_header_and_command_frames():
    d = C37118Decoder()
    header, command = d.feed(bytes.fromhex(PYPMU_HEADER_HEX + PYPMU_COMMAND_HEX))
    assert header.type == "header" and header.text == "Hello I'm Header Frame."
    assert header.time_quality == 15 and header.fraction == 770000 and header.soc == 1149591600
    assert command.type == "command" and command.command == 2 and command.extended == b""
    t = (1149591600, 770000)
    assert encode_c37118_header(
        7734, "Hello I'm Header Frame.", t, version=1, time_quality=15
    ) == bytes.fromhex(PYPMU_HEADER_HEX)
    assert encode_c37118_command(7734, 2, t, version=1, time_quality=15) == bytes.fromhex(PYPMU_COMMAND_HEX)


def test_extended_command_frame():
    raw = frame(4, 2, 12, 100, 0, struct.pack(">H", 8) + b"\x01\x02\x03\x04")
    [f] = C37118Decoder().feed(raw)
    assert (f.command, f.extended) == (8, b"\x01\x02\x03\x04")
    assert encode_c37118_command(12, 8, (100, 0), extended=b"\x01\x02\x03\x04") == raw


# ---- every FORMAT combination, hand-built ----

PHUNITS = [(1000, 0), (50, 1)]  # 0.01 V and 0.0005 A per count
RAW_PHASORS = [(12000, -3000), (-700, 1500)]  # rectangular raws; polar: magnitude, angle (10^-4 rad)
RAW_POLAR = [(20000, 10472), (1234, -25000)]
FLOAT_RECT = [(230.5, -11.25), (-3.5, 0.125)]
FLOAT_POLAR = [(230.5, 0.5), (3.5, -2.0)]


def format_case(fmt: int, version: int, fnom: int = 50):
    """(configuration frame, data frame, expected values) for FORMAT `fmt`, hand-built."""
    polar, ph_float, an_float, fr_float = fmt & 1, fmt & 2, fmt & 4, fmt & 8
    pmu = Pmu(
        station="FMT",
        idcode=21,
        format=fmt,
        phasors=[("V1", PHUNITS[0][0], PHUNITS[0][1]), ("I1", PHUNITS[1][0], PHUNITS[1][1])],
        analogs=[("A1", 1, 1), ("A2", 1, 1)],
        digital_names=[f"D{i}" for i in range(16)],
        digital_masks=[(0, 0xFFFF)],
        fnom=fnom,
    )
    cfg = frame(CFG2, version, 21, 1_700_000_000, 0, cfg2_body([pmu], time_base=1_000_000, data_rate=50))
    body = struct.pack(">H", 0x2A10)
    expected_ph = []
    for k in range(2):
        scale = PHUNITS[k][0] * 1e-5
        if ph_float and polar:
            m, a = FLOAT_POLAR[k]
            body += struct.pack(">ff", m, a)
            m32, a32 = struct.unpack(">ff", struct.pack(">ff", m, a))
            expected_ph.append(complex(m32 * math.cos(a32), m32 * math.sin(a32)))
        elif ph_float:
            re, im = FLOAT_RECT[k]
            body += struct.pack(">ff", re, im)
            expected_ph.append(complex(re, im))
        elif polar:
            m, a = RAW_POLAR[k]
            body += struct.pack(">Hh", m, a)
            expected_ph.append(complex(m * scale * math.cos(a * 1e-4), m * scale * math.sin(a * 1e-4)))
        else:
            re, im = RAW_PHASORS[k]
            body += struct.pack(">hh", re, im)
            expected_ph.append(complex(re * scale, im * scale))
    if fr_float:
        body += struct.pack(">ff", 49.875, -0.375)
        freq, rocof = 49.875, -0.375
    else:
        body += struct.pack(">hh", -125, -37)
        freq, rocof = fnom - 0.125, -0.37
    analogs = [12.5, -3.0] if an_float else [1234.0, -32767.0]
    body += struct.pack(">ff", *analogs) if an_float else struct.pack(">hh", *map(int, analogs))
    body += struct.pack(">H", 0xBEEF)
    data = frame(DATA, version, 21, 1_700_000_001, 500_000, body)
    return cfg, data, (expected_ph, freq, rocof, analogs)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("fmt", range(16))
def test_every_format_decodes_hand_built_frames(fmt, version):
    cfg, data, (phasors, freq, rocof, analogs) = format_case(fmt, version)
    d = C37118Decoder()
    c, f = d.feed(cfg + data)
    assert c.config.pmus[0].format == fmt
    assert (f.type, f.version, f.time) == ("data", version, 1_700_000_001.5)
    [p] = f.pmus
    assert p.stat == 0x2A10
    assert p.phasors == pytest.approx(phasors, rel=1e-12, abs=1e-12)
    assert p.freq == pytest.approx(freq, abs=1e-12)
    assert p.rocof == pytest.approx(rocof, abs=1e-12)
    assert p.analogs == analogs
    assert p.digitals == [0xBEEF]


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("fmt", range(16))
def test_every_format_encodes_the_hand_built_bytes(fmt, version):
    cfg_bytes, data_bytes, _ = format_case(fmt, version)
    [c, f] = C37118Decoder().feed(cfg_bytes + data_bytes)
    assert encode_c37118_config(c.config, (1_700_000_000, 0), version=version) == cfg_bytes
    [p] = f.pmus
    again = encode_c37118_data(
        c.config,
        (1_700_000_001, 500_000),
        [C37118PmuData(p.phasors, p.freq, p.rocof, p.analogs, p.digitals, stat=p.stat)],
        version=version,
    )
    assert again == data_bytes


def test_fnom_50_vs_60_sets_the_integer_frequency_base():
    for fnom in (50, 60):
        cfg, data, _ = format_case(0, 2, fnom=fnom)
        [_, f] = C37118Decoder().feed(cfg + data)
        assert f.pmus[0].freq == pytest.approx(fnom - 0.125)


def test_cfg1_is_returned_but_does_not_drive_data_decoding():
    _, data, _ = format_case(0, 2)
    cfg1 = frame(CFG1, 2, 21, 1_700_000_000, 0, cfg2_body([Pmu(station="FMT", idcode=21, phasors=[])]))
    d = C37118Decoder()
    [c] = d.feed(cfg1 + data)
    assert c.type == "cfg1" and c.config.pmus[0].station == "FMT"
    assert d.config is None and d.stats["no_config"] == 1 and d.stats["cfg1"] == 1


# ---- CFG-3 ----


def cfg3_pmu() -> Pmu:
    return Pmu(
        station="Ünïcode station, longer than sixteen bytes",
        idcode=4242,
        format=0x0000,
        phasors=[("VA", 0, 0), ("IA", 0, 1)],
        phscale=[(0x0000, 0x04, 0.5, 0.0), (0x0102, 0x08 | 0x04, 0.25, math.pi / 2)],
        analogs=[("TEMP", 1, 1)],
        anscale=[(0.1, -40.0)],
        digital_names=[f"bit {i}" for i in range(16)],
        digital_masks=[(0x00FF, 0xFFFF)],
        fnom=50,
        cfgcnt=7,
        g_pmu_id=bytes(range(16)),
        lat=46.5,
        lon=6.625,
        elev=372.0,
        svc=b"P",
        window=40_000,
        grp_dly=20_000,
    )


def test_cfg3_single_frame_decodes_every_field():
    body = cfg3_body([cfg3_pmu()], time_base=10_000_000, data_rate=-5)
    d = C37118Decoder()
    [f] = d.feed(cfg3_frames(body, 4242, 1_700_000_000, 0))
    assert f.type == "cfg3" and f.version == 2
    cfg = f.config
    assert (cfg.idcode, cfg.time_base, cfg.data_rate, cfg.frame_rate) == (4242, 10_000_000, -5, 0.2)
    [p] = cfg.pmus
    assert p.station == "Ünïcode station, longer than sixteen bytes"
    assert (p.idcode, p.fnom, p.cfgcnt, p.g_pmu_id) == (4242, 50, 7, bytes(range(16)))
    assert p.phasor_names == ["VA", "IA"] and p.phasor_units == ["V", "A"]
    assert p.phasor_components == ["A", "A"]
    assert p.phasor_scales == [0.5, 0.25]
    assert p.phasor_angle_offsets == pytest.approx([0.0, math.pi / 2], rel=1e-7)
    assert p.phasor_flags == [0, 0x0102]
    assert p.analog_scales == pytest.approx([0.1], rel=1e-7) and p.analog_offsets == [-40.0]
    assert p.digital_masks == [(0x00FF, 0xFFFF)]
    assert (p.latitude, p.longitude, p.elevation, p.service_class) == (46.5, 6.625, 372.0, "P")
    assert (p.window, p.group_delay) == (40_000, 20_000)
    assert d.config == cfg


def test_cfg3_scale_and_angle_offset_apply_to_integer_phasors():
    body = cfg3_body([cfg3_pmu()], time_base=1_000_000, data_rate=50)
    data = frame(
        DATA, 2, 4242, 1_700_000_001, 0, struct.pack(">Hhhhhhhhh", 0, 400, -200, 100, 0, 0, 0, 77, 1)
    )
    [_, f] = C37118Decoder().feed(cfg3_frames(body, 4242, 1_700_000_000, 0) + data)
    [p] = f.pmus
    # VA: (400, -200) × 0.5; IA: (100, 0) × 0.25 rotated by the f32 of π/2
    theta = struct.unpack(">f", struct.pack(">f", math.pi / 2))[0]
    assert p.phasors[0] == complex(200.0, -100.0)
    assert p.phasors[1] == pytest.approx(complex(25 * math.cos(theta), 25 * math.sin(theta)), abs=1e-12)
    assert p.analogs == [77.0]  # analogs as transmitted; ANSCALE is in the configuration


@pytest.mark.parametrize("piece", [1, 7, 64, 200])
def test_cfg3_fragments_are_reassembled(piece):
    body = cfg3_body([cfg3_pmu(), cfg3_pmu()], data_rate=50)
    assert len(body) > 200
    stream = cfg3_frames(body, 4242, 1_700_000_000, 0, piece=piece)
    d = C37118Decoder()
    frames = d.feed(stream)
    assert [f.type for f in frames] == ["cfg3"]
    n = -(-len(body) // piece)
    assert d.stats["cfg3_fragments"] == n and d.stats["cfg3"] == 1
    whole = C37118Decoder().feed(cfg3_frames(body, 4242, 1_700_000_000, 0))[0].config
    assert frames[0].config == whole
    # the encoder splits at the same places
    again = encode_c37118_config(whole, (1_700_000_000, 0), type="cfg3", max_frame_size=piece + 18)
    assert again == stream


def test_cfg3_fragment_out_of_order_is_counted_and_dropped():
    body = cfg3_body([cfg3_pmu()], data_rate=50)
    stream = cfg3_frames(body, 4242, 1_700_000_000, 0, piece=40)
    sizes = []
    i = 0
    while i < len(stream):
        n = struct.unpack(">H", stream[i + 2 : i + 4])[0]
        sizes.append(stream[i : i + n])
        i += n
    shuffled = sizes[0] + sizes[2] + sizes[1] + b"".join(sizes[3:])
    d = C37118Decoder()
    assert d.feed(shuffled) == []
    assert d.stats["malformed"] >= 1 and d.config is None
    # a complete sequence afterwards is accepted
    assert [f.type for f in d.feed(stream)] == ["cfg3"]
