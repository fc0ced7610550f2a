"""C37.118 decoding: gridtap against the plain-Python parser a user would otherwise write, in the
same run.

- Single-PMU stream: 200,000 data frames of one PMU with six float polar phasors (VA..VC, IA..IC),
  float FREQ/DFREQ (74 bytes a frame), decoded with the CRC checked. gridtap's batch decoder
  (`decode_c37118`, into numpy arrays) and its stream decoder (`C37118Decoder.feed`, one frame
  object per frame) against a Python parser built on `struct` and `binascii.crc_hqx` (the C
  implementation of this very CRC, so the baseline does not pay for a Python CRC loop), run on a
  sample of 20,000 frames and scaled. Target: >= 1,000,000 frames/s per core.
- The same with integer rectangular phasors (the known-answer vector's PMU layout, 52 bytes).
- PDC stream: 5,000 frames of 40 PMUs (six float polar phasors, float FREQ, two analogs, one
  digital word each: 2,736 bytes a frame). Target: >= 100 MB/s.

Every benchmark first checks that the baseline decodes the same values. GRIDTAP_BENCH_QUICK=1
uses 5,000 frames (CI).
"""

from __future__ import annotations

import binascii
import cmath
import math
import struct

import numpy as np
import pytest
from conftest import QUICK, benchmark_median, interleaved_medians
from gridtap import (
    C37118Config,
    C37118Decoder,
    C37118PmuConfig,
    C37118PmuData,
    decode_c37118,
    encode_c37118_config,
    encode_c37118_data,
)

N_SINGLE = 5_000 if QUICK else 200_000
PY_SAMPLE = 2_000 if QUICK else 20_000
N_PDC = 500 if QUICK else 5_000
N_PDC_PMUS = 40
REPEATS = 3 if QUICK else 9
SOC = 1_700_000_000
NAMES6 = ["VA", "VB", "VC", "IA", "IB", "IC"]


def pmu_config(idcode: int, fmt: int, analogs: int = 0, digitals: int = 0) -> C37118PmuConfig:
    return C37118PmuConfig(
        f"PMU {idcode}",
        idcode,
        fmt,
        phasor_names=NAMES6,
        phasor_units=["V", "V", "V", "A", "A", "A"],
        phasor_scales=[0.01, 0.01, 0.01, 0.001, 0.001, 0.001],
        analog_names=[f"AN{i}" for i in range(analogs)],
        digital_names=[f"D{i}" for i in range(16 * digitals)],
    )


