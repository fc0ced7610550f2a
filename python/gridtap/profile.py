"""Device profiles: a meter's register map as data, checked strictly and compiled for the Rust core.

A profile is a TOML file (see `profiles/*.toml` and docs/profiles.md). Loading it checks every key,
plans the register reads (contiguous blocks of at most 125 registers, reading through small gaps
when that is cheaper than another request), and compiles the map for the Rust pipeline.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from gridtap._core import CompiledProfile, decode, encode_value
from gridtap.channels import CHANNELS
from gridtap.errors import ProfileError

__all__ = ["MAX_READ", "Block", "Field", "Profile", "WriteAction", "load_file", "parse_profile"]

MAX_READ = 125  # registers per Modbus read request (FC 03/04)
READ_FUNCTION_CODES = (3, 4)
TYPES = ("int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "acc32", "acc64")
WORD_ORDERS = ("ABCD", "CDAB", "BADC", "DCBA")
SIGNS = {
    "active_power": ("import_positive", "export_positive"),
    "reactive_power": ("inductive_positive", "capacitive_positive"),
}
# channels a profile may read; the rest (EnergyNet, PhaseImbalance, Timestamp) are always derived
READABLE = tuple(c.name for c in CHANNELS if c.name not in ("EnergyNet", "PhaseImbalance", "Timestamp"))
SLOW_CHANNELS = ("EnergyImport", "EnergyExport", "ReactiveEnergyImport", "ReactiveEnergyExport")


@dataclass(frozen=True)
class Field:
    """One channel's location and encoding (`addresses` has several entries for a sum of registers)."""

    channel: str
    addresses: tuple[int, ...]
    type: str
    word_order: str
    scale: float
    scale_factor: int | None
    sentinels: tuple[str, ...]
    function_code: int
    group: str
    abs: bool
    min: float
    max: float
    negate: bool

    @property
    def words(self) -> int:
        return _WORDS[_base_type(self.type)]


@dataclass(frozen=True)
class Block:
    """One read request: function code, first register address, register count, poll group."""

    function_code: int
    start: int
    count: int
    group: str = "fast"

    @property
    def end(self) -> int:
        return self.start + self.count

    def __contains__(self, address: int) -> bool:
        return self.start <= address < self.end


@dataclass(frozen=True)
class WriteAction:
    name: str
    address: int
    function_code: int
    values: tuple[int, ...]
    description: str = ""


_WORDS = {
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "float32": 2,
    "int64": 4,
    "uint64": 4,
    "float64": 4,
}


def _base_type(t: str) -> str:
    return {"acc32": "uint32", "acc64": "uint64"}.get(t, t)


