"""Large results (decode, push_many) share one block whose memory is kept for the next call: the
arrays are ordinary float64 arrays, a view that outlives its dict is never written again, and a
reused block holds nothing of the call before."""

from __future__ import annotations

import gc

import numpy as np
from gridtap import MeterPipeline, decode, profiles

SDM = profiles.load("sdm630")
T0 = 1_800_000_000.0
# 32 channels × 5,000 frames × 8 bytes = 1.3 MB: above the size from which results share a block
N = 5_000
PIECE = 500  # 128 kB per call: plain numpy arrays


def sdm_frames(seed: int, n: int = N) -> np.ndarray:
    rng = np.random.default_rng(seed)
    names = [f.channel for f in SDM.fields]
    rows = []
    for _ in range(n):
        values = {ch: float(rng.normal(0, 3000)) for ch in names}
        values.update(Frequency=float(50 + rng.normal(0, 0.05)), EnergyImport=float(rng.uniform(0, 1e5)))
        values.update(EnergyExport=float(rng.uniform(0, 1e5)))
        if rng.random() < 0.1:
            values[names[int(rng.integers(len(names)))]] = None  # an invalid value now and then
        rows.append(SDM.encode(values))
    return np.stack(rows)


def in_pieces(frames: np.ndarray) -> dict[str, np.ndarray]:
    parts = [decode(SDM, frames[a : a + PIECE]) for a in range(0, len(frames), PIECE)]
    return {ch: np.concatenate([p[ch] for p in parts]) for ch in parts[0]}


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a.view(np.uint64), b.view(np.uint64))


def test_large_results_are_plain_aligned_arrays_equal_to_small_ones():
    frames = sdm_frames(1)
    out = decode(SDM, frames)
    want = in_pieces(frames)
    assert sorted(out) == sorted(want)
    for ch, x in out.items():
        assert x.dtype == np.float64 and x.shape == (N,), ch
        assert x.flags["C_CONTIGUOUS"] and x.flags["WRITEABLE"], ch
        assert x.ctypes.data % 64 == 0, ch  # whole cache lines for the streaming stores
        assert same_bits(x, want[ch]), ch
    assert np.isnan(out["ActivePower_L1"]).any() and np.isfinite(out["ActivePower_L1"]).any()


def test_a_view_that_outlives_its_dict_is_not_reused():
    a, b = sdm_frames(2), sdm_frames(3)
    kept = decode(SDM, a)["ActivePower"]  # the dict and the other views are gone at once
    before = kept.copy()
    gc.collect()
    for _ in range(3):
        other = decode(SDM, b)
        assert other["ActivePower"].ctypes.data != kept.ctypes.data
        del other
    assert same_bits(kept, before)
    assert not same_bits(kept, in_pieces(b)["ActivePower"])


def test_a_reused_block_holds_nothing_of_the_previous_call():
    frames = sdm_frames(4)
    want = in_pieces(frames)
    first = decode(SDM, frames)
    address = first["Voltage_L1"].ctypes.data
    for x in first.values():
        x[:] = 12345.0  # the caller may write into its arrays
    del first, x
    again = decode(SDM, frames)
    # the memory came back (the point of keeping it), with every value of every channel rewritten
    assert again["Voltage_L1"].ctypes.data == address
    for ch, x in again.items():
        assert same_bits(x, want[ch]), ch


def test_push_many_large_batches_equal_small_ones():
    frames = sdm_frames(5)
    ts = T0 + np.arange(float(N))
    whole = MeterPipeline(SDM).push_many(ts, frames)
    pieces = MeterPipeline(SDM)
    parts = [pieces.push_many(ts[a : a + PIECE], frames[a : a + PIECE]) for a in range(0, N, PIECE)]
    for ch, x in whole.items():
        assert x.ctypes.data % 64 == 0, ch
        assert same_bits(x, np.concatenate([p[ch] for p in parts])), ch
