"""Mutation test: a single wrong field in any bundled profile must fail a golden test.

Each bundled profile's TOML is altered in memory, one thing at a time, and the golden checks of
tests/golden/ run against the altered profile as plain functions:

- address: one register up or down, one value (its width) up or down, swapped with another field
  of the same width;
- type: every other register type;
- word order: every other order (only BADC for one-register types: CDAB and DCBA of a single
  register are ABCD and BADC);
- scale: × 10, ÷ 10, × −1; for SunSpec fields, every other scale-factor register of the model;
- sign: the profile's native active and reactive signs flipped; a field's `abs` toggled.

A mutant is killed when a golden check disagrees or the profile no longer loads. A surviving
mutant must match one of the documented equivalences below (it decodes every value the meter can
hold exactly as the original does); any other survivor fails this test.
"""

from __future__ import annotations

import copy
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from golden import GOLDENS
from golden.model import Golden, check, load
from gridtap import profiles
from gridtap.errors import ProfileError
from gridtap.profile import TYPES, WORD_ORDERS

_WIDTH = {t: n for n, ts in ((1, "int16 uint16"), (2, "int32 uint32 float32 acc32"), (4, "int64 uint64 float64 acc64")) for t in ts.split()}  # fmt: skip
_INTEGER_FAMILY = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "acc32": 2, "int64": 4, "uint64": 4, "acc64": 4}  # fmt: skip


def _one_register(order: str) -> str:
    """What a word order means for a single register: only whether its bytes are swapped."""
    return {"ABCD": "ABCD", "CDAB": "ABCD", "BADC": "BADC", "DCBA": "BADC"}[order]


@dataclass
class Mutant:
    golden: Golden
    field: str
    category: str
    change: str
    data: dict[str, Any]
    old: dict[str, Any]  # the field's spec before the change (explicit type/order/scale)
    new: dict[str, Any]  # and after


def _toml(golden: Golden) -> dict[str, Any]:
    path = Path(profiles.__file__).parent / f"{golden.profile}.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _explicit(data: dict[str, Any], ch: str) -> dict[str, Any]:
    meter = data["meter"]
    spec = data["channels"][ch]
    spec = {"address": spec} if isinstance(spec, int) else dict(spec)
    spec.setdefault("type", meter.get("type", "float32"))
    spec.setdefault("word_order", meter.get("word_order", "ABCD"))
    spec.setdefault("scale", 1.0)
    spec.setdefault("abs", False)
    return spec


def mutants(golden: Golden) -> Iterator[Mutant]:
    base = _toml(golden)
    specs = {ch: _explicit(base, ch) for ch in base["channels"]}

    def alter(ch: str, category: str, change: str, **new: Any) -> Mutant:
        data = copy.deepcopy(base)
        spec = dict(specs[ch], **new)
        data["channels"][ch] = spec
        return Mutant(golden, ch, category, change, data, specs[ch], spec)

    def shifted(address: Any, delta: int) -> Any:
        if isinstance(address, list):  # a sum of registers: move the first
            return [address[0] + delta, *address[1:]]
        return address + delta

    for ch, spec in specs.items():
        words = _WIDTH[spec["type"]]
        for delta in sorted({1, -1, words, -words}):
            if isinstance(spec["address"], int) and spec["address"] + delta < 0:
                continue
            yield alter(ch, "address", f"address {delta:+d}", address=shifted(spec["address"], delta))
        for t in TYPES:
            if t != spec["type"]:
                yield alter(ch, "type", f"type {t}", type=t)
        for order in WORD_ORDERS:
            if order == spec["word_order"] or (
                words == 1 and _one_register(order) == _one_register(spec["word_order"])
            ):
                continue
            yield alter(ch, "word order", f"word order {order}", word_order=order)
        for factor in (10.0, 0.1, -1.0):
            yield alter(ch, "scale", f"scale × {factor:g}", scale=spec["scale"] * factor)
        if "scale_factor" in spec:
            for other in sorted({s["scale_factor"] for s in specs.values() if "scale_factor" in s}):
                if other != spec["scale_factor"]:
                    yield alter(ch, "scale", f"scale factor register {other}", scale_factor=other)
        yield alter(ch, "sign", f"abs {not spec['abs']}", abs=not spec["abs"])
    # two fields of the same width with their addresses swapped
    names = list(specs)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if _WIDTH[specs[a]["type"]] != _WIDTH[specs[b]["type"]]:
                continue
            data = copy.deepcopy(base)
            data["channels"][a] = dict(specs[a], address=specs[b]["address"])
            data["channels"][b] = dict(specs[b], address=specs[a]["address"])
            yield Mutant(golden, f"{a}/{b}", "address", "addresses swapped", data, specs[a], specs[a])
    for key, kinds, prefix in (
        ("active_power", ("import_positive", "export_positive"), "ActivePower"),
        ("reactive_power", ("inductive_positive", "capacitive_positive"), "ReactivePower"),
    ):
        if not any(ch.startswith(prefix) for ch in specs):
            continue  # nothing the sign applies to
        data = copy.deepcopy(base)
        current = data.setdefault("signs", {}).get(key, kinds[0])
        data["signs"][key] = kinds[1] if current == kinds[0] else kinds[0]
        yield Mutant(golden, "[signs]", "sign", f"{key} = {data['signs'][key]}", data, {}, {})


# --- equivalent mutants: changes that decode every value the meter can hold exactly as before ---


