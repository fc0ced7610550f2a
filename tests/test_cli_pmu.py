"""`gridtap pmu` and `gridtap demo --pmu` against a simulated PMU on loopback."""

from __future__ import annotations

import re
import subprocess
import sys
from contextlib import AbstractContextManager
from typing import Any

import pytest
from gridtap.cli import main
from gridtap.sim.pmu_server import PmuSimulator
from simkit import SPEC_SITE, in_thread, static_site


def pmu_in_thread(**kw: Any) -> AbstractContextManager[int]:
    """The spec's example site served as a PMU from a thread of its own (the CLI runs its own
    asyncio.run); yields the port."""
    return in_thread(PmuSimulator(static_site(**SPEC_SITE), **kw))


def test_pmu_prints_the_configuration_the_mapping_and_live_values(capsys):
    with pmu_in_thread(idcode=7, format=0x1, station="FEEDER 4") as port:
        rc = main(
            ["pmu", "127.0.0.1", str(port), "--id", "7", "--duration", "1", "--interval", "0.3", "--header"]
        )
    out = capsys.readouterr().out
    assert rc == 0
    assert f"PMU stream IDCODE 7 at 127.0.0.1:{port} (TCP), CFG-2: time base 1000000, 50 frames/s" in out
    assert "FORMAT 0x0001 (FREQ/DFREQ integer, analogs integer, phasors integer, polar)" in out
    assert "PMU 'FEEDER 4' IDCODE 7 (mapped)" in out
    assert re.search(r"phasor VA +V  0\.01 V/count", out)
    assert "Voltage_L1 <- VA" in out and "Current_L3 <- IC" in out
    assert "left out: nothing" in out
    assert "header: gridtap simulated PMU 'FEEDER 4'" in out
    live = [line for line in out.splitlines() if re.match(r"\d\d:\d\d:\d\d\.\d{3}Z", line)]
    assert len(live) >= 3
    assert "P +10.000 kW" in live[-1] and "V 230.0/230.0/230.0" in live[-1]  # the spec site: 10 kW import


def test_pmu_positive_sequence_says_what_is_left_out(capsys):
    with pmu_in_thread(idcode=3, phasors="positive") as port:
        rc = main(["pmu", "127.0.0.1", str(port), "--id", "3", "--duration", "0.3"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "mapping (positive-sequence)" in out
    left = next(line for line in out.splitlines() if line.startswith("left out:"))
    assert "Voltage_L1" in left and "ActivePower_L2" in left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["127.0.0.1", "4712", "--id", "0"], "gridtap pmu: argument --id: expected a C37.118 stream IDCODE (1..65534), got 0"),
        (["127.0.0.1", "port", "--id", "1"], "gridtap pmu: argument port: expected a TCP port (1..65535), got 'port'"),
        (["127.0.0.1", "4712", "--id", "1", "--interval", "-1"], "gridtap pmu: argument --interval: expected seconds (a finite number > 0), got -1"),
    ],
)  # fmt: skip
def test_bad_arguments_give_one_line(capsys, args, message):
    with pytest.raises(SystemExit) as exit:
        main(["pmu", *args])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and err.strip() == f"{message} (see gridtap pmu --help)"


def test_unreachable_pmu_gives_one_line(capsys):
    rc = main(["pmu", "127.0.0.1", "1", "--id", "5", "--timeout", "0.5"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1
    assert err[0].startswith("gridtap pmu: 127.0.0.1:1: cannot connect to TCP 127.0.0.1:1")


def test_demo_pmu_runs_and_shows_live_values():
    proc = subprocess.run(
        [sys.executable, "-m", "gridtap.cli", "demo", "--pmu", "--duration", "2", "--interval", "0.5"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "simulated PMU on 127.0.0.1:" in proc.stdout and "C37.118.2 over TCP" in proc.stdout
    last = proc.stdout.strip().split("gridtap demo")[-1]
    assert "quality  ActivePower GOOD, Frequency GOOD" in last
    assert re.search(r"frequency +\d\d\.\d{3} Hz", last)
