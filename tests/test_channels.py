"""The channel catalogue against the spec's table."""

from __future__ import annotations

import re
from pathlib import Path

import gridtap
import pytest
from gridtap import CHANNELS, ChannelError, channel_spec
from gridtap.cli import main

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "grid-meter-abstraction.md"
SPEC_FALLBACK = Path("/work/shared/spec/grid-meter-abstraction.md")

# The spec's table, transcribed; checked against the spec file itself when it is present.
SPEC_TABLE = [
    ("ActivePower", "W"), ("ActivePower_L1", "W"), ("ActivePower_L2", "W"), ("ActivePower_L3", "W"),
    ("ReactivePower", "VAR"), ("ReactivePower_L1", "VAR"), ("ReactivePower_L2", "VAR"),
    ("ReactivePower_L3", "VAR"), ("ApparentPower", "VA"), ("PowerFactor", "–"), ("Frequency", "Hz"),
    ("Frequency_RoCoF", "Hz/s"), ("Voltage_L1", "V"), ("Voltage_L2", "V"), ("Voltage_L3", "V"),
    ("Current_L1", "A"), ("Current_L2", "A"), ("Current_L3", "A"), ("EnergyImport", "kWh"),
    ("EnergyExport", "kWh"), ("EnergyNet", "kWh"), ("ReactiveEnergyImport", "kVARh"),
    ("ReactiveEnergyExport", "kVARh"), ("Timestamp", "–"),
]  # fmt: skip


def _spec_rows() -> list[tuple[str, str]]:
    path = SPEC if SPEC.exists() else SPEC_FALLBACK
    if not path.exists():
        return SPEC_TABLE
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+?) \|", path.read_text(encoding="utf-8"), re.M)
    return [(name, unit.strip()) for name, unit in rows]


def test_transcription_matches_spec_file():
    assert _spec_rows() == SPEC_TABLE


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
