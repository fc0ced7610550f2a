"""Profile files: reading a profile TOML and checking every key by type, range and meaning.

A mistake is a ProfileError naming the file, the key (`channels.Voltage_L1.min`) and what was
expected: a string where a number belongs (`min = "45"`), a flag where a number belongs
(`min = true`), an unknown group, an empty address list, a field that runs past register 65535,
a raw sentinel that does not fit its type, and so on. Nothing is coerced.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gridtap.errors import ProfileError
from gridtap.profile import (
    _WORDS,
    MAX_READ,
    READABLE,
    SIGNS,
    SLOW_CHANNELS,
    TYPES,
    WORD_ORDERS,
    Block,
    Field,
    Profile,
    WriteAction,
    _base_type,
    _build,
    _err,
)

__all__ = ["load_file", "parse_profile"]

METER_KEYS = {
    "name", "title", "description", "function_code", "type", "word_order", "phases", "apparent_power",
    "max_gap", "addressing", "models", "model_phases", "aliases", "notes", "byte_order_note",
}  # fmt: skip
FIELD_KEYS = {
    "address", "type", "word_order", "scale", "scale_factor", "sentinel", "function_code", "group", "abs",
    "min", "max", "sign", "note",
}  # fmt: skip
TOP_KEYS = {"meter", "signs", "channels", "blocks", "writes"}
SIGN_KEYS = {"active_power", "reactive_power", "power_factor", "note"}
WRITE_KEYS = {"address", "function_code", "values", "description"}
BLOCK_KEYS = {"function_code", "start", "count", "group"}
GROUPS = ("fast", "slow")
NAMED_SENTINELS = ("min", "max", "all_ones", "zero")
REGISTERS = 65536  # a Modbus register address is 16 bits
MAX_WRITE = 123  # registers per FC 16 request


class _Keys:
    """Checks for one profile file; every error names the file and the key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, reason: str) -> ProfileError:
        return _err(self.source, key, reason)

    def table(self, v: Any, key: str, allowed: set[str]) -> Mapping[str, Any]:
        if not isinstance(v, Mapping):
            raise self.fail(key, f"expected a table, got {v!r}")
        for k in v:
            if k not in allowed:
                raise self.fail(
                    f"{key}.{k}" if key else k, f"unknown key; expected one of {', '.join(sorted(allowed))}"
                )
        return v

    def integer(self, v: Any, key: str, lo: int = 0, hi: int = REGISTERS - 1) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise self.fail(key, f"expected an integer in {lo}..{hi}, got {v!r}")
        return v

    def number(self, v: Any, key: str) -> float:
        """A number, not NaN: TOML's inf and -inf are fine for open ranges."""
        if isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v):
            raise self.fail(key, f"expected a number, got {v!r}")
        return float(v)

    def text(self, v: Any, key: str) -> str:
        if not isinstance(v, str):
            raise self.fail(key, f"expected a string, got {v!r}")
        return v

    def choice(self, v: Any, key: str, options: tuple[str, ...], what: str = "") -> str:
        if not isinstance(v, str) or v not in options:
            raise self.fail(key, f"{what}{' ' if what else ''}expected {' or '.join(options)}, got {v!r}")
        return v

    def flag(self, v: Any, key: str) -> bool:
        if not isinstance(v, bool):
            raise self.fail(key, f"expected true or false, got {v!r}")
        return v

    def list(self, v: Any, key: str) -> list[Any]:
        if not isinstance(v, list):
            raise self.fail(key, f"expected a list, got {v!r}")
        return v


def _kind_defaults(channel: str) -> tuple[float, float]:
    if channel.startswith(("Voltage", "Current", "ApparentPower")) or channel in SLOW_CHANNELS:
        return 0.0, math.inf
    if channel == "Frequency":
        return 40.0, 70.0
    return -math.inf, math.inf


