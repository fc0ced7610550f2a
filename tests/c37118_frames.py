"""IEEE C37.118 frames built by hand with `struct`, independently of gridtap's encoder: the
expected bytes and values of the C37.118 tests.

Layouts follow c37118.md and were checked against two public implementations: the Wireshark
dissector (epan/dissectors/packet-synphasor.c: CFG-1/2, data, command frames) and pypmu
(synchrophasor/frame.py and tests/validate_frames.py: the byte vectors below); CFG-3 against the
Kaitai description in PhasorToolBox (cfg_3_station.ksy) and GSF (PhasorDefinition3.cs: PHSCALE =
u16 modification flags, phasor type byte, user byte, f32 magnitude multiplier, f32 angle adder).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

DATA, HEADER, CFG1, CFG2, COMMAND, CFG3 = 0, 1, 2, 3, 4, 5


def crc_ccitt(data: bytes) -> int:
    """CRC-16-CCITT, polynomial 0x1021, initial 0xFFFF, no reflection, no final XOR: bit by bit."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def fracsec(
    fraction: int, *, quality: int = 0, pending: bool = False, occurred: bool = False, delete: bool = False
) -> int:
    flags = quality | (0x10 if pending else 0) | (0x20 if occurred else 0) | (0x40 if delete else 0)
    return (flags << 24) | fraction


def frame(ftype: int, version: int, idcode: int, soc: int, frac: int, body: bytes) -> bytes:
    """SYNC, FRAMESIZE, IDCODE, SOC, FRACSEC, body, CHK."""
    head = struct.pack(">BBHHII", 0xAA, (ftype << 4) | version, 14 + len(body) + 2, idcode, soc, frac)
    raw = head + body
    return raw + struct.pack(">H", crc_ccitt(raw))


def name16(s: str) -> bytes:
    return s.encode().ljust(16, b" ")


def name_lp(s: str) -> bytes:
    b = s.encode()
    return bytes([len(b)]) + b


@dataclass
class Pmu:
    """One PMU block of a hand-built configuration."""

    station: str = "Station A"
    idcode: int = 7734
    format: int = 0
    phasors: list[tuple[str, int, int]] = field(default_factory=list)  # (name, PHUNIT count, 0=V/1=A)
    analogs: list[tuple[str, int, int]] = field(default_factory=list)  # (name, kind, signed scale)
    digital_names: list[str] = field(default_factory=list)  # 16 per word
    digital_masks: list[tuple[int, int]] = field(default_factory=list)
    fnom: int = 60
    cfgcnt: int = 0
    # CFG-3 only
    phscale: list[tuple[int, int, float, float]] = field(default_factory=list)  # flags, type byte, Y, θ
    anscale: list[tuple[float, float]] = field(default_factory=list)
    g_pmu_id: bytes = bytes(16)
    lat: float = math.inf
    lon: float = math.inf
    elev: float = math.inf
    svc: bytes = b"M"
    window: int = 0
    grp_dly: int = 0

    def cfg2_block(self) -> bytes:
        b = name16(self.station) + struct.pack(
            ">HHHHH", self.idcode, self.format, len(self.phasors), len(self.analogs), len(self.digital_masks)
        )
        b += b"".join(name16(n) for n, _, _ in self.phasors)
        b += b"".join(name16(n) for n, _, _ in self.analogs)
        b += b"".join(name16(n) for n in self.digital_names)
        b += b"".join(struct.pack(">I", (kind << 24) | unit) for _, unit, kind in self.phasors)
        b += b"".join(struct.pack(">I", (kind << 24) | (scale & 0xFFFFFF)) for _, kind, scale in self.analogs)
        b += b"".join(struct.pack(">HH", n, v) for n, v in self.digital_masks)
        return b + struct.pack(">HH", 1 if self.fnom == 50 else 0, self.cfgcnt)

    def cfg3_block(self) -> bytes:
        b = name_lp(self.station) + struct.pack(">H", self.idcode) + self.g_pmu_id
        b += struct.pack(">HHHH", self.format, len(self.phasors), len(self.analogs), len(self.digital_masks))
        b += b"".join(name_lp(n) for n, _, _ in self.phasors)
        b += b"".join(name_lp(n) for n, _, _ in self.analogs)
        b += b"".join(name_lp(n) for n in self.digital_names)
        b += b"".join(struct.pack(">HBBff", fl, ty, 0, y, th) for fl, ty, y, th in self.phscale)
        b += b"".join(struct.pack(">ff", m, off) for m, off in self.anscale)
        b += b"".join(struct.pack(">HH", n, v) for n, v in self.digital_masks)
        b += struct.pack(">fffc", self.lat, self.lon, self.elev, self.svc)
        b += struct.pack(">iiHH", self.window, self.grp_dly, 1 if self.fnom == 50 else 0, self.cfgcnt)
        return b


