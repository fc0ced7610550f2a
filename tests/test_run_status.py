"""`gridtap run` shows what a site does: a live table in a terminal (run under a real pty), log
lines without one, and /metrics when asked (`[metrics] listen` or `--metrics`).

The site file serves the spec's example site from its own [[simulator]] on a free loopback port,
with a battery stand-in, and runs PhaseZeroExport and PeakShaving (8 kW) on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from gridtap import Dal, Quality
from gridtap.cli import main
from gridtap.sim.server import MeterSimulator
from gridtap.site import SiteError, load_site, run_site
from prometheus_client.parser import text_string_to_metric_families
from simkit import SPEC_SITE, free_port, run, static_site, until

SITE = """
[site]
name = "status-test"

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
timeout = 0.5
max_backoff = 0.5

[controllers]
interval = 0.2
[controllers.phase_zero_export]
[controllers.peak_shaving]
limit_w = 8000
"""
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def site_file(tmp_path: Path, port: int, extra: str = "") -> Path:
    p = tmp_path / "site.toml"
    p.write_text(SITE.format(port=port) + extra, encoding="utf-8")
    return p


def gridtap(*args: str) -> list[str]:
    return [sys.executable, "-m", "gridtap.cli", *args]


def test_live_table_under_a_pty(tmp_path: Path):
    port = free_port()
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        gridtap("run", str(site_file(tmp_path, port)), "--status-interval", "0.2"),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
        env={**os.environ, "TERM": "xterm"},
    )
    os.close(slave)
    out = b""
    frame = ""
    wanted = {
        "link": rf"127\.0\.0\.1:{port}\s+grid\s+UP\s",
        "grid power": r"\n\s*grid\s+[+-]\d+\.\d\d kW (import|EXPORT)\s+[+-]\d+\.\d\d kW",
        "controller output": r"battery setpoint\s+[+-]\d+\.\d\d kW\s+[+-]\d+\.\d\d kW\s+[+-]\d+\.\d\d kW",
        "controller state": r"PhaseZeroExport: (acting|HOLDS: .+)",
    }
    found: dict[str, float] = {}
    first_frame: float | None = None
    try:
        # the interpreter's start-up is not what is tested: 5 s from the first frame on screen
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(found) < len(wanted):
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                with contextlib.suppress(OSError):
                    out += os.read(master, 65536)
            frames = out.decode(errors="replace").split("\x1b[H\x1b[2J")
            if len(frames) > 2:  # one complete frame at least
                if first_frame is None:
                    first_frame = time.monotonic()
                    deadline = first_frame + 5.0
                frame = ANSI.sub("", frames[-2]).replace("\r", "")
                for what, pattern in wanted.items():
                    if what not in found and re.search(pattern, frame):
                        found[what] = time.monotonic() - first_frame
        assert first_frame is not None, out.decode(errors="replace")[-2000:]
        assert set(found) == set(wanted), f"missing {set(wanted) - set(found)} in:\n{frame}"
        assert frame.startswith("gridtap run status-test — ")
        assert "all 33 GOOD" in frame or "GOOD" in frame
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_without_a_terminal_it_logs_changes_and_summaries(tmp_path: Path):
    port = free_port()
    r = subprocess.run(
        gridtap(
            "run",
            str(site_file(tmp_path, port)),
            "--duration",
            "3",
            "--summary-every",
            "1",
            "--status-interval",
            "0.2",
        ),
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""  # no table on a pipe
    lines = r.stderr.splitlines()
    assert any(
        re.search(rf"INFO gridtap.status: 127\.0\.0\.1:{port} \(grid\): link up$", line) for line in lines
    ), r.stderr
    assert any(re.search(r"INFO gridtap.status: grid: GOOD, P \+\d+\.\d\d kW import", line) for line in lines)
    summaries = [line for line in lines if "gridtap.status: status: 1/1 links up, polls " in line]
    assert len(summaries) >= 2, r.stderr
    assert "battery setpoint" in summaries[-1]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", lines[0])  # a timestamp, outside the journal


def test_under_journald_lines_carry_their_priority_and_no_timestamp(tmp_path: Path):
    def gridtap_run(level: str) -> list[str]:
        r = subprocess.run(
            gridtap(
                "run",
                str(site_file(tmp_path, free_port())),
                "--duration",
                "1.5",
                "--quiet",
                "--log-level",
                level,
            ),
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "JOURNAL_STREAM": "8:12345"},
        )
        assert r.returncode == 0, r.stderr
        return r.stderr.splitlines()

    lines = gridtap_run("info")
    assert "<6>INFO gridtap.site.run: site status-test running: 1 meter(s), 0 virtual, 4 task(s)" in lines
    priority = {"INFO": 6, "WARNING": 4, "ERROR": 3}
    for line in lines:  # sd-daemon(3) priorities
        m = re.match(r"<(\d)>(INFO|WARNING|ERROR) \S+: ", line)
        assert m and int(m[1]) == priority[m[2]], line
    assert not [line for line in gridtap_run("warning") if "INFO" in line]


def test_a_site_serves_metrics_and_shows_the_meter_unplugged(tmp_path: Path):
    async def go() -> tuple[list[dict[str, float]], int]:
        sim = MeterSimulator(static_site(**SPEC_SITE), "sdm630")  # the stand-in meter, outside the site
        port = await sim.start("127.0.0.1", 0)
        text = SITE.format(port=port).split("[[meter]]")[1]
        metrics_port = free_port()
        path = tmp_path / "site.toml"
        path.write_text(
            f'[site]\nname = "m"\n[[meter]]{text}\n[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n'
        )
        site = load_site(path)
        assert site.metrics == f"127.0.0.1:{metrics_port}"
        dal = Dal()
        task = asyncio.create_task(run_site(site, dal=dal))
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        scrapes = []

        async def scrape() -> None:
            body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read().decode())
            samples = {}
            for family in text_string_to_metric_families(body):
                for s in family.samples:
                    key = s.labels.get("channel") or s.labels.get("source") or ""
                    samples[f"{s.name}|{key}"] = s.value
            scrapes.append(samples)

        try:
            assert await until(lambda: "grid/ActivePower" in dal.snapshot(), 10)
            await asyncio.sleep(0.5)
            await scrape()
            value = dal.snapshot()["grid/ActivePower_L2"].value
            await asyncio.sleep(0.6)
            await scrape()
            await sim.stop()
            assert await until(lambda: dal.snapshot()["grid/ActivePower"].quality is Quality.ERROR, 10)
            await scrape()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await sim.stop()
        assert value == scrapes[0]["gridtap_channel_value|grid/ActivePower_L2"]  # the DAL's value
        return scrapes, port

    (first, second, unplugged), port = run(go())
    source = f"127.0.0.1:{port}"  # the meter's name: its address
    assert first["gridtap_channel_value|grid/ActivePower_L2"] == -3000.0  # the spec's example
    assert first["gridtap_channel_quality|grid/ActivePower_L2"] == 0
    assert second[f"gridtap_polls_total|{source}"] > first[f"gridtap_polls_total|{source}"]
    assert unplugged["gridtap_channel_quality|grid/ActivePower_L2"] == 2
    assert "gridtap_channel_value|grid/ActivePower_L2" not in unplugged
    assert unplugged[f"gridtap_link_up|{source}"] == 0


@pytest.mark.parametrize(
    "table, fragment",
    [
        (
            '[metrics]\nlisten = "127.0.0.1:x"\n',
            "metrics.listen: metrics listen address '127.0.0.1:x': port 'x'",
        ),
        ("[metrics]\nlisten = 9108\n", "metrics.listen: expected a string"),
        ('[metrics]\nlisten = "127.0.0.1:9108"\nport = 1\n', "metrics.port: unknown key"),
        ("[metrics]\n", "metrics.listen: missing"),
    ],
)
def test_a_bad_metrics_table_names_the_key(tmp_path: Path, table: str, fragment: str):
    path = site_file(tmp_path, 15020, "\n" + table)
    with pytest.raises(SiteError, match=re.escape(fragment)):
        load_site(path)


def test_a_bad_metrics_address_on_the_command_line_is_one_line(tmp_path: Path, capsys):
    assert main(["run", str(site_file(tmp_path, 15020)), "--metrics", "localhost:http"]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == "gridtap run: metrics listen address 'localhost:http': port 'http' is not a number (expected HOST:PORT)\n"
    )
