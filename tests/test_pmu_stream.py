"""PmuMeter on frames built by hand with struct (tests/pmukit.py), sent by a scripted PMU over TCP:
STAT quality, leap seconds, lost, repeated and batched frames, absent data."""

from __future__ import annotations

import asyncio
import itertools
import math

import pytest
from gridtap import Dal, Quality
from gridtap.pmu import PmuMeter
from pmukit import (
    BALANCED,
    LEAP_DELETE,
    LEAP_OCCURRED,
    LEAP_PENDING,
    MIDNIGHT,
    cfg2,
    data_frame,
    scripted,
    three_phase,
)
from simkit import run, until

ID = 77
RATE = 10
# 230 V, 10 A per phase lagging by 0.3 rad: P = 3·2300·cos 0.3, Q = 3·2300·sin 0.3
PHASORS = three_phase(230.0, 10.0, 0.3)
P_TOTAL = 3 * 2300 * math.cos(0.3)


def frames_at(soc: int, count: int, *, start: int = 0, **kw) -> list[bytes]:
    """`count` frames from frame `start` of second `soc` on, at RATE frames/s."""
    out = []
    for k in range(start, start + count):
        s, i = divmod(k, RATE)
        out.append(data_frame(ID, soc + s, i * 100_000, PHASORS, **kw))
    return out


async def collect(frames: list[bytes], gap: float | None = 0.0, **meter_kw) -> tuple[PmuMeter, list, Dal]:
    """Serve the frames, poll them into a DAL; return the meter, every write and the DAL."""
    writes: list[dict] = []
    dal = Dal(default_max_age=1e9)
    dal.subscribe(lambda updates: writes.append(dict(updates)))
    async with scripted(cfg2(ID, BALANCED, rate=RATE), frames, gap) as (pmu, port):
        meter = PmuMeter.tcp("127.0.0.1", port, idcode=ID, **meter_kw)
        task = asyncio.create_task(meter.poll(dal))
        await asyncio.wait_for(pmu.sent.wait(), 20)
        await until(lambda: meter.stats.polls + meter.stats.out_of_order >= len(frames), timeout=10)
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return meter, writes, dal


def test_stat_data_error_other_than_00_is_error():
    soc = MIDNIGHT - 100
    frames = frames_at(soc, 4)
    frames[1] = data_frame(ID, soc, 100_000, PHASORS, stat=0x4000)  # 01 PMU error
    frames[2] = data_frame(ID, soc, 200_000, PHASORS, stat=0x8000)  # 10 test mode
    frames += [data_frame(ID, soc, 400_000, PHASORS, stat=0xC000)]  # 11 PMU error, do not use
    meter, writes, _ = run(collect(frames))
    p = [w["grid/ActivePower"] for w in writes if "grid/ActivePower" in w]
    assert [r.quality for r in p] == [Quality.GOOD, Quality.ERROR, Quality.ERROR, Quality.GOOD, Quality.ERROR]
    assert p[0].value == pytest.approx(P_TOTAL, rel=1e-6) and p[1].value is None
    assert all(r.value is None for ch, r in writes[1].items())  # every channel of the frame
    assert meter.stats.data_errors == 3 and meter.stats.failed_polls == 3
    assert meter.stats.last_error == "STAT data error 11 (PMU error)"
    assert [r.timestamp for r in p] == pytest.approx([soc, soc + 0.1, soc + 0.2, soc + 0.3, soc + 0.4])


@pytest.mark.parametrize("policy", ["flag", "error"])
def test_sync_error_is_flagged_or_error_as_configured(policy):
    soc = MIDNIGHT - 100
    frames = [*frames_at(soc, 2), data_frame(ID, soc, 200_000, PHASORS, stat=0x2000)]
    meter, writes, _ = run(collect(frames, time_error=policy))
    last = writes[-1]["grid/ActivePower"]
    assert last.quality is (Quality.GOOD if policy == "flag" else Quality.ERROR)
    assert meter.time_flag == "PMU sync error (STAT bit 13)"
    assert meter.stats.time_flagged == 1 and meter.stats.data_errors == 0


@pytest.mark.parametrize(("code", "limit", "flagged"), [(1, 10.0, True), (1, 100.0, False), (2, 100.0, True), (3, 1000.0, True), (0, 10.0, False)])  # fmt: skip
def test_unlocked_time_beyond_the_limit_is_flagged(code, limit, flagged):
    soc = MIDNIGHT - 100
    frames = [data_frame(ID, soc, 0, PHASORS, stat=code << 4)]
    meter, writes, _ = run(collect(frames, max_unlocked=limit, time_error="error"))
    assert (meter.stats.time_flagged == 1) is flagged
    assert writes[-1]["grid/ActivePower"].quality is (Quality.ERROR if flagged else Quality.GOOD)
    if flagged:
        assert meter.time_flag == f"time unlocked for at least {(0, 10, 100, 1000)[code]} s (STAT bits 5-4)"


