"""The Python surface of the C37.118 codec: the stubs match the compiled module, bad arguments give
errors that name what was wrong, and the frame objects expose only their kind's parts."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import gridtap
import pytest
from gridtap import (
    C37118Config,
    C37118Decoder,
    C37118PmuConfig,
    C37118PmuData,
    InputError,
    _core,
    encode_c37118_command,
    encode_c37118_config,
    encode_c37118_data,
    encode_c37118_header,
)

STUB = Path(gridtap.__file__).with_name("_core.pyi")


def stub_section() -> list[ast.stmt]:
    text = STUB.read_text()
    start = text.index("# ---- IEEE C37.118.2 synchrophasor codec")
    end = text.index("# ---- IEEE C37.118.2 synchrophasor codec: end ----")
    return ast.parse(text[start:end]).body


def test_every_stubbed_name_and_member_exists_in_the_compiled_module():
    checked = 0
    for node in stub_section():
        if isinstance(node, ast.ClassDef):
            cls = getattr(_core, node.name)
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name != "__init__":
                    assert hasattr(cls, item.name), f"{node.name}.{item.name}"
                    checked += 1
            assert node.name in gridtap.__all__
        elif isinstance(node, ast.FunctionDef):
            assert callable(getattr(_core, node.name)), node.name
            assert node.name in gridtap.__all__
            checked += 1
    assert checked >= 80  # the section was found and parsed


def test_stubbed_keyword_arguments_are_accepted():
    # every keyword of the encoders' stubs is taken by the compiled functions
    cfg = C37118Config(1, [C37118PmuConfig("P", 1, 0x8, phasor_names=["V"])])
    pmu = C37118PmuData([1 + 0j], 50.0, 0.0)
    flags = {"time_quality": 3, "leap_pending": True, "leap_occurred": True, "leap_delete": True}
    frames = C37118Decoder().feed(
        encode_c37118_config(cfg, 1.0, type="cfg2", version=2, max_frame_size=65535, **flags)
        + encode_c37118_data(cfg, 1.0, [pmu], version=2, **flags)
        + encode_c37118_command(1, 8, 1.0, version=2, extended=b"xy", time_base=1000, **flags)
        + encode_c37118_header(1, "hi", 1.0, version=2, time_base=1000, **flags)
    )
    assert [f.type for f in frames] == ["cfg2", "data", "command", "header"]
    for f in frames:
        assert (f.time_quality, f.leap_pending, f.leap_occurred, f.leap_delete) == (3, True, True, True)


def test_kind_specific_parts_are_empty_for_other_kinds():
    cfg = C37118Config(1, [C37118PmuConfig("P", 1, 0x8, phasor_names=["V"])])
    d = C37118Decoder()
    c, data, cmd, hdr = d.feed(
        encode_c37118_config(cfg, 5.0)
        + encode_c37118_data(cfg, 5.5, [C37118PmuData([1 + 2j], 50.0, 0.0)])
        + encode_c37118_command(1, 5, 6.0)
        + encode_c37118_header(1, "text", 7.0)
    )
    assert (c.pmus, c.command, c.text, c.extended) == ([], None, None, b"")
    assert (data.config, data.command, data.text) == (None, None, None)
    assert data.pmus[0].phasors == [1 + 2j] and data.time == 5.5
    assert (cmd.command, cmd.pmus, cmd.config, cmd.text) == (5, [], None, None)
    assert (hdr.text, hdr.command, hdr.pmus) == ("text", None, [])
    assert d.config == cfg and d.configs == {1: cfg}


def test_float_time_is_rounded_to_time_base():
    cfg = C37118Config(1, [C37118PmuConfig("P", 1, 0x8)], time_base=1000)
    [f] = [
        f
        for f in C37118Decoder(cfg).feed(
            encode_c37118_data(cfg, 1_700_000_000.2506, [C37118PmuData(freq=50.0)])
        )
    ]
    assert (f.soc, f.fraction) == (1_700_000_000, 251)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"idcode": 0}, "idcode"),
        ({"format": 16}, "format"),
        ({"phasor_names": ["V"], "phasor_units": ["V", "A"]}, "phasor_units"),
        ({"phasor_names": ["V"], "phasor_units": ["W"]}, "phasor unit"),
        ({"phasor_names": ["V"], "phasor_components": ["D"]}, "component"),
        ({"phasor_names": ["V"], "phasor_scales": [math.inf]}, "finite"),
        ({"digital_names": ["x"] * 15}, "16 per"),
        ({"digital_names": ["x"] * 16, "digital_masks": []}, "digital_masks"),
        ({"fnom": 55}, "fnom"),
        ({"g_pmu_id": b"short"}, "g_pmu_id"),
        ({"service_class": "MP"}, "service_class"),
        ({"cfgcnt": 70000}, "cfgcnt"),
    ],
)
def test_pmu_config_errors_name_the_station_and_field(kwargs, match):
    args = {"station": "Feeder 7", "idcode": 3, **kwargs}
    with pytest.raises(InputError, match=match) as e:
        C37118PmuConfig(**args)
    assert "Feeder 7" in str(e.value)


def test_config_errors():
    p = C37118PmuConfig("P", 1)
    with pytest.raises(InputError, match="idcode"):
        C37118Config(70000, [p])
    with pytest.raises(InputError, match="at least one PMU"):
        C37118Config(1, [])
    with pytest.raises(InputError, match="data_rate"):
        C37118Config(1, [p], data_rate=0)
    with pytest.raises(InputError, match="time_base"):
        C37118Config(1, [p], time_base=0)
    big = C37118PmuConfig("P", 1, 0x2, phasor_names=[f"p{i}" for i in range(8200)])
    with pytest.raises(InputError, match="65535"):
        C37118Config(1, [big])


def test_encoder_argument_errors():
    cfg = C37118Config(1, [C37118PmuConfig("P", 1)])
    with pytest.raises(InputError, match="version"):
        encode_c37118_config(cfg, 1.0, version=3)
    with pytest.raises(InputError, match="frame type"):
        encode_c37118_config(cfg, 1.0, type="cfg4")
    with pytest.raises(InputError, match="not data"):
        encode_c37118_config(cfg, 1.0, type="data")
    with pytest.raises(InputError, match="max_frame_size"):
        encode_c37118_config(cfg, 1.0, type="cfg3", max_frame_size=18)
    with pytest.raises(InputError, match="time"):
        encode_c37118_data(cfg, math.nan, [C37118PmuData()])
    with pytest.raises(InputError, match="fraction"):
        encode_c37118_data(cfg, (5, 1_000_000), [C37118PmuData()])
    with pytest.raises(InputError, match="time_quality"):
        encode_c37118_data(cfg, 1.0, [C37118PmuData()], time_quality=16)
    with pytest.raises(InputError, match="idcode"):
        encode_c37118_command(0, 2, 1.0)
    with pytest.raises(InputError, match="complex"):
        C37118PmuData(["x"])  # type: ignore[list-item]
    with pytest.raises(InputError, match="digital"):
        C37118PmuData(digitals=[70000])


def test_pmu_data_stat_fields_and_phasor_inputs():
    import numpy as np

    p = C37118PmuData([1, 2.5, np.complex64(1 + 1j), np.complex128(3 - 4j)], stat=0xA345)
    assert p.phasors == [1 + 0j, 2.5 + 0j, 1 + 1j, 3 - 4j]
    assert (p.data_error, p.sync_error, p.sorted_by_arrival, p.time_quality, p.unlocked_time) == (
        2,
        True,
        False,
        5,
        0,
    )
    assert p.data_modified and not p.config_change and not p.trigger and p.trigger_reason == 5
    assert math.isnan(p.freq) and math.isnan(p.rocof)
