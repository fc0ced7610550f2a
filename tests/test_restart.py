"""State across restarts, through the real process: `gridtap run` as a subprocess against a
simulated meter on loopback, stopped with Ctrl-C, killed with SIGKILL, and started again. The
energy channels are read as the site publishes them, from a real mosquitto."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from gridtap.sim import MeterSimulator
from mqtt_broker import Broker, Subscriber, mosquitto_fixture  # noqa: F401
from simkit import in_thread, static_site

# 3 kW on each phase, imported: 9 kW in total
LOAD_W = (3000.0, 3000.0, 3000.0)
POWERS_PROFILE = """
[meter]
name = "sdm630_powers"
function_code = 4
type = "float32"
[channels]
ActivePower_L1 = 0x000C
ActivePower_L2 = 0x000E
ActivePower_L3 = 0x0010
"""
SITE = """
[site]
name = "restart"
state_file = "state.json"
state_interval = {state_interval}

[[meter]]
namespace = "grid"
profile = "sdm630"
transport = "tcp"
host = "127.0.0.1"
port = {port}
interval = 0.2
slow_interval = 0.2

[[meter]]
namespace = "grid_sub"
profile = "powers.toml"
transport = "tcp"
host = "127.0.0.1"
port = {port}
interval = 0.2

[telemetry]
host = "127.0.0.1"
port = {mqtt}
prefix = "r"
min_interval = 0.0
"""
E_IMP = "r/grid/EnergyImport"
SUB_IMP = "r/grid_sub/EnergyImport"


class Meter:
    """A simulated SDM630 in its own event-loop thread; `counter(kwh)` sets its import register."""

    def __init__(self) -> None:
        self.sim = MeterSimulator(
            static_site(load_w=LOAD_W), "sdm630", overrides={"EnergyImport": 1000.0, "EnergyExport": 10.0}
        )
        self._serving = in_thread(self.sim)

    def __enter__(self) -> Meter:
        self.port = self._serving.__enter__()
        return self

    def counter(self, kwh: float) -> None:
        self.sim.overrides["EnergyImport"] = kwh

    def __exit__(self, *exc: object) -> None:
        self._serving.__exit__(*exc)


class Site:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gridtap.cli", "run", str(self.path), "--log-level", "info"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )

    def stop(self, sig: int) -> tuple[int, str]:
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        err = self.proc.communicate()[1].decode(errors="replace")
        self.proc = None
        return rc, err

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
        self.proc = None


def values(sub: Subscriber, topic: str, since: int = 0) -> list[float]:
    return [p["value"] for p in sub.payloads(topic)[since:] if p["quality"] == "GOOD"]


def wait_value(
    sub: Subscriber, site: Site, topic: str, cond: Any, since: int = 0, timeout: float = 30
) -> list[float]:
    ok = sub.wait_for(lambda s: any(cond(v) for v in values(s, topic, since)), timeout)
    if not ok:
        err = ""
        if site.proc is not None and site.proc.poll() is not None:
            err = site.proc.communicate()[1].decode(errors="replace")
        pytest.fail(f"{topic}: no value met the condition; got {values(sub, topic, since)[-5:]}\n{err}")
    return values(sub, topic, since)


def saved(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    assert data["format"] == "gridtap-state" and data["version"] == 1
    return data["meters"]


def test_energy_survives_ctrl_c_and_kill_9(tmp_path: Path, mosquitto: Broker) -> None:
    state_interval = 0.5
    with Meter() as meter, Subscriber(mosquitto, "r/#") as sub:
        (tmp_path / "powers.toml").write_text(POWERS_PROFILE)
        path = tmp_path / "site.toml"
        path.write_text(SITE.format(port=meter.port, mqtt=mosquitto.port, state_interval=state_interval))
        site = Site(path)
        try:
            # --- first run: the meter's counter is reset while gridtap watches -------------------
            site.start()
            wait_value(sub, site, E_IMP, lambda v: v == 1000.0)
            meter.counter(1500.0)
            wait_value(sub, site, E_IMP, lambda v: v == 1500.0)
            meter.counter(20.0)  # reset (meter replaced, register cleared): published holds
            n = len(sub.payloads(E_IMP))
            # three more polls: at least one of them read the reset register
            assert sub.wait_for(lambda s: len(s.payloads(E_IMP)) >= n + 3)
            meter.counter(25.0)
            first = wait_value(sub, site, E_IMP, lambda v: v == 1505.0)
            assert min(first) >= 1000.0  # it never showed 20 or 25
            wait_value(sub, site, SUB_IMP, lambda v: v > 0.002)  # integrated: 9 kW for > 0.8 s
            rc, err = site.stop(signal.SIGINT)
            assert rc == 0 and "Traceback" not in err, err
            sub_before = values(sub, SUB_IMP)[-1]
            assert values(sub, E_IMP, n)[-1] == 1505.0

            # --- clean restart: the counter advanced by 1 kWh while the site was down ------------
            meter.counter(26.0)
            n_imp, n_sub = len(sub.payloads(E_IMP)), len(sub.payloads(SUB_IMP))
            site.start()
            after = wait_value(sub, site, E_IMP, lambda v: v == 1506.0, since=n_imp)
            assert min(after) >= 1505.0, after  # not 26: the offset was kept
            # integrated energy continues from the total saved at shutdown, never from 0
            sub_after = wait_value(sub, site, SUB_IMP, lambda v: v > sub_before + 0.001, since=n_sub)
            assert min(sub_after) >= sub_before, (sub_before, sub_after[:3])
            # let a periodic save happen, then SIGKILL: no shutdown save this time
            time.sleep(3 * state_interval)
            site.kill()
            last_published = values(sub, SUB_IMP)[-1]
            on_disk = saved(tmp_path / "state.json")  # atomic saves: a whole file, never half
            key_sub = next(k for k in on_disk if k.startswith("grid_sub "))
            saved_ws = on_disk[key_sub]["pipeline"]["integrated"]["active"]["import_ws"]
            assert saved_ws / 3.6e6 <= last_published

            # --- restart after kill -9 -------------------------------------------------------------
            meter.counter(30.0)
            n_imp, n_sub = len(sub.payloads(E_IMP)), len(sub.payloads(SUB_IMP))
            site.start()
            # 1500 before the reset + 10 kWh counted since it (20 → 30)
            again = wait_value(sub, site, E_IMP, lambda v: v == 1510.0, since=n_imp)
            assert min(again) >= 1506.0, again
            sub_again = wait_value(sub, site, SUB_IMP, lambda v: v > 0, since=n_sub)
            # nothing below what was on disk, and at most what 9 kW integrate between two saves
            # (plus a poll and the kill's own latency) was lost
            assert sub_again[0] >= saved_ws / 3.6e6
            assert sub_again[0] >= last_published - 9.0 * (state_interval + 1.0) / 3600
            rc, err = site.stop(signal.SIGINT)
            assert rc == 0 and "Traceback" not in err, err
            assert not list(tmp_path.glob("state.json.bad-*"))  # nothing was ever refused
        finally:
            site.kill()


def test_a_corrupt_state_file_is_set_aside_and_named(tmp_path: Path) -> None:
    with Meter() as meter:
        (tmp_path / "powers.toml").write_text(POWERS_PROFILE)
        path = tmp_path / "site.toml"
        text = SITE.format(port=meter.port, mqtt=1, state_interval=1.0)
        path.write_text(text[: text.index("[telemetry]")])
        (tmp_path / "state.json").write_text('{"format": "gridtap-state", "version": 1, "meters": {')
        proc = subprocess.run(
            [sys.executable, "-m", "gridtap.cli", "run", str(path), "--duration", "1.5"],
            capture_output=True,
            timeout=60,
        )
        err = proc.stderr.decode()
        assert proc.returncode == 0, err
        aside = list(tmp_path.glob("state.json.bad-*"))
        assert len(aside) == 1
        assert aside[0].read_text().endswith('"meters": {')  # kept as it was
        assert "WARNING" in err and str(aside[0]) in err and "not valid JSON" in err
        assert saved(tmp_path / "state.json")  # a fresh, valid file in its place
