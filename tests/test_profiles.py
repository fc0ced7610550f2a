"""Device profiles: bundled files load, read plans are lean, mistakes are refused with file/key/reason."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
from gridtap import ProfileError, profiles
from gridtap.profile import MAX_READ, parse_profile

ALL = profiles.names()
VALUES = {
    "ActivePower_L1": 15000.0, "ActivePower_L2": -3000.0, "ActivePower_L3": -2000.0, "ActivePower": 10000.0,
    "ReactivePower_L1": 1200.0, "ReactivePower_L2": -400.0, "ReactivePower_L3": 300.0, "ReactivePower": 1100.0,
    "ApparentPower_L1": 15048.0, "ApparentPower_L2": 3026.5, "ApparentPower_L3": 2022.4, "ApparentPower": 20096.9,
    "PowerFactor_L1": 0.997, "PowerFactor_L2": -0.991, "PowerFactor_L3": -0.989, "PowerFactor": 0.5,
    "Voltage_L1": 231.2, "Voltage_L2": 229.8, "Voltage_L3": 230.4,
    "Voltage_L12": 399.1, "Voltage_L23": 398.7, "Voltage_L31": 400.2,
    "Current_L1": 65.09, "Current_L2": 13.17, "Current_L3": 8.78, "Frequency": 49.98,
    "EnergyImport": 12345.6, "EnergyExport": 2345.7, "ReactiveEnergyImport": 345.6, "ReactiveEnergyExport": 45.6,
}  # fmt: skip


def placed(name: str):
    p = profiles.load(name)
    if p.addressing == "sunspec_model":
        p = p.located(40070, p.models[2])
    return p


def test_bundled_families_are_present():
    for n in (
        "sdm630",
        "sdm120",
        "sdm72",
        "sdm72v1",
        "em340",
        "em24din",
        "umg96rm",
        "umg604",
        "abb_b23",
        "sunspec_int",
        "sunspec_float",
    ):
        assert n in ALL
    assert profiles.load("em330").name == "em340"
    assert profiles.load("et340").name == "em340"
    # the UMG 604 has its own map; the SDM72D-M's two versions have their own profiles
    assert profiles.load("umg604").name == "umg604"
    assert profiles.load("sdm72v2").name == "sdm72"
    assert profiles.load("sdm72d-m-v1").name == "sdm72v1"
    for ambiguous in ("sdm72d", "sdm72d-m"):  # which version? the user must say
        with pytest.raises(ProfileError, match="sdm72v1"):
            profiles.load(ambiguous)
    assert profiles.load("sunspec_int").models == (201, 202, 203, 204)
    assert profiles.load("sunspec_float").models == (211, 212, 213, 214)


@pytest.mark.parametrize("name", ALL)
def test_read_plan_is_few_requests_of_at_most_125(name):
    p = placed(name)
    assert all(1 <= b.count <= MAX_READ for b in p.blocks)
    assert p.frame_length == sum(b.count for b in p.blocks)
    # every register a channel needs is in a block
    for f in p.fields:
        for a in f.addresses:
            assert any(
                b.function_code == f.function_code and a in b and a + f.words <= b.end for b in p.blocks
            )
    # the plan is lean: no meter here needs more than two requests, except the UMG 604 whose
    # frequency (1439) and energies (9851..) lie far from its power registers (1317..1372)
    assert len(p.blocks) <= (3 if name == "umg604" else 2), p.blocks


def test_sdm630_plan_reads_through_small_gaps():
    p = profiles.load("sdm630")
    assert [(b.start, b.count) for b in p.blocks] == [(0x0000, 0x50), (0x00C8, 6)]
    # SunSpec models are read in one request
    assert len(placed("sunspec_int").blocks) == 1
    assert len(placed("sunspec_float").blocks) == 1


def test_slow_energy_registers_get_their_own_block_where_far():
    p = profiles.load("abb_b23")
    groups = {b.start: b.group for b in p.blocks}
    assert groups == {0x5B00: "fast", 0x5000: "slow"}


@pytest.mark.parametrize("name", ALL)
def test_encode_decode_round_trip_within_resolution(name):
    p = placed(name)
    frame = p.encode(VALUES)
    assert frame.dtype == np.uint16 and frame.shape == (p.frame_length,)
    out = p.decode(frame)
    for ch in p.meter_channels:
        if ch.startswith("PowerFactor"):
            continue  # recomputed from P and S
        tol = max(p.resolution(ch, frame), abs(VALUES[ch]) * 1e-6)
        assert out[ch][0] == pytest.approx(VALUES[ch], abs=tol), ch


def test_missing_values_encode_as_sentinels_and_decode_as_no_value():
    for name in ("sunspec_int", "sunspec_float", "sdm630", "abb_b23"):
        p = placed(name)
        vals = dict(VALUES)
        vals["Frequency"] = None
        vals.pop("EnergyExport")
        out = p.decode(p.encode(vals))
        assert math.isnan(out["Frequency"][0]), name
        assert math.isnan(out["EnergyExport"][0]), name
        assert out["ActivePower"][0] == pytest.approx(10000.0), name


def test_user_profile_file(tmp_path: Path):
    path = tmp_path / "mymeter.toml"
    path.write_text(
        """
