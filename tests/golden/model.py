"""Golden register tables and the checks that hold a profile to them.

A `Golden` is a meter's register table written from the vendor's documentation (cited in
`source`): for each register its address, type, word order, scale, unit, native sign and the value
it holds in the golden frames. `frames(golden)` builds the meter's register space from that table
with `struct` alone (never the profile's encoder or the simulator); `check(golden, profile)` reads
the registers the profile's plan asks for, decodes them through the profile and compares every
channel, value and sign, with what the table and the grid conventions (DESIGN.md) say. The
expected derived values (totals, S, PF, imbalance, EnergyNet) are computed here from the table's
values with the conventions' formulas, not by the code under test.

`check` returns a list of failures instead of asserting, so the mutation test can run it on
thousands of altered profiles as a plain function.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from gridtap import MeterPipeline, profiles
from gridtap.profile import Profile, parse_profile

PHASES = ("L1", "L2", "L3")
NA = float("nan")

# struct codes (big-endian) of the register types
_CODES = {
    "int16": ">h",
    "uint16": ">H",
    "int32": ">i",
    "uint32": ">I",
    "acc32": ">I",
    "int64": ">q",
    "uint64": ">Q",
    "float32": ">f",
    "float64": ">d",
}

# Native signs a table row may state. The value in a row is what the register holds (after its
# scale), in the meter's own convention; `standard` turns it into the grid convention.
SIGNS = {
    "mag": "a magnitude, >= 0",
    "+imp": "signed, + import (grid -> site)",
    "+exp": "signed, + export",
    "+ind": "signed, + inductive (IEEE 1459); documented",
    "+ind?": "signed; sense not stated by any source: read as + inductive (a profile's choice)",
    "-exp": "signed by the current's direction (- while exporting); the standard is the magnitude",
    "pf": "power factor register: only its magnitude is used (sign conventions differ)",
    "counter": "energy counter, >= 0",
    "hz": "frequency",
    "sf": "SunSpec scale factor: a power-of-ten exponent",
}


@dataclass(frozen=True)
class Row:
    """One register (or register pair/quad) of a vendor's table."""

    name: str  # the vendor's name for it
    channel: str | None  # the standard channel it feeds (None: a scale-factor register)
    address: int  # protocol address, 0-based (SunSpec: offset from the model's ID register)
    type: str
    order: str  # ABCD, CDAB, BADC, DCBA ("-" for one register)
    scale: float  # raw × scale (× 10^SF) = value in `unit`
    unit: str
    sign: str  # one of SIGNS
    value: float  # what the register holds in the golden frames (after scaling, native sign)
    sf: int | None = None  # SunSpec: address of the scale-factor register
    na: str | None = None  # how the meter shows "no value": nan, min, max, all_ones, zero, raw:<int>

    @property
    def words(self) -> int:
        return struct.calcsize(_CODES[self.type]) // 2

    def standard(self, value: float) -> float:
        """`value` (native) in the grid convention."""
        if self.sign == "+exp":
            return -value
        if self.sign == "-exp":
            return abs(value)
        return value


@dataclass(frozen=True)
class Golden:
    """A meter's register table from its vendor document, and the frames built from it."""

    profile: str  # the bundled profile it pins
    source: str  # the document (name, revision, table) the rows come from
    rows: tuple[Row, ...]
    function_codes: tuple[int, ...]  # the read functions the meter answers these registers with
    origin: int | None = None  # SunSpec: address of the model's ID register
    model: int | None = None  # SunSpec model id
    notes: tuple[str, ...] = ()
    # extra frames: label -> {row name: value, or None for the row's "no value" encoding}
    extra_frames: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.profile if self.model is None else f"{self.profile}@{self.model}"

    def row(self, name: str) -> Row:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"{self.label}: no row {name!r}")


def load(golden: Golden, data: Mapping[str, object] | None = None) -> Profile:
    """The bundled profile `golden` pins (or one parsed from `data`, a profile's TOML as a dict),
    placed at the table's model address for SunSpec."""
    p = profiles.load(golden.profile) if data is None else parse_profile(data, f"{golden.profile} (altered)")
    if golden.origin is not None:
        p = p.located(golden.origin, golden.model)
    return p


# --- encoding (struct only) ------------------------------------------------------------------------


