"""ModbusMeter against real pymodbus servers on 127.0.0.1: every profile, signs, invert, faults."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest
from gridtap import Dal, Quality, profiles
from gridtap.modbus import ModbusMeter, WritesNotAllowed
from gridtap.sim.line import PtyLine
from gridtap.sim.server import MeterSimulator
from simkit import SPEC_SITE, free_port, random_site, run, served, static_site, until

T_FIXED = 1_800_000_000.0
PROFILES = profiles.names()


def known_values() -> dict[str, float | None]:
    """Export on L2 and L3, capacitive Q on L2, small values that need negative scale factors."""
    return {
        "ActivePower_L1": 15000.0, "ActivePower_L2": -3000.0, "ActivePower_L3": -2000.0, "ActivePower": 10000.0,
        "ReactivePower_L1": 1500.0, "ReactivePower_L2": -700.0, "ReactivePower_L3": 0.0, "ReactivePower": 800.0,
        "ApparentPower_L1": 15074.8, "ApparentPower_L2": 3080.6, "ApparentPower_L3": 2000.0,
        "ApparentPower": 20155.4, "PowerFactor_L1": 0.995, "PowerFactor_L2": -0.974, "PowerFactor_L3": -1.0,
        "PowerFactor": 0.496, "Frequency": 49.97, "Voltage_L1": 231.4, "Voltage_L2": 229.9, "Voltage_L3": 230.6,
        "Voltage_L12": 399.6, "Voltage_L23": 398.9, "Voltage_L31": 400.8,
        "Current_L1": 65.15, "Current_L2": 13.4, "Current_L3": 8.67,
        "EnergyImport": 48213.7, "EnergyExport": 9876.5, "ReactiveEnergyImport": 1234.5, "ReactiveEnergyExport": 321.9,
    }  # fmt: skip


def _profile_arg(name: str) -> str:
    return "sunspec" if name.startswith("sunspec") else name


@pytest.mark.parametrize("name", PROFILES)
def test_each_profile_reads_back_known_values_after_sign_normalisation(name):
    async def go():
        async with served(static_site(), name, overrides=known_values()) as (sim, port):
            meter = ModbusMeter.tcp("127.0.0.1", port, profile=_profile_arg(name))
            try:
                readings = await meter.read()
            finally:
                await meter.close()
            return sim, meter, readings

    sim, meter, readings = run(go())
    expected = known_values()
    p = meter.profile
    assert p is not None
    frame = sim.profile.encode(expected)
    for ch in p.meter_channels:
        if ch.startswith("PowerFactor"):
            continue
        r = readings[ch]
        assert r.quality is Quality.GOOD, (ch, r)
        tol = max(sim.profile.resolution(ch, frame), 1e-5 * abs(expected[ch]))
        assert r.value == pytest.approx(expected[ch], abs=tol), ch
    assert readings["ActivePower"].value == pytest.approx(10000.0, abs=1.0 if p.phases > 1 else 5001.0)
    if p.phases == 3 and "ActivePower_L2" in readings:  # sdm72v1 reads the total only
        assert readings["ActivePower_L2"].value == pytest.approx(-3000.0)
        if "PowerFactor_L2" in readings:
            assert readings["PowerFactor_L2"].value < 0  # exporting phase: PF negative, from P and S
    # the adapter sent only reads
    assert sim.request_function_codes() <= {3, 4}


def test_spec_example_through_sdm630_and_sunspec_203():
    async def go(profile: str, **kw):
        async with served(static_site(**SPEC_SITE), profile, **kw) as (_, port):
            meter = ModbusMeter.tcp("127.0.0.1", port, profile="sunspec" if "sunspec" in profile else profile)
            dal = Dal()
            try:
                meter.publish(dal, await meter.read())
            finally:
                await meter.close()
            return meter, dal.snapshot()

    for profile, kw in (("sdm630", {}), ("sunspec_int", {"sunspec_model": 203})):
        meter, snap = run(go(profile, **kw))
        vals = {p: snap[f"grid/ActivePower{p}"].value for p in ("_L1", "_L2", "_L3", "")}
        assert vals == {"_L1": 15000.0, "_L2": -3000.0, "_L3": -2000.0, "": 10000.0}, profile
        assert snap["grid/ActivePower"].quality is Quality.GOOD
    assert meter.sunspec_model is not None and meter.sunspec_model.model_id == 203
    assert meter.sunspec_model.address == 40070


def test_invert_on_a_reversed_ct():
    async def go():
        async with served(static_site(), "sdm630", overrides=known_values()) as (_, port):
            meter = ModbusMeter.tcp("127.0.0.1", port, profile="sdm630", invert=True)
            try:
                return await meter.read()
            finally:
                await meter.close()

    r = run(go())
    v = known_values()
    assert r["ActivePower"].value == -v["ActivePower"]
    assert r["ActivePower_L2"].value == -v["ActivePower_L2"]
    assert r["ReactivePower_L2"].value == -v["ReactivePower_L2"]
    assert r["EnergyImport"].value == pytest.approx(v["EnergyExport"])
    assert r["EnergyExport"].value == pytest.approx(v["EnergyImport"])
    assert r["ReactiveEnergyImport"].value == pytest.approx(v["ReactiveEnergyExport"])
    assert r["ReactiveEnergyExport"].value == pytest.approx(v["ReactiveEnergyImport"])


@pytest.mark.parametrize("base", [0, 50000])
def test_sunspec_found_at_other_bases_and_float_models(base):
    async def go():
        async with served(
            static_site(**SPEC_SITE), "sunspec_float", sunspec_base=base, sunspec_model=211
        ) as (
            _,
            port,
        ):
            meter = ModbusMeter.tcp("127.0.0.1", port, profile="sunspec")
            try:
                return meter, await meter.read()
            finally:
                await meter.close()

    meter, r = run(go())
    assert meter.sunspec_model.model_id == 211 and meter.sunspec_model.address == base + 70
    # model 211 is single-phase: only L1 channels
    assert "ActivePower_L2" not in r
    assert r["ActivePower_L1"].value == 15000.0 and r["ActivePower"].value == 15000.0


def test_sentinels_and_nan_are_error_not_zero():
    values = known_values()
    values.update({"Frequency": None, "Voltage_L2": None, "EnergyExport": None})

    async def go(profile):
        async with served(static_site(), profile, overrides=values) as (_, port):
            meter = ModbusMeter.tcp("127.0.0.1", port, profile=_profile_arg(profile))
            try:
                return await meter.read()
            finally:
                await meter.close()

    for profile in ("sunspec_int", "sdm630", "abb_b23"):
        r = run(go(profile))
        for ch in ("Frequency", "Voltage_L2", "EnergyExport", "EnergyNet", "Frequency_RoCoF"):
            assert r[ch].quality is Quality.ERROR and r[ch].value is None, (profile, ch)
        assert r["ActivePower"].quality is Quality.GOOD


# --- faults ---------------------------------------------------------------------------------


def _poll_until(meter: ModbusMeter, dal: Dal, cond, timeout: float = 15.0, interval: float = 0.1):
    async def go():
        task = asyncio.create_task(meter.poll(dal, interval=interval))
        try:
            ok = await until(cond, timeout)
            assert not task.done(), "poll() ended"
            return ok
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    return go()


def test_timeout_marks_everything_error_within_one_poll_and_recovers():
    async def go():
        async with served(static_site(**SPEC_SITE)) as (sim, port):
            dal = Dal()
            meter = ModbusMeter.tcp("127.0.0.1", port, profile="sdm630", timeout=0.3, max_backoff=0.5)
            first = await meter.read()
            meter.publish(dal, first)
            good_ts = dal.snapshot()["grid/ActivePower"].timestamp
            sim.delay = 2.0  # answers too late
            r = await meter.read()
            assert all(x.quality is Quality.ERROR and x.value is None for x in r.values())
            meter.publish(dal, r)
            snap = dal.snapshot()
            assert snap["grid/ActivePower"].quality is Quality.ERROR
            assert snap["grid/ActivePower"].timestamp > good_ts
            assert "no response within 0.3 s" in (meter.stats.last_error or "")
            sim.delay = 0.0
            ok = await _poll_until(
                meter, dal, lambda: dal.snapshot()["grid/ActivePower"].quality is Quality.GOOD
            )
            await meter.close()
            return ok, meter.stats.reconnects

    ok, reconnects = run(go())
    assert ok
    assert reconnects >= 2


def test_modbus_exception_on_every_read_and_on_one_block():
    async def go():
        async with served(static_site(**SPEC_SITE)) as (sim, port):
            meter = ModbusMeter.tcp("127.0.0.1", port, profile="sdm630")
            sim.exception_at = {0x00C8}  # the line-to-line voltage block only
            partial = await meter.read()
            from pymodbus.constants import ExcCodes

            sim.exception_at = set()
            sim.exception = ExcCodes.DEVICE_BUSY
            everything = await meter.read()
            sim.exception = None
            recovered = await meter.read()
            await meter.close()
            return partial, everything, recovered, meter

    partial, everything, recovered, meter = run(go())
    assert partial["Voltage_L12"].quality is Quality.ERROR
    assert partial["ActivePower"].quality is Quality.GOOD and partial["ActivePower"].value == 10000.0
    assert all(r.quality is Quality.ERROR for r in everything.values())
    assert all(r.quality is Quality.GOOD for k, r in recovered.items() if k != "Frequency_RoCoF")
    assert meter.stats.block_errors >= 3
    # an exception is an answer: the link stayed up, no reconnect was needed for it
    assert meter.stats.reconnects == 1


def test_connection_refused_then_server_appears():
    port = free_port()

    async def go():
        dal = Dal()
        meter = ModbusMeter.tcp("127.0.0.1", port, profile="sdm630", timeout=0.3, max_backoff=0.4)
        r = await meter.read()
        assert all(x.quality is Quality.ERROR for x in r.values())
        assert "connect" in (meter.stats.last_error or "")
        task = asyncio.create_task(meter.poll(dal, interval=0.1))
        await asyncio.sleep(0.5)
        assert dal.snapshot()["grid/ActivePower"].quality is Quality.ERROR
        sim = MeterSimulator(static_site(**SPEC_SITE), "sdm630")
        await sim.start(port=port)
        try:
            ok = await until(lambda: dal.snapshot()["grid/ActivePower"].quality is Quality.GOOD, 10)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await meter.close()
            await sim.stop()
        return ok, dal.snapshot()["grid/ActivePower"].value

    ok, value = run(go())
    assert ok and value == 10000.0


def test_dropped_connection_is_error_then_reconnects_and_never_republishes_old_values():
    async def go():
        async with served(static_site(**SPEC_SITE)) as (sim, port):
            dal = Dal()
            seen: list[tuple[float, Quality, float | None]] = []
            dal.subscribe(
                lambda ups: seen.extend(
                    (r.timestamp, r.quality, r.value) for c, r in ups if c == "grid/ActivePower"
                )
            )
            meter = ModbusMeter.tcp("127.0.0.1", port, profile="sdm630", timeout=0.5, max_backoff=0.3)
            task = asyncio.create_task(meter.poll(dal, interval=0.05))
            await until(lambda: len(seen) >= 3)
            await sim.drop_connections(down_for=0.6)
            await until(lambda: any(q is Quality.ERROR for _, q, _ in seen), 5)
            n_before = len(seen)
            await until(lambda: len(seen) > n_before + 3 and seen[-1][1] is Quality.GOOD, 10)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await meter.close()
            return seen, meter.stats

    seen, stats = run(go())
    assert any(q is Quality.ERROR and v is None for _, q, v in seen)
    assert seen[-1][1] is Quality.GOOD
    stamps = [t for t, _, _ in seen]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # every write a new measurement
    assert stats.reconnects >= 2


def test_backoff_grows_and_is_capped():
    port = free_port()

    async def go():
        meter = ModbusMeter.tcp("127.0.0.1", port, profile="sdm630", timeout=0.2, max_backoff=0.4)
        dal = Dal()
        task = asyncio.create_task(meter.poll(dal, interval=0.05))
        await asyncio.sleep(2.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return meter.stats.polls

    polls = run(go())
    # without backoff 2 s at 0.05 s would be ~40 attempts; with 0.05, 0.1, 0.2, 0.4, 0.4, ... far fewer
    assert 3 <= polls <= 12


def test_slow_meter_does_not_delay_another():
    async def go():
        async with (
            served(static_site(**SPEC_SITE)) as (slow_sim, slow_port),
            served(static_site(**SPEC_SITE)) as (_, fast_port),
        ):
            slow_sim.delay = 0.8
            dal = Dal()
            slow = ModbusMeter.tcp(
                "127.0.0.1", slow_port, profile="sdm630", namespace="grid_slow", timeout=2.0
            )
            fast = ModbusMeter.tcp(
                "127.0.0.1", fast_port, profile="sdm630", namespace="grid_fast", timeout=2.0
            )
            tasks = [asyncio.create_task(m.poll(dal, interval=0.1)) for m in (slow, fast)]
            await asyncio.sleep(2.0)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await slow.close()
            await fast.close()
            return slow.stats.polls, fast.stats.polls

    slow_polls, fast_polls = run(go())
    assert slow_polls <= 2 * 3  # 0.8 s per block, two blocks per read
    assert fast_polls >= 10  # ~20 expected at 0.1 s; generous for a loaded machine


def test_slow_server_within_timeout_still_reads():
    async def go():
        async with served(static_site(**SPEC_SITE)) as (sim, port):
            sim.delay = 0.2
            meter = ModbusMeter.tcp("127.0.0.1", port, profile="sdm630", timeout=1.0)
            r = await meter.read()
            await meter.close()
            return r

    assert run(go())["ActivePower"].value == 10000.0


def test_poll_never_lets_an_exception_out(monkeypatch):
    """A bug inside a read (here the pipeline raising) or a DAL that refuses a write must not end
    the poll loop."""

    async def go():
        async with served(static_site(**SPEC_SITE)) as (_, port):
            meter = ModbusMeter.tcp("127.0.0.1", port, profile="sdm630")
            dal = Dal()
            calls = {"push": 0, "write": 0}
            real_push, real_write = meter.pipeline.push, dal.write_many

            class FlakyPipeline:
                def push(self, *args):
                    calls["push"] += 1
                    if calls["push"] % 2:
                        raise RuntimeError("bug in a read")
                    return real_push(*args)

            def flaky_write(*args, **kw):
                calls["write"] += 1
                if calls["write"] % 3 == 0:
                    raise RuntimeError("DAL refused")
                return real_write(*args, **kw)

            meter.pipeline = FlakyPipeline()  # type: ignore[assignment]
            monkeypatch.setattr(dal, "write_many", flaky_write)
            task = asyncio.create_task(meter.poll(dal, interval=0.05))
            ok = await until(lambda: calls["push"] >= 12 and calls["write"] >= 3)
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await meter.close()
            return ok, dal.snapshot()["grid/ActivePower"].value

    ok, value = run(go())
    assert ok
    assert value == 10000.0


def test_frozen_registers_are_flagged_when_enabled():
    async def go():
        async with served(random_site(3)) as (sim, port):
            meter = ModbusMeter.tcp("127.0.0.1", port, profile="sdm630", frozen_after=0.3)
            first = await meter.read()
            sim.frozen = True
            await meter.read()
            await asyncio.sleep(0.4)
            later = await meter.read()
            sim.frozen = False
            await asyncio.sleep(0.05)
            back = await meter.read()
            await meter.close()
            return first, later, back

    first, later, back = run(go())
    assert first["ActivePower"].quality is Quality.GOOD
    assert later["ActivePower"].quality is Quality.ERROR
    assert back["ActivePower"].quality is Quality.GOOD


# --- reads are planned; writes need permission --------------------------------------------------


def test_reads_follow_the_plan_and_slow_group_is_read_less_often():
    async def go():
        async with served(static_site(**SPEC_SITE), "abb_b23") as (sim, port):
            meter = ModbusMeter.tcp("127.0.0.1", port, profile="abb_b23", slow_interval=3600)
            r1 = await meter.read()
            r2 = await meter.read()
            await meter.close()
            return sim.requested_blocks(), r1, r2

    blocks, r1, r2 = run(go())
    assert blocks == [(3, 0x5B00, 62), (3, 0x5000, 20), (3, 0x5B00, 62)]
    assert "EnergyImport" in r1 and "EnergyImport" not in r2  # not re-published as fresh
    assert "ActivePower" in r2


def test_read_only_by_default_and_writes_need_profile_and_permission(tmp_path: Path):
    prof = tmp_path / "resettable.toml"
    prof.write_text(
        "[meter]\nname = 'resettable'\nfunction_code = 4\n[channels]\nActivePower = 0x0034\n"
        "[writes.ResetEnergy]\naddress = 0xF010\nfunction_code = 16\nvalues = [3]\n",
        encoding="utf-8",
    )

    async def go():
        async with served(static_site(), "sdm630") as (sim, port):
            ro = ModbusMeter.tcp("127.0.0.1", port, profile=str(prof))
            await ro.read()
            with pytest.raises(WritesNotAllowed, match="allow_writes"):
                await ro.write("ResetEnergy")
            rw = ModbusMeter.tcp("127.0.0.1", port, profile=str(prof), allow_writes=True)
            with pytest.raises(WritesNotAllowed, match="no write 'Nope'"):
                await rw.write("Nope")
            fcs_before = sim.request_function_codes()
            with pytest.raises(Exception, match="refused"):
                await rw.write("ResetEnergy")  # the simulated meter is read-only itself
            await ro.close()
            await rw.close()
            return fcs_before, sim.request_function_codes()

    before, after = run(go())
    assert before == {4}
    assert after == {4}  # the refused write never reached the register map


def test_rtu_over_a_pty_pair():
    """Real RTU framing on a pair of pseudo-terminals (gridtap.sim.line, no socat needed)."""

    async def go():
        with PtyLine(38400) as line:
            sim = MeterSimulator(static_site(**SPEC_SITE), "sdm630", unit_id=7)
            await sim.start_rtu(line.meters_port, baudrate=38400)
            meter = ModbusMeter.rtu(line.master_port, 38400, profile="sdm630", unit_id=7, timeout=1.0)
            try:
                return await meter.read()
            finally:
                await meter.close()
                await sim.stop()

    r = run(go())
    assert r["ActivePower_L1"].value == 15000.0
    assert r["ActivePower"].value == 10000.0


def test_rtu_framing_over_tcp():
    async def go():
        sim = MeterSimulator(static_site(**SPEC_SITE), "em340", unit_id=3)
        port = await sim.start(framer="rtu")
        meter = ModbusMeter.tcp("127.0.0.1", port, profile="em340", unit_id=3, framer="rtu")
        try:
            return await meter.read()
        finally:
            await meter.close()
            await sim.stop()

    r = run(go())
    assert r["ActivePower_L3"].value == -2000.0
    assert not math.isnan(r["Voltage_L1"].value)


def test_slow_channels_get_a_maximum_age_that_fits_their_read_interval():
    async def go():
        async with served(static_site(**SPEC_SITE), "abb_b23") as (_, port):
            dal = Dal(default_max_age=5.0, max_age={"grid/EnergyExport": 7.0})
            meter = ModbusMeter.tcp("127.0.0.1", port, profile="abb_b23", slow_interval=30.0)
            task = asyncio.create_task(meter.poll(dal, interval=1.0))
            await until(lambda: "grid/EnergyImport" in dal.snapshot())
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await meter.close()
            return dal

    dal = run(go())
    assert dal.max_age("grid/EnergyImport") >= 60.0  # read every 30 s: must not go STALE in between
    assert dal.max_age("grid/EnergyExport") == 7.0  # the user's own setting is kept
    assert dal.max_age("grid/ActivePower") == 5.0


def test_cancelling_poll_always_ends_it():
    """Python 3.11's asyncio.wait_for can swallow a cancel that lands with the reply; poll() must
    end on every cancel all the same (a supervisor shutting down relies on it)."""

    async def go():
        async with served(static_site(**SPEC_SITE)) as (_, port):
            meter = ModbusMeter.tcp("127.0.0.1", port, profile="sdm630")
            dal = Dal()
            hung = 0
            for i in range(60):
                task = asyncio.create_task(meter.poll(dal, interval=0.0005))
                await asyncio.sleep(0.002 + (i % 7) * 0.0007)
                task.cancel()
                done, _ = await asyncio.wait({task}, timeout=2.0)
                if not done:
                    hung += 1
                    while not task.done():  # clean up for the next round
                        task.cancel()
                        await asyncio.sleep(0.01)
            await meter.close()
            return hung

    assert run(go()) == 0


def test_inverted_counters_follow_their_own_read_block():
    """EM24-DIN export counters sit in their own block, which some variants refuse. With invert,
    EnergyImport is read from that export register: when its block fails it must be ERROR."""

    async def go():
        async with served(static_site(**SPEC_SITE), "em24din") as (sim, port):
            sim.exception_at = {0x005C}
            meter = ModbusMeter.tcp("127.0.0.1", port, profile="em24din", invert=True)
            try:
                return await meter.read(groups=("fast", "slow"))
            finally:
                await meter.close()

    r = run(go())
    assert r["EnergyImport"].quality is Quality.ERROR  # its register (the meter's export) failed
    assert r["EnergyExport"].quality is Quality.GOOD  # read from the meter's import register
    assert r["EnergyNet"].quality is Quality.ERROR
    assert r["ActivePower"].quality is Quality.GOOD