@dataclass
class Profile:
    """A loaded, checked device profile with its planned read blocks and compiled register map."""

    name: str
    title: str
    source: str
    phases: int
    fields: tuple[Field, ...]
    blocks: tuple[Block, ...]
    writes: Mapping[str, WriteAction]
    addressing: str = "absolute"
    models: tuple[int, ...] = ()
    model_phases: Mapping[int, int] = field(default_factory=dict)
    signs: Mapping[str, str] = field(default_factory=dict)
    apparent_request: str = "auto"
    max_gap: int = 16
    compiled: CompiledProfile = field(init=False, repr=False)
    _frame_offsets: dict[tuple[int, int], int] = field(init=False, repr=False)  # (fc, address) → frame offset

    def __post_init__(self) -> None:
        offsets: dict[tuple[int, int], int] = {}
        pos = 0
        for b in self.blocks:
            for a in range(b.start, b.end):
                offsets[(b.function_code, a)] = pos + a - b.start
            pos += b.count
        self._frame_offsets = offsets
        self.compiled = self._compile()

    # --- layout ------------------------------------------------------------------------------

    @property
    def frame_length(self) -> int:
        return sum(b.count for b in self.blocks)

    @property
    def channels(self) -> list[str]:
        """Standard channels a pipeline over this profile produces."""
        return list(self.compiled.channels)

    @property
    def meter_channels(self) -> list[str]:
        return list(self.compiled.meter_channels)

    @property
    def apparent_power(self) -> str:
        """How ApparentPower is formed for this meter: arithmetic, vector or meter."""
        return str(self.compiled.apparent_power)

    def frame_offset(self, function_code: int, address: int) -> int:
        try:
            return self._frame_offsets[(function_code, address)]
        except KeyError:
            raise ProfileError(
                f"{self.source}: register {address} (FC {function_code}) is not in any read block"
            ) from None

    def block_of(self, f: Field) -> int:
        for i, b in enumerate(self.blocks):
            if b.function_code == f.function_code and f.addresses[0] in b:
                return i
        raise ProfileError(f"{self.source}: channel {f.channel} lies in no read block")

    def _compile(self) -> CompiledProfile:
        blocks, pos = [], 0
        for b in self.blocks:
            blocks.append((pos, b.count))
            pos += b.count
        tuples = []
        for f in self.fields:
            sf = None if f.scale_factor is None else self.frame_offset(f.function_code, f.scale_factor)
            for addr in f.addresses:
                tuples.append(
                    (
                        f.channel,
                        self.frame_offset(f.function_code, addr),
                        _base_type(f.type),
                        f.word_order,
                        f.scale,
                        sf,
                        list(f.sentinels),
                        f.negate,
                        f.abs,
                        f.min,
                        f.max,
                        self.block_of(replace(f, addresses=(addr,))),
                    )
                )
        try:
            return CompiledProfile(
                pos, blocks, tuples, None if self.apparent_request == "auto" else self.apparent_request
            )
        except ValueError as e:
            raise ProfileError(f"{self.source}: {e}") from None

    # --- placement (SunSpec models are located on the device) ----------------------------------

    def located(self, origin: int, model: int | None = None) -> Profile:
        """A relative (`addressing = "sunspec_model"`) profile placed at the model's ID register
        `origin`; `model` restricts the channels to that model's phases (201: L1 only, 202: L1-L2)."""
        if self.addressing != "sunspec_model":
            raise ProfileError(f"{self.source}: only sunspec_model profiles can be located")
        phases = self.model_phases.get(model, self.phases) if model is not None else self.phases
        keep = _phase_filter(phases)
        fields = tuple(
            replace(
                f,
                addresses=tuple(a + origin for a in f.addresses),
                scale_factor=None if f.scale_factor is None else f.scale_factor + origin,
            )
            for f in self.fields
            if keep(f.channel)
        )
        return _build(
            name=self.name,
            title=self.title,
            source=f"{self.source}@{origin}" + (f" (model {model})" if model else ""),
            phases=phases,
            fields=fields,
            explicit_blocks=None,
            writes=self.writes,
            addressing="absolute",
            models=self.models,
            model_phases=self.model_phases,
            signs=self.signs,
            apparent_request=self.apparent_request,
            max_gap=self.max_gap,
        )

    # --- frames ---------------------------------------------------------------------------------

    def decode(self, registers: np.ndarray, invert: bool = False) -> dict[str, np.ndarray]:
        """Stateless decode of one frame or frames × registers into standard channels."""
        return dict(decode(self.compiled, registers, invert))

    def encode(
        self, values: Mapping[str, float | None], scale_factors: Mapping[int, int] | None = None
    ) -> np.ndarray:
        """A frame holding `values` (standard convention) in the meter's own encoding and signs.

        Missing channels and None/NaN values are written as the field's "not available" sentinel
        (NaN for floats). SunSpec scale factors are chosen per frame as the smallest exponent at
        which every value sharing the register fits its type, unless given in `scale_factors`
        (scale-factor register address → exponent).
        """
        frame = np.zeros(self.frame_length, dtype=np.uint16)
        sf_choice = dict(scale_factors or {})
        by_sf: dict[tuple[int, int], list[tuple[Field, float]]] = {}
        for f in self.fields:
            if f.scale_factor is not None:
                items = by_sf.setdefault((f.function_code, f.scale_factor), [])
                v = values.get(f.channel)
                if v is not None and math.isfinite(v):
                    items.extend((f, float(v) / len(f.addresses)) for _ in f.addresses)
        for (fc, sf_addr), items in by_sf.items():
            if sf_addr not in sf_choice:
                sf_choice[sf_addr] = _pick_exponent(items)
            frame[self.frame_offset(fc, sf_addr)] = np.uint16(sf_choice[sf_addr] & 0xFFFF)
        for f in self.fields:
            v = values.get(f.channel)
            # a channel that is a sum of registers gets an equal share in each
            part = None if v is None or not math.isfinite(v) else v / len(f.addresses)
            exponent = sf_choice.get(f.scale_factor) if f.scale_factor is not None else 0
            words = self._encode_field(f, part, exponent)
            for addr in f.addresses:
                off = self.frame_offset(f.function_code, addr)
                frame[off : off + f.words] = words
        return frame

    def _encode_field(self, f: Field, value: float | None, exponent: int | None) -> np.ndarray:
        base = _base_type(f.type)
        if value is None:
            if base.startswith("float"):
                return encode_value(math.nan, base, f.word_order, 1.0)
            if not f.sentinels:
                raise ValueError(
                    f"{self.source}: {f.channel} has no 'not available' sentinel to encode a missing value"
                )
            return _sentinel_words(f.sentinels[0], base, f.word_order)
        native = -value if f.negate else value
        scale = f.scale * (10.0 ** (exponent or 0))
        try:
            return encode_value(native, base, f.word_order, scale)
        except ValueError as e:
            raise ValueError(f"{self.source}: {f.channel} = {value}: {e}") from None

    def resolution(self, channel: str, frame: np.ndarray | None = None) -> float:
        """The smallest step the meter's encoding of `channel` can show (0 for floats); for SunSpec
        scale-factor fields the exponent is read from `frame`."""
        for f in self.fields:
            if f.channel != channel:
                continue
            if _base_type(f.type).startswith("float"):
                return 0.0
            step = abs(f.scale)
            if f.scale_factor is not None and frame is not None:
                exponent = int(np.int16(frame[self.frame_offset(f.function_code, f.scale_factor)]))
                step *= 10.0**exponent
            return step * len(f.addresses)
        return 0.0


