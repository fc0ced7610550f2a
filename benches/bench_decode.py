"""Register decoding: gridtap against numpy and pymodbus, in the same run.

- `decode_values`: 1,000,000 float32 ABCD values (2,000,000 uint16 registers, high word first)
  against numpy (`regs.astype(">u2").view(">f4").astype(float)`: the registers as big-endian
  16-bit words, read in pairs as big-endian float32) and against pymodbus
  `convert_from_registers`, called once per value as a user decoding a register map field by field
  would, on a sample of 20,000 values and scaled to the same count (also reported: one call with
  the whole sample, which pymodbus still converts value by value in Python).
- `decode`: 100,000 SDM630 frames (86 registers each, built with `Profile.encode` from a
  realistic scenario with some invalid values mixed in) into every standard channel, against the
  fastest numpy code we could write for the same result: one big-endian view for every float32
  field, the physical-range and NaN/Inf checks, a total without a valid value falling back to the
  sum of its phases, ApparentPower as the sum of the phases, PF = P/S clamped with the idle case
  (the PF register's magnitude where S has no value), EnergyNet and PhaseImbalance.

Each gridtap benchmark first checks that the baselines give the same numbers, then times them and
records the ratios (baseline median / gridtap median) in `benchmark.extra_info` and in the table
printed at the end. GRIDTAP_BENCH_QUICK=1 uses 20,000 values and 2,000 frames (CI).
"""

from __future__ import annotations

import gridtap
import numpy as np
import pytest
from conftest import QUICK, benchmark_median, interleaved_medians, median_seconds, scenario_frames
from gridtap import profiles
from pymodbus.client import ModbusTcpClient

N_VALUES = 20_000 if QUICK else 1_000_000
PYMODBUS_SAMPLE = 2_000 if QUICK else 20_000
N_FRAMES = 2_000 if QUICK else 100_000
REPEATS = 3 if QUICK else 15
FLOAT32 = ModbusTcpClient.DATATYPE.FLOAT32


# ---- decode_values: one float32 per two registers ------------------------------------------------


@pytest.fixture(scope="module")
def float_registers() -> np.ndarray:
    rng = np.random.default_rng(0)
    # powers, voltages, currents, frequencies and counters: the magnitudes a meter serves
    scale = rng.choice([5000.0, 230.0, 40.0, 50.0, 1e5], N_VALUES)
    values = (scale * rng.standard_normal(N_VALUES)).astype(np.float32)
    values[rng.choice(N_VALUES, 10, replace=False)] = np.nan  # a meter's "not available"
    # big-endian float32 bytes, read as big-endian words: high word first (ABCD)
    regs = values.astype(">f4").view(">u2").astype(np.uint16)
    assert regs.shape == (2 * N_VALUES,)
    return regs


def numpy_decode_float32(regs: np.ndarray) -> np.ndarray:
    return regs.astype(">u2").view(">f4").astype(float)


def gridtap_decode_float32(regs: np.ndarray) -> np.ndarray:
    return gridtap.decode_values(regs, "float32", "ABCD")


def pymodbus_pairs(regs: np.ndarray) -> list[list[int]]:
    """The first PYMODBUS_SAMPLE values as pymodbus hands registers over: lists of ints."""
    words = regs[: 2 * PYMODBUS_SAMPLE].tolist()
    return [words[i : i + 2] for i in range(0, len(words), 2)]


def pymodbus_decode_each(pairs: list[list[int]]) -> list[float]:
    convert = ModbusTcpClient.convert_from_registers
    return [convert(pair, data_type=FLOAT32) for pair in pairs]  # type: ignore[misc]


