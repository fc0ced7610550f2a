"""Strict site and profile files: every mistake gives `gridtap run` exit code 2 and one line that
names the file and the key, before anything starts."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from gridtap.cli import main
from gridtap.site import load_site

BASE = '[site]\nname = "s"\n'
METER = '[[meter]]\nnamespace = "grid"\nprofile = "sdm630"\ntransport = "tcp"\nhost = "127.0.0.1"\n'
RTU = '[[meter]]\nnamespace = "grid"\nprofile = "sdm630"\ntransport = "rtu"\ndevice = "/dev/ttyUSB0"\n'
SIM = '[[simulator]]\nprofile = "sdm630"\nport = 15020\n'
VIRTUAL = '[[virtual_meter]]\nnamespace = "grid_v"\n'
CTL = "[controllers]\n"
PEAK = "[controllers.peak_shaving]\nlimit_w = 8000\n"
TELEMETRY = "[telemetry]\n"

SITE_MISTAKES = [
    # the issue's own: these ran with no data, spun a core, or crashed later with a traceback
    (METER + "interval = 0\n", "meter[0].interval", "> 0"),
    (METER + "interval = -1\n", "meter[0].interval", "> 0"),
    (METER + "interval = nan\n", "meter[0].interval", "finite"),
    (METER + "interval = inf\n", "meter[0].interval", "finite"),
    (CTL + "interval = 0\n", "controllers.interval", "> 0"),
    (METER + "unit_id = 300\n", "meter[0].unit_id", "1..247"),
    (METER + "unit_id = 0\n", "meter[0].unit_id", "1..247"),
    (CTL + "[controllers.peak_shaving]\nlimit_w = '8000'\n", "controllers.peak_shaving.limit_w", "a number"),
    (METER + "timeout = 0\n", "meter[0].timeout", "> 0"),
    ("default_max_age = 0\n", "site.default_max_age", "> 0"),
    # types and ranges
    ("[site]\nname = ''\n", "site.name", "non-empty"),
    ("state_interval = 0\n", "site.state_interval", "> 0"),
    ("state_file = 'no/such/folder/state.json'\n", "site.state_file", "does not exist"),
    ("state_file = '.'\n", "site.state_file", "is a folder"),
    (METER + "port = 0\n", "meter[0].port", "1..65535"),
    (METER + "port = 70000\n", "meter[0].port", "1..65535"),
    (METER + "port = 502.0\n", "meter[0].port", "integer"),
    (METER + "invert = 1\n", "meter[0].invert", "true or false"),
    (METER + "slow_interval = -3\n", "meter[0].slow_interval", "> 0"),
    (METER + "max_backoff = 0\n", "meter[0].max_backoff", "> 0"),
    (METER + "frozen_after = 0\n", "meter[0].frozen_after", "> 0"),
    (METER + "rocof_window = 0\n", "meter[0].rocof_window", "> 0"),
    (METER + "max_gap = 0\n", "meter[0].max_gap", "> 0"),
    (METER.replace('"127.0.0.1"', "''"), "meter[0].host", "non-empty"),
    (METER.replace('"sdm630"', '"sunspec_int"'), "meter[0].profile", "SunSpec model"),
    (RTU + "baudrate = 0\n", "meter[0].baudrate", "50..4000000"),
    (RTU + "parity = 'X'\n", "meter[0].parity", "'N', 'E', 'O'"),
    (RTU + "stopbits = 3\n", "meter[0].stopbits", "1, 2"),
    (RTU + "port = 502\n", "meter[0].port", "unknown key"),
    (VIRTUAL + "interval = 0\n", "virtual_meter[0].interval", "> 0"),
    (VIRTUAL + "max_gap = -1\n", "virtual_meter[0].max_gap", "> 0"),
    (VIRTUAL + "load = 'pv'\n", "virtual_meter[0].load", "load namespace"),
    (VIRTUAL + METER.replace('"grid"', '"grid_v"'), "virtual_meter[0].namespace", "another meter"),
    (SIM.replace("15020", "70000"), "simulator[0].port", "1..65535"),
    (SIM + "interval = 0\n", "simulator[0].interval", "> 0"),
    (SIM + "unit_id = 300\n", "simulator[0].unit_id", "1..247"),
    (SIM + "battery_kw = 0\n", "simulator[0].battery_kw", "> 0"),
    (SIM + "static = { load_w = [1, 2] }\n", "simulator[0].static.load_w", "1 or 3 values"),
    (SIM + "static = { load_w = [1, 'x', 3] }\n", "simulator[0].static.load_w[1]", "a number"),
    (SIM + "static = { frequency = -50 }\n", "simulator[0].static.frequency", "> 0"),
    (SIM + "static = { load_w = [1, 2, 3] }\nseed = 4\n", "simulator[0].seed", "static"),
    (SIM + "sunspec_model = 203\n", "simulator[0].sunspec_model", "not a SunSpec profile"),
    (SIM.replace('"sdm630"', '"sunspec_int"') + "sunspec_model = 999\n", "simulator[0].sunspec_model", "201"),
    (SIM + SIM, "simulator[1].port", "another simulator"),
    (SIM.replace('"sdm630"', '"sunspec"'), "simulator[0].profile", "unknown profile"),
    (SIM.replace('"sdm630"', '"no_such.toml"'), "simulator[0].profile", "no such file"),
    (CTL + "ramp_w_per_s = -5\n", "controllers.ramp_w_per_s", "> 0"),
    (CTL + "order = ['nonesuch']\n", "controllers.order[0]", "'peak_shaving'"),
    (CTL + "order = ['peak_shaving', 'peak_shaving']\n" + PEAK, "controllers.order", "twice"),
    (CTL + "grid = 'load'\n" + PEAK, "controllers.grid", "grid namespace"),
    (CTL + "[controllers.peak_shaving]\nlimit_w = -100\n", "controllers.peak_shaving.limit_w", "> 0"),
    (CTL + "[controllers.peak_shaving]\nlimit_w = nan\n", "controllers.peak_shaving.limit_w", "finite"),
    (CTL + "[controllers.phase_zero_export]\ncurtail_pv = 'yes'\n", "controllers.phase_zero_export.curtail_pv",
     "true or false"),
    (TELEMETRY + "port = 0\n", "telemetry.port", "1..65535"),
    (TELEMETRY + "port = '1883'\n", "telemetry.port", "integer"),
    (TELEMETRY + "qos = 3\n", "telemetry.qos", "0, 1 or 2"),
    (TELEMETRY + "keepalive = 1\n", "telemetry.keepalive", "≥ 5"),
    (TELEMETRY + "min_interval = '1'\n", "telemetry.min_interval", "a number"),
    (TELEMETRY + "min_interval = -1\n", "telemetry.min_interval", "finite number"),
    (TELEMETRY + "prefix = 'a/#'\n", "telemetry.prefix", "wildcard"),
    (TELEMETRY + "tls = { ca_certs = 'missing-ca.pem' }\n", "telemetry.tls.ca_certs", "no such file"),
    (TELEMETRY + "tls = { cafile = 'x' }\n", "telemetry.tls.cafile", "unknown key"),
    (TELEMETRY + "tls = 'yes'\n", "telemetry.tls", "expected true or a table"),
]  # fmt: skip


def write(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(argv)
    err = capsys.readouterr().err
    return rc, err


@pytest.mark.parametrize(("text", "key", "reason"), SITE_MISTAKES)
def test_site_mistakes_exit_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str, reason: str
) -> None:
    # keys of [site] follow BASE's [site] table; a text of its own starts with [site]
    body = text if text.startswith("[site]") else BASE + text
    path = write(tmp_path, body)
    rc, err = run_cli(["run", str(path), "--duration", "0.1"], capsys)
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"gridtap run: {path}: {key}: "), err
    assert reason in lines[0], err


PROFILE = '[meter]\nname = "mine"\nfunction_code = 4\n[channels]\nVoltage_L1 = 0\n'

PROFILE_MISTAKES = [
    # the issue's own
    (PROFILE + 'Current_L1 = { address = 2, min = "abc" }\n', "channels.Current_L1.min", "expected a number"),
    (PROFILE + 'Current_L1 = { address = 2, min = "45" }\n', "channels.Current_L1.min", "expected a number"),
    (PROFILE + "Current_L1 = { address = 2, min = true }\n", "channels.Current_L1.min", "expected a number"),
    (PROFILE + "[[blocks]]\nstart = 0\ncount = 2\ngroup = 'medium'\n", "blocks[0].group", "fast or slow"),
    (PROFILE + 'Current_L1 = { address = 2, group = "medium" }\n', "channels.Current_L1.group", "fast or slow"),
    (PROFILE + "Current_L1 = { address = [] }\n", "channels.Current_L1.address", "non-empty"),
    (PROFILE + "Current_L1 = 65535\n", "channels.Current_L1.address", "past the last register"),
    # more of the same kind
    (PROFILE + "Current_L1 = { address = 2, max = nan }\n", "channels.Current_L1.max", "expected a number"),
    (PROFILE + "Current_L1 = { address = 2, min = 10, max = 5 }\n", "channels.Current_L1.max", "not above"),
    (PROFILE + "Current_L1 = { address = 2, abs = 1 }\n", "channels.Current_L1.abs", "true or false"),
    (PROFILE + "Current_L1 = { address = 2, scale = '0.1' }\n", "channels.Current_L1.scale", "non-zero number"),
    (PROFILE + "Current_L1 = { address = [2, 2] }\n", "channels.Current_L1.address", "twice"),
    (PROFILE + "Current_L1 = { address = 2.5 }\n", "channels.Current_L1.address", "integer in 0..65535"),
    (PROFILE + "Current_L1 = { address = 2, sentinel = '0xZZ' }\n", "channels.Current_L1.sentinel", "unknown"),
    (PROFILE + "Current_L1 = { address = 2, type = 'int16', sentinel = '0x10000' }\n",
     "channels.Current_L1.sentinel", "does not fit a int16"),
    (PROFILE + "Current_L1 = { address = 2, sentinel = 5 }\n", "channels.Current_L1.sentinel", "expected a list"),
    (PROFILE + "Current_L1 = { address = 2, scale_factor = 2 }\n", "channels.Current_L1.scale_factor", "own"),
    (PROFILE + "Current_L1 = { address = 2, note = 3 }\n", "channels.Current_L1.note", "a string"),
    (PROFILE + "[[blocks]]\nstart = 65500\ncount = 100\n", "blocks[0].count", "past the last register"),
    (PROFILE + "[[blocks]]\ncount = 2\n", "blocks[0].start", "missing"),
    (PROFILE + "[[blocks]]\nstart = 0\ncount = 4\n[[blocks]]\nstart = 2\ncount = 4\n", "blocks[1]", "overlap blocks[0]"),
    (PROFILE + "ActivePower = { address = 2, abs = true }\n", "channels.ActivePower.abs", "sign"),
    (PROFILE.replace('name = "mine"', 'name = "mine"\nphases = 1') + "Voltage_L2 = 2\n", "channels.Voltage_L2",
     "meter.phases is 1"),
    (PROFILE.replace('name = "mine"', 'name = "mine"\nphases = 2') + "Voltage_L31 = 2\n", "channels.Voltage_L31",
     "meter.phases is 2"),
    ("blocks = 3\n" + PROFILE, "blocks", "expected a list"),
    (PROFILE + "[writes.Reset]\nfunction_code = 16\nvalues = [1]\n", "writes.Reset.address", "missing"),
    (PROFILE + "[writes.Reset]\naddress = 5\nfunction_code = 6\nvalues = [1, 2]\n", "writes.Reset.values", "one register"),
    (PROFILE + "[writes.Reset]\naddress = 65535\nvalues = [1, 2]\n", "writes.Reset.values", "past the last"),
    (PROFILE.replace('name = "mine"', "name = 3"), "meter.name", "non-empty name"),
    (PROFILE.replace('name = "mine"', 'name = "mine"\ntitle = 5'), "meter.title", "a string"),
    (PROFILE.replace('name = "mine"', 'name = "mine"\ntype = "float16"'), "meter.type", "float32"),
    (PROFILE.replace('name = "mine"', 'name = "mine"\naliases = "x"'), "meter.aliases", "a list"),
    (PROFILE.replace('name = "mine"', 'name = "mine"\nmodels = [201]\nmodel_phases = { 202 = 1 }'),
     "meter.model_phases.202", "one of the models"),
    (PROFILE + "[signs]\npower_factor = 1\n", "signs.power_factor", "a string"),
    ("signs = 'x'\n" + PROFILE, "signs", "expected a table"),
    ("meter = 1\n[channels]\nVoltage_L1 = 0\n", "meter", "expected a table"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "key", "reason"), PROFILE_MISTAKES)
def test_profile_mistakes_exit_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str, reason: str
) -> None:
    profile = write(tmp_path, text, "mine.toml")
    site = write(tmp_path, BASE + METER.replace('"sdm630"', '"mine.toml"'))
    rc, err = run_cli(["run", str(site), "--duration", "0.1"], capsys)
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith(f"gridtap run: {site}: meter[0].profile: {profile}: {key}: "), err
    assert reason in line, err
    # the same profile given to `gridtap read` is refused before any connection
    rc, err = run_cli(["read", "--profile", str(profile), "--port", "1"], capsys)
    assert rc == 2 and err.startswith(f"gridtap read: {profile}: {key}: "), err


def test_a_sunspec_model_placed_near_the_top_runs_past_the_register_space() -> None:
    from gridtap import profiles

    p = profiles.load("sunspec_float")
    with pytest.raises(Exception, match="past register 65535"):
        p.located(65500, p.models[2])


def test_relative_paths_are_relative_to_the_site_file_not_the_working_directory(tmp_path: Path) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "mine.toml").write_text(PROFILE)
    path = write(
        folder,
        BASE + 'state_file = "state.json"\n' + SIM.replace('"sdm630"', '"mine.toml"')
        + METER.replace('"sdm630"', '"mine.toml"'),
    )  # fmt: skip
    site = load_site(path)
    assert site.state_file == str(folder / "state.json")
    assert site.simulators[0]["profile"] == str(folder / "mine.toml")
    assert site.meters[0]["profile"] == str(folder / "mine.toml")
    # and from another working directory, by a relative path to the site file
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from gridtap.site import load_site; load_site(sys.argv[1])",
            "site/site.toml",
        ],
        cwd=tmp_path,
        capture_output=True,
    )
    assert proc.returncode == 0, proc.stderr.decode()


def test_a_bad_site_file_in_a_real_process_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + METER + "interval = nan\n")
    proc = subprocess.run(
        [sys.executable, "-m", "gridtap.cli", "run", str(path)], capture_output=True, timeout=60
    )
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert err == f"gridtap run: {path}: meter[0].interval: expected a finite number > 0, got nan\n"
    assert proc.stdout == b""


def test_state_option_is_relative_to_the_working_directory(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    site = write(folder, BASE + "[[virtual_meter]]\nnamespace = 'grid'\n")
    cmd = [sys.executable, "-m", "gridtap.cli", "run", str(site), "--duration", "0.3"]
    proc = subprocess.run([*cmd, "--state", "here.json"], cwd=tmp_path, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    assert (tmp_path / "here.json").is_file() and not (folder / "here.json").exists()
    proc = subprocess.run([*cmd, "--state", "no/such/s.json"], cwd=tmp_path, capture_output=True, timeout=60)
    assert proc.returncode == 2
    assert (
        proc.stderr.decode()
        == f"gridtap run: --state: the folder {tmp_path / 'no' / 'such'} does not exist\n"
    )


def test_a_part_that_fails_stops_the_site_with_exit_1(caplog: pytest.LogCaptureFixture) -> None:
    from gridtap.site import Site, run_site
    from simkit import run

    # a value load_site would refuse, given directly: the poll task ends with a ValueError, which
    # used to vanish in a gather while the site ran on without the meter and exited 0
    meter = {"namespace": "grid", "profile": "sdm630", "transport": "tcp", "host": "127.0.0.1", "port": 1}
    site = Site(name="s", source="inline", meters=[{**meter, "interval": 0.0}])
    t0 = time.monotonic()
    assert run(run_site(site, duration=30)) == 1
    assert time.monotonic() - t0 < 20  # stopped at once, not after the duration
    assert any("meter 127.0.0.1:1 (grid) stopped: ValueError" in r.getMessage() for r in caplog.records)


# each section of a site file, and a minimal file that reaches its key check with one unknown key
SECTIONS = {
    "site": "[site]\nname = 's'\nzz_unknown = 1\n",
    "meter": BASE + METER + "zz_unknown = 1\n",
    "meter (rtu)": BASE + RTU + "zz_unknown = 1\n",
    "pmu": BASE + "[[pmu]]\nzz_unknown = 1\n",
    "virtual_meter": BASE + VIRTUAL + "zz_unknown = 1\n",
    "simulator": BASE + SIM + "zz_unknown = 1\n",
    "simulator.static": BASE + SIM + "static = { zz_unknown = 1 }\n",
    "controllers": BASE + CTL + "zz_unknown = 1\n",
    "controllers.peak_shaving": BASE + CTL + PEAK + "zz_unknown = 1\n",
    "controllers.phase_zero_export": BASE + CTL + "[controllers.phase_zero_export]\nzz_unknown = 1\n",
    "telemetry": BASE + TELEMETRY + "zz_unknown = 1\n",
    "telemetry.tls": BASE + TELEMETRY + "[telemetry.tls]\nzz_unknown = 1\n",
    "metrics": BASE + "[metrics]\nzz_unknown = 1\n",
}


def _documented_keys() -> dict[str, set[str]]:
    """The keys docs/site.example.toml shows, set or commented out, under each section header
    (a `key = ` anywhere in the section's lines counts, also inside a comment or inline table)."""
    import re

    text = (Path(__file__).resolve().parents[1] / "docs" / "site.example.toml").read_text(encoding="utf-8")
    keys: dict[str, set[str]] = {}
    section = "top"
    for line in text.splitlines():
        header = re.match(r"^#?\s*\[\[?([a-z_.]+)\]\]?\s*(#|$)", line)
        if header:
            section = header.group(1)
            parent, _, sub = section.rpartition(".")
            if parent:  # [a.b] is key b of [a]
                keys.setdefault(parent, set()).add(sub)
            continue
        keys.setdefault(section, set()).update(re.findall(r"\b([a-z_0-9]+)\s*=", line))
    return keys


@pytest.mark.parametrize("section", SECTIONS)
def test_the_example_site_file_shows_every_key(tmp_path, section):
    """Every key the loader accepts is in docs/site.example.toml under its section: the keys are
    those the loader names when it refuses an unknown one."""
    path = tmp_path / "site.toml"
    path.write_text(SECTIONS[section])
    with pytest.raises(Exception, match="zz_unknown: unknown key; expected one of ") as refused:
        load_site(path)
    accepted = set(str(refused.value).rpartition("expected one of ")[2].split(", "))
    documented = _documented_keys().get(section.split(" ")[0], set())
    if section == "simulator.static":  # an inline table in [[simulator]]
        documented = _documented_keys()["simulator"]
    assert accepted - documented == set(), f"[{section}] keys missing from docs/site.example.toml"


def test_a_state_file_that_is_not_a_regular_file_is_refused_before_anything_reads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A FIFO (or a device) as the state file blocked `gridtap run` in its first read, past the
    reach of Ctrl-C; it is one line naming the key instead."""
    import os

    os.mkfifo(tmp_path / "state.fifo")
    path = write(tmp_path, BASE + "state_file = 'state.fifo'\n")
    rc, err = run_cli(["run", str(path), "--duration", "0.1"], capsys)
    assert rc == 2, err
    assert (
        err.strip()
        == f"gridtap run: {path}: site.state_file: {tmp_path / 'state.fifo'} is not a regular file"
    ), err