def stream(config: C37118Config, n: int, seed: int = 3) -> bytes:
    """A configuration frame, then n data frames at 50 frames/s of a slowly varying grid."""
    rng = np.random.default_rng(seed)
    out = [encode_c37118_config(config, (SOC, 0))]
    for k in range(n):
        pmus = []
        for p in config.pmus:
            f = 50.0 + 0.05 * math.sin(k / 500) + 0.001 * rng.standard_normal()
            ph = [
                cmath.rect(
                    230.0 if i < 3 else 20.0, k * 1e-3 - 2 * math.pi / 3 * (i % 3) - (0.3 if i >= 3 else 0)
                )
                for i in range(6)
            ]
            pmus.append(
                C37118PmuData(
                    ph,
                    f,
                    0.01 * rng.standard_normal(),
                    [1.0] * len(p.analog_names),
                    [k & 0xFFFF] * p.digital_words,
                )
            )
        t = (SOC + k // 50, (k % 50) * 20_000)
        out.append(encode_c37118_data(config, t, pmus))
    return b"".join(out)


class PythonC37118Parser:
    """What a user would write without gridtap: struct over the frames, the CRC by binascii, the
    FORMAT and scaling of the one configuration the stream was recorded with (parsed beforehand)."""

    def __init__(self, config: C37118Config) -> None:
        self.time_base = config.time_base
        self.pmus = []
        for p in config.pmus:
            n = len(p.phasor_names)
            ph = ("f" if p.phasors_float else "h") * 2 * n
            if p.polar and not p.phasors_float:
                ph = "Hh" * n
            fr = "ff" if p.freq_float else "hh"
            an = ("f" if p.analogs_float else "h") * len(p.analog_names)
            fmt = struct.Struct(">H" + ph + fr + an + "H" * p.digital_words)
            self.pmus.append((p, fmt, n, len(p.analog_names)))

    def __call__(self, data: bytes) -> list[tuple]:
        out = []
        pos, end = 0, len(data)
        unpack_head = struct.Struct(">BBHHII").unpack_from
        while pos + 4 <= end:
            _, kind, size, _, soc, fracsec = unpack_head(data, pos)
            frame = data[pos : pos + size]
            if binascii.crc_hqx(frame[:-2], 0xFFFF) != int.from_bytes(frame[-2:], "big"):
                pos += 1
                continue
            if (kind >> 4) & 7 != 0:  # not a data frame
                pos += size
                continue
            t = soc + (fracsec & 0xFFFFFF) / self.time_base
            off = pos + 14
            for p, fmt, n, na in self.pmus:
                v = fmt.unpack_from(data, off)
                off += fmt.size
                stat, raw = v[0], v[1 : 1 + 2 * n]
                if p.phasors_float and p.polar:
                    phasors = [cmath.rect(raw[2 * i], raw[2 * i + 1]) for i in range(n)]
                elif p.phasors_float:
                    phasors = [complex(raw[2 * i], raw[2 * i + 1]) for i in range(n)]
                else:
                    s = p.phasor_scales
                    phasors = [complex(raw[2 * i] * s[i], raw[2 * i + 1] * s[i]) for i in range(n)]
                freq, rocof = v[1 + 2 * n], v[2 + 2 * n]
                if not p.freq_float:
                    freq, rocof = p.fnom + freq / 1000, rocof / 100
                out.append((p.idcode, t, freq, rocof, stat, phasors, v[3 + 2 * n : 3 + 2 * n + na]))
            pos += size
        return out


def check_same(ours: dict, theirs: list[tuple]) -> None:
    for pid, cols in ours.items():
        rows = [r for r in theirs if r[0] == pid]
        k = len(rows)
        np.testing.assert_array_equal(cols["time"][:k], [r[1] for r in rows])
        np.testing.assert_allclose(cols["freq"][:k], [r[2] for r in rows], rtol=1e-12)
        np.testing.assert_array_equal(cols["stat"][:k], [r[4] for r in rows])
        np.testing.assert_allclose(cols["phasors"][:k], np.array([r[5] for r in rows]), rtol=1e-12, atol=1e-9)


def frames_in(data: bytes) -> list[bytes]:
    frames, pos = [], 0
    while pos < len(data):
        n = int.from_bytes(data[pos + 2 : pos + 4], "big")
        frames.append(data[pos : pos + n])
        pos += n
    return frames


def feed_all(data: bytes, chunk: int = 1 << 16) -> int:
    d = C37118Decoder()
    n = 0
    for i in range(0, len(data), chunk):
        n += len(d.feed(data[i : i + chunk]))
    return n


@pytest.mark.parametrize(
    ("label", "fmt"),
    [("float polar phasors, float FREQ", 0x000B), ("integer rectangular phasors and FREQ", 0x0000)],
)
def test_single_pmu_frames(benchmark, ratios, label, fmt) -> None:
    config = C37118Config(1, [pmu_config(1, fmt)], data_rate=50)
    data = stream(config, N_SINGLE)
    frames = frames_in(data)
    sample = b"".join(frames[: PY_SAMPLE + 1])  # the configuration frame and PY_SAMPLE data frames
    python = PythonC37118Parser(config)
    ours = decode_c37118(data)
    assert len(ours[1]["time"]) == N_SINGLE
    check_same(ours, python(sample))

    benchmark(decode_c37118, data)
    if benchmark_median(benchmark) is None:
        return
    frame_bytes = len(frames[1])
    case = f"C37.118 single PMU, {label} ({frame_bytes} B/frame)"
    m = interleaved_medians(
        {
            "gridtap": lambda: decode_c37118(data),
            "gridtap_feed": lambda: feed_all(data),
            "python": lambda: python(sample),
        },
        REPEATS,
        number=1,
    )
    per_frame = m["gridtap"] / N_SINGLE
    ratios.add(
        benchmark, case, per_frame, {"python_struct": m["python"] / PY_SAMPLE}, unit="frame (decode_c37118)"
    )
    fps = 1 / per_frame
    ratios.note(benchmark, case, "decode_c37118 frames/s", f"{fps:,.0f}", ">= 1,000,000", fps >= 1e6)
    feed_fps = N_SINGLE / m["gridtap_feed"]
    # the stream decoder makes a Python object per frame: the live path, not the recording path
    ratios.note(
        benchmark, case, "C37118Decoder.feed frames/s", f"{feed_fps:,.0f}", ">= 1,000,000", feed_fps >= 1e6
    )
    benchmark.extra_info["frames"] = N_SINGLE
    benchmark.extra_info["frame_bytes"] = frame_bytes


def test_pdc_stream_throughput(benchmark, ratios) -> None:
    config = C37118Config(
        9, [pmu_config(100 + i, 0x000F, analogs=2, digitals=1) for i in range(N_PDC_PMUS)], data_rate=50
    )
    data = stream(config, N_PDC)
    frames = frames_in(data)
    sample_n = min(N_PDC, 500)
    python = PythonC37118Parser(config)
    ours = decode_c37118(data)
    assert len(ours) == N_PDC_PMUS and len(ours[100]["time"]) == N_PDC
    check_same(ours, python(b"".join(frames[: sample_n + 1])))

    benchmark(decode_c37118, data)
    if benchmark_median(benchmark) is None:
        return
    sample = b"".join(frames[: sample_n + 1])
    m = interleaved_medians(
        {"gridtap": lambda: decode_c37118(data), "python": lambda: python(sample)}, REPEATS, number=1
    )
    frame_bytes = len(frames[1])
    case = f"C37.118 PDC stream, {N_PDC_PMUS} PMUs ({frame_bytes:,} B/frame)"
    ratios.add(
        benchmark,
        case,
        m["gridtap"] / N_PDC,
        {"python_struct": m["python"] / sample_n},
        unit="frame (decode_c37118)",
    )
    mbps = len(data) / m["gridtap"] / 1e6
    ratios.note(benchmark, case, "decode_c37118 MB/s", f"{mbps:,.0f}", ">= 100", mbps >= 100)
    benchmark.extra_info["frames"] = N_PDC
    benchmark.extra_info["frame_bytes"] = frame_bytes
