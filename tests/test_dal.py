"""The DAL: writes, quality, staleness, consistency under concurrency, and bad input."""

from __future__ import annotations

import itertools
import math
import threading

import pytest
from gridtap import (
    ChannelError,
    Dal,
    FutureTimestampError,
    InvalidValueError,
    Quality,
    Reading,
    TimestampError,
    ValueTypeError,
)

T0 = 1_700_000_000.0  # in the past: the DAL refuses timestamps ahead of its clock


def test_write_and_snapshot_carry_timestamp_unit_quality():
    dal = Dal()
    dal.write("grid/ActivePower", 1500, T0)
    snap = dal.snapshot(now=T0 + 1)
    assert snap["grid/ActivePower"] == Reading(1500.0, "W", T0, Quality.GOOD)
    assert snap["grid/Timestamp"].value == T0
    assert snap.time == T0 + 1


def test_error_reading_has_no_value():
    dal = Dal()
    dal.write("grid/ActivePower", 10.0, T0)
    dal.write("grid/ActivePower", 10.0, T0 + 1, Quality.ERROR)
    dal.write("grid/Frequency", None, T0 + 1)
    snap = dal.snapshot(now=T0 + 1)
    assert snap["grid/ActivePower"].value is None
    assert snap["grid/ActivePower"].quality is Quality.ERROR
    assert snap["grid/Frequency"] == Reading(None, "Hz", T0 + 1, Quality.ERROR)
    assert snap.value("grid/ActivePower") is None


def test_staleness_flips_exactly_at_max_age():
    dal = Dal(default_max_age=5.0, max_age={"EnergyImport": 60.0, "grid_main/Frequency": 2.0})
    dal.write_many("grid_main", {"ActivePower": 1.0, "EnergyImport": 2.0, "Frequency": 50.0}, T0)
    just_before = dal.snapshot(now=T0 + 5.0 - 1e-6)
    at = dal.snapshot(now=T0 + 5.0)
    assert just_before["grid_main/ActivePower"].quality is Quality.GOOD
    assert at["grid_main/ActivePower"].quality is Quality.STALE
    # a STALE reading keeps its value and the timestamp of its measurement
    assert at["grid_main/ActivePower"].value == 1.0
    assert at["grid_main/ActivePower"].timestamp == T0
    # per-channel maximum ages: by bare name for every namespace, or by full name
    assert at["grid_main/EnergyImport"].quality is Quality.GOOD
    assert dal.snapshot(now=T0 + 60.0)["grid_main/EnergyImport"].quality is Quality.STALE
    assert dal.snapshot(now=T0 + 2.0 - 1e-6)["grid_main/Frequency"].quality is Quality.GOOD
    assert dal.snapshot(now=T0 + 2.0)["grid_main/Frequency"].quality is Quality.STALE


def test_snapshot_is_immutable_and_isolated_from_later_writes():
    dal = Dal()
    dal.write("grid/ActivePower", 1.0, T0)
    snap = dal.snapshot(now=T0)
    dal.write("grid/ActivePower", 2.0, T0 + 1)
    assert snap["grid/ActivePower"].value == 1.0
    with pytest.raises(TypeError):
        snap["grid/ActivePower"] = Reading(3.0, "W", T0, Quality.GOOD)  # type: ignore[index]
    with pytest.raises(AttributeError):
        snap["grid/ActivePower"].value = 5.0  # type: ignore[misc]