def _sentinels(k: _Keys, key: str, v: Any, ftype: str) -> tuple[str, ...]:
    items = [v] if isinstance(v, str) else k.list(v, key)
    bits = 16 * _WORDS[_base_type(ftype)]
    for s in items:
        if not isinstance(s, str):
            raise k.fail(key, f"expected a sentinel name or raw value string, got {s!r}")
        if s in NAMED_SENTINELS:
            continue
        try:
            raw = int(s, 0)
        except ValueError:
            raise k.fail(
                key,
                f"unknown sentinel {s!r}; expected min, max, all_ones, zero or a raw value such as 0x8000",
            ) from None
        if not 0 <= raw < 1 << bits:
            raise k.fail(key, f"raw sentinel {s} does not fit a {ftype} ({bits} bits)")
    return tuple(items)


def _addresses(k: _Keys, key: str, v: Any, words: int) -> tuple[int, ...]:
    items = v if isinstance(v, list) else [v]
    if not items:
        raise k.fail(key, "expected an address or a non-empty list of addresses, got []")
    out = tuple(k.integer(a, key) for a in items)
    if len(set(out)) != len(out):
        raise k.fail(key, f"lists an address twice: {list(out)}")
    for a in out:
        if a + words > REGISTERS:
            raise k.fail(key, f"{words} registers at {a} run past the last register 65535")
    return out


def _field(k: _Keys, ch: str, spec: Any, defaults: Mapping[str, Any], negate: Mapping[str, bool]) -> Field:
    key = f"channels.{ch}"
    if ch not in READABLE:
        raise k.fail(key, f"unknown channel; a profile reads one of {', '.join(READABLE)}")
    if isinstance(spec, int) and not isinstance(spec, bool):
        spec = {"address": spec}
    if not isinstance(spec, Mapping):
        raise k.fail(key, f"expected an address or a table, got {spec!r}")
    k.table(spec, key, FIELD_KEYS)
    if "address" not in spec:
        raise k.fail(f"{key}.address", "missing")
    ftype = spec.get("type", defaults["type"])
    if ftype not in TYPES:
        raise k.fail(f"{key}.type", f"unknown type {ftype!r}; expected one of {', '.join(TYPES)}")
    order = spec.get("word_order", defaults["word_order"])
    if order not in WORD_ORDERS:
        raise k.fail(f"{key}.word_order", f"unknown word order {order!r}; expected {', '.join(WORD_ORDERS)}")
    addresses = _addresses(k, f"{key}.address", spec["address"], _WORDS[_base_type(ftype)])
    scale = spec.get("scale", 1.0)
    if (
        isinstance(scale, bool)
        or not isinstance(scale, int | float)
        or not math.isfinite(scale)
        or scale == 0
    ):
        raise k.fail(f"{key}.scale", f"expected a finite non-zero number, got {scale!r}")
    sf = spec.get("scale_factor")
    if sf is not None:
        sf = k.integer(sf, f"{key}.scale_factor")
        if sf in {a + i for a in addresses for i in range(_WORDS[_base_type(ftype)])}:
            raise k.fail(f"{key}.scale_factor", f"register {sf} is the channel's own value register")
    sentinels = _sentinels(
        k, f"{key}.sentinel", spec.get("sentinel", ["zero"] if ftype in ("acc32", "acc64") else []), ftype
    )
    fc = k.integer(spec.get("function_code", defaults["function_code"]), f"{key}.function_code", 3, 4)
    group = k.choice(spec.get("group", "slow" if ch in SLOW_CHANNELS else "fast"), f"{key}.group", GROUPS)
    lo, hi = _kind_defaults(ch)
    lo = k.number(spec.get("min", lo), f"{key}.min")
    hi = k.number(spec.get("max", hi), f"{key}.max")
    if not lo < hi:
        raise k.fail(f"{key}.max", f"max {hi:g} is not above min {lo:g}")
    sign = spec.get("sign")
    flip = False
    if ch.startswith("ActivePower"):
        flip = (
            negate["active"]
            if sign is None
            else k.choice(sign, f"{key}.sign", SIGNS["active_power"]) == "export_positive"
        )
    elif ch.startswith("ReactivePower"):
        flip = (
            negate["reactive"]
            if sign is None
            else k.choice(sign, f"{key}.sign", SIGNS["reactive_power"]) == "capacitive_positive"
        )
    elif sign is not None:
        raise k.fail(f"{key}.sign", "only ActivePower and ReactivePower channels take a sign")
    absolute = k.flag(spec.get("abs", False), f"{key}.abs")
    if absolute and ch.startswith(("ActivePower", "ReactivePower")):
        raise k.fail(
            f"{key}.abs", "would drop the sign of a signed quantity; use sign to convert the meter's"
        )
    if "note" in spec:
        k.text(spec["note"], f"{key}.note")
    return Field(ch, addresses, ftype, order, float(scale), sf, sentinels, fc, group, absolute, lo, hi, flip)


