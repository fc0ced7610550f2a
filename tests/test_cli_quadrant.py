"""`gridtap read` shows the power quadrant: import or export, inductive or capacitive."""

from __future__ import annotations

from gridtap.cli import main
from gridtap.cli.meter import quadrant
from gridtap.sim.server import MeterSimulator
from simkit import in_thread, static_site


def test_quadrants_follow_the_grid_convention():
    # P + import, Q + inductive (IEEE 1459 load convention); Q1..Q4 as in IEC 62053-23
    assert quadrant(1500.0, 300.0) == "Q1 import, inductive"
    assert quadrant(-1500.0, 300.0) == "Q2 export, inductive"
    assert quadrant(-1500.0, -300.0) == "Q3 export, capacitive"
    assert quadrant(1500.0, -300.0) == "Q4 import, capacitive"
    assert quadrant(0.0, -300.0) == "-- no active power, capacitive"
    assert quadrant(1500.0, 0.0) == "-- import, no reactive power"
    assert quadrant(None, 300.0) is None and quadrant(1500.0, None) is None


def test_read_prints_the_quadrant_of_the_total_and_each_phase(capsys):
    overrides = {
        "ActivePower_L1": 4000.0, "ReactivePower_L1": 500.0,
        "ActivePower_L2": -3000.0, "ReactivePower_L2": -400.0,
        "ActivePower_L3": -2000.0, "ReactivePower_L3": 250.0,
        "ActivePower": -1000.0, "ReactivePower": 350.0,
    }  # fmt: skip
    with in_thread(MeterSimulator(static_site(), "sdm630", overrides=overrides)) as port:
        rc = main(["read", "--profile", "sdm630", "--port", str(port)])
    assert rc == 0
    lines = {
        line.split()[0]: " ".join(line.split()[1:]) for line in capsys.readouterr().out.splitlines() if line
    }
    assert lines["grid/quadrant"] == "Q2 export, inductive"
    assert lines["grid/quadrant_L1"] == "Q1 import, inductive"
    assert lines["grid/quadrant_L2"] == "Q3 export, capacitive"
    assert lines["grid/quadrant_L3"] == "Q2 export, inductive"