def test_decode_values_gridtap(benchmark, ratios, float_registers) -> None:
    regs = float_registers
    ours = gridtap_decode_float32(regs)
    np.testing.assert_array_equal(ours, numpy_decode_float32(regs))  # NaN == NaN here
    pairs = pymodbus_pairs(regs)
    np.testing.assert_array_equal(ours[:PYMODBUS_SAMPLE], np.array(pymodbus_decode_each(pairs)))
    words = [w for pair in pairs for w in pair]
    bulk = ModbusTcpClient.convert_from_registers(words, data_type=FLOAT32)
    np.testing.assert_array_equal(ours[:PYMODBUS_SAMPLE], np.array(bulk))

    benchmark(gridtap_decode_float32, regs)
    if benchmark_median(benchmark) is None:
        return
    case = f"decode_values float32 ABCD, {N_VALUES:,} values"
    unit = f"{N_VALUES:,} values"
    fast = {"gridtap": lambda: gridtap_decode_float32(regs), "numpy": lambda: numpy_decode_float32(regs)}
    # in turns: each call finds the caches and the allocator as the other left them
    m = interleaved_medians(fast, REPEATS)
    ratios.add(
        benchmark,
        case,
        m["gridtap"],
        {"numpy": m["numpy"]},
        targets={"numpy": 1.0},
        unit=f"{unit}, in turns",
        readme={"numpy": "`decode_values`, 1,000,000 float32 ABCD values | numpy big-endian view"},
    )
    # each alone, call after call: the best case for both
    alone = {label: median_seconds(fn, REPEATS) for label, fn in fast.items()}
    ratios.add(
        benchmark,
        case,
        alone["gridtap"],
        {"numpy": alone["numpy"]},
        targets={"numpy": 1.0},
        unit=f"{unit}, each alone",
        key="alone_",
    )
    scale_up = N_VALUES / PYMODBUS_SAMPLE
    slow = interleaved_medians(
        {
            "pymodbus_per_value": lambda: pymodbus_decode_each(pairs),
            "pymodbus_one_call": lambda: ModbusTcpClient.convert_from_registers(words, data_type=FLOAT32),
        },
        3 if QUICK else 7,
    )
    ratios.add(
        benchmark,
        case,
        alone["gridtap"],
        {label: seconds * scale_up for label, seconds in slow.items()},
        targets={"pymodbus_per_value": 1000.0},
        unit=f"{unit}, pymodbus scaled from {PYMODBUS_SAMPLE:,}",
        key="pymodbus_",
        readme={"pymodbus_per_value": "same | pymodbus `convert_from_registers`, per value"},
    )
    gridtap_s = alone["gridtap"]
    benchmark.extra_info["values"] = N_VALUES
    benchmark.extra_info["pymodbus_sample"] = PYMODBUS_SAMPLE
    benchmark.extra_info["gridtap_ns_per_value"] = gridtap_s / N_VALUES * 1e9


def test_decode_values_numpy(benchmark, float_registers) -> None:
    benchmark(numpy_decode_float32, float_registers)


def test_decode_values_pymodbus_per_value_sample(benchmark, float_registers) -> None:
    pairs = pymodbus_pairs(float_registers)
    benchmark(pymodbus_decode_each, pairs)
    benchmark.extra_info["values"] = PYMODBUS_SAMPLE


# ---- decode: whole SDM630 frames into standard channels -------------------------------------------


@pytest.fixture(scope="module")
def sdm630() -> gridtap.Profile:
    return profiles.load("sdm630")


@pytest.fixture(scope="module")
def sdm630_frames(sdm630) -> np.ndarray:
    return scenario_frames(sdm630, N_FRAMES)