def _pick_exponent(items: Sequence[tuple[Field, float]]) -> int:
    if not items:
        return 0
    for e in range(-4, 11):
        ok = True
        for f, v in items:
            native = (-v if f.negate else v) / (f.scale * 10.0**e)
            lo, hi = _RANGES[_base_type(f.type)]
            r = round(native)
            if not lo <= r <= hi or (r in _reserved(f) and v != 0):
                ok = False
                break
        if ok:
            return e
    raise ValueError(f"values {[v for _, v in items]} do not fit any scale factor")


def _reserved(f: Field) -> set[int]:
    out = set()
    base = _base_type(f.type)
    bits = 16 * _WORDS[base]
    for s in f.sentinels:
        if s == "min":
            out.add(-(1 << (bits - 1)))
        elif s == "max":
            out.add((1 << (bits - 1)) - 1)
        elif s == "zero":
            out.add(0)
    return out


_RANGES = {
    "int16": (-32768, 32767),
    "uint16": (0, 65535),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
    "float32": (-math.inf, math.inf),
    "float64": (-math.inf, math.inf),
}


def _sentinel_words(sentinel: str, base: str, order: str) -> np.ndarray:
    bits = 16 * _WORDS[base]
    if sentinel == "min":
        raw = 1 << (bits - 1)
    elif sentinel == "max":
        raw = (1 << (bits - 1)) - 1
    elif sentinel == "all_ones":
        raw = (1 << bits) - 1
    elif sentinel == "zero":
        raw = 0
    else:
        raw = int(sentinel, 0)
    n = _WORDS[base]
    words = [(raw >> (16 * (n - 1 - i))) & 0xFFFF for i in range(n)]  # ABCD
    if order in ("CDAB", "DCBA"):
        words.reverse()
    if order in ("BADC", "DCBA"):
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    return np.array(words, dtype=np.uint16)


def _phase_filter(phases: int) -> Callable[[str], bool]:
    allowed = {"L1"} if phases == 1 else {"L1", "L2"} if phases == 2 else {"L1", "L2", "L3"}

    def keep(channel: str) -> bool:
        suffix = channel.rsplit("_", 1)[-1] if "_L" in channel else None
        if suffix is None or suffix == "RoCoF":
            return True
        if suffix in ("L12", "L23", "L31"):
            return phases >= 2 and (suffix == "L12" or phases == 3)
        return suffix in allowed

    return keep


