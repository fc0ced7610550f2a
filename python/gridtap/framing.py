"""Modbus frames: requests built and replies checked strictly against the request they answer.

Two framings: "socket" (Modbus TCP: the MBAP header with a transaction ID) and "rtu" (unit ID,
PDU, CRC-16; on a serial line or through a TCP gateway that speaks RTU). A reply is accepted only
if it carries the unit ID, the function code and exactly the byte count that was asked for; an
exception response is reported as such; anything else is a `BadReply`, never data. pymodbus 3.16
skips a frame of another unit ID but accepts another function code or a longer register list, and
has no transaction ID on RTU to tell a late reply from the answer; so gridtap builds and checks
the frames itself (Modbus Application Protocol v1.1b3 §6-7; Modbus over Serial Line v1.02 §2.5).
"""

from __future__ import annotations

import struct

from gridtap.errors import GridtapError

__all__ = [
    "BadReply",
    "ExceptionReply",
    "Garbled",
    "Request",
    "crc16",
    "parse_mbap",
    "parse_rtu",
]

READS = (3, 4)


class BadReply(GridtapError):
    """A reply that does not answer the request (unit, function code, length or CRC)."""


class Garbled(BadReply):
    """A byte stream that cannot be framed any more (Modbus TCP): the connection must be reset."""


class ExceptionReply(GridtapError):
    """The device answered with a Modbus exception response."""

    def __init__(self, function_code: int, code: int) -> None:
        super().__init__(f"exception {code} (FC {function_code})")
        self.function_code = function_code
        self.code = code


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/MODBUS (reflected polynomial 0xA001, initial 0xFFFF); on the wire low byte first."""
    crc = 0xFFFF
    table = _CRC_TABLE
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc


class Request:
    """One request: its PDU and the exact PDU its reply must carry (function code and length)."""

    __slots__ = ("address", "count", "function_code", "pdu", "reply_length", "unit")

    def __init__(self, unit: int, pdu: bytes, reply_length: int, address: int, count: int) -> None:
        self.unit = unit
        self.pdu = pdu
        self.function_code = pdu[0]
        self.reply_length = reply_length  # PDU bytes of a normal reply
        self.address = address
        self.count = count

    @classmethod
    def read(cls, unit: int, function_code: int, address: int, count: int) -> Request:
        if function_code not in READS:
            raise ValueError(f"function code {function_code} is not a register read (3 or 4)")
        if not 1 <= count <= 125:
            raise ValueError(f"a read asks for 1..125 registers, got {count}")
        return cls(unit, struct.pack(">BHH", function_code, address, count), 2 + 2 * count, address, count)

    @classmethod
    def write(cls, unit: int, function_code: int, address: int, values: tuple[int, ...]) -> Request:
        if function_code == 6:
            if len(values) != 1:
                raise ValueError(f"FC 6 writes one register, got {len(values)} values")
            pdu = struct.pack(">BHH", 6, address, values[0])
        elif function_code == 16:
            if not 1 <= len(values) <= 123:
                raise ValueError(f"FC 16 writes 1..123 registers, got {len(values)}")
            pdu = struct.pack(f">BHHB{len(values)}H", 16, address, len(values), 2 * len(values), *values)
        else:
            raise ValueError(f"function code {function_code} is not a register write (6 or 16)")
        return cls(unit, pdu, 5, address, len(values))

    def registers(self, pdu: bytes) -> list[int]:
        """The registers of `pdu`, the checked reply to this read."""
        return list(struct.unpack_from(f">{self.count}H", pdu, 2))

    def rtu(self) -> bytes:
        body = bytes((self.unit,)) + self.pdu
        return body + crc16(body).to_bytes(2, "little")

    def mbap(self, tid: int) -> bytes:
        return struct.pack(">HHHB", tid, 0, len(self.pdu) + 1, self.unit) + self.pdu

    def check_pdu(self, pdu: bytes) -> None:
        """Raise ExceptionReply or BadReply unless `pdu` is the normal reply to this request."""
        fc = pdu[0]
        if fc == self.function_code | 0x80:
            if len(pdu) != 2:
                raise BadReply(f"exception response of {len(pdu)} bytes, expected 2")
            raise ExceptionReply(self.function_code, pdu[1])
        if fc != self.function_code:
            raise BadReply(f"reply with function code {fc}, expected {self.function_code}")
        if self.function_code in READS:
            if len(pdu) >= 2 and pdu[1] != self.reply_length - 2:
                raise BadReply(
                    f"reply of {pdu[1]} data bytes, expected {self.reply_length - 2} "
                    f"({self.count} registers at {self.address})"
                )
        elif pdu[1:5] != self.pdu[1:5]:
            raise BadReply(f"write reply does not echo the address and value/count: {bytes(pdu).hex()}")
        if len(pdu) != self.reply_length:
            raise BadReply(f"reply PDU of {len(pdu)} bytes, expected {self.reply_length}")

    def __repr__(self) -> str:
        return (
            f"Request(unit={self.unit}, fc={self.function_code}, address={self.address}, count={self.count})"
        )


def parse_rtu(buf: bytearray, req: Request) -> bytes | None:
    """The reply PDU if `buf` holds exactly one whole reply to `req`; None while more is needed.

    Raises as soon as the first bytes show the reply cannot be the answer (unit, function code,
    byte count), at a wrong CRC, and at bytes beyond the end of the frame.
    """
    n = len(buf)
    if n < 2:
        return None
    if buf[0] != req.unit:
        raise BadReply(f"reply from unit {buf[0]}, expected unit {req.unit}")
    fc = buf[1]
    if fc == req.function_code | 0x80:
        size = 5
    elif fc != req.function_code:
        raise BadReply(f"reply with function code {fc}, expected {req.function_code}")
    else:
        if n < 3:
            return None
        if req.function_code in READS and buf[2] != req.reply_length - 2:
            raise BadReply(
                f"reply of {buf[2]} data bytes, expected {req.reply_length - 2} "
                f"({req.count} registers at {req.address})"
            )
        size = 1 + req.reply_length + 2
    if n < size:
        return None
    with memoryview(buf) as view:
        crc = crc16(view[: size - 2])
    if crc != buf[size - 2] | buf[size - 1] << 8:
        raise BadReply("reply with a wrong CRC")
    if n > size:
        raise BadReply(f"{n - size} stray bytes after the reply")
    pdu = bytes(buf[1 : size - 2])  # a copy: the buffer is emptied before the next request
    req.check_pdu(pdu)
    return pdu


def parse_mbap(buf: bytearray, req: Request, tid: int) -> bytes | None:
    """The reply PDU for transaction `tid` from the front of `buf`, or None while more is needed.

    Whole frames of other transactions (late replies to earlier requests) are dropped from `buf`.
    Raises Garbled when the header makes no sense (the stream cannot be re-synchronised).
    """
    while len(buf) >= 7:
        t, proto, length = struct.unpack_from(">HHH", buf)
        if proto != 0 or not 2 <= length <= 254:
            raise Garbled(f"not a Modbus TCP frame (protocol {proto}, length {length})")
        end = 6 + length
        if len(buf) < end:
            return None
        if t != tid:
            del buf[:end]
            continue
        unit = buf[6]
        if unit != req.unit:
            del buf[:end]
            raise BadReply(f"reply from unit {unit}, expected unit {req.unit}")
        pdu = bytes(buf[7:end])
        del buf[:end]
        req.check_pdu(pdu)
        return pdu
    return None
