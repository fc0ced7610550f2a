"""`Dal.write_frames`: a batch of frames (what `MeterPipeline.push_many` returns) into the DAL."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gridtap import (
    ChannelError,
    Dal,
    FutureTimestampError,
    InvalidValueError,
    MeterPipeline,
    Quality,
    Reading,
    TimestampError,
    ValueTypeError,
    profiles,
)
from gridtap.sim.scenario import GridScenario

T0 = 1_700_000_000.0  # in the past: the DAL refuses timestamps ahead of its clock
SDM = profiles.load("sdm630")


def scenario_batch(n: int, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """n SDM630 frames, 0.1 s apart, from a random site; some fields "not available" (NaN)."""
    sc = GridScenario(seed=seed, start=T0, step=0.1)
    ts = T0 + 0.1 * np.arange(n)
    rng = np.random.default_rng(seed)
    frames = np.empty((n, SDM.frame_length), dtype=np.uint16)
    for i, t in enumerate(ts):
        values: dict[str, float | None] = dict(sc.sample(float(t)).grid)
        if rng.random() < 0.2:
            values[str(rng.choice(["Frequency", "Voltage_L2", "ActivePower_L3", "EnergyExport"]))] = None
        frames[i] = SDM.encode(values)
    return ts, frames


def test_a_batch_leaves_what_writing_its_frames_one_by_one_leaves():
    ts, frames = scenario_batch(120)
    columns = MeterPipeline(SDM).push_many(ts, frames)
    batch, single = Dal(), Dal()
    told: list[list[tuple[str, Reading]]] = []
    batch.subscribe(told.append)
    batch.write_frames("grid", ts, columns)
    for i, t in enumerate(ts):
        row = {ch: None if math.isnan(col[i]) else float(col[i]) for ch, col in columns.items()}
        single.write_many("grid", row, float(t))
    now = float(ts[-1]) + 1.0
    assert dict(batch.snapshot(now=now)) == dict(single.snapshot(now=now))
    # subscribers are told once, with the final readings
    assert len(told) == 1
    assert told[0] == [(f"grid/{ch}", single.snapshot(now=now)[f"grid/{ch}"]) for ch in columns]


def test_the_dal_keeps_each_channels_last_value_and_nan_is_an_error():
    dal = Dal()
    ts = np.array([T0, T0 + 1, T0 + 2])
    dal.write_frames(
        "grid",
        ts,
        {"ActivePower": np.array([1.0, 2.0, 3.0]), "Frequency": np.array([50.0, 50.1, math.nan])},
    )
    snap = dal.snapshot(now=T0 + 2)
    assert snap["grid/ActivePower"] == Reading(3.0, "W", T0 + 2, Quality.GOOD)
    assert snap["grid/Frequency"] == Reading(None, "Hz", T0 + 2, Quality.ERROR)
    assert snap["grid/Timestamp"].value == T0 + 2
    # lists and integer arrays are numbers too; quality ERROR makes every reading an ERROR
    dal.write_frames("grid", [T0 + 3, T0 + 4], {"ActivePower": [5, 6]})
    assert dal.snapshot(now=T0 + 4)["grid/ActivePower"] == Reading(6.0, "W", T0 + 4, Quality.GOOD)
    dal.write_frames("grid", [T0 + 5], {"ActivePower": [7.0]}, Quality.ERROR)
    assert dal.snapshot(now=T0 + 5)["grid/ActivePower"] == Reading(None, "W", T0 + 5, Quality.ERROR)


def test_an_empty_batch_writes_nothing():
    dal = Dal()
    dal.write_frames("grid", np.array([]), {"ActivePower": np.array([])})
    assert len(dal.snapshot()) == 0


def _state(dal: Dal) -> dict:
    return dict(dal.snapshot(now=T0 + 100))


CLOCK = T0 + 50.0
A = np.array


@pytest.mark.parametrize(
    "ts, columns, exc, fragment",
    [
        (A([T0 + 10, math.nan]), {"ActivePower": A([1.0, 2.0])}, TimestampError, r"timestamps\[1\] is nan"),
        (
            A([T0 + 12, T0 + 11]),
            {"ActivePower": A([1.0, 2.0])},
            TimestampError,
            r"timestamps\[1\].*time order",
        ),
        (
            A([T0 + 10, T0 + 11]),
            {"ActivePower": A([1.0])},
            ValueTypeError,
            r"grid/ActivePower: \(1,\) values",
        ),
        (A([[T0 + 10]]), {"ActivePower": A([1.0])}, ValueTypeError, "one-dimensional"),
        (
            A([T0 + 10]),
            {"ActivePower": A(["x"])},
            ValueTypeError,
            "ActivePower: expected an array of numbers",
        ),
        (
            A([T0 + 10, T0 + 11]),
            {"ActivePower": A([math.inf, 1.0])},
            InvalidValueError,
            "grid/ActivePower: frame 0",
        ),
        (A([T0 + 10, T0 + 11]), {"Current_L3": A([-1.0, 1.0])}, InvalidValueError, "grid/Current_L3: -1 A"),
        (
            A([T0 + 10, T0 + 11, T0 + 12]),
            {"EnergyImport": A([101.0, math.nan, 100.5])},
            InvalidValueError,
            "grid/EnergyImport: energy counter decreases within the batch, from 101 to 100.5",
        ),
        (A([T0 + 10]), {"EnergyImport": A([99.0])}, InvalidValueError, "below the 100 kWh written before"),
        (A([T0 + 10, CLOCK + 2]), {"ActivePower": A([1.0, 1.0])}, FutureTimestampError, "grid/ActivePower"),
        (A([T0 - 1, T0 + 10]), {"ActivePower": A([1.0, 1.0])}, TimestampError, "must not go backwards"),
        (A([T0 + 10]), {"Nope": A([1.0])}, ChannelError, "grid/Nope"),
        (A([T0 + 10]), {"Timestamp": A([1.0])}, ChannelError, "added by the DAL"),
        (A([T0 + 10]), [1.0], ValueTypeError, "mapping of channel name to array"),
    ],
)
def test_a_bad_batch_is_refused_whole_and_changes_nothing(ts, columns, exc, fragment):
    dal = Dal(clock=lambda: CLOCK)
    dal.write_many("grid", {"ActivePower": 5.0, "Current_L3": 2.0, "EnergyImport": 100.0}, T0)
    before = _state(dal)
    with pytest.raises(exc, match=fragment):
        dal.write_frames("grid", ts, columns)
    assert _state(dal) == before


def test_a_batch_takes_a_clock_step_like_single_writes():
    """Stored readings that lie in the future (the clock stepped back) are replaced by a batch
    stamped by the stepped clock."""
    now = [T0 + 3600.0]
    dal = Dal(clock=lambda: now[0])
    dal.write_frames("grid", A([T0 + 3599.0, T0 + 3600.0]), {"ActivePower": A([1.0, 2.0])})
    now[0] = T0 + 1.0
    assert dal.snapshot()["grid/ActivePower"].quality is Quality.STALE
    dal.write_frames("grid", A([T0, T0 + 1.0]), {"ActivePower": A([3.0, 4.0])})
    assert dal.snapshot()["grid/ActivePower"] == Reading(4.0, "W", T0 + 1.0, Quality.GOOD)
    assert dal.snapshot()["grid/Timestamp"].value == T0 + 1.0
