"""The command line: read, scan, profiles, channels, demo, against simulated meters on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
from gridtap.cli import main
from gridtap.sim import MeterSimulator
from simkit import SPEC_SITE, static_site


class ServedInThread:
    """A simulated meter in its own event loop thread, so the CLI can run its own asyncio.run."""

    def __init__(self, profile: str, **kw) -> None:
        import asyncio

        self.loop = asyncio.new_event_loop()
        self.sim = MeterSimulator(static_site(**SPEC_SITE), profile, **kw)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> int:
        import asyncio

        self.thread.start()
        return asyncio.run_coroutine_threadsafe(self.sim.start(), self.loop).result(10)

    def __exit__(self, *exc: object) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def test_read_json(capsys):
    with ServedInThread("sdm630") as port:
        rc = main(["read", "--profile", "sdm630", "--host", "127.0.0.1", "--port", str(port), "--json"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert data["grid/ActivePower_L2"] == {
        "value": -3000.0,
        "unit": "W",
        "timestamp": pytest.approx(time.time(), abs=30),
        "quality": "GOOD",
    }
    assert data["grid/ActivePower"]["value"] == 10000.0


def test_read_table_and_sunspec(capsys):
    with ServedInThread("sunspec_int", sunspec_model=203) as port:
        rc = main(["read", "--profile", "sunspec", "--port", str(port), "--invert"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "grid/ActivePower_L2" in out and "3000" in out and "GOOD" in out


def test_read_unreachable_meter_fails_clearly(capsys):
    from simkit import free_port

    rc = main(["read", "--profile", "sdm630", "--port", str(free_port()), "--timeout", "0.3"])
    assert rc == 1
    assert "no valid value" in capsys.readouterr().err


def test_scan_reports_models(capsys):
    with ServedInThread("sunspec_float", sunspec_model=213, sunspec_base=50000) as port:
        rc = main(["scan", "--port", str(port)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "SunSpec base 50000" in out
    assert "model 1 " in out and "model 213" in out and "sunspec_float" in out


def test_scan_without_sunspec(capsys):
    with ServedInThread("sdm630") as port:
        rc = main(["scan", "--port", str(port)])
    assert rc == 1
    assert "no SunSpec marker" in capsys.readouterr().err


def test_profiles_lists_every_bundled_profile(capsys):
    from gridtap import profiles

    assert main(["profiles"]) == 0
    out = capsys.readouterr().out
    for name in profiles.names():
        assert name in out


def test_demo_runs_for_a_duration_and_shows_live_values():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gridtap.cli",
            "demo",
            "--duration",
            "3",
            "--interval",
            "0.5",
            "--event",
            "ramp",
            "--event-at",
            "1",
        ],
        capture_output=True,
        timeout=120,
    )
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()
    assert "active power" in out and "kW" in out and "frequency" in out and "RoCoF" in out
    assert "quality" in out and "GOOD" in out


def test_demo_virtual_meter():
    proc = subprocess.run(
        [sys.executable, "-m", "gridtap.cli", "demo", "--virtual", "--duration", "2", "--interval", "0.5"],
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert "virtual meter" in proc.stdout.decode()
