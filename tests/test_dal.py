"""The DAL: writes, quality, staleness, consistency under concurrency, and bad input."""

from __future__ import annotations

import itertools
import math
import threading

import pytest
from gridtap import (
    ChannelError,
    Dal,
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