def _reorder(words: list[int], order: str) -> list[int]:
    """Big-endian words (ABCD) in `order`: CDAB low word first, BADC bytes swapped, DCBA both."""
    if len(words) > 1 and order in ("CDAB", "DCBA"):
        words = words[::-1]
    if order in ("BADC", "DCBA"):
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    return words


def _raw_bytes(row: Row, raw: int | float) -> bytes:
    return struct.pack(_CODES[row.type], raw)


def _na_bytes(row: Row) -> bytes:
    if row.na is None:
        raise ValueError(f"row {row.name}: the table gives no 'no value' encoding")
    bits = 8 * struct.calcsize(_CODES[row.type])
    if row.na == "nan":
        return struct.pack(_CODES[row.type], math.nan)
    if row.na.startswith("raw:"):
        return _raw_bytes(row, int(row.na[4:]))
    pattern = {
        "min": 1 << (bits - 1),
        "max": (1 << (bits - 1)) - 1,
        "all_ones": (1 << bits) - 1,
        "zero": 0,
    }[row.na]
    return pattern.to_bytes(bits // 8, "big")


def encode_row(row: Row, value: float | None, exponent: int = 0) -> list[int]:
    """The register words holding `value` (native, in `row.unit`) or the row's "no value"."""
    if value is None:
        data = _na_bytes(row)
    elif row.type.startswith("float"):
        data = _raw_bytes(row, value / row.scale)
    else:
        raw = value / (row.scale * 10.0**exponent)
        ri = round(raw)
        if abs(raw - ri) > 1e-6 * max(1.0, abs(raw)):
            raise ValueError(f"row {row.name}: {value} is not a whole number of steps of {row.scale}")
        data = _raw_bytes(row, ri)
    words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    return _reorder(words, row.order)


def registers(
    golden: Golden, overrides: Mapping[str, float | None] | None = None
) -> dict[tuple[int, int], int]:
    """The meter's register space, {(function code, address): word}, with `overrides` applied."""
    values = {r.name: r.value for r in golden.rows}
    values.update(overrides or {})
    base = golden.origin or 0
    # a scale-factor register holds the exponent its fields are encoded with (the table's, where a
    # frame makes the register itself go missing)
    exponents: dict[int, int] = {}
    for r in golden.rows:
        if r.sign == "sf":
            v = values[r.name]
            exponents[r.address] = int(r.value if v is None else v)
    space: dict[tuple[int, int], int] = {}
    for r in golden.rows:
        words = encode_row(r, values[r.name], exponents[r.sf] if r.sf is not None else 0)
        for fc in golden.function_codes:
            for i, w in enumerate(words):
                key = (fc, base + r.address + i)
                if key in space:
                    raise ValueError(f"{golden.label}: row {r.name} overlaps another at {key}")
                space[key] = w
    return space


# What the registers the table does not list hold: a real meter has other data there (phase angles,
# THD, demand values), so a field read from the wrong place gets a wrong value, never a quiet zero.
OTHER_DATA = 0x7E57


def read_frame(profile: Profile, space: Mapping[tuple[int, int], int]) -> np.ndarray:
    """The frame a poll through `profile`'s read plan gets from `space`."""
    words = [
        space.get((b.function_code, a), OTHER_DATA) for b in profile.blocks for a in range(b.start, b.end)
    ]
    return np.array(words, dtype=np.uint16)


# --- expected values (grid conventions, DESIGN.md) ------------------------------------------------


def meter_values(golden: Golden, overrides: Mapping[str, float | None]) -> dict[str, float]:
    """Each metered channel's standard value (summed over its rows); NaN where a row has none."""
    values = {r.name: r.value for r in golden.rows}
    values.update(overrides)
    out: dict[str, float] = {}
    for r in golden.rows:
        if r.channel is None:
            continue
        v = values[r.name]
        x = NA if v is None else r.standard(v)
        if r.channel.startswith("PowerFactor"):
            x = abs(x)  # only the magnitude is used, whatever the vendor's sign convention
        out[r.channel] = out.get(r.channel, 0.0) + x
    return out


def _first(*candidates: tuple[float, str]) -> tuple[float, str]:
    for v, src in candidates:
        if not math.isnan(v):
            return v, src
    return NA, "none"


def _sum(xs: Iterable[float]) -> float:
    return sum(xs, 0.0)


def expected(
    golden: Golden, overrides: Mapping[str, float | None]
) -> tuple[dict[str, float], dict[str, str]]:
    """(channel -> value, aggregated channel -> source) a stateless decode must give.

    The rules are the grid conventions: ActivePower/ReactivePower are the meter's totals, else the
    sum of the phases; S_x is the meter's, else √(P_x² + Q_x²); ApparentPower is the sum of the
    phases' S where per-phase values exist (else the meter's total, else √(P² + Q²)), falling back
    to the meter's total in a frame that lacks a phase's S; PF = P/S signed by P, or, without S,
    the PF register's magnitude signed by P."""
    mv = meter_values(golden, overrides)
    read = set(mv)
    v: dict[str, float] = {}
    src: dict[str, str] = {}
    phases = [x for x in PHASES if f"ActivePower_{x}" in read]

    for ch in mv:
        if not ch.startswith(("PowerFactor", "ActivePower", "ReactivePower", "ApparentPower")):
            v[ch] = mv[ch]
    for x in PHASES:
        for q in ("ActivePower", "ReactivePower"):
            if f"{q}_{x}" in read:
                v[f"{q}_{x}"] = mv[f"{q}_{x}"]
    for q in ("ActivePower", "ReactivePower"):
        present = [x for x in PHASES if f"{q}_{x}" in read]
        if q in read or present:
            total = (mv.get(q, NA), "meter") if q in read else (NA, "none")
            v[q], src[q] = _first(total, (_sum(mv[f"{q}_{x}"] for x in present) if present else NA, "phases"))
    for x in PHASES:
        s = f"ApparentPower_{x}"
        if s in read:
            v[s], src[s] = _first((mv[s], "meter"))
        elif f"ActivePower_{x}" in read and f"ReactivePower_{x}" in read:
            v[s], src[s] = _first((math.hypot(mv[f"ActivePower_{x}"], mv[f"ReactivePower_{x}"]), "vector"))
    per_phase = bool(phases) and all(f"ApparentPower_{x}" in v for x in phases)
    meter_s = (mv["ApparentPower"], "meter") if "ApparentPower" in read else (NA, "none")
    if per_phase:
        v["ApparentPower"], src["ApparentPower"] = _first(
            (_sum(v[f"ApparentPower_{x}"] for x in phases), "phases"), meter_s
        )
    elif "ApparentPower" in read:
        v["ApparentPower"], src["ApparentPower"] = _first(meter_s)
    elif "ActivePower" in v and "ReactivePower" in v:
        v["ApparentPower"], src["ApparentPower"] = _first(
            (math.hypot(v["ActivePower"], v["ReactivePower"]), "vector")
        )
    for suffix in ("", *(f"_{x}" for x in PHASES)):
        pf, p, s = f"PowerFactor{suffix}", f"ActivePower{suffix}", f"ApparentPower{suffix}"
        if p not in v or (s not in v and pf not in read):
            continue
        pv, sv = v[p], v.get(s, NA)
        if math.isnan(pv):
            v[pf], src[pf] = NA, "none"
        elif not math.isnan(sv):
            if sv > 0:
                v[pf], src[pf] = max(-1.0, min(1.0, pv / sv)), "ratio"
            else:  # an idle meter (no current) has nothing to correct: unity by the project's convention
                v[pf], src[pf] = (1.0, "ratio") if sv == 0 and pv == 0 else (NA, "none")
        else:
            m = mv.get(pf, NA)
            v[pf], src[pf] = _first((math.copysign(m, pv) if m <= 1.0 else NA, "meter"))
    if len(phases) >= 2:
        ps = [v[f"ActivePower_{x}"] for x in phases]
        v["PhaseImbalance"] = max(ps) - min(ps) if not any(math.isnan(p) for p in ps) else NA
    if "EnergyImport" in read and "EnergyExport" in read:
        v["EnergyNet"] = v["EnergyImport"] - v["EnergyExport"]
    return v, src


# --- the frames and the check ---------------------------------------------------------------------


def frames(golden: Golden) -> dict[str, dict[str, float | None]]:
    """label -> row overrides for every golden frame of this table.

    "values": every register holds its value; "reversed": power flows the other way; "zero": no
    supply, nothing measured (the PF registers and frequency keep their values). Where the table has
    them, registers whose "no
    value" encoding is known also go missing in turn, so that the registers a profile only uses as
    a fallback are pinned too: the phases' S (then S comes from the meter's total and each phase's
    PF from its PF register), every S (PF from the total PF register), and the totals (P, Q and S
    from the phases)."""
    out: dict[str, dict[str, float | None]] = {"values": {}}
    by_channel: dict[str, list[Row]] = {}
    for r in golden.rows:
        if r.channel:
            by_channel.setdefault(r.channel, []).append(r)

    def missing(channels: Iterable[str]) -> dict[str, float | None] | None:
        rows = [r for ch in channels for r in by_channel.get(ch, [])]
        if not rows or any(r.na is None for r in rows):
            return None
        return {r.name: None for r in rows}

    phase_s = [f"ApparentPower_{x}" for x in PHASES if f"ApparentPower_{x}" in by_channel]
    candidates = {
        "no phase S": phase_s,
        "no S": [*phase_s, "ApparentPower"] if phase_s and "ApparentPower" in by_channel else [],
        "no totals": [t for t in ("ActivePower", "ReactivePower", "ApparentPower") if t in by_channel]
        if any(f"ActivePower_{x}" in by_channel for x in PHASES)
        else [],
    }
    for label, channels in candidates.items():
        m = missing(channels) if channels else None
        if m:
            out[label] = m
    # power flowing the other way: every signed register changes sign (P, Q, PF, signed currents)
    out["reversed"] = {
        r.name: -r.value for r in golden.rows if r.sign in ("+imp", "+exp", "+ind", "+ind?", "-exp", "pf")
    }
    # no supply: voltages, currents, powers and counters at zero (a new, unconnected meter); zero is
    # a value here, except where the table says it means "no value" (SunSpec accumulators)
    out["zero"] = {
        r.name: 0.0
        for r in golden.rows
        if r.sign in ("mag", "+imp", "+exp", "+ind", "+ind?", "-exp", "counter") and r.na != "zero"
    }
    for label, o in golden.extra_frames.items():
        out[label] = dict(o)
    return out


def _close(got: float, want: float) -> bool:
    if math.isnan(want) or math.isnan(got):
        return math.isnan(want) and math.isnan(got)
    return math.copysign(1.0, got) == math.copysign(1.0, want) and math.isclose(
        got, want, rel_tol=1e-6, abs_tol=1e-9
    )


def check(golden: Golden, profile: Profile, *, stop_early: bool = False) -> list[str]:
    """Every frame of `golden` read and decoded through `profile`; the list of disagreements."""
    failures: list[str] = []
    for label, overrides in frames(golden).items():
        frame = read_frame(profile, registers(golden, overrides))
        want, want_src = expected(golden, overrides)
        got = {ch: float(a[0]) for ch, a in profile.decode(frame).items()}
        if set(got) != set(want):
            failures.append(
                f"{golden.label} [{label}]: channels differ: missing {sorted(set(want) - set(got))}, "
                f"unexpected {sorted(set(got) - set(want))}"
            )
        for ch in sorted(set(got) & set(want)):
            if not _close(got[ch], want[ch]):
                failures.append(f"{golden.label} [{label}]: {ch} = {got[ch]!r}, table says {want[ch]!r}")
        if failures and stop_early:
            return failures
        pipeline = MeterPipeline(profile)
        pipeline.push(1.0e9, frame)
        got_src = dict(pipeline.sources)
        if got_src != want_src:
            failures.append(f"{golden.label} [{label}]: sources {got_src}, expected {want_src}")
        if failures and stop_early:
            return failures
    return failures


def table_problems(golden: Golden) -> list[str]:
    """Rows whose golden value could hide a wrong word order, address or sign."""
    problems = []
    values = [r.value for r in golden.rows if r.sign != "sf"]
    for r in golden.rows:
        if r.sign not in SIGNS:
            problems.append(f"{r.name}: unknown sign {r.sign!r}")
        if r.sign == "sf":
            continue
        if values.count(r.value) > 1:
            problems.append(f"{r.name}: value {r.value} is not unique in the table")
        if r.value == 0:
            problems.append(f"{r.name}: a zero value cannot show a wrong sign or scale")
        words = encode_row(r, r.value, _exponent(golden, r))
        if len(words) > 1 and words[::-1] == words:
            problems.append(f"{r.name}: its words {words} read the same in the other word order")
        if _reorder(words, "BADC") == words:
            problems.append(f"{r.name}: its words {words} read the same byte-swapped")
    return problems


def _exponent(golden: Golden, row: Row) -> int:
    if row.sf is None:
        return 0
    return next(int(r.value) for r in golden.rows if r.address == row.sf and r.sign == "sf")