def _phase_of(channel: str) -> int:
    """The highest phase a channel needs: 3 for Voltage_L31 or ActivePower_L3, 0 for totals."""
    suffix = channel.rpartition("_L")[2] if "_L" in channel else ""
    return max((int(d) for d in suffix if d.isdigit()), default=0)


def _blocks(k: _Keys, v: Any, default_fc: int) -> list[Block]:
    out: list[Block] = []
    for i, b in enumerate(k.list(v, "blocks")):
        key = f"blocks[{i}]"
        k.table(b, key, BLOCK_KEYS)
        for req in ("start", "count"):
            if req not in b:
                raise k.fail(f"{key}.{req}", "missing")
        fc = k.integer(b.get("function_code", default_fc), f"{key}.function_code", 3, 4)
        start = k.integer(b["start"], f"{key}.start")
        count = k.integer(b["count"], f"{key}.count", 1, MAX_READ)
        if start + count > REGISTERS:
            raise k.fail(f"{key}.count", f"{count} registers from {start} run past the last register 65535")
        for j, other in enumerate(out):
            if other.function_code == fc and start < other.end and other.start < start + count:
                raise k.fail(key, f"registers {start}..{start + count - 1} overlap blocks[{j}]")
        out.append(Block(fc, start, count, k.choice(b.get("group", "fast"), f"{key}.group", GROUPS)))
    return out


def _writes(k: _Keys, v: Any) -> dict[str, WriteAction]:
    writes = {}
    for name, w in k.table(v, "writes", set(v) if isinstance(v, Mapping) else set()).items():
        key = f"writes.{name}"
        k.table(w, key, WRITE_KEYS)
        if "address" not in w:
            raise k.fail(f"{key}.address", "missing")
        fc = w.get("function_code", 16)
        if fc not in (6, 16) or isinstance(fc, bool):
            raise k.fail(f"{key}.function_code", f"expected 6 or 16, got {fc!r}")
        values = tuple(k.integer(x, f"{key}.values") for x in k.list(w.get("values", []), f"{key}.values"))
        if not values:
            raise k.fail(f"{key}.values", "missing register values")
        if fc == 6 and len(values) != 1:
            raise k.fail(f"{key}.values", f"function code 6 writes one register, got {len(values)} values")
        if len(values) > MAX_WRITE:
            raise k.fail(f"{key}.values", f"at most {MAX_WRITE} registers per write, got {len(values)}")
        address = k.integer(w["address"], f"{key}.address")
        if address + len(values) > REGISTERS:
            raise k.fail(
                f"{key}.values", f"{len(values)} registers at {address} run past the last register 65535"
            )
        writes[name] = WriteAction(
            name, address, fc, values, k.text(w.get("description", ""), f"{key}.description")
        )
    return writes


