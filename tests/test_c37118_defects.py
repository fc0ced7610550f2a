"""One regression test per defect of public C37.118 parsers listed in c37118.md: each would fail on
a parser that has the defect. Frames are built by hand with `struct`."""

from __future__ import annotations

import socket
import struct
import threading

import pytest
from c37118_frames import CFG2, DATA, Pmu, cfg2_body, crc_ccitt, fracsec, frame
from gridtap import C37118Decoder

SOC_2006 = 1149580800  # long before today: a parser that swaps in the local clock is caught


def one_pmu(fmt: int, fnom: int = 50) -> Pmu:
    return Pmu(station="P", idcode=3, format=fmt, phasors=[("V", 1000, 0)], fnom=fnom)


def cfg(fmt: int, fnom: int = 50, time_base: int = 1_000_000) -> bytes:
    return frame(CFG2, 2, 3, SOC_2006, 0, cfg2_body([one_pmu(fmt, fnom)], time_base=time_base, data_rate=50))


def data(stat: int, freq_bytes: bytes, frac: int = 0, phasor: bytes = b"\x00\x01\x00\x02") -> bytes:
    return frame(DATA, 2, 3, SOC_2006, frac, struct.pack(">H", stat) + phasor + freq_bytes)


def decode(*frames: bytes):
    return [f for f in C37118Decoder().feed(b"".join(frames)) if f.type == "data"]


def test_float_freq_is_absolute_not_a_deviation():
    # pypmu issue 3: a float FREQ was added to FNOM as if it were a deviation
    [f] = decode(cfg(0x8), data(0, struct.pack(">ff", 49.953125, 0.25)))
    assert f.pmus[0].freq == 49.953125
    assert f.pmus[0].rocof == 0.25
    # the integer form is the deviation in mHz from FNOM
    [g] = decode(cfg(0x0, fnom=60), data(0, struct.pack(">hh", -47, 25)))
    assert g.pmus[0].freq == pytest.approx(59.953) and g.pmus[0].rocof == 0.25


def test_fracsec_zero_is_the_top_of_the_second_not_the_local_clock():
    # pypmu issue 7: FRACSEC = 0 was taken as "no time" and replaced by the local clock
    [f] = decode(cfg(0x8), data(0, struct.pack(">ff", 50.0, 0.0), frac=0))
    assert (f.soc, f.fraction, f.time) == (SOC_2006, 0, float(SOC_2006))


def test_fracsec_fraction_has_24_bits():
    # a 23-bit mask drops bit 23: 9,000,000 of 10,000,000 would read as 611,392
    [f] = decode(cfg(0x8, time_base=10_000_000), data(0, struct.pack(">ff", 50.0, 0.0), frac=9_000_000))
    assert f.fraction == 9_000_000 and f.time == SOC_2006 + 0.9
    # and the flag byte above it is not part of the fraction
    [g] = decode(
        cfg(0x8, time_base=16_777_215),
        data(0, struct.pack(">ff", 50.0, 0.0), frac=fracsec(16_777_214, quality=0xF, occurred=True)),
    )
    assert g.fraction == 16_777_214 and g.time_quality == 0xF and g.leap_occurred
    assert g.time == SOC_2006 + 16_777_214 / 16_777_215


@pytest.mark.parametrize(
    ("stat", "data_error"),
    [(0x0000, 0), (0x4000, 1), (0x8000, 2), (0xC000, 3)],
)
def test_data_error_is_the_two_bit_field_15_14(stat, data_error):
    # reading bit 15 alone (2005's "data invalid") misses 01 (PMU error) and confuses 10 with 11
    [f] = decode(cfg(0x8), data(stat, struct.pack(">ff", 50.0, 0.0)))
    assert f.pmus[0].data_error == data_error
    assert f.pmus[0].stat == stat


def test_stat_time_quality_is_bits_8_to_6_and_unlocked_time_bits_5_4():
    # the 2011 PMU time quality read from bits 7-5 is a public parser's defect
    [f] = decode(cfg(0x8), data(0b101 << 6, struct.pack(">ff", 50.0, 0.0)))
    p = f.pmus[0]
    assert (p.time_quality, p.unlocked_time, p.trigger_reason) == (5, 0, 0)
    [g] = decode(cfg(0x8), data(0b11 << 4 | 0b1 << 9 | 0b1 << 13 | 0x9, struct.pack(">ff", 50.0, 0.0)))
    p = g.pmus[0]
    assert (p.time_quality, p.unlocked_time, p.data_modified, p.sync_error, p.trigger_reason) == (
        0,
        3,
        True,
        True,
        9,
    )
    assert not (p.trigger or p.config_change or p.sorted_by_arrival)


def test_an_unknown_version_or_frame_type_is_skipped_not_fatal():
    good = data(0, struct.pack(">ff", 50.0, 0.0))
    v3 = bytes([0xAA, 0x03]) + good[2:-2]
    v3 += struct.pack(">H", crc_ccitt(v3))
    t7 = bytes([0xAA, 0x72]) + good[2:-2]
    t7 += struct.pack(">H", crc_ccitt(t7))
    d = C37118Decoder()
    frames = d.feed(cfg(0x8) + v3 + good + t7 + good)
    assert [f.type for f in frames] == ["cfg2", "data", "data"]
    assert d.stats["unknown_frames"] == 2


def test_several_frames_in_one_tcp_read_are_all_decoded():
    # pypmu issues 10 and 38, GSF issue 37: frames after the first in one read were lost
    frames = [data(0, struct.pack(">ff", 50.0 + k / 64, 0.0), frac=k * 20_000) for k in range(50)]
    payload = cfg(0x8) + b"".join(frames)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(payload)  # one write: the reader gets many frames per recv

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    d = C37118Decoder()
    got = []
    reads = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            reads += 1
            got += [f for f in d.feed(chunk) if f.type == "data"]
    t.join(timeout=10)
    server.close()
    assert reads < len(frames)  # several frames did share reads
    assert [f.pmus[0].freq for f in got] == [50.0 + k / 64 for k in range(50)]
    assert [f.fraction for f in got] == [k * 20_000 for k in range(50)]
    assert d.stats["bytes_skipped"] == 0 and d.buffered == 0
