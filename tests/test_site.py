"""Site files: strict validation (file and key in every error), and a whole site run for real."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gridtap import Dal, Quality
from gridtap.site import SiteError, load_site, run_site
from mqtt_broker import Subscriber, mosquitto_fixture  # noqa: F401
from simkit import free_port, run

GOOD_SITE = """
[site]
name = "spec-example"
default_max_age = 5.0

[[simulator]]
profile = "sdm630"
port = {port}
static = {{ load_w = [15000, 1000, 1000], pv_w = [0, 4000, 3000], battery_max_charge_w = 24000, battery_max_discharge_w = 24000 }}
battery = "battery"
interval = 0.2

[[meter]]
namespace = "grid"
profile = "sdm630"
transport = "tcp"
host = "127.0.0.1"
port = {port}
interval = 0.2

[controllers]
interval = 0.2
[controllers.phase_zero_export]
[controllers.peak_shaving]
limit_w = 8000
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "site.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_a_site_runs_meter_controllers_and_telemetry(tmp_path: Path, mosquitto):
    port = free_port()
    text = (
        GOOD_SITE.format(port=port)
        + f'\n[telemetry]\nhost = "127.0.0.1"\nport = {mosquitto.port}\nprefix = "sites/x"\nmin_interval = 0.1\n'
    )
    site = load_site(write(tmp_path, text))
    assert site.controllers["order"] == ["phase_zero_export", "peak_shaving"]
    dal = Dal()
    with Subscriber(mosquitto, "sites/x/#") as sub:
        assert run(run_site(site, duration=2.5, dal=dal)) == 0
        assert sub.wait_for(lambda s: any(m.topic == "sites/x/grid/ActivePower_L2" for m in s.messages), 5)
    snap = dal.snapshot()
    assert snap["grid/ActivePower"].quality is Quality.GOOD
    # the site reacted: zero export on L2 and L3, the total shaved to the 8 kW limit
    assert snap["grid/ActivePower_L2"].value == pytest.approx(0.0, abs=1.0)
    assert snap["grid/ActivePower_L3"].value == pytest.approx(0.0, abs=1.0)
    assert snap["grid/ActivePower"].value == pytest.approx(8000.0, abs=1.0)
    # the controllers acted on it: charge on L2 and L3, discharge on L1
    assert snap["battery/SetActivePower_L2"].value == pytest.approx(3000.0)
    assert snap["battery/SetActivePower_L3"].value == pytest.approx(2000.0)
    assert snap["battery/SetActivePower_L1"].value == pytest.approx(-7000.0)


BASE = '[site]\nname = "s"\n'
METER = '[[meter]]\nnamespace = "grid"\nprofile = "sdm630"\ntransport = "tcp"\nhost = "127.0.0.1"\n'


@pytest.mark.parametrize(
    "text, key, reason",
    [
        ("[site]\n", "site.name", "missing"),
        (BASE + "colour = 1\n", "site.colour", "unknown key"),
        (BASE + "[meters]\n", "site file.meters", "unknown key"),
        (BASE + METER + "speed = 3\n", "meter[0].speed", "unknown key"),
        (BASE + METER.replace('host = "127.0.0.1"\n', ""), "meter[0].host", "missing"),
        (BASE + METER.replace('"tcp"', '"udp"'), "meter[0].transport", "expected tcp"),
        (BASE + METER.replace('"sdm630"', '"nonesuch"'), "meter[0].profile", "unknown profile"),
        (BASE + METER.replace('"grid"', '"gird"'), "meter[0].namespace", "unknown namespace"),
        (BASE + METER.replace('"grid"', '"load"'), "meter[0].namespace", "grid namespace"),
        (BASE + METER + METER, "meter[1].namespace", "another meter"),
        (BASE + METER + "port = '502'\n", "meter[0].port", "integer"),
        (BASE + "[controllers.peak_shaving]\n", "controllers.peak_shaving.limit_w", "missing"),
        (
            BASE + "[controllers.peak_shaving]\nlimit_w = 1\nspeed = 2\n",
            "controllers.peak_shaving.speed",
            "unknown",
        ),
        (BASE + "[controllers]\norder = ['peak_shaving']\n", "controllers.order", "not configured"),
        (BASE + "[telemetry]\nhots = 'x'\n", "telemetry.hots", "unknown key"),
        (
            BASE + "[[simulator]]\nprofile = 'sdm630'\nport = 1\nhost = '10.0.0.1'\n",
            "simulator[0].host",
            "loopback",
        ),
        ("[[[", "", "not valid TOML"),
    ],
)
def test_site_mistakes_name_file_and_key(tmp_path: Path, text, key, reason):
    path = write(tmp_path, text)
    with pytest.raises(SiteError) as info:
        load_site(path)
    msg = str(info.value)
    assert str(path) in msg and key in msg and reason in msg, msg


def test_gridtap_run_stops_cleanly_on_ctrl_c(tmp_path: Path):
    port = free_port()
    path = write(tmp_path, GOOD_SITE.format(port=port))
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridtap.cli", "run", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        # wait until the simulated meter answers, i.e. the site is up
        deadline = time.time() + 20
        up = False
        while time.time() < deadline and not up:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    up = True
            except OSError:
                time.sleep(0.1)
        assert up, proc.stderr.read1().decode() if proc.poll() is not None else "site did not come up"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(15)
    finally:
        if proc.poll() is None:
            proc.kill()
        _out, err = proc.communicate()
    assert rc == 0, err.decode()
    assert b"Traceback" not in err


def test_gridtap_run_reports_a_bad_file(tmp_path: Path):
    path = write(tmp_path, BASE + "colour = 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "gridtap.cli", "run", str(path)], capture_output=True, timeout=60
    )
    assert proc.returncode == 2
    assert b"site.colour" in proc.stderr and b"Traceback" not in proc.stderr


def test_the_example_site_file_is_valid():
    site = load_site(Path(__file__).resolve().parents[1] / "docs" / "site.example.toml")
    assert site.meters[0]["profile"] == "sdm630"
    assert site.controllers["order"] == ["phase_zero_export", "peak_shaving"]
