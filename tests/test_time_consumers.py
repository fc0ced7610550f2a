"""What reads the DAL when the wall clock steps back (DESIGN.md "Time"): the edge cycle and the
MQTT publisher, through the DAL's injected clock.

After a step back, the readings stored before it lie in the future; the adapters' next poll,
stamped by the stepped clock, replaces them. Whatever consumes the DAL must follow at once: act on
(and publish) the new readings, not wait for the clock to catch up with the old ones.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest
from gridtap import Dal, Quality, Reading
from gridtap.control import EdgeCycle, PeakShaving, PhaseZeroExport
from gridtap.errors import TimestampError
from gridtap.telemetry import MqttPublisher
from mqtt_broker import Broker, Subscriber, mosquitto_fixture  # noqa: F401  (the fixture mosquitto)

T0 = 1_700_000_000.0
HOUR = 3600.0
SET = [f"battery/SetActivePower_{p}" for p in ("L1", "L2", "L3")]
# the spec's example: L1 imports 15 kW, L2 and L3 export 3 and 2 kW
SPEC_GRID = (15000.0, -3000.0, -2000.0)


class FixedClock:
    """The DAL's clock, set by the test: stepping it back is what NTP or an operator does."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def write_inputs(dal: Dal, t: float, grid: Sequence[float] = SPEC_GRID) -> None:
    dal.write_many(
        "grid", {f"ActivePower_L{i + 1}": w for i, w in enumerate(grid)} | {"ActivePower": sum(grid)}, t
    )
    dal.write_many(
        "battery",
        {"ActivePower_L1": 0.0, "ActivePower_L2": 0.0, "ActivePower_L3": 0.0}
        | {"MaxChargePower": 10000.0, "MaxDischargePower": 10000.0},
        t,
    )


def spec_cycle(dal: Dal) -> EdgeCycle:
    controllers = [PhaseZeroExport(phase_max_w=8000), PeakShaving(limit_w=8000, phase_max_w=8000)]
    return EdgeCycle(dal, controllers, ramp_w_per_s=1000)


# --- the edge cycle ---------------------------------------------------------------------------


def test_the_edge_cycle_runs_on_the_dals_clock_and_acts_again_one_cycle_after_a_step() -> None:
    clock = FixedClock(T0 + HOUR)
    dal = Dal(default_max_age=5.0, clock=clock)
    cycle = spec_cycle(dal)
    for k in range(3):
        clock.now = T0 + HOUR + k
        write_inputs(dal, clock.now)
        result = cycle.run_once()
        assert result.time == clock.now and result.held == {} and result.written
    # from the measured 0 W towards [−7000, 3000, 2000] at 1000 W/s
    assert [result.outputs[c] for c in SET] == pytest.approx([-2000.0, 2000.0, 2000.0])

    clock.now = T0 + 1.0  # the wall clock steps back by almost an hour
    # before the inputs are polled again the cycle cannot see (they lie in the future): it holds,
    # says why, and still writes, at the stepped time (the ramp has not moved: no time has passed)
    blind = cycle.run_once()
    assert blind.time == T0 + 1.0 and blind.written
    assert "grid/ActivePower_L1 is STALE (3601.0 s in the future" in " ".join(blind.held.values())
    assert [blind.outputs[c] for c in SET] == pytest.approx([-2000.0, 2000.0, 2000.0])

    clock.now = T0 + 2.0
    write_inputs(dal, T0 + 2.0)  # the adapters poll, stamped by the stepped clock
    result = cycle.run_once()
    assert result.time == T0 + 2.0 and result.held == {} and result.written
    # one second after the step's cycle: 1000 W further, never more
    assert [result.outputs[c] for c in SET] == pytest.approx([-3000.0, 3000.0, 2000.0])
    snap = dal.snapshot()
    assert [snap[c].value for c in SET] == pytest.approx([-3000.0, 3000.0, 2000.0])
    assert all(snap[c].quality is Quality.GOOD and snap[c].timestamp == T0 + 2.0 for c in SET)


def test_an_explicit_time_may_go_back_only_when_the_clock_stepped_back() -> None:
    clock = FixedClock(T0 + HOUR)
    dal = Dal(default_max_age=5.0, clock=clock)
    cycle = spec_cycle(dal)
    write_inputs(dal, T0 + HOUR)
    cycle.run_once(now=T0 + HOUR)
    # the clock has not stepped: an earlier time is the caller's mistake
    with pytest.raises(TimestampError, match="earlier than the previous cycle"):
        cycle.run_once(now=T0 + HOUR - 10.0)
    clock.now = T0
    write_inputs(dal, T0)
    result = cycle.run_once(now=T0)
    assert result.time == T0 and result.held == {} and result.written
    assert dal.snapshot()["battery/SetActivePower_L1"].timestamp == T0


