"""CFG-3 PHSCALE against CFG-1/2 PHUNIT on float phasors, from frames built by hand with `struct`.

C37.118.2-2011 Table 11 (CFG-3): PHSCALE's factor Y "scales phasor data to primary volts or
amperes. If phasors are transmitted in floating-point format and scaled already, this value shall
be set to 1", and the angle adjustment θ likewise "shall be set to 0" (quoted in PhasorToolBox's
cfg_3_station.ksy); GSF applies the magnitude multiplier and angle adder to every phasor of a CFG-3
stream. So Y and θ apply to float phasors too (a PMU that sends secondary values in float gives
its transformer ratio as Y), and with the customary Y = 1, θ = 0 the floats come through as sent.
CFG-1/2's PHUNIT is for 16-bit integer phasors only (C37.118.2-2011 Table 9; Wireshark's dissector
uses it for integers only), so a float stream described by CFG-2 is never scaled by it.
"""

from __future__ import annotations

import cmath
import math
import struct

import pytest
from c37118_frames import CFG2, DATA, Pmu, cfg2_body, cfg3_body, cfg3_frames, frame
from gridtap import (
    C37118Config,
    C37118Decoder,
    C37118PmuConfig,
    C37118PmuData,
    InputError,
    decode_c37118,
    encode_c37118_config,
    encode_c37118_data,
)
from hypothesis import given, settings
from hypothesis import strategies as st

SOC = 1_700_000_000
Y_V, THETA_V = 2.5, math.pi / 6  # a voltage phasor sent in secondary volts, rotated 30°
Y_I = 40.0  # a current phasor: CT ratio 200/5


def f32(x: float) -> float:
    return struct.unpack(">f", struct.pack(">f", x))[0]


def _pmu(fmt: int, y_v: float = Y_V, theta_v: float = THETA_V, y_i: float = Y_I) -> Pmu:
    return Pmu(
        station="FLOATS",
        idcode=61,
        format=fmt,
        phasors=[("VA", 0, 0), ("IA", 0, 1)],
        phscale=[(0x0000, 0x04, y_v, theta_v), (0x0000, 0x08 | 0x04, y_i, 0.0)],
        fnom=50,
    )


def _data(fmt: int) -> bytes:
    """A data frame of the PMU: VA = (60, 20) or 63.25∠0.3 rad, IA = (1.5, −0.5) or 2∠−0.2 rad,
    FREQ 50.01 Hz, DFREQ 0.02 Hz/s, all float."""
    values = (63.25, 0.3, 2.0, -0.2) if fmt & 1 else (60.0, 20.0, 1.5, -0.5)
    return frame(DATA, 2, 61, SOC + 1, 0, struct.pack(">H6f", 0, *values, 50.01, 0.02))


def _sent(fmt: int) -> tuple[complex, complex]:
    """The phasors as the frame carries them, in its coordinates, before any scaling."""
    if fmt & 1:
        return cmath.rect(f32(63.25), f32(0.3)), cmath.rect(2.0, f32(-0.2))
    return complex(60.0, 20.0), complex(1.5, -0.5)


@pytest.mark.parametrize("fmt", [0x000A, 0x000B], ids=["float rectangular", "float polar"])
def test_cfg3_scale_and_angle_apply_to_float_phasors(fmt):
    cfg3 = cfg3_frames(cfg3_body([_pmu(fmt)], data_rate=50), 61, SOC, 0)
    stream = cfg3 + _data(fmt)
    [c, d] = C37118Decoder().feed(stream)
    assert c.type == "cfg3" and c.config.phasor_scaling == "cfg3"
    [p] = d.pmus
    v, i = _sent(fmt)
    # Y·X rotated by θ (both f32 on the wire): primary volts and amperes
    want_v = v * f32(Y_V) * cmath.exp(1j * f32(THETA_V))
    want_i = i * Y_I
    assert p.phasors[0] == pytest.approx(want_v, abs=1e-9 * abs(want_v))
    assert p.phasors[1] == pytest.approx(want_i, abs=1e-9 * abs(want_i))
    assert abs(p.phasors[0]) == pytest.approx(abs(v) * Y_V, rel=1e-7)  # the magnitude, × Y
    assert cmath.phase(p.phasors[0]) == pytest.approx(cmath.phase(v) + THETA_V, abs=1e-6)  # θ added
    assert (p.freq, p.rocof) == (f32(50.01), f32(0.02))  # FREQ and DFREQ are not phasors
    # the batch decoder agrees
    batch = decode_c37118(stream)[61]["phasors"][0]
    assert list(batch) == list(p.phasors)


