"""Modbus frames built and checked by gridtap.framing, against frames built by hand with `struct`,
the CRC example of the Modbus serial-line spec and pymodbus's own CRC."""

from __future__ import annotations

import struct

import pytest
from faultkit import rtu_crc
from gridtap.framing import BadReply, ExceptionReply, Garbled, Request, crc16, parse_mbap, parse_rtu
from hypothesis import given
from hypothesis import strategies as st


def rtu(*body: int) -> bytes:
    b = bytes(body)
    return b + rtu_crc(b)


def test_crc_matches_the_spec_example_and_pymodbus():
    # Modbus over Serial Line v1.02, §6.2.2 / Modbus Application Protocol examples: unit 0x11,
    # FC 3, address 0x006B, 3 registers -> CRC 0x8776, sent low byte first: 76 87
    assert crc16(bytes.fromhex("1103006B0003")).to_bytes(2, "little") == bytes.fromhex("7687")
    assert Request.read(0x11, 3, 0x6B, 3).rtu() == bytes.fromhex("1103006B00037687")


@given(st.binary(min_size=1, max_size=300))
def test_crc_agrees_with_pymodbus(data):
    assert crc16(data).to_bytes(2, "little") == rtu_crc(data)


def test_requests_on_the_wire():
    r = Request.read(7, 4, 0x0156, 80)
    assert r.rtu() == rtu(7, 4, 0x01, 0x56, 0x00, 80)
    assert r.mbap(0x1234) == struct.pack(">HHHBBHH", 0x1234, 0, 6, 7, 4, 0x0156, 80)
    w = Request.write(2, 16, 0xF010, (3, 0xABCD))
    assert w.mbap(1) == struct.pack(">HHHBBHHBHH", 1, 0, 11, 2, 16, 0xF010, 2, 4, 3, 0xABCD)
    assert Request.write(2, 6, 0x10, (9,)).rtu() == rtu(2, 6, 0, 0x10, 0, 9)


def test_registers_of_a_read_reply():
    # FC 3 reply PDU: function code, byte count, then the registers big-endian
    assert Request.read(1, 3, 40000, 2).registers(bytes([3, 4, 0x53, 0x75, 0x6E, 0x53])) == [0x5375, 0x6E53]


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Request.read(1, 5, 0, 1), "not a register read"),
        (lambda: Request.read(1, 3, 0, 126), "1..125"),
        (lambda: Request.read(1, 3, 0, 0), "1..125"),
        (lambda: Request.write(1, 6, 0, (1, 2)), "one register"),
        (lambda: Request.write(1, 3, 0, (1,)), "not a register write"),
    ],
)
def test_bad_requests_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def read_reply_rtu(unit: int, fc: int, regs: list[int], byte_count: int | None = None) -> bytes:
    data = struct.pack(f">{len(regs)}H", *regs)
    return rtu(unit, fc, len(data) if byte_count is None else byte_count, *data)


def test_rtu_reply_accepted_only_when_whole_and_exact():
    req = Request.read(3, 4, 100, 2)
    good = read_reply_rtu(3, 4, [0x4049, 0x0FDB])
    for cut in range(len(good)):
        assert parse_rtu(bytearray(good[:cut]), req) is None  # wait for more
    assert parse_rtu(bytearray(good), req) == bytes([4, 4, 0x40, 0x49, 0x0F, 0xDB])


@pytest.mark.parametrize(
    "frame, match",
    [
        (read_reply_rtu(4, 4, [1, 2]), "from unit 4, expected unit 3"),
        (read_reply_rtu(3, 3, [1, 2]), "function code 3, expected 4"),
        (read_reply_rtu(3, 4, [1, 2, 3]), "6 data bytes, expected 4"),  # oversized
        (read_reply_rtu(3, 4, [1]), "2 data bytes, expected 4"),  # short
        (read_reply_rtu(3, 4, [1, 2])[:-1] + b"\x00", "CRC"),
        (read_reply_rtu(3, 4, [1, 2]) + b"\x00", "stray bytes"),
        (rtu(3, 0x84, 2, 0), "CRC"),  # an exception reply has 5 bytes: its CRC is not where it should be
    ],
)
def test_rtu_reply_that_does_not_answer_is_refused(frame, match):
    with pytest.raises(BadReply, match=match):
        parse_rtu(bytearray(frame), Request.read(3, 4, 100, 2))


def test_rtu_exception_reply():
    with pytest.raises(ExceptionReply) as e:
        parse_rtu(bytearray(rtu(3, 0x84, 2)), Request.read(3, 4, 100, 2))
    assert e.value.code == 2 and e.value.function_code == 4
    # another function code's exception is not an answer to this request
    with pytest.raises(BadReply, match="function code 131"):
        parse_rtu(bytearray(rtu(3, 0x83, 2)), Request.read(3, 4, 100, 2))


def mbap_reply(tid: int, unit: int, pdu: bytes) -> bytes:
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


def test_mbap_skips_late_replies_of_earlier_transactions():
    req = Request.read(1, 3, 0, 1)
    late = mbap_reply(6, 1, bytes([3, 2, 0xDE, 0xAD]))
    answer = mbap_reply(7, 1, bytes([3, 2, 0x00, 0x2A]))
    buf = bytearray(late + answer[:5])
    assert parse_mbap(buf, req, 7) is None
    assert buf == bytearray(answer[:5])  # the late frame is gone, the partial answer kept
    buf += answer[5:]
    assert parse_mbap(buf, req, 7) == bytes([3, 2, 0x00, 0x2A])
    assert buf == bytearray()


@pytest.mark.parametrize(
    "pdu, unit, match",
    [
        (bytes([4, 2, 0, 1]), 1, "function code 4, expected 3"),
        (bytes([3, 4, 0, 1, 0, 2]), 1, "4 data bytes, expected 2"),
        (bytes([3, 2, 0, 1, 0, 2]), 1, "PDU of 6 bytes, expected 4"),  # byte count says 2, more follow
        (bytes([3, 2, 0, 1]), 9, "from unit 9"),
    ],
)
def test_mbap_reply_that_does_not_answer_is_refused(pdu, unit, match):
    buf = bytearray(mbap_reply(5, unit, pdu))
    with pytest.raises(BadReply, match=match):
        parse_mbap(buf, Request.read(1, 3, 0, 1), 5)
    assert buf == bytearray()  # the bad frame is consumed: the stream stays in step


def test_mbap_garbage_cannot_be_framed():
    with pytest.raises(Garbled):
        parse_mbap(bytearray(b"\x00\x05\x12\x34\x00\x06\x01\x03"), Request.read(1, 3, 0, 1), 5)
    with pytest.raises(Garbled):
        parse_mbap(bytearray(struct.pack(">HHHB", 5, 0, 400, 1)), Request.read(1, 3, 0, 1), 5)


def test_write_replies_must_echo():
    req = Request.write(1, 16, 0xF010, (3,))
    assert parse_rtu(bytearray(rtu(1, 16, 0xF0, 0x10, 0, 1)), req) == bytes([16, 0xF0, 0x10, 0, 1])
    with pytest.raises(BadReply, match="echo"):
        parse_rtu(bytearray(rtu(1, 16, 0xF0, 0x12, 0, 1)), req)
