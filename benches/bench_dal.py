"""The DAL at high rates, against what a user would otherwise use, in the same run and in turns.

- `write_many` of the 33 channels one SDM630 frame gives (a dict of floats, as an adapter writes
  it): gridtap's `Dal` against a plain dict updated under a lock (no checks at all: the floor a
  store without validation reaches) and the DAL before this design (benches/dal_v0.py, which built
  a reading per channel at every write). Target: ≤ 5 µs.
- `snapshot()` of 1,020 channels (30 meters): against a copy of a plain dict under a lock and the
  old DAL. Target: ≤ 50 µs. Also reported: a snapshot with every reading then looked at (the old
  DAL built them all in the snapshot; gridtap builds each when it is first asked for).
- Frames → DAL: SDM630 frames (realistic, some fields invalid) through `MeterPipeline.push_many`
  and `Dal.write_frames` in batches of 1,000, frames per second on one core. Target ≥ 100,000.
  Also: one frame at a time (`push` then `write_many`), with gridtap's DAL and with the old one,
  and `push_many` alone (the part that is not the DAL).

GRIDTAP_BENCH_QUICK=1 runs briefly (CI).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest
from conftest import QUICK, benchmark_median, interleaved_medians, scenario_frames
from dal_v0 import Dal as DalV0
from gridtap import Dal, MeterPipeline, profiles

REPEATS = 5 if QUICK else 31
SDM = profiles.load("sdm630")
METERS = 30
BATCH = 1_000
# timestamps well in the past (the DAL refuses them ahead of its clock), increasing call by call
T_START = time.time() - 1e7


class Ticker:
    """Increasing timestamps, `step` apart."""

    def __init__(self, step: float) -> None:
        self.t = T_START
        self.step = step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


class PlainStore:
    """What a user without gridtap writes: channel → (value, timestamp) in a dict under a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: dict[str, tuple[float | None, float]] = {}

    def write_many(self, namespace: str, values: dict[str, float | None], timestamp: float) -> None:
        with self.lock:
            self.values.update({f"{namespace}/{k}": (v, timestamp) for k, v in values.items()})

    def snapshot(self) -> dict[str, tuple[float | None, float]]:
        with self.lock:
            return dict(self.values)


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return scenario_frames(SDM, 200 if QUICK else BATCH)


@pytest.fixture(scope="module")
def one_frame_values(frames: np.ndarray) -> dict[str, float | None]:
    """The 33 channels of one SDM630 frame with every value valid, as a dict."""
    pipe = MeterPipeline(SDM)
    for k, f in enumerate(frames):
        values = pipe.push(T_START + k, f).to_dict()
        if all(v is not None for v in values.values()):
            return values
    raise AssertionError("no frame with every channel valid")


def writer(store: object, values: dict[str, float | None]) -> Callable[[], None]:
    tick = Ticker(1e-3)
    write_many = store.write_many  # type: ignore[attr-defined]
    return lambda: write_many("grid_main", values, tick())


def test_write_many_33_channels(benchmark, ratios, one_frame_values) -> None:
    assert len(one_frame_values) == 33
    benchmark(writer(Dal(), one_frame_values))
    if benchmark_median(benchmark) is None:
        return
    m = interleaved_medians(
        {
            "gridtap": writer(Dal(), one_frame_values),
            "dict_under_lock": writer(PlainStore(), one_frame_values),
            "dal_v0": writer(DalV0(), one_frame_values),
        },
        REPEATS,
    )
    case = "Dal.write_many, 33 channels"
    gridtap_s = m.pop("gridtap")
    ratios.add(benchmark, case, gridtap_s, m)
    ratios.note(
        benchmark, case, "write_many_median_us", f"{gridtap_s * 1e6:.2f}", "<= 5 us", gridtap_s <= 5e-6
    )


def filled(store: object, values: dict[str, float | None]) -> object:
    for k in range(METERS):
        store.write_many(f"grid_m{k}", values, T_START + k)  # type: ignore[attr-defined]
    return store