def test_concurrent_write_many_never_tears_a_snapshot():
    """Four threads write L1..L3 of one namespace together while another takes snapshots."""
    dal = Dal(default_max_age=1e9)
    stop = threading.Event()
    ticket = itertools.count(1)
    torn: list[dict] = []
    written = [0] * 4
    refused = [0] * 4

    def writer(k: int) -> None:
        while not stop.is_set():
            i = next(ticket)
            v = float(k * 1_000_000_000 + i)
            try:
                dal.write_many(
                    "grid", {"ActivePower_L1": v, "ActivePower_L2": v, "ActivePower_L3": v}, T0 + i
                )
                written[k] += 1
            except TimestampError:
                # another writer got a later ticket in first: the DAL refuses going backwards
                refused[k] += 1

    def reader() -> None:
        for _ in range(3000):
            snap = dal.snapshot(now=T0)
            if "grid/ActivePower_L1" not in snap:
                continue
            vals = {snap[f"grid/ActivePower_L{p}"].value for p in (1, 2, 3)}
            stamps = {snap[f"grid/ActivePower_L{p}"].timestamp for p in (1, 2, 3)}
            if len(vals) != 1 or len(stamps) != 1:
                torn.append({"vals": vals, "stamps": stamps})
        stop.set()

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not torn, torn[:3]
    assert sum(written) > 100
    assert sum(1 for w in written if w > 0) >= 2  # several threads really wrote


def test_concurrent_writers_on_several_namespaces_are_each_atomic():
    dal = Dal(default_max_age=1e9)
    stop = threading.Event()
    torn: list[tuple] = []

    def writer(ns: str) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            dal.write_many(ns, {f"ActivePower_L{p}": float(i) for p in (1, 2, 3)}, T0 + i)

    def reader() -> None:
        for _ in range(2000):
            snap = dal.snapshot(now=T0)
            for ns in ("grid_a", "grid_b", "grid_c"):
                vals = {
                    snap[f"{ns}/ActivePower_L{p}"].value for p in (1, 2, 3) if f"{ns}/ActivePower_L1" in snap
                }
                if len(vals) > 1:
                    torn.append((ns, vals))
        stop.set()

    threads = [threading.Thread(target=writer, args=(ns,)) for ns in ("grid_a", "grid_b", "grid_c")]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not torn


def test_subscribe_and_unsubscribe():
    dal = Dal()
    got: list[list[tuple[str, Reading]]] = []
    sub = dal.subscribe(got.append)
    dal.write_many("grid", {"ActivePower": 1.0, "Frequency": 50.0}, T0)
    assert [c for c, _ in got[0]] == ["grid/ActivePower", "grid/Frequency"]
    assert got[0][1][1].unit == "Hz"
    sub.unsubscribe()
    dal.write("grid/ActivePower", 2.0, T0 + 1)
    assert len(got) == 1


def test_failing_subscriber_does_not_break_writes(caplog):
    dal = Dal()

    def boom(_updates):
        raise RuntimeError("subscriber bug")

    dal.subscribe(boom)
    dal.write("grid/ActivePower", 1.0, T0)
    assert dal.snapshot(now=T0)["grid/ActivePower"].value == 1.0
    assert "subscriber" in caplog.text


# --- bad input: an error naming the channel and what was expected; the DAL unchanged ---------


def _state(dal: Dal) -> dict:
    return dict(dal.snapshot(now=T0 + 10))