def test_clock_failure_in_fracsec_is_flagged():
    frames = [data_frame(ID, MIDNIGHT - 50, 0, PHASORS, time_quality=0xF)]
    meter, writes, _ = run(collect(frames))
    assert meter.time_flag == "clock failure (FRACSEC time quality 0xF)"
    assert writes[-1]["grid/ActivePower"].quality is Quality.GOOD


def test_inserted_leap_second_repeats_soc_and_is_integrated_not_published():
    # 23:59:59 announced, then the inserted second repeats SOC (still pending), then 00:00:00
    frames = (
        frames_at(MIDNIGHT - 1, RATE, flags=LEAP_PENDING)
        + frames_at(MIDNIGHT - 1, RATE, flags=LEAP_PENDING)
        + frames_at(MIDNIGHT, RATE, flags=LEAP_OCCURRED)
    )
    meter, writes, dal = run(collect(frames))
    times = [w["grid/ActivePower"].timestamp for w in writes]
    assert times == sorted(times) and len(times) == 2 * RATE  # the repeated second is not published
    assert times[0] == MIDNIGHT - 1 and times[-1] == pytest.approx(MIDNIGHT + 0.9)
    assert meter.stats.leap_frames == RATE and meter.stats.out_of_order == 0
    assert meter.stats.missed_cycles == 0
    # 30 frames, 2.9 s of real time at constant P (without the leap second: 1.9 s)
    energy = dal.snapshot()["grid/EnergyImport"]
    assert energy.value == pytest.approx(P_TOTAL * 2.9 / 3.6e6, rel=1e-6)
    assert energy.timestamp == pytest.approx(MIDNIGHT + 0.9)


def test_deleted_leap_second_is_not_a_gap():
    frames = frames_at(MIDNIGHT - 2, RATE, flags=LEAP_PENDING | LEAP_DELETE) + frames_at(
        MIDNIGHT, RATE, flags=LEAP_OCCURRED | LEAP_DELETE
    )
    meter, writes, dal = run(collect(frames))
    assert len(writes) == 2 * RATE and meter.stats.missed_cycles == 0
    energy = dal.snapshot()["grid/EnergyImport"]
    assert energy.value == pytest.approx(P_TOTAL * 1.9 / 3.6e6, rel=1e-6)  # 20 frames, 1.9 s


def test_without_leap_flags_a_gap_counts_lost_frames_and_a_repeat_is_dropped():
    soc = MIDNIGHT + 3600
    frames = frames_at(soc, 3) + frames_at(soc, 4, start=6)  # frames 3, 4, 5 lost
    frames.insert(4, frames[1])  # an old frame again
    meter, writes, _ = run(collect(frames))
    assert meter.stats.missed_cycles == 3 and meter.stats.out_of_order == 1
    assert len(writes) == 7 and meter.stats.leap_frames == 0


def test_many_frames_in_one_tcp_write_are_all_taken():
    frames = frames_at(MIDNIGHT + 7200, 200)
    meter, writes, _ = run(collect(frames, gap=None))
    times = [w["grid/ActivePower"].timestamp for w in writes]
    assert len(times) == 200 and meter.stats.missed_cycles == 0
    assert all(abs(b - a - 0.1) < 1e-6 for a, b in itertools.pairwise(times))


def test_absent_data_is_error_for_what_depends_on_it():
    nan = complex(math.nan, math.nan)
    phasors = list(PHASORS)
    phasors[4] = nan  # IB
    frames = [data_frame(ID, MIDNIGHT + 10, 0, phasors, freq=math.nan)]
    _, writes, _ = run(collect(frames))
    w = writes[-1]
    assert w["grid/Current_L2"].quality is Quality.ERROR and w["grid/ActivePower_L2"].value is None
    assert w["grid/ActivePower"].quality is Quality.ERROR and w["grid/Frequency"].value is None
    assert w["grid/Voltage_L2"].value == pytest.approx(230.0, rel=1e-6)
    assert w["grid/ActivePower_L1"].value == pytest.approx(2300 * math.cos(0.3), rel=1e-6)
    assert w["grid/Frequency_RoCoF"].value == 0.0


def test_interval_publishes_at_most_one_frame_per_interval():
    frames = frames_at(MIDNIGHT + 20, 31)

    async def go():
        writes: list[dict] = []
        dal = Dal(default_max_age=1e9)
        dal.subscribe(lambda u: writes.append(dict(u)))
        async with scripted(cfg2(ID, BALANCED, rate=RATE), frames) as (pmu, port):
            meter = PmuMeter.tcp("127.0.0.1", port, idcode=ID)
            task = asyncio.create_task(meter.poll(dal, interval=1.0))
            await asyncio.wait_for(pmu.sent.wait(), 20)
            await until(lambda: meter.stats.polls >= len(frames))
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return meter, writes

    meter, writes = run(go())
    times = [w["grid/ActivePower"].timestamp for w in writes]
    assert times == pytest.approx([MIDNIGHT + 20, MIDNIGHT + 21, MIDNIGHT + 22, MIDNIGHT + 23])
    assert meter.stats.polls == 31  # every frame still counted (and integrated)