def test_a_step_within_the_tolerance_holds_the_last_cycles_time() -> None:
    """A step smaller than the DAL's tolerance leaves the last outputs in place (the DAL refuses
    older writes until the clock catches up): the cycle keeps the last cycle's time meanwhile."""
    clock = FixedClock(T0 + 10.0)
    dal = Dal(default_max_age=5.0, clock=clock)
    cycle = spec_cycle(dal)
    write_inputs(dal, T0 + 10.0)
    cycle.run_once()
    clock.now = T0 + 9.5
    result = cycle.run_once()
    assert result.time == T0 + 10.0 and result.written and result.held == {}


# --- the MQTT publisher -----------------------------------------------------------------------

P = "gridtap/grid/ActivePower"
F = "gridtap/grid/Frequency"


@contextmanager
def publishing(dal: Dal, broker: Broker) -> Iterator[MqttPublisher]:
    pub = MqttPublisher(dal, broker.host, broker.port, min_interval=0.0)
    pub.start()
    try:
        assert pub.wait_connected(10), f"{pub.last_error}\n{broker.log_text()}"
        yield pub
    finally:
        pub.stop()


def test_the_publisher_sends_the_readings_that_replace_those_in_the_future(mosquitto: Broker) -> None:
    clock = FixedClock(T0 + HOUR)
    dal = Dal(default_max_age=3600.0, clock=clock)
    with Subscriber(mosquitto, "gridtap/grid/#") as sub, publishing(dal, mosquitto):
        dal.write_many("grid", {"ActivePower": 1.0, "Frequency": 50.0}, T0 + HOUR)
        assert sub.wait_for(lambda s: len(s.received(P)) == 1 and len(s.received(F)) == 1)
        clock.now = T0  # the wall clock steps back by an hour
        dal.write("grid/ActivePower", 2.0, T0)  # polled again, stamped by the stepped clock
        assert sub.wait_for_value(P, 2.0, timeout=10.0), sub.payloads(P)
        assert sub.last(P) == {"value": 2.0, "unit": "W", "timestamp": T0, "quality": "GOOD"}
        # not polled again: left in the future, which the DAL does not call GOOD, nor does MQTT
        assert sub.wait_for(lambda s: len(s.received(F)) == 2, timeout=10.0), sub.payloads(F)
        assert sub.last(F) == {"value": 50.0, "unit": "Hz", "timestamp": T0 + HOUR, "quality": "STALE"}
        assert dal.snapshot()["grid/Frequency"].quality is Quality.STALE
        dal.write("grid/Frequency", 50.01, T0 + 0.5)
        assert sub.wait_for_value(F, 50.01, timeout=10.0), sub.payloads(F)
        assert sub.last(F)["quality"] == "GOOD"
        time.sleep(0.2)
    assert sub.values(P) == [1.0, 2.0]


def test_a_late_older_reading_is_still_dropped_after_a_step(mosquitto: Broker) -> None:
    """The DAL is the judge of what replaced what: a reading older than the DAL's current one,
    delivered late by another writer's thread, is not sent, also when the clock stepped back."""
    clock = FixedClock(T0 + HOUR)
    dal = Dal(default_max_age=3600.0, clock=clock)
    with Subscriber(mosquitto, P) as sub, publishing(dal, mosquitto) as pub:
        dal.write("grid/ActivePower", 1.0, T0 + HOUR)
        assert sub.wait_for_value(P, 1.0)
        clock.now = T0
        dal.write("grid/ActivePower", 3.0, T0 + 0.5)
        assert sub.wait_for_value(P, 3.0)
        late = Reading(2.0, "W", T0, Quality.GOOD)
        pub._on_update([("grid/ActivePower", late)])  # what a swapped callback would deliver
        dal.write("grid/Frequency", 50.0, T0 + 0.5)
        time.sleep(0.3)
    assert sub.values(P) == [1.0, 3.0]


def test_a_reading_ahead_within_its_own_tolerance_stays_good(mosquitto: Broker) -> None:
    """A source with a clock of its own (a PMU) writes ahead of the local clock with a tolerance
    of its own: while the DAL holds its reading GOOD, so does MQTT."""
    clock = FixedClock(T0)
    dal = Dal(default_max_age=3600.0, clock=clock)
    with Subscriber(mosquitto, F) as sub, publishing(dal, mosquitto):
        dal.write("grid/Frequency", 50.0, T0 + 5.0, max_future=10.0)
        assert sub.wait_for_value(F, 50.0)
        time.sleep(2.5)  # the publisher looks at its readings' ages at least once a second
        assert dal.snapshot()["grid/Frequency"].quality is Quality.GOOD
        assert sub.payloads(F) == [{"value": 50.0, "unit": "Hz", "timestamp": T0 + 5.0, "quality": "GOOD"}]
        clock.now = T0 - 10.0  # now 15 s ahead: beyond its tolerance, STALE in the DAL and in MQTT
        assert sub.wait_for(lambda s: len(s.received(F)) == 2, timeout=10.0), sub.payloads(F)
    assert [p["quality"] for p in sub.payloads(F)] == ["GOOD", "STALE"]
