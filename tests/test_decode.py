"""Register decoding: every type and word order, reference encodings, bad input, property tests."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from gridtap import InputError, InternalError, decode_values, encode_value
from gridtap._core import _panic_for_test
from hypothesis import given, settings
from hypothesis import strategies as st

TYPES = {
    "int16": ("h", 1),
    "uint16": ("H", 1),
    "int32": ("i", 2),
    "uint32": ("I", 2),
    "int64": ("q", 4),
    "uint64": ("Q", 4),
    "float32": ("f", 2),
    "float64": ("d", 4),
}
ORDERS = ("ABCD", "CDAB", "BADC", "DCBA")


def words_for(value, dtype: str, order: str) -> list[int]:
    """Independent reference encoder built on `struct`: big-endian bytes, then the layout."""
    fmt, n = TYPES[dtype]
    be = struct.pack(">" + fmt, value)
    words = [int.from_bytes(be[2 * i : 2 * i + 2], "big") for i in range(n)]
    if order in ("CDAB", "DCBA"):
        words = words[::-1]
    if order in ("BADC", "DCBA"):
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    return words


@pytest.mark.parametrize(
    "regs, dtype, order, scale, expected",
    [
        ([0x4366, 0x0000], "float32", "ABCD", 1.0, 230.0),
        ([0xC4BB, 0x8000], "float32", "ABCD", 1.0, -1500.0),
        ([0x4248, 0x0000], "float32", "ABCD", 1.0, 50.0),
        ([0x449A, 0x5000], "float32", "ABCD", 1.0, 1234.5),
        ([0x0000, 0x4366], "float32", "CDAB", 1.0, 230.0),
        ([0x08FC, 0x0000], "int32", "CDAB", 0.1, 230.0),
        ([0xC568, 0xFFFF], "int32", "CDAB", 0.1, -1500.0),
        ([0xFFFD, 0xB610], "int32", "ABCD", 0.01, -1500.0),
        ([0x0000, 0x0000, 0x0001, 0xE240], "uint64", "ABCD", 0.01, 1234.56),
        ([0x1383], "uint16", "ABCD", 0.01, 49.95),
        ([0x4132, 0xD687, 0x0000, 0x0000], "float64", "ABCD", 1.0, 1234567.0),
        ([0xC568], "int16", "ABCD", 0.1, -1500.0),
    ],
)
def test_reference_encodings_from_meter_documents(regs, dtype, order, scale, expected):
    out = decode_values(np.array(regs, dtype=np.uint16), dtype, order, scale)
    assert out.dtype == np.float64
    assert out[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("dtype", list(TYPES))
@pytest.mark.parametrize("order", ORDERS)
def test_every_type_and_order_against_struct(dtype, order):
    _fmt, n = TYPES[dtype]
    if dtype.startswith("float"):
        values = [0.0, -1.5, 230.25, 1e6]
    elif dtype.startswith("u"):
        values = [0, 1, 2 ** (16 * n) - 1, 12345]
    else:
        values = [0, -1, -(2 ** (16 * n - 1)), 2 ** (16 * n - 1) - 1]
    regs = np.array([w for v in values for w in words_for(v, dtype, order)], dtype=np.uint16)
    out = decode_values(regs, dtype, order)
    assert out.tolist() == [float(v) for v in values]


def test_many_frames_2d_and_noncontiguous_are_decoded_row_major():
    regs = np.array([[0x4366, 0, 0xC4BB, 0x8000], [0x4248, 0, 0x449A, 0x5000]], dtype=np.uint16)
    assert decode_values(regs, "float32").tolist() == [230.0, -1500.0, 50.0, 1234.5]
    # a strided view is copied and accepted
    wide = np.zeros((2, 8), dtype=np.uint16)
    wide[:, ::2] = regs
    view = wide[:, ::2]
    assert not view.flags.c_contiguous
    assert decode_values(view, "float32").tolist() == [230.0, -1500.0, 50.0, 1234.5]


@pytest.mark.parametrize(
    "regs, dtype, order, fragment",
    [
        (np.zeros(3, dtype=np.uint16), "float32", "ABCD", "3 registers"),
        (np.zeros(4, dtype=np.int64), "float32", "ABCD", "uint16"),
        (np.zeros(4, dtype=np.float32), "int16", "ABCD", "uint16"),
        ([1, 2], "int16", "ABCD", "uint16"),
        (np.zeros(2, dtype=np.uint16), "float16", "ABCD", "float16"),
        (np.zeros(2, dtype=np.uint16), "float32", "ABDC", "ABDC"),
    ],
)
def test_bad_input_is_a_clear_value_error(regs, dtype, order, fragment):
    with pytest.raises(InputError, match=fragment):
        decode_values(regs, dtype, order)
    assert issubclass(InputError, ValueError)


def test_encode_refuses_values_that_do_not_fit():
    # a 400 V value at scale 0.01 overflows int16: it must not silently wrap
    with pytest.raises(ValueError, match="does not fit"):
        encode_value(400.0, "int16", "ABCD", 0.01)
    with pytest.raises(ValueError):
        encode_value(-1.0, "uint32")


def test_rust_panic_surfaces_as_python_exception():
    with pytest.raises(InternalError, match="panicked"):
        _panic_for_test()
    # the interpreter is alive and the core still works
    assert decode_values(np.array([0x4366, 0], dtype=np.uint16), "float32")[0] == 230.0


def _value_strategy(dtype: str):
    _fmt, n = TYPES[dtype]
    if dtype == "float32":
        return st.floats(width=32, allow_nan=False, allow_infinity=False)
    if dtype == "float64":
        return st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)
    bits = 16 * n
    if dtype.startswith("u"):
        # float64 holds integers exactly up to 2**53
        return st.integers(0, min(2**bits - 1, 2**53))
    return st.integers(max(-(2 ** (bits - 1)), -(2**53)), min(2 ** (bits - 1) - 1, 2**53))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_encode_decode_round_trip_every_type_and_order(data):
    dtype = data.draw(st.sampled_from(list(TYPES)))
    order = data.draw(st.sampled_from(ORDERS))
    value = float(data.draw(_value_strategy(dtype)))
    words = encode_value(value, dtype, order)
    assert words.dtype == np.uint16 and len(words) == TYPES[dtype][1]
    assert words.tolist() == words_for(int(value) if "int" in dtype else value, dtype, order)
    assert decode_values(words, dtype, order)[0] == value


@settings(max_examples=200, deadline=None)
@given(
    regs=st.lists(st.integers(0, 0xFFFF), max_size=64),
    dtype=st.sampled_from(list(TYPES)),
    order=st.sampled_from(ORDERS),
    scale=st.floats(allow_nan=True, allow_infinity=True),
)
def test_no_uint16_input_crashes(regs, dtype, order, scale):
    arr = np.array(regs, dtype=np.uint16)
    try:
        out = decode_values(arr, dtype, order, scale)
    except InputError:
        return
    assert len(out) == len(regs) // TYPES[dtype][1]
