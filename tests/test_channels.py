"""The channel catalogue against the spec's table."""

from __future__ import annotations

import re
from pathlib import Path

import gridtap
import pytest
from gridtap import CHANNELS, ChannelError, channel_spec
from gridtap.cli import main

SPEC_NAME = Path("shared") / "spec" / "grid-meter-abstraction.md"
REPO = Path(__file__).resolve().parents[1]

# The spec's table, transcribed; the first test holds it to the spec file itself.
SPEC_TABLE = [
    ("ActivePower", "W"), ("ActivePower_L1", "W"), ("ActivePower_L2", "W"), ("ActivePower_L3", "W"),
    ("ReactivePower", "VAR"), ("ReactivePower_L1", "VAR"), ("ReactivePower_L2", "VAR"),
    ("ReactivePower_L3", "VAR"), ("ApparentPower", "VA"), ("PowerFactor", "–"), ("Frequency", "Hz"),
    ("Frequency_RoCoF", "Hz/s"), ("Voltage_L1", "V"), ("Voltage_L2", "V"), ("Voltage_L3", "V"),
    ("Current_L1", "A"), ("Current_L2", "A"), ("Current_L3", "A"), ("EnergyImport", "kWh"),
    ("EnergyExport", "kWh"), ("EnergyNet", "kWh"), ("ReactiveEnergyImport", "kVARh"),
    ("ReactiveEnergyExport", "kVARh"), ("Timestamp", "–"),
]  # fmt: skip


REPO_COPY = Path("docs") / "spec" / "grid-meter-abstraction.md"


def shared_spec(repo: Path) -> Path | None:
    """The shared folder sits beside the repository (../shared); a git worktree is one level deeper
    (../../shared), so the nearest ancestor holding shared/spec wins."""
    for parent in repo.parents:
        if (parent / SPEC_NAME).is_file():
            return parent / SPEC_NAME
    return None


def spec_file(repo: Path = REPO) -> Path:
    """The spec: the shared original where it is reachable, else the repository's copy of it
    (docs/spec, kept identical by a test below, so a clone on its own is still checked against the
    spec). Neither is a failure that names the files: without one the transcription above would
    only be compared with itself."""
    shared = shared_spec(repo)
    if shared is not None:
        return shared
    if (repo / REPO_COPY).is_file():
        return repo / REPO_COPY
    pytest.fail(
        f"the spec file is missing: neither {repo / REPO_COPY} nor {repo.parent / SPEC_NAME} (looked for "
        f"{SPEC_NAME} beside {repo} and beside each folder above it); the channel catalogue is checked "
        "against its table",
        pytrace=False,
    )


def test_the_repository_copy_of_the_spec_is_the_shared_spec():
    copy = (REPO / REPO_COPY).read_bytes()  # a missing copy fails here, naming it
    shared = shared_spec(REPO)
    if shared is not None:
        assert copy == shared.read_bytes(), f"{REPO_COPY} differs from {shared}: copy the spec again"
    assert spec_rows(REPO / REPO_COPY) == SPEC_TABLE


def spec_rows(path: Path) -> list[tuple[str, str]]:
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+?) \|", path.read_text(encoding="utf-8"), re.M)
    return [(name, unit.strip()) for name, unit in rows]


def test_transcription_matches_spec_file():
    assert spec_rows(spec_file()) == SPEC_TABLE


def test_a_missing_spec_file_fails_and_names_it(tmp_path: Path):
    repo = tmp_path / "clone" / "gridtap"
    repo.mkdir(parents=True)
    with pytest.raises(pytest.fail.Exception, match=re.escape(str(tmp_path / "clone" / SPEC_NAME))):
        spec_file(repo)
    (repo / REPO_COPY).parent.mkdir(parents=True)
    (repo / REPO_COPY).write_text("| `ActivePower` | W | total |\n", encoding="utf-8")
    assert spec_file(repo) == repo / REPO_COPY


def test_the_spec_is_found_beside_the_repository_and_beside_a_worktree(tmp_path: Path):
    spec = tmp_path / SPEC_NAME
    spec.parent.mkdir(parents=True)
    spec.write_text("| `ActivePower` | W | total |\n", encoding="utf-8")
    for repo in (tmp_path / "main", tmp_path / "wt" / "ops"):
        repo.mkdir(parents=True)
        assert spec_file(repo) == spec
        assert spec_rows(spec_file(repo)) == [("ActivePower", "W")]


def test_every_spec_channel_present_in_spec_order_with_its_unit():
    names = [c.name for c in CHANNELS]
    assert names[: len(SPEC_TABLE)] == [n for n, _ in SPEC_TABLE]
    for (name, unit), spec in zip(SPEC_TABLE, CHANNELS, strict=False):
        if name == "Timestamp":
            assert spec.unit == "s"  # epoch seconds; the spec leaves it unitless
        elif unit == "–":
            assert spec.unit == ""  # dimensionless
        else:
            assert spec.unit == unit, name


def test_phases_and_optional_flags():
    by = {c.name: c for c in CHANNELS}
    assert by["ActivePower_L2"].phase == "L2"
    assert by["ActivePower"].phase is None
    assert by["Frequency_RoCoF"].optional
    assert not by["ActivePower"].optional
    for ll in ("Voltage_L12", "Voltage_L23", "Voltage_L31"):
        assert by[ll].optional and by[ll].unit == "V"


@pytest.mark.parametrize(
    "channel, unit",
    [
        ("grid/ActivePower", "W"),
        ("grid_main/ActivePower_L2", "W"),
        ("grid_sub/EnergyImport", "kWh"),
        ("battery/SetActivePower_L1", "W"),
        ("battery/MaxDischargePower", "W"),
        ("pv/ActivePower", "W"),
        ("load/ReactivePower_L3", "VAR"),
    ],
)
def test_channel_spec_resolves_namespaces(channel, unit):
    assert channel_spec(channel).unit == unit


@pytest.mark.parametrize(
    "channel, fragment",
    [
        ("grid/Nope", "grid/Nope"),
        ("gird/ActivePower", "gird"),
        ("grid_/ActivePower", "grid_"),
        ("grid_Main/ActivePower", "grid_Main"),
        ("ActivePower", "namespace/Channel"),
        ("battery/Frequency", "battery/Frequency"),
    ],
)
def test_unknown_names_say_what_was_expected(channel, fragment):
    with pytest.raises(ChannelError, match=re.escape(fragment)) as info:
        channel_spec(channel)
    assert "expected" in str(info.value) or "has" in str(info.value) or "form" in str(info.value)


def test_cli_channels_prints_table(capsys):
    assert main(["channels", "grid"]) == 0
    out = capsys.readouterr().out
    assert "ActivePower_L3" in out and "kVARh" in out and "Voltage_L31" in out


def test_public_names():
    for name in gridtap.__all__:
        assert hasattr(gridtap, name), name