[meter]
name = "mymeter"
function_code = 3
type = "int32"
word_order = "CDAB"
phases = 1
[signs]
active_power = "export_positive"
[channels]
ActivePower_L1 = { address = 10, scale = 0.1 }
Voltage_L1 = { address = 12, scale = 0.1 }
""",
        encoding="utf-8",
    )
    p = profiles.load(path)
    assert p.name == "mymeter" and p.frame_length == 4
    frame = p.encode({"ActivePower_L1": 1500.0, "Voltage_L1": 230.0})
    # native sign: this meter counts export positive, so +1500 W import is stored as −15000
    assert frame[:2].tolist() == [0xC568, 0xFFFF]
    assert p.decode(frame)["ActivePower"][0] == 1500.0
    assert profiles.load(str(path)).name == "mymeter"


BASE = """
[meter]
name = "t"
function_code = 4
[channels]
Voltage_L1 = 0
"""


@pytest.mark.parametrize(
    "text, key, reason",
    [
        (BASE + "Bogus = 2\n", "channels.Bogus", "unknown channel"),
        (BASE.replace("[channels]", "colour = 1\n[channels]"), "meter.colour", "unknown key"),
        (BASE + "Current_L1 = { address = 2, kind = 1 }\n", "channels.Current_L1.kind", "unknown key"),
        (
            BASE + "Current_L1 = { address = 2, type = 'float16' }\n",
            "channels.Current_L1.type",
            "unknown type",
        ),
        (BASE + "Current_L1 = { address = 1 }\n", "channels.Current_L1", "overlaps channel Voltage_L1"),
        (BASE + "Current_L1 = { address = 2, word_order = 'ABDC' }\n", "word_order", "unknown word order"),
        (BASE + "Current_L1 = { address = 2, scale = 0 }\n", "channels.Current_L1.scale", "non-zero"),
        (BASE + "Current_L1 = { address = 2, sentinel = 'never' }\n", "sentinel", "unknown sentinel"),
        (
            BASE + "ActivePower = { address = 2, sign = 'up' }\n",
            "channels.ActivePower.sign",
            "import_positive",
        ),
        (BASE + "EnergyNet = 4\n", "channels.EnergyNet", "unknown channel"),
        (BASE + "[signs]\nactive_power = 'positive'\n", "signs.active_power", "import_positive"),
        (BASE + "[[blocks]]\nstart = 0\ncount = 1\n", "channels.Voltage_L1", "outside every read block"),
        (BASE.replace("function_code = 4", "function_code = 5"), "meter.function_code", "3..4"),
        ("[meter]\nname = 't'\n", "channels", "missing"),
        ("[[[", "", "not valid TOML"),
    ],
)
def test_profile_mistakes_name_file_key_and_reason(tmp_path: Path, text, key, reason):
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        profiles.load(path)
    msg = str(info.value)
    assert str(path) in msg and key in msg and reason in msg, msg


def test_unknown_profile_name_lists_the_bundled_ones():
    with pytest.raises(ProfileError, match="sdm630"):
        profiles.load("nonesuch")


def test_sdm630_reactive_sign_choice_is_pinned():
    # the profile's choice (no source states SDM630's reactive sign): read as inductive-positive
    p = profiles.load("sdm630")
    data = tomllib.loads((Path(profiles.__file__).parent / "sdm630.toml").read_text(encoding="utf-8"))
    assert data["signs"]["reactive_power"] == "inductive_positive"
    frame = np.zeros(p.frame_length, dtype=np.uint16)
    frame[0x18:0x1A] = [0x447A, 0x0000]  # +1000.0 in ReactivePower_L1
    assert p.decode(frame)["ReactivePower_L1"][0] == 1000.0


def test_overlap_detected_across_sum_fields():
    with pytest.raises(ProfileError, match="overlaps"):
        parse_profile(
            tomllib.loads(BASE + "ReactiveEnergyImport = { address = [2, 3], type = 'uint32' }\n"), "inline"
        )


def test_channel_blocks_follow_the_derivations():
    sdm = dict(profiles.load("sdm630").compiled.channel_blocks())
    assert sdm["Voltage_L12"] == [1] and sdm["ActivePower"] == [0] and sdm["Frequency_RoCoF"] == [0]
    abb = profiles.load("abb_b23")  # block 0: instantaneous values, block 1: counters
    plain, inverted = dict(abb.compiled.channel_blocks()), dict(abb.compiled.channel_blocks(True))
    assert plain["EnergyImport"] == plain["EnergyNet"] == [1]
    assert plain["PowerFactor"] == [0] and plain["PhaseImbalance"] == [0]
    assert inverted["EnergyImport"] == [1]
    em = profiles.load("em24din")  # export counters alone in block 1
    plain, inverted = dict(em.compiled.channel_blocks()), dict(em.compiled.channel_blocks(True))
    assert plain["EnergyExport"] == [1] and plain["EnergyImport"] == [0]
    assert inverted["EnergyImport"] == [1] and inverted["EnergyExport"] == [0]
    assert plain["EnergyNet"] == inverted["EnergyNet"] == [0, 1]
    # without counter registers, energy is integrated from ActivePower: it depends on power's block
    p = parse_profile(
        tomllib.loads(
            "[meter]\nname = 'p'\nfunction_code = 4\n[channels]\nVoltage_L1 = 0\nActivePower = 200\n"
        ),
        "t",
    )
    assert dict(p.compiled.channel_blocks())["EnergyImport"] == [1]
