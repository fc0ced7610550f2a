"""The command line: read, scan, profiles, channels, demo, against simulated meters on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from contextlib import AbstractContextManager
from typing import Any

import pytest
from gridtap.cli import main
from gridtap.sim import MeterSimulator
from simkit import SPEC_SITE, in_thread, static_site


def served_in_thread(profile: str, **kw: Any) -> AbstractContextManager[int]:
    """The spec's example site served through `profile` from a thread of its own (the CLI runs
    its own asyncio.run); yields the port."""
    return in_thread(MeterSimulator(static_site(**SPEC_SITE), profile, **kw))


def test_read_json(capsys):
    with served_in_thread("sdm630") as port:
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
    with served_in_thread("sunspec_int", sunspec_model=203) as port:
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
    with served_in_thread("sunspec_float", sunspec_model=213, sunspec_base=50000) as port:
        rc = main(["scan", "--port", str(port)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "SunSpec base 50000" in out
    assert "model 1 " in out and "model 213" in out and "sunspec_float" in out


def test_scan_without_sunspec(capsys):
    with served_in_thread("sdm630") as port:
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


# --- user errors: one line, a non-zero exit, never a traceback -------------------------------------


class Stalling:
    """A TCP server on loopback that accepts connections and never answers (a hung device)."""

    def __init__(self) -> None:
        import socket

        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.conns: list[Any] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.conns.append(conn)

    def __enter__(self) -> int:
        self.thread.start()
        return int(self.port)

    def __exit__(self, *exc: object) -> None:
        self.server.close()
        for c in self.conns:
            c.close()


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_read_unknown_profile_is_one_line_exit_2(capsys):
    rc = main(["read", "--profile", "nope", "--port", "1"])
    line = one_line(capsys.readouterr().err)
    assert rc == 2
    assert line.startswith("gridtap read: unknown profile 'nope': bundled profiles are abb_b23,")


def test_read_missing_profile_file_names_it(tmp_path, capsys):
    missing = tmp_path / "mine.toml"
    rc = main(["read", "--profile", str(missing), "--port", "1"])
    assert rc == 2
    assert (
        one_line(capsys.readouterr().err)
        == f"gridtap read: {missing}: cannot read profile: No such file or directory"
    )


def test_scan_against_a_stalling_device_is_one_line(capsys):
    with Stalling() as port:
        t0 = time.monotonic()
        rc = main(["scan", "--port", str(port), "--timeout", "0.3"])
        elapsed = time.monotonic() - t0
    line = one_line(capsys.readouterr().err)
    assert rc == 1
    assert line.startswith(
        f"gridtap scan: 127.0.0.1:{port}: no response within 0.3 s reading 2 registers at 40000"
    )
    assert elapsed < 30  # it gave up instead of hanging


def test_read_against_a_stalling_device_is_one_line(capsys):
    with Stalling() as port:
        rc = main(["read", "--profile", "sdm630", "--port", str(port), "--timeout", "0.3"])
    out = capsys.readouterr()
    assert rc == 1 and out.out == ""
    assert one_line(out.err).startswith(
        f"gridtap read: 127.0.0.1:{port}: no valid value: no response within 0.3 s"
    )


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["read", "--profile", "sdm630", "--port", "70000"], "gridtap read: argument --port: expected a TCP port (1..65535), got 70000"),
        (["read", "--profile", "sdm630", "--unit", "300"], "gridtap read: argument --unit: expected a Modbus unit id (1..247), got 300"),
        (["read", "--profile", "sdm630", "--timeout", "0"], "gridtap read: argument --timeout: expected seconds (a finite number > 0), got 0"),
        (["read", "--profile", "sdm630", "--timeout", "nan"], "gridtap read: argument --timeout: expected seconds"),
        (["read"], "gridtap read: the following arguments are required: --profile"),
        (["read", "--profile", "sdm630", "--namespace", "gird"], "gridtap read: unknown namespace 'gird'"),
        (["read", "--profile", "sdm630", "--namespace", "pv"], "gridtap read: expected a grid namespace (grid or grid_<name>), got 'pv'"),
        (["scan", "--port", "x"], "gridtap scan: argument --port: expected a TCP port (1..65535), got 'x'"),
        (["demo", "--interval", "0"], "gridtap demo: argument --interval: expected seconds"),
        (["demo", "--profile", "nope", "--duration", "1"], "gridtap demo: unknown profile 'nope'"),
        (["run", "site.toml", "--duration", "-1"], "gridtap run: argument --duration: expected seconds"),
        (["run", "no-such-site.toml"], "gridtap run: no-such-site.toml: cannot read: No such file or directory"),
        (["channels", "nope"], "gridtap channels: argument namespace: invalid choice: 'nope'"),
        (["frobnicate"], "gridtap: argument command: invalid choice: 'frobnicate'"),
        (["channels", "--log-level", "loud"], "gridtap channels: argument --log-level: invalid choice: 'loud'"),
    ],
)  # fmt: skip
def test_bad_arguments_and_files_are_one_line_in_a_real_process(tmp_path, argv, says):
    proc = subprocess.run(
        [sys.executable, "-m", "gridtap.cli", *argv], capture_output=True, timeout=60, cwd=tmp_path
    )
    line = one_line(proc.stderr.decode())
    assert proc.returncode == 2, line
    assert line.startswith(says), line


def test_every_command_takes_log_level():
    from gridtap.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, command in sub.choices.items():
        assert any("--log-level" in a.option_strings for a in command._actions), name


def test_log_level_sets_what_run_reports(tmp_path):
    site = tmp_path / "site.toml"
    site.write_text('[site]\nname = "quiet"\n[[virtual_meter]]\nnamespace = "grid"\n')

    def run(before: list[str], after: list[str]) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "gridtap.cli", *before, "run", str(site), "--duration", "0.3", *after],
            capture_output=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        return proc.stderr.decode()

    assert "INFO gridtap.site.run: site quiet running" in run([], [])  # run reports at info by default
    assert run([], ["--log-level", "warning"]) == ""
    assert run(["--log-level", "error"], []) == ""  # before the command too
    assert "site quiet running" in run(["--log-level", "error"], ["--log-level", "INFO"])  # after wins