def cfg2_body(pmus: list[Pmu], time_base: int = 1_000_000, data_rate: int = 30) -> bytes:
    return (
        struct.pack(">IH", time_base, len(pmus))
        + b"".join(p.cfg2_block() for p in pmus)
        + struct.pack(">h", data_rate)
    )


def cfg3_body(pmus: list[Pmu], time_base: int = 1_000_000, data_rate: int = 30) -> bytes:
    return (
        struct.pack(">IH", time_base, len(pmus))
        + b"".join(p.cfg3_block() for p in pmus)
        + struct.pack(">h", data_rate)
    )


def cfg3_frames(
    body: bytes, idcode: int, soc: int, frac: int, piece: int | None = None, version: int = 2
) -> bytes:
    """CFG-3 as one frame (CONT_IDX 0) or split into pieces of `piece` body bytes (1, 2, ... 0xFFFF)."""
    if piece is None or len(body) <= piece:
        return frame(CFG3, version, idcode, soc, frac, struct.pack(">H", 0) + body)
    chunks = [body[i : i + piece] for i in range(0, len(body), piece)]
    out = b""
    for i, c in enumerate(chunks):
        idx = 0xFFFF if i == len(chunks) - 1 else i + 1
        out += frame(CFG3, version, idcode, soc, frac, struct.pack(">H", idx) + c)
    return out


# ---- pypmu's published vectors (tests/validate_frames.py) ----

PYPMU_CFG2_HEX = (
    "aa3101c61e36448527f056071098000f4240000153746174696f6e2041202020202020201e360004000400030001564120"
    "20202020202020202020202020564220202020202020202020202020205643202020202020202020202020202049312020"
    "202020202020202020202020414e414c4f4731202020202020202020414e414c4f4732202020202020202020414e414c4f"
    "4733202020202020202020425245414b4552203120535441545553425245414b4552203220535441545553425245414b45"
    "52203320535441545553425245414b4552203420535441545553425245414b4552203520535441545553425245414b4552"
    "203620535441545553425245414b4552203720535441545553425245414b4552203820535441545553425245414b455220"
    "3920535441545553425245414b4552204120535441545553425245414b4552204220535441545553425245414b45522043"
    "20535441545553425245414b4552204420535441545553425245414b4552204520535441545553425245414b4552204620"
    "535441545553425245414b4552204720535441545553000df847000df847000df8470100b2d00000000101000001020000"
    "010000ffff00000016001ed5d1"
)

# c37118.md's known-answer data frame (also pypmu's)
KAT_DATA_HEX = (
    "aa0100341e3644853600000041b10000392b0000e36ace7ce36a31830444000009c4000042c80000447a0000461c40003c12d43f"
)

PYPMU_MULTI_DATA_HEX = (
    "aa0100581e3644853600000041b10000392b0000e36ace7ce36a31830444000009c4000042c80000447a0000"
    "461c40003c120000392b0000e36ace7ce36a31830444000009c4000042c80000447a0000461c40003c12bd52"
)

PYPMU_HEADER_HEX = "aa1100271e36448560300f0bbfd048656c6c6f2049276d20486561646572204672616d652e17cc"
PYPMU_COMMAND_HEX = "aa4100121e36448560300f0bbfd00002ce00"

BREAKERS = [f"BREAKER {c} STATUS" for c in "123456789ABCDEFG"]


def kat_pmu() -> Pmu:
    """The CFG-2 PMU block c37118.md describes (pypmu's "Station A"): IDCODE 7734, FORMAT 0x0004,
    60 Hz, 4 phasors (PHUNIT 915527 V ×3, 45776 A), 3 analogs (point-on-wave, RMS, peak, scale 1),
    one digital word (masks 0x0000 / 0xFFFF), CFGCNT 22."""
    return Pmu(
        station="Station A",
        idcode=7734,
        format=0x0004,
        phasors=[("VA", 915527, 0), ("VB", 915527, 0), ("VC", 915527, 0), ("I1", 45776, 1)],
        analogs=[("ANALOG1", 0, 1), ("ANALOG2", 1, 1), ("ANALOG3", 2, 1)],
        digital_names=BREAKERS,
        digital_masks=[(0x0000, 0xFFFF)],
        fnom=60,
        cfgcnt=22,
    )


def kat_cfg2() -> bytes:
    """pypmu's CFG-2: version 1, SOC 1149577200, FRACSEC 463000 with leap delete + pending and
    time quality 6, TIME_BASE 1,000,000, DATA_RATE 30."""
    return frame(
        CFG2,
        1,
        7734,
        1149577200,
        fracsec(463000, quality=6, pending=True, delete=True),
        cfg2_body([kat_pmu()], data_rate=30),
    )