class NumpyFrameDecoder:
    """The numpy a user would write for one float32 (ABCD) meter map: decode every field from one
    big-endian view of the frames, then the standard convention's checks and aggregates."""

    def __init__(self, profile: gridtap.Profile) -> None:
        cols, lo, hi, sign = [], [], [], []
        self.index: dict[str, int] = {}
        for k, f in enumerate(profile.fields):
            offset = profile.frame_offset(f.function_code, f.addresses[0])
            simple = f.type == "float32" and f.word_order == "ABCD" and len(f.addresses) == 1
            if not simple or f.scale != 1.0 or f.scale_factor is not None or f.abs or f.sentinels:
                raise ValueError(f"{f.channel}: this baseline handles plain float32 ABCD fields only")
            if offset % 2:
                raise ValueError(f"{f.channel}: float32 field at an odd frame offset")
            cols.append(offset // 2)
            lo.append(f.min)
            hi.append(f.max)
            sign.append(-1.0 if f.negate else 1.0)
            self.index[f.channel] = k
        self.cols = np.array(cols)
        self.lo = np.array(lo)[:, None]
        self.hi = np.array(hi)[:, None]
        self.sign = np.array(sign)[:, None] if -1.0 in sign else None
        if profile.apparent_power != "arithmetic":
            raise ValueError("this baseline sums the phases' ApparentPower")

    def __call__(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        # rows = fields, so every channel below is a contiguous row
        x = frames.astype(">u2").view(">f4")[:, self.cols].T.astype(np.float64, order="C")
        bad = ~((x >= self.lo) & (x <= self.hi) & np.isfinite(x))
        x[bad] = np.nan
        if self.sign is not None:
            x *= self.sign
        out = {ch: x[k] for ch, k in self.index.items()}
        # a total without a valid register value in a frame falls back to the sum of its phases
        for total in ("ActivePower", "ReactivePower"):
            phases = (out[total + "_L1"] + out[total + "_L2"]) + out[total + "_L3"]
            out[total] = np.where(np.isnan(out[total]), phases, out[total])
        # ApparentPower: the phases' sum, else the meter's own total register where it has one
        s = out["ApparentPower_L1"] + out["ApparentPower_L2"] + out["ApparentPower_L3"]
        out["ApparentPower"] = np.where(np.isnan(s), out["ApparentPower"], s) if "ApparentPower" in out else s
        with np.errstate(divide="ignore", invalid="ignore"):
            for suffix in ("_L1", "_L2", "_L3", ""):
                out["PowerFactor" + suffix] = power_factor(
                    out["ActivePower" + suffix], out["ApparentPower" + suffix], out["PowerFactor" + suffix]
                )
        p1, p2, p3 = out["ActivePower_L1"], out["ActivePower_L2"], out["ActivePower_L3"]
        # maximum/minimum propagate NaN: one invalid phase makes the imbalance invalid
        out["PhaseImbalance"] = np.maximum(np.maximum(p1, p2), p3) - np.minimum(np.minimum(p1, p2), p3)
        out["EnergyNet"] = out["EnergyImport"] - out["EnergyExport"]
        return out


def power_factor(p: np.ndarray, s: np.ndarray, meter_pf: np.ndarray) -> np.ndarray:
    """P/S clamped to ±1 where S > 0; 1 for an idle meter (P = S = 0); without S, the meter's PF
    register's magnitude (at most 1) signed by P; otherwise no value."""
    ratio = np.where(s > 0.0, np.clip(p / s, -1.0, 1.0), np.where((s == 0.0) & (p == 0.0), 1.0, np.nan))
    m = np.abs(meter_pf)
    register = np.where(m <= 1.0, np.where(p < 0.0, -m, m), np.nan)
    return np.where(np.isnan(p), np.nan, np.where(np.isnan(s), register, ratio))


def assert_same_channels(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray]) -> None:
    assert sorted(ours) == sorted(theirs)
    for ch, v in ours.items():
        np.testing.assert_allclose(v, theirs[ch], rtol=1e-15, atol=0, equal_nan=True, err_msg=ch)


def test_decode_frames_gridtap(benchmark, ratios, sdm630, sdm630_frames) -> None:
    frames = sdm630_frames
    numpy_decode = NumpyFrameDecoder(sdm630)
    ours = gridtap.decode(sdm630, frames)
    theirs = numpy_decode(frames)
    assert_same_channels(ours, theirs)
    # the invalid values made it through as NaN, and the exporting hours as negative power
    invalid = np.isnan(np.array(list(ours.values()))).any(axis=0).sum()
    assert 0 < invalid < N_FRAMES // 10
    assert np.isnan(ours["PowerFactor_L2"]).any() and np.isnan(ours["PhaseImbalance"]).any()
    assert (ours["ActivePower"] < 0).any() and (ours["ActivePower"] > 0).any()
    assert (ours["PowerFactor_L1"] == 1.0).any()

    benchmark(gridtap.decode, sdm630, frames)
    if benchmark_median(benchmark) is None:
        return
    case = f"decode SDM630, {N_FRAMES:,} frames x {sdm630.frame_length} registers"
    fns = {"gridtap": lambda: gridtap.decode(sdm630, frames), "numpy": lambda: numpy_decode(frames)}
    m = interleaved_medians(fns, REPEATS)
    ratios.add(
        benchmark,
        case,
        m["gridtap"],
        {"numpy": m["numpy"]},
        targets={"numpy": 3.0},
        unit=f"{N_FRAMES:,} frames, in turns",
        readme={"numpy": "`decode`, 100,000 SDM630 frames (decode, signs, aggregates) | best numpy code"},
    )
    alone = {label: median_seconds(fn, REPEATS) for label, fn in fns.items()}
    ratios.add(
        benchmark,
        case,
        alone["gridtap"],
        {"numpy": alone["numpy"]},
        targets={"numpy": 3.0},
        unit=f"{N_FRAMES:,} frames, each alone",
        key="alone_",
    )
    gridtap_s = alone["gridtap"]
    benchmark.extra_info["frames"] = N_FRAMES
    benchmark.extra_info["gridtap_ns_per_frame"] = gridtap_s / N_FRAMES * 1e9


def test_decode_frames_numpy(benchmark, sdm630, sdm630_frames) -> None:
    benchmark(NumpyFrameDecoder(sdm630), sdm630_frames)