@pytest.mark.parametrize("fmt", [0x000A, 0x000B], ids=["float rectangular", "float polar"])
def test_cfg3_with_y_1_and_theta_0_passes_floats_through(fmt):
    """What the standard asks of a PMU sending scaled floats: the values exactly as sent."""
    cfg3 = cfg3_frames(cfg3_body([_pmu(fmt, 1.0, 0.0, 1.0)], data_rate=50), 61, SOC, 0)
    [_, d] = C37118Decoder().feed(cfg3 + _data(fmt))
    assert d.pmus[0].phasors == list(_sent(fmt))


@pytest.mark.parametrize("fmt", [0x000A, 0x000B], ids=["float rectangular", "float polar"])
def test_cfg2_phunit_never_scales_float_phasors(fmt):
    """PHUNIT 2.5 V and 40 A per count: for integer phasors only; floats come through as sent."""
    pmu = Pmu(
        station="FLOATS", idcode=61, format=fmt, phasors=[("VA", 250_000, 0), ("IA", 4_000_000, 1)], fnom=50
    )
    [c, d] = C37118Decoder().feed(frame(CFG2, 2, 61, SOC, 0, cfg2_body([pmu], data_rate=50)) + _data(fmt))
    assert c.config.phasor_scaling == "cfg12" and c.config.pmus[0].phasor_scales == [2.5, 40.0]
    assert d.pmus[0].phasors == list(_sent(fmt))


def test_the_encoder_matches_the_decoder_for_each_scaling():
    """A configuration from CFG-3 encodes float phasors divided by Y and turned back by θ, to the
    bytes of the hand-built frame; one built for CFG-1/2 sends floats as they are and, sent as
    CFG-3, says so with Y = 1 and θ = 0."""
    cfg3 = cfg3_frames(cfg3_body([_pmu(0x000A)], data_rate=50), 61, SOC, 0)
    [c] = C37118Decoder().feed(cfg3)
    config = c.config
    primary = [complex(60.0, 20.0) * Y_V * cmath.exp(1j * f32(THETA_V)), complex(1.5, -0.5) * Y_I]
    raw = encode_c37118_data(config, (SOC + 1, 0), [C37118PmuData(primary, f32(50.01), f32(0.02))])
    assert raw == _data(0x000A)
    # CFG-1/2 cannot say that floats are scaled
    with pytest.raises(InputError, match="CFG-3"):
        encode_c37118_config(config, SOC, type="cfg2")

    plain = C37118Config(
        61,
        [C37118PmuConfig("FLOATS", 61, 0x000A, phasor_names=["VA", "IA"], phasor_units=["V", "A"],
                         phasor_scales=[Y_V, Y_I], phasor_angle_offsets=[THETA_V, 0.0], fnom=50)],
    )  # fmt: skip
    assert plain.phasor_scaling == "cfg12"
    sent = encode_c37118_data(
        plain, (SOC + 1, 0), [C37118PmuData(list(_sent(0x000A)), f32(50.01), f32(0.02))]
    )
    assert sent == _data(0x000A)
    body = encode_c37118_config(plain, (SOC, 0), type="cfg3")
    # PHSCALE of each phasor: flags, type, user byte, Y, θ
    at = body.index(b"\x02IA") + 3
    assert struct.unpack_from(">HBBffHBBff", body, at) == (0, 0x07, 0, 1.0, 0.0, 0, 0x0F, 0, 1.0, 0.0)
    [back] = C37118Decoder().feed(body)
    [_, d] = C37118Decoder().feed(body + sent)
    assert d.pmus[0].phasors == list(_sent(0x000A))
    assert back.config.pmus[0].phasor_scales == [1.0, 1.0]


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([0x0002, 0x0003, 0x000A, 0x000B]),
    st.floats(0.0009765625, 16384.0, width=32),
    st.floats(-3.0, 3.0, width=32),
    st.floats(1e-2, 1e5),
    st.floats(-math.pi, math.pi),
)
def test_cfg3_scaled_float_phasors_round_trip(fmt, y, theta, magnitude, angle):
    """Consistency of the encoder with the decoder (the hand-built frames above are the reference)."""
    pmu = C37118PmuConfig("P", 5, fmt, phasor_names=["V"], phasor_scales=[y], phasor_angle_offsets=[theta])
    config = C37118Config(5, [pmu], phasor_scaling="cfg3")
    want = cmath.rect(magnitude, angle)
    raw = encode_c37118_config(config, SOC, type="cfg3") + encode_c37118_data(
        config, SOC + 1, [C37118PmuData([want], 50.0, 0.0)]
    )
    [c, d] = C37118Decoder().feed(raw)
    assert c.config == config
    # the unscaled value travels as float32
    assert abs(d.pmus[0].phasors[0] - want) <= 1e-6 * magnitude
