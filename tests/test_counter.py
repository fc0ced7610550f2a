"""Published energy counters stay monotonic over wraps, resets and restarts (accuracy.md)."""

from __future__ import annotations

import itertools
import json

import gridtap.signal
import numpy as np
import pytest
from gridtap._core import CounterTracker, InputError
from hypothesis import given, settings
from hypothesis import strategies as st

NONE, FIRST, WRAP, RESET = (
    CounterTracker.NONE,
    CounterTracker.FIRST,
    CounterTracker.WRAP,
    CounterTracker.RESET,
)


def test_event_codes() -> None:
    assert (NONE, FIRST, WRAP, RESET) == (0, 1, 2, 3)
    assert CounterTracker.EVENT_NAMES == ("none", "first", "wrap", "reset")


def test_32_bit_wrap_advances_by_32_counts() -> None:
    c = CounterTracker(bits=32)
    published, events = c.update(np.array([0xFFFFFFF0, 0x00000010, 0x00000020], dtype=np.float64))
    assert list(events) == [FIRST, WRAP, NONE]
    assert events.dtype == np.uint8
    assert published[1] - published[0] == 32
    assert published[2] - published[0] == 48
    assert c.modulus == 2.0**32


def test_scaled_wrap() -> None:
    # a counter of 10 Wh steps published in kWh: span 2**32 * 0.01 kWh
    c = CounterTracker(bits=32, scale=0.01)
    raw = np.array([0xFFFFFFF0, 0x00000010], dtype=np.float64) * 0.01
    published, events = c.update(raw)
    assert list(events) == [FIRST, WRAP]
    assert published[1] - published[0] == pytest.approx(0.32)


def test_reset_is_flagged_and_published_never_decreases() -> None:
    c = CounterTracker(bits=32)
    raw = np.array([1000.0, 1500.0, 1500.0, 3.0, 10.0, 2000.0, 5.0])
    published, events = c.update(raw)
    assert list(events) == [FIRST, NONE, NONE, RESET, NONE, NONE, RESET]
    assert list(published) == [1000.0, 1500.0, 1500.0, 1500.0, 1507.0, 3497.0, 3497.0]
    assert np.all(np.diff(published) >= 0)


def test_a_drop_larger_than_max_increment_is_a_reset_not_a_wrap() -> None:
    # 16-bit: the default limit is span/16 = 4096 counts
    c = CounterTracker(bits=16)
    _, events = c.update(np.array([60000.0, 100.0, 65500.0, 1000.0]))
    assert list(events) == [FIRST, RESET, NONE, WRAP]  # 5636 counts is too many to be a wrap; 1036 is not
    strict = CounterTracker(bits=16, max_increment=1000.0)
    published, events = strict.update(np.array([65500.0, 4000.0, 65000.0, 300.0]))
    assert list(events) == [FIRST, RESET, NONE, WRAP]
    assert published[-1] - published[-2] == 836.0


def test_without_bits_every_drop_is_a_reset() -> None:
    c = CounterTracker()
    published, events = c.update(np.array([10.0, 9.0, 12.0]))
    assert list(events) == [FIRST, RESET, NONE]
    assert list(published) == [10.0, 10.0, 13.0]
    assert c.modulus is None


def test_save_and_restore_across_a_restart() -> None:
    c = CounterTracker(bits=32, scale=0.001, max_increment=50.0)
    c.update(np.array([100.0, 120.5]))
    saved = json.loads(json.dumps(c.state()))  # what a runtime would persist
    assert saved == {"published": 120.5, "last_raw": 120.5, "max_increment": 50.0, "bits": 32, "scale": 0.001}
    # the meter continued while we were down
    restored = CounterTracker.from_state(saved)
    assert (restored.bits, restored.scale, restored.published) == (32, 0.001, 120.5)
    published, events = restored.update(np.array([130.0]))
    assert (published[0], events[0]) == (130.0, NONE)
    # the meter was replaced while we were down: lower than the saved raw value is a reset
    restored = CounterTracker.from_state(saved)
    published, events = restored.update(np.array([2.0, 3.0]))
    assert list(events) == [RESET, NONE]
    assert list(published) == [120.5, 121.5]
    # a published value alone (no raw value yet) continues from it
    restored = CounterTracker.from_state({"published": 7.0, "last_raw": None})
    published, events = restored.update(np.array([500.0, 501.0]))
    assert list(events) == [FIRST, NONE]
    assert list(published) == [7.0, 8.0]
    # a fresh state round-trips too
    assert CounterTracker.from_state(CounterTracker().state()).state() == CounterTracker().state()