@pytest.mark.parametrize(
    "call, exc, fragment",
    [
        (lambda d: d.write("grid/Nope", 1.0, T0), ChannelError, "grid/Nope"),
        (lambda d: d.write("nowhere/ActivePower", 1.0, T0), ChannelError, "nowhere"),
        (lambda d: d.write("grid/ActivePower", "12", T0), ValueTypeError, "grid/ActivePower"),
        (lambda d: d.write("grid/ActivePower", True, T0), ValueTypeError, "real number"),
        (lambda d: d.write("grid/ActivePower", math.nan, T0), InvalidValueError, "grid/ActivePower"),
        (lambda d: d.write("grid/ActivePower", math.inf, T0), InvalidValueError, "None"),
        (lambda d: d.write("grid/ActivePower", 1.0, math.nan), TimestampError, "finite"),
        (lambda d: d.write("grid/ActivePower", 1.0, math.inf), TimestampError, "grid/ActivePower"),
        (lambda d: d.write("grid/ActivePower", 1.0, "now"), ValueTypeError, "timestamp"),
        (lambda d: d.write("grid/ActivePower", 1.0, T0 - 1), TimestampError, "backwards"),
        (lambda d: d.write("grid/Timestamp", 1.0, T0), ChannelError, "added by the DAL"),
        (lambda d: d.write_many("grid", {"ActivePower": 1.0, "Bogus": 2.0}, T0), ChannelError, "grid/Bogus"),
        (
            lambda d: d.write_many("grid", {"ActivePower_L1": 1.0, "ActivePower_L2": math.nan}, T0 + 1),
            InvalidValueError,
            "grid/ActivePower_L2",
        ),
        (lambda d: d.write_many("grid_X", {"ActivePower": 1.0}, T0), ChannelError, "grid_X"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(call, exc, fragment):
    dal = Dal()
    dal.write_many("grid", {"ActivePower": 5.0, "ActivePower_L1": 5.0}, T0)
    before = _state(dal)
    with pytest.raises(exc, match=fragment):
        call(dal)
    assert _state(dal) == before
    # errors are ValueError/TypeError subclasses, which callers already catch
    assert issubclass(exc, ValueError | TypeError)


def test_write_many_with_one_bad_value_writes_nothing():
    dal = Dal()
    with pytest.raises(InvalidValueError):
        dal.write_many("grid", {"ActivePower_L1": 1.0, "ActivePower_L2": 2.0, "ActivePower_L3": math.inf}, T0)
    assert len(dal.snapshot(now=T0)) == 0


def test_bad_max_age_is_refused():
    with pytest.raises(InvalidValueError):
        Dal(default_max_age=0)
    with pytest.raises(ChannelError):
        Dal(max_age={"NotAChannel": 3.0})


# --- the store's own paths: the core's fast check, the checked path, channel sets -----------------


def test_fast_and_checked_paths_store_the_same_readings():
    """The same write through a plain dict of floats (the core's one-pass check), ints, numpy
    floats, another Mapping type, keys in another order and single writes gives the same readings."""
    import types

    import numpy as np

    values = {"ActivePower": 1500.0, "Current_L1": 6.5, "EnergyImport": 12.25, "Frequency": 50.0}
    variants = [
        values,
        {k: int(v) if v.is_integer() else v for k, v in values.items()},
        {k: np.float64(v) for k, v in values.items()},
        types.MappingProxyType(values),
        dict(reversed(values.items())),
    ]
    snapshots = []
    for variant in variants:
        dal = Dal()
        dal.write_many("grid_x", {"ActivePower": 1.0}, T0 - 1)  # another channel set wrote first
        dal.write_many("grid_x", variant, T0)
        dal.write_many("grid_x", variant, T0 + 1)  # now as the namespace's last set
        snapshots.append(dict(dal.snapshot(now=T0 + 2)))
    singles = Dal()
    for name, v in values.items():
        singles.write(f"grid_x/{name}", v, T0 + 1)
    snapshots.append(dict(singles.snapshot(now=T0 + 2)))
    expected = {
        f"grid_x/{k}": Reading(v, u, T0 + 1, Quality.GOOD)
        for (k, v), u in zip(values.items(), ("W", "A", "kWh", "Hz"), strict=True)
    }
    expected["grid_x/Timestamp"] = Reading(T0 + 1, "s", T0 + 1, Quality.GOOD)
    for snap in snapshots:
        assert snap == expected
        assert all(type(r.value) is float for r in snap.values())


def test_channel_sets_that_overlap_each_keep_their_latest_values():
    """An adapter writes its fast channels every poll and its slow ones with them now and then;
    single writes and ERROR writes cut across: each channel holds its own latest write."""
    dal = Dal(default_max_age=1e9)
    fast = {"ActivePower": 1.0, "Frequency": 50.0}
    slow = {"EnergyImport": 10.0}
    dal.write_many("grid", {**fast, **slow}, T0)
    dal.write_many("grid", {"ActivePower": 2.0, "Frequency": 50.1}, T0 + 1)
    dal.write("grid/Frequency", None, T0 + 2)
    snap = dal.snapshot(now=T0 + 3)
    assert snap["grid/ActivePower"] == Reading(2.0, "W", T0 + 1, Quality.GOOD)
    assert snap["grid/Frequency"] == Reading(None, "Hz", T0 + 2, Quality.ERROR)
    assert snap["grid/EnergyImport"] == Reading(10.0, "kWh", T0, Quality.GOOD)
    assert snap["grid/Timestamp"].value == T0 + 2
    assert sorted(snap) == ["grid/ActivePower", "grid/EnergyImport", "grid/Frequency", "grid/Timestamp"]
    # the first set again takes every channel back
    dal.write_many("grid", {**fast, **slow}, T0 + 4)
    snap = dal.snapshot(now=T0 + 4)
    assert {c: r.timestamp for c, r in snap.items()} == dict.fromkeys(snap, T0 + 4)
    assert len(snap) == 4


def test_snapshot_keeps_the_maximum_ages_it_was_taken_with():
    dal = Dal(default_max_age=5.0)
    dal.write("grid/ActivePower", 1.0, T0)
    snap = dal.snapshot(now=T0 + 3)
    dal.set_max_age("grid/ActivePower", 1.0)
    dal.default_max_age = 2.0
    assert snap["grid/ActivePower"].quality is Quality.GOOD
    assert snap.value("grid/ActivePower") == 1.0
    assert dal.snapshot(now=T0 + 3)["grid/ActivePower"].quality is Quality.STALE
    assert dal.max_age("grid/Frequency") == 2.0


def test_snapshot_value_agrees_with_its_readings():
    dal = Dal(default_max_age=2.0, clock=lambda: T0 + 1.5)
    dal.write_many("grid", {"ActivePower": 1.0, "Frequency": 50.0}, T0)
    dal.write("grid/Voltage_L1", None, T0 + 1)
    dal.write("grid/Current_L1", 5.0, T0 + 2.4)  # 0.9 s ahead: within the tolerance
    dal.write("grid/Current_L2", 5.0, T0 + 1, Quality.STALE)
    for now in (T0, T0 + 1.5, T0 + 2.0, T0 + 4.5):
        snap = dal.snapshot(now=now)
        for channel in [*snap, "grid/Nope"]:
            r = snap.get(channel)
            expected = r.value if r is not None and r.quality is Quality.GOOD else None
            assert snap.value(channel) == expected, (now, channel)


def test_snapshot_uses_the_dal_clock():
    now = [T0 + 10.0]
    dal = Dal(default_max_age=5.0, clock=lambda: now[0])
    dal.write("grid/ActivePower", 1.0, T0)
    assert dal.snapshot().time == T0 + 10.0
    assert dal.snapshot()["grid/ActivePower"].quality is Quality.STALE
    now[0] = T0 + 4.0
    assert dal.snapshot()["grid/ActivePower"].quality is Quality.GOOD


def test_subscribers_get_what_was_stored():
    dal = Dal()
    got: list[list[tuple[str, Reading]]] = []
    dal.subscribe(got.append)
    dal.write_many("grid", {"ActivePower": 1.0, "Frequency": 50.0}, T0)  # checked path
    dal.write_many("grid", {"ActivePower": 2.0, "Frequency": 50.1}, T0 + 1)  # the core's fast path
    dal.write_many("grid", {"ActivePower": None, "Frequency": 50.2}, T0 + 2)
    dal.write_many("grid", {"ActivePower": 3, "Frequency": 50.3}, T0 + 3, Quality.ERROR)
    assert got == [
        [("grid/ActivePower", Reading(1.0, "W", T0, Quality.GOOD)),
         ("grid/Frequency", Reading(50.0, "Hz", T0, Quality.GOOD))],
        [("grid/ActivePower", Reading(2.0, "W", T0 + 1, Quality.GOOD)),
         ("grid/Frequency", Reading(50.1, "Hz", T0 + 1, Quality.GOOD))],
        [("grid/ActivePower", Reading(None, "W", T0 + 2, Quality.ERROR)),
         ("grid/Frequency", Reading(50.2, "Hz", T0 + 2, Quality.GOOD))],
        [("grid/ActivePower", Reading(None, "W", T0 + 3, Quality.ERROR)),
         ("grid/Frequency", Reading(None, "Hz", T0 + 3, Quality.ERROR))],
    ]  # fmt: skip


def test_writers_alternating_channel_sets_never_tear_a_snapshot():
    """One writer alternates between a fast set, the fast set with the slow channels, single
    writes and batches of frames; a reader checks that L1..L3 always come from one write."""
    import numpy as np

    dal = Dal(default_max_age=1e9)
    stop = threading.Event()
    torn: list[tuple] = []
    done = [0]

    def writer() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            v = float(i)
            phases = {f"ActivePower_L{p}": v for p in (1, 2, 3)}
            match i % 4:
                case 0:
                    dal.write_many("grid", phases, T0 + i)
                case 1:
                    dal.write_many("grid", {**phases, "EnergyImport": v}, T0 + i)
                case 2:
                    dal.write_frames(
                        "grid",
                        np.array([T0 + i - 0.5, T0 + i]),
                        {k: np.array([0.0, x]) for k, x in phases.items()},
                    )
                case _:
                    dal.write_many("grid", dict(reversed(phases.items())), T0 + i)
                    dal.write("grid/Frequency", 50.0, T0 + i)
            done[0] = i

    def reader() -> None:
        for _ in range(3000):
            snap = dal.snapshot(now=T0)
            if "grid/ActivePower_L1" not in snap:
                continue
            readings = [snap[f"grid/ActivePower_L{p}"] for p in (1, 2, 3)]
            if len({(r.value, r.timestamp) for r in readings}) != 1:
                torn.append(tuple(readings))
        stop.set()

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not torn, torn[:3]
    assert done[0] > 50


# --- time: the DAL's clock, timestamps in the future ----------------------------------------------


def test_a_timestamp_ahead_of_the_clock_is_refused_naming_the_channel():
    dal = Dal(clock=lambda: T0)
    dal.write("grid/ActivePower", 1.0, T0 + 1.0)  # at the tolerance (1 s by default): accepted
    before = dict(dal.snapshot(now=T0))
    with pytest.raises(FutureTimestampError, match=r"grid/ActivePower: timestamp .* 2 s ahead") as e:
        dal.write("grid/ActivePower", 2.0, T0 + 2.0)
    assert (e.value.channel, e.value.timestamp, e.value.clock, e.value.max_future) == (
        "grid/ActivePower", T0 + 2.0, T0, 1.0)  # fmt: skip
    assert e.value.ahead == 2.0
    with pytest.raises(FutureTimestampError, match=r"grid/Voltage_L1 \(and 3 more channels\)"):
        dal.write_many("grid", {f"Voltage_L{p}": 230.0 for p in (1, 2, 3)} | {"Frequency": 50.0}, T0 + 5)
    assert dict(dal.snapshot(now=T0)) == before
    assert issubclass(FutureTimestampError, TimestampError)


@pytest.mark.parametrize(
    ("scale", "unit"), [(1e3, "milliseconds"), (1e6, "microseconds"), (1e9, "nanoseconds")]
)
def test_a_timestamp_in_milliseconds_is_refused_with_a_hint_and_blocks_nothing(scale, unit):
    dal = Dal(clock=lambda: T0)
    with pytest.raises(
        FutureTimestampError, match=rf"grid/Frequency: .*looks like {unit}.*divide by {scale:.0f}"
    ):
        dal.write("grid/Frequency", 50.0, T0 * scale)
    dal.write("grid/Frequency", 50.0, T0)  # the channel is not blocked
    assert dal.snapshot(now=T0)["grid/Frequency"] == Reading(50.0, "Hz", T0, Quality.GOOD)


def test_the_tolerance_is_set_per_dal_and_per_write():
    dal = Dal(clock=lambda: T0, max_future=0.1)
    with pytest.raises(FutureTimestampError, match=r"0\.1 s tolerance"):
        dal.write("grid/Frequency", 50.0, T0 + 0.5)
    # a PMU whose GPS time leads the local clock by 3 s passes its own tolerance
    dal.write_many("grid_pmu", {"Frequency": 50.0, "Frequency_RoCoF": 0.01}, T0 + 3, max_future=5.0)
    snap = dal.snapshot(now=T0)
    assert snap["grid_pmu/Frequency"].quality is Quality.GOOD  # judged with the tolerance it came with
    assert snap["grid_pmu/Timestamp"].quality is Quality.GOOD
    # 5 s later by the clock, it is no longer ahead; 5.5 s earlier it lies in the future
    assert dal.snapshot(now=T0 - 2.5)["grid_pmu/Frequency"].quality is Quality.STALE
    assert dal.snapshot(now=T0 - 2.5)["grid_pmu/Timestamp"].quality is Quality.STALE
    with pytest.raises(InvalidValueError, match="max_future"):
        dal.write("grid/Frequency", 50.0, T0, max_future=-1.0)
    with pytest.raises(InvalidValueError, match="max_future"):
        Dal(max_future=math.nan)
    with pytest.raises(ValueTypeError, match="clock"):
        Dal(clock=123)  # type: ignore[arg-type]


def test_a_reading_in_the_future_of_a_snapshot_is_never_good():
    dal = Dal(default_max_age=1e9)
    dal.write("grid/ActivePower", 1.0, T0)
    assert dal.snapshot(now=T0 - 1.0)["grid/ActivePower"].quality is Quality.GOOD  # within 1 s
    assert dal.snapshot(now=T0 - 1.001)["grid/ActivePower"].quality is Quality.STALE
    assert dal.snapshot(now=T0 - 1.001).value("grid/ActivePower") is None


@pytest.mark.parametrize(
    "bad, exc, fragment",
    [
        (math.nan, InvalidValueError, "nan is not a valid GOOD value"),
        (-math.inf, InvalidValueError, "-inf is not a valid GOOD value"),
        (True, ValueTypeError, "real number in Hz"),
        ("50", ValueTypeError, "real number in Hz"),
        (0.5j, ValueTypeError, "real number in Hz"),
        (-50.0, InvalidValueError, "cannot be physical"),
    ],
)
def test_bad_values_in_the_channels_of_the_last_write_are_refused(bad, exc, fragment):
    """Once a set of channels was written, the same keys take the core's fast path; a bad value
    there still gets the error naming the channel, and nothing changes."""
    import numpy as np

    dal = Dal()
    dal.write_many("grid", {"ActivePower": 1.0, "Frequency": 50.0}, T0)
    dal.write_many("grid", {"ActivePower": 1.0, "Frequency": 50.0}, T0 + 1)
    before = _state(dal)
    for value in (bad, np.float64(bad)) if isinstance(bad, float) else (bad,):
        with pytest.raises(exc, match=f"grid/Frequency: .*{fragment}"):
            dal.write_many("grid", {"ActivePower": 2.0, "Frequency": value}, T0 + 2)
        assert _state(dal) == before


def test_what_push_returns_is_stored_as_its_dict_would_be():
    """`MeterPipeline.push` output goes straight into write_many (the core reads its values
    without a dict): the same readings as writing `to_dict()`, with None as ERROR."""
    from gridtap import MeterPipeline, profiles

    sdm = profiles.load("sdm630")
    pipe = MeterPipeline(sdm)
    direct, via_dict = Dal(default_max_age=1e9), Dal(default_max_age=1e9)
    base = {"Voltage_L1": 230.0, "Voltage_L2": 231.0, "Voltage_L3": 229.0, "Frequency": 50.0,
            "Current_L1": 4.0, "ActivePower_L1": 900.0, "EnergyImport": 10.0, "EnergyExport": 2.0}  # fmt: skip
    for k in range(6):
        values = dict(base, Frequency=None) if k == 4 else base  # one frame without a frequency
        out = pipe.push(T0 + k, sdm.encode(values))
        direct.write_many("grid", out, T0 + k)
        via_dict.write_many("grid", out.to_dict(), T0 + k)
        assert dict(direct.snapshot(now=T0 + k)) == dict(via_dict.snapshot(now=T0 + k)), k
    snap = direct.snapshot(now=T0 + 5)
    assert snap["grid/Voltage_L2"] == Reading(231.0, "V", T0 + 5, Quality.GOOD)
    assert len(snap) == len(pipe.channels) + 1