# --- building (the file format is read and checked in profile_file.py) ----------------------------


def _err(source: str, key: str, reason: str) -> ProfileError:
    return ProfileError(f"{source}: {key}: {reason}")


def _build(
    *, explicit_blocks: list[Block] | None, fields: tuple[Field, ...], source: str, max_gap: int, **kw: Any
) -> Profile:
    for f in fields:
        # a SunSpec model placed near the top of the register space can push a field past it
        for a in f.addresses:
            if a + f.words > 65536:
                raise _err(
                    source,
                    f"channels.{f.channel}.address",
                    f"{f.words} registers at {a} run past register 65535",
                )
    _check_overlaps(source, fields)
    blocks = explicit_blocks if explicit_blocks is not None else plan_reads(fields, max_gap)
    if explicit_blocks is not None:
        for f in fields:
            for a in f.addresses:
                for r in range(a, a + f.words):
                    if not any(b.function_code == f.function_code and r in b for b in blocks):
                        raise _err(
                            source, f"channels.{f.channel}", f"register {r} lies outside every read block"
                        )
    return Profile(source=source, fields=fields, blocks=tuple(blocks), max_gap=max_gap, **kw)


def _check_overlaps(source: str, fields: Sequence[Field]) -> None:
    owner: dict[tuple[int, int], str] = {}
    for f in fields:
        for a in f.addresses:
            for r in range(a, a + f.words):
                other = owner.get((f.function_code, r))
                if other is not None:
                    raise _err(
                        source,
                        f"channels.{f.channel}",
                        f"register {r} (0x{r:04X}) overlaps channel {other}; fields may not share registers",
                    )
                owner[(f.function_code, r)] = f.channel


def plan_reads(fields: Sequence[Field], max_gap: int = 16) -> list[Block]:
    """Fewest requests: contiguous blocks of at most 125 registers that read through gaps of up to
    `max_gap` registers. Slow (energy) fields ride along in fast blocks when that is free or cheap;
    the rest get their own slow blocks. Fast blocks come first in the frame."""
    spans: dict[tuple[int, str], list[tuple[int, int]]] = {}
    for f in fields:
        for a in f.addresses:
            lo, hi = a, a + f.words
            if f.scale_factor is not None:
                lo, hi = min(lo, f.scale_factor), max(hi, f.scale_factor + 1)
            spans.setdefault((f.function_code, f.group), []).append((lo, hi))

    def merge(items: list[tuple[int, int]]) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for lo, hi in sorted(items):
            if out and lo - out[-1][1] <= max_gap and max(hi, out[-1][1]) - out[-1][0] <= MAX_READ:
                out[-1] = (out[-1][0], max(hi, out[-1][1]))
            elif out and hi <= out[-1][1]:
                continue
            else:
                out.append((lo, hi))
        return out

    blocks: list[Block] = []
    fcs = sorted({fc for fc, _ in spans})
    for fc in fcs:
        fast = merge(spans.get((fc, "fast"), []))
        rest = []
        for lo, hi in spans.get((fc, "slow"), []):
            for i, (blo, bhi) in enumerate(fast):
                new_lo, new_hi = min(lo, blo), max(hi, bhi)
                gap = max(0, lo - bhi, blo - hi)
                if gap <= max_gap and new_hi - new_lo <= MAX_READ:
                    fast[i] = (new_lo, new_hi)
                    break
            else:
                rest.append((lo, hi))
        blocks += [Block(fc, lo, hi - lo, "fast") for lo, hi in merge(fast)]
    for fc in fcs:
        slow_spans = [
            s
            for s in spans.get((fc, "slow"), [])
            if not any(b.start <= s[0] and s[1] <= b.end for b in blocks if b.function_code == fc)
        ]
        blocks += [Block(fc, lo, hi - lo, "slow") for lo, hi in merge(slow_spans)]
    return blocks


# the file format, kept importable from here (profile_file imports this module's names)
from gridtap.profile_file import load_file, parse_profile  # noqa: E402