BAD_STATES = {
    "not a dict": [("published", 1.0)],
    "unknown key": {"published": 1.0, "last_raw": 1.0, "offset": 3.0},
    "missing published": {"last_raw": 1.0},
    "raw without published": {"published": None, "last_raw": 1.0},
    "negative published": {"published": -1.0, "last_raw": None},
    "nan raw": {"published": 1.0, "last_raw": float("nan")},
    "string value": {"published": "12", "last_raw": None},
    "bool value": {"published": True, "last_raw": None},
    "bad bits": {"published": 1.0, "last_raw": 1.0, "bits": 12},
    "fractional bits": {"published": 1.0, "last_raw": 1.0, "bits": 32.5},
    "zero scale": {"published": 1.0, "last_raw": 1.0, "scale": 0.0},
    "zero max_increment": {"published": 1.0, "last_raw": 1.0, "max_increment": 0.0},
}


@pytest.mark.parametrize("case", sorted(BAD_STATES))
def test_from_state_refuses_bad_states(case: str) -> None:
    with pytest.raises(InputError):
        CounterTracker.from_state(BAD_STATES[case])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs", [{"bits": 8}, {"bits": 31}, {"scale": -1.0}, {"scale": float("inf")}, {"max_increment": -5.0}]
)
def test_bad_configuration_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        CounterTracker(**kwargs)  # type: ignore[arg-type]


BAD_VALUES = {
    "nan": np.array([5.0, np.nan]),
    "inf": np.array([5.0, np.inf]),
    "negative": np.array([5.0, -1.0]),
    "beyond the 16-bit span": np.array([5.0, 65536.0]),
    "float32": np.array([5.0, 6.0], dtype=np.float32),
    "int": np.array([5, 6]),
    "2-D": np.array([[5.0, 6.0]]),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_values_raise_and_change_nothing(case: str) -> None:
    c, reference = CounterTracker(bits=16), CounterTracker(bits=16)
    c.update(np.array([100.0, 200.0]))
    reference.update(np.array([100.0, 200.0]))
    with pytest.raises(ValueError) as info:
        c.update(BAD_VALUES[case])
    assert isinstance(info.value, InputError)
    assert c.state() == reference.state()
    later = np.array([300.0, 10.0, 65530.0, 4.0])
    got, want = c.update(later), reference.update(later)
    assert got[0].tobytes() == want[0].tobytes() and got[1].tobytes() == want[1].tobytes()


def test_error_message_names_the_span() -> None:
    with pytest.raises(ValueError, match=r"values\[1\] is 65536.*span 65536"):
        CounterTracker(bits=16).update(np.array([1.0, 65536.0]))


counter_steps = st.lists(
    st.one_of(
        st.integers(0, 3000).map(lambda d: ("up", d)),
        st.integers(0, 65535).map(lambda v: ("jump", v)),
    ),
    min_size=1,
    max_size=200,
)


@settings(max_examples=60, deadline=None)
@given(steps=counter_steps, cuts=st.lists(st.integers(0, 200), max_size=8), bits=st.sampled_from([None, 16]))
def test_monotonic_and_chunk_invariant(
    steps: list[tuple[str, int]], cuts: list[int], bits: int | None
) -> None:
    raw, v = [], 0
    for kind, amount in steps:
        v = (v + amount) % 65536 if kind == "up" else amount
        raw.append(float(v))
    values = np.array(raw)
    whole_p, whole_e = CounterTracker(bits=bits).update(values)
    assert np.all(np.diff(whole_p) >= 0)
    assert whole_e[0] == FIRST and np.all(whole_e[1:] != FIRST)
    # advances exactly by the raw increments where nothing dropped
    ordinary = whole_e[1:] == NONE
    np.testing.assert_array_equal(np.diff(whole_p)[ordinary], np.diff(values)[ordinary])
    c = CounterTracker(bits=bits)
    bounds = [0, *sorted(min(x, values.size) for x in cuts), values.size]
    parts = [c.update(values[a:b]) for a, b in itertools.pairwise(bounds)]
    assert np.concatenate([p for p, _ in parts]).tobytes() == whole_p.tobytes()
    assert np.concatenate([e for _, e in parts]).tobytes() == whole_e.tobytes()


def test_reexport_and_repr() -> None:
    assert gridtap.signal.CounterTracker is CounterTracker
    assert "CounterTracker(bits=32" in repr(CounterTracker(bits=32))