def parse_profile(data: Mapping[str, Any], source: str) -> Profile:
    """A Profile from a parsed TOML document; ProfileError (file, key, reason) for any mistake."""
    k = _Keys(source)
    k.table(data, "", TOP_KEYS)
    if "meter" not in data:
        raise k.fail("meter", "missing [meter] table")
    meter = k.table(data["meter"], "meter", METER_KEYS)
    if not isinstance(meter.get("name"), str) or not meter["name"].strip():
        raise k.fail("meter.name", f"expected a non-empty name, got {meter.get('name')!r}")
    for key in ("title", "description", "notes", "byte_order_note"):
        if key in meter:
            k.text(meter[key], f"meter.{key}")
    for i, alias in enumerate(k.list(meter.get("aliases", []), "meter.aliases")):
        if not isinstance(alias, str) or not alias:
            raise k.fail(f"meter.aliases[{i}]", f"expected a name, got {alias!r}")
    defaults: dict[str, Any] = {
        "function_code": k.integer(meter.get("function_code", 3), "meter.function_code", 3, 4),
        "type": k.choice(meter.get("type", "float32"), "meter.type", TYPES),
        "word_order": k.choice(meter.get("word_order", "ABCD"), "meter.word_order", WORD_ORDERS),
    }
    phases = k.integer(meter.get("phases", 3), "meter.phases", 1, 3)
    apparent = k.choice(
        meter.get("apparent_power", "auto"), "meter.apparent_power", ("auto", "arithmetic", "vector", "meter")
    )
    addressing = k.choice(
        meter.get("addressing", "absolute"), "meter.addressing", ("absolute", "sunspec_model")
    )
    max_gap = k.integer(meter.get("max_gap", 16), "meter.max_gap", 0, MAX_READ)
    models = tuple(
        k.integer(m, "meter.models", 1, 65535) for m in k.list(meter.get("models", []), "meter.models")
    )
    model_phases = {}
    for key, v in k.table(
        meter.get("model_phases", {}), "meter.model_phases", set(meter.get("model_phases", {}))
    ).items():
        if not str(key).isdigit() or int(key) not in models:
            raise k.fail(f"meter.model_phases.{key}", f"expected one of the models {list(models)}")
        model_phases[int(key)] = k.integer(v, f"meter.model_phases.{key}", 1, 3)

    signs = k.table(data.get("signs", {}), "signs", SIGN_KEYS)
    for key, allowed in SIGNS.items():
        if key in signs:
            k.choice(signs[key], f"signs.{key}", allowed)
    for key in ("power_factor", "note"):
        if key in signs:
            k.text(signs[key], f"signs.{key}")
    negate = {
        "active": signs.get("active_power", "import_positive") == "export_positive",
        "reactive": signs.get("reactive_power", "inductive_positive") == "capacitive_positive",
    }

    channels = data.get("channels")
    if not isinstance(channels, Mapping) or not channels:
        raise k.fail("channels", "missing or empty [channels] table")
    fields = tuple(_field(k, ch, spec, defaults, negate) for ch, spec in channels.items())
    for f in fields:
        phase = _phase_of(f.channel)
        if phase > phases:
            raise k.fail(f"channels.{f.channel}", f"a phase-L{phase} channel, but meter.phases is {phases}")
    explicit = _blocks(k, data["blocks"], defaults["function_code"]) if "blocks" in data else None
    writes = _writes(k, data.get("writes", {}))
    return _build(
        name=meter["name"],
        title=meter.get("title", meter["name"]),
        source=source,
        phases=phases,
        fields=fields,
        explicit_blocks=explicit,
        writes=writes,
        addressing=addressing,
        models=models,
        model_phases=model_phases,
        signs=dict(signs),
        apparent_request=apparent,
        max_gap=max_gap,
    )


def load_file(path: str | Path) -> Profile:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ProfileError(f"{p}: cannot read profile: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ProfileError(f"{p}: not a text file: {e}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ProfileError(f"{p}: not valid TOML: {e}") from None
    return parse_profile(data, str(p))