def _row_values(m: Mutant) -> list[float]:
    return [r.value for r in m.golden.rows if r.channel == m.field]


def _signedness_only(m: Mutant) -> str | None:
    old, new = m.old.get("type"), m.new.get("type")
    if m.category != "type" or old not in _INTEGER_FAMILY or new not in _INTEGER_FAMILY:
        return None
    if _INTEGER_FAMILY[old] != _INTEGER_FAMILY[new] or any(v < 0 for v in _row_values(m)):
        return None
    # acc types add the "zero" sentinel only where a field names none; that would change decoding
    if old.startswith("acc") != new.startswith("acc"):
        if "sentinel" not in m.old:
            return None
        if old.replace("acc", "uint") == new.replace("acc", "uint"):
            return f"{old} -> {new}: an acc type is its uint type with a default 'zero' sentinel, which a field naming its own sentinels does not get"
    return (
        f"{old} -> {new}: signed and unsigned read the same bits alike below 2^(n-1); the quantity is "
        "never negative and a meter's values stay far below that"
    )


def _pf_magnitude(m: Mutant) -> str | None:
    if not m.field.startswith("PowerFactor"):
        return None
    if m.change == "scale × -1" or m.change.startswith("abs"):
        return (
            "only the magnitude of a PF register is used (its sign comes from P), so its sign cannot matter"
        )
    return None


def _abs_of_magnitude(m: Mutant) -> str | None:
    rows = [r for r in m.golden.rows if r.channel == m.field]
    if m.change.startswith("abs") and rows and all(r.sign in ("mag", "counter", "hz") for r in rows):
        return "abs of a quantity the meter reports as a magnitude (never negative)"
    return None


def _sign_of_a_magnitude_field(m: Mutant) -> str | None:
    if m.change == "scale × -1" and m.old.get("abs"):
        return "the field takes the magnitude (abs = true), so the sign of its scale cannot matter"
    return None


EQUIVALENCES: tuple[Callable[[Mutant], str | None], ...] = (
    _signedness_only,
    _pf_magnitude,
    _abs_of_magnitude,
    _sign_of_a_magnitude_field,
)


def _equivalence(m: Mutant) -> str | None:
    for rule in EQUIVALENCES:
        reason = rule(m)
        if reason:
            return reason
    return None


def run(golden: Golden) -> tuple[Counter[str], list[tuple[Mutant, str]], list[Mutant]]:
    """(outcome counts, equivalent survivors with their reasons, unexplained survivors)."""
    outcomes: Counter[str] = Counter()
    equivalent: list[tuple[Mutant, str]] = []
    survivors: list[Mutant] = []
    assert check(golden, load(golden)) == [], f"{golden.label}: the unaltered profile fails its golden test"
    for m in mutants(golden):
        try:
            profile = load(golden, m.data)
        except (ProfileError, ValueError):
            outcomes["refused at load"] += 1
            continue
        if check(golden, profile, stop_early=True):
            outcomes["killed"] += 1
            continue
        reason = _equivalence(m)
        if reason:
            outcomes["equivalent"] += 1
            equivalent.append((m, reason))
        else:
            outcomes["survived"] += 1
            survivors.append(m)
    return outcomes, equivalent, survivors


@pytest.mark.slow
def test_every_single_field_mistake_fails_a_golden_test(capsys):
    total: Counter[str] = Counter()
    lines = []
    unexplained: list[Mutant] = []
    reasons: Counter[str] = Counter()
    for golden in GOLDENS:
        outcomes, equivalent, survivors = run(golden)
        total.update(outcomes)
        unexplained += survivors
        reasons.update(reason for _, reason in equivalent)
        n = sum(outcomes.values())
        lines.append(
            f"{golden.label:<18} {n:>5} mutants: {outcomes['killed']:>5} killed, "
            f"{outcomes['refused at load']:>4} refused at load, {outcomes['equivalent']:>3} equivalent, "
            f"{outcomes['survived']} survived"
        )
    n = sum(total.values())
    detected = total["killed"] + total["refused at load"]
    score = detected / (n - total["equivalent"])
    with capsys.disabled():
        print("\nmutation score of the golden tests:")
        print("\n".join(lines))
        print(f"all: {n} mutants, {detected} detected, {total['equivalent']} equivalent, score {score:.1%}")
        for reason, count in reasons.most_common():
            print(f"  equivalent ({count}): {reason}")
    assert not unexplained, "\n".join(
        f"{m.golden.label}: {m.field}: {m.change} survived every golden check" for m in unexplained
    )
    # the loader's refusals must not carry the score: most mutants reach the value checks
    assert total["killed"] > 3 * total["refused at load"]


def test_the_mistakes_found_in_review_are_caught():
    # the four single-field changes that passed the whole suite before these golden tests
    cases = {
        "abb_b23": lambda d: d["signs"].update(reactive_power="capacitive_positive"),
        "em340": lambda d: d["channels"]["EnergyImport"].update(word_order="ABCD"),
        "sunspec_int": lambda d: d["channels"].update(
            EnergyImport=d["channels"]["EnergyExport"], EnergyExport=d["channels"]["EnergyImport"]
        ),
    }
    for name, change in cases.items():
        golden = next(g for g in GOLDENS if g.profile == name)
        data = _toml(golden)
        change(data)
        assert check(golden, load(golden, data)), name
    golden = next(g for g in GOLDENS if g.profile == "abb_b23")
    data = _toml(golden)
    data["channels"]["Frequency"]["address"] += 1
    assert check(golden, load(golden, data))