def test_snapshot_1000_channels(benchmark, ratios, one_frame_values) -> None:
    dal = filled(Dal(default_max_age=1e9), one_frame_values)
    assert isinstance(dal, Dal)
    snap = dal.snapshot()
    assert len(snap) == METERS * 34  # 33 channels and the Timestamp of each meter
    old = filled(DalV0(default_max_age=1e9), one_frame_values)
    assert dict(snap) == {c: r for c, r in _as_new(old.snapshot()).items()}  # type: ignore[attr-defined]
    benchmark(dal.snapshot)
    if benchmark_median(benchmark) is None:
        return
    plain = filled(PlainStore(), one_frame_values)
    m = interleaved_medians(
        {
            "gridtap": dal.snapshot,
            "dict_copy_under_lock": plain.snapshot,  # type: ignore[attr-defined]
            "dal_v0": old.snapshot,  # type: ignore[attr-defined]
            "gridtap_every_reading": lambda: list(dal.snapshot().values()),
            "dal_v0_every_reading": lambda: list(old.snapshot().values()),  # type: ignore[attr-defined]
        },
        REPEATS,
    )
    case = f"Dal.snapshot, {len(snap)} channels"
    gridtap_s = m.pop("gridtap")
    every, every_v0 = m.pop("gridtap_every_reading"), m.pop("dal_v0_every_reading")
    ratios.add(benchmark, case, gridtap_s, m)
    ratios.note(
        benchmark, case, "snapshot_median_us", f"{gridtap_s * 1e6:.2f}", "<= 50 us", gridtap_s <= 50e-6
    )
    ratios.add(
        benchmark, f"{case}, every reading looked at", every, {"dal_v0": every_v0}, key="every_reading_"
    )


def _as_new(snapshot: object) -> dict:
    """The old DAL's readings as gridtap Readings (its Quality and Reading are its own classes)."""
    from gridtap import Quality, Reading

    return {
        c: Reading(r.value, r.unit, r.timestamp, Quality(r.quality.value))
        for c, r in snapshot.items()  # type: ignore[attr-defined]
    }


def batches(dal: Dal, frames: np.ndarray) -> Callable[[], None]:
    """Each call: the next batch of frames through push_many into the DAL."""
    pipe = MeterPipeline(SDM)
    n = len(frames)
    # frame k of batch j at T_START + 1e-3 · (n·j + k + 1), as `frame_by_frame` stamps them
    offsets = 1e-3 * np.arange(1 - n, 1)
    tick = Ticker(n * 1e-3)

    def run() -> None:
        ts = tick() + offsets
        dal.write_frames("grid", ts, pipe.push_many(ts, frames))

    return run


def push_many_only(frames: np.ndarray) -> Callable[[], None]:
    pipe = MeterPipeline(SDM)
    n = len(frames)
    offsets = 1e-3 * np.arange(1 - n, 1)
    tick = Ticker(n * 1e-3)
    return lambda: pipe.push_many(tick() + offsets, frames)


def frame_by_frame(dal: object, frames: np.ndarray) -> Callable[[], None]:
    """Each call: every frame of the batch through push and write_many."""
    pipe = MeterPipeline(SDM)
    tick = Ticker(1e-3)
    write_many = dal.write_many  # type: ignore[attr-defined]
    rows = list(frames)

    def run() -> None:
        for f in rows:
            t = tick()
            values = pipe.push(t, f)
            write_many("grid", values, t)

    return run


def test_frames_to_dal(benchmark, ratios, frames) -> None:
    n = len(frames)
    # the batch leaves what writing its frames one by one leaves
    a, b = Dal(), Dal()
    ts = T_START + 1e-3 * np.arange(1, n + 1)
    a.write_frames("grid", ts, MeterPipeline(SDM).push_many(ts, frames))
    pipe = MeterPipeline(SDM)
    for t, f in zip(ts.tolist(), frames, strict=True):
        b.write_many("grid", pipe.push(t, f), t)
    now = T_START + 10.0
    assert dict(a.snapshot(now=now)) == dict(b.snapshot(now=now))

    benchmark(batches(Dal(), frames))
    if benchmark_median(benchmark) is None:
        return
    # in turns with push_many alone (the part that is not the DAL), then in turns with the frame
    # by frame paths: a batch timed right after 40 ms of per-frame work starts with cold caches
    batch = interleaved_medians(
        {"gridtap": batches(Dal(), frames), "push_many_only": push_many_only(frames)}, REPEATS
    )
    m = interleaved_medians(
        {
            "gridtap": batches(Dal(), frames),
            "frame_by_frame": frame_by_frame(Dal(), frames),
            "frame_by_frame_dal_v0": frame_by_frame(DalV0(), frames),
        },
        max(3, REPEATS // 3),
        number=1,
    )
    case = f"frames -> DAL, SDM630, batches of {n}"
    gridtap_s = batch["gridtap"] / n
    ratios.add(benchmark, case, gridtap_s, {"push_many_only": batch["push_many_only"] / n}, unit="frame")
    per_frame = {label: s / n for label, s in m.items()}
    ratios.add(
        benchmark,
        f"{case}, after per-frame work",
        per_frame.pop("gridtap"),
        per_frame,
        unit="frame",
        key="after_per_frame_",
    )
    rate = 1.0 / gridtap_s
    ratios.note(benchmark, case, "frames_per_s_one_core", f"{rate:,.0f}", ">= 100,000", rate >= 100_000)
    ratios.note(benchmark, case, "frame_by_frame_frames_per_s", f"{1.0 / per_frame['frame_by_frame']:,.0f}")
