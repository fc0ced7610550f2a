"""Which PMU phasor is which grid quantity, and the grid channels one data frame gives.

A PMU names its phasors freely ("VA", "IAW", "BUS1 VB", "V1Y", "+SV"); its configuration says
only whether each one is a voltage or a current (PHUNIT; CFG-3 may also give the phase or
sequence). `PhasorMapping` picks, for each phase, a voltage and a current phasor, from an
explicit mapping (a site file's `phasors` table) or from the names by the rules below, and
`ChannelMapper` turns the phasors, FREQ and DFREQ of one frame into grid channels.

Name rules (case-insensitive; a name is split into tokens at anything but letters, digits, "+"):

- phase L1/L2/L3: a token `A`/`B`/`C`, optionally prefixed by V or I and followed by one of the
  reference or terminal letters G, M, N, W, X, Y, Z (`VA`, `IA`, `VAN`, `VAY`, `IAW`; not `VAB`,
  a line-to-line voltage, nor `CT`);
  `L1`..`L3` (`VL1`, `IL2`); `PHA`..`PHC`, `PHASEA`..`PHASEC`;
- positive sequence: `V1`, `I1` (with an optional letter after: `V1Y`, `I1W`), `VPOS`, `POS`,
  `PS`, `PSV`, `+SV`, `+SI`, `V+`, `I+`, `POSITIVE`;
- digits: when a PMU names its phasors 1, 2, 3 (`V1`, `V2`, `V3` all present), they are phases;
  otherwise `1` means positive sequence (`V2`, `V0` are negative and zero sequence, never mapped);
- CFG-3's phasor component ("A", "B", "C", "positive", ...) wins over the name.

Two phasors of the same kind claiming the same role (two buses on one PMU) are an error that
names both: say which one to use with an explicit mapping.

Channels (IEEE 1459 load convention: S = V·conj(I), + import, + inductive Q): per phase
Voltage_Lx = |V|, Current_Lx = |I| (C37.118 phasor magnitudes are RMS), ActivePower_Lx = Re S,
ReactivePower_Lx = Im S, ApparentPower_Lx = |V|·|I|, PowerFactor_Lx = P/S; Voltage_L12 etc. =
|Va − Vb|; totals as sums over the phases (ApparentPower the arithmetic sum), PowerFactor =
P/S signed by P, PhaseImbalance. `invert` (a reversed CT) flips P and Q. Frequency = FREQ
(absolute Hz), Frequency_RoCoF = DFREQ.

A PMU that sends positive sequence only gives ActivePower and ReactivePower as 3·V1·conj(I1)
(exact for a balanced system; the negative- and zero-sequence power of an unbalanced one is not
in it), ApparentPower = 3·|V1|·|I1| and PowerFactor; no per-phase channels. What a mapping cannot
produce is listed in `PhasorMapping.left_out`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gridtap._core import C37118Config, PhasorChannels
from gridtap.errors import GridtapError

__all__ = ["ROLES", "ChannelMapper", "MappingError", "PhasorMapping", "check_roles", "classify_phasor_name"]

log = logging.getLogger(__name__)

PHASES = ("L1", "L2", "L3")
_LINE_PAIRS = (("L12", 0, 1), ("L23", 1, 2), ("L31", 2, 0))

#: The keys of an explicit mapping: a phasor name (or index) for each.
ROLES = (
    "Voltage_L1", "Voltage_L2", "Voltage_L3", "Current_L1", "Current_L2", "Current_L3",
    "Voltage_Positive", "Current_Positive",
)  # fmt: skip

#: Every channel a PMU could give, in catalogue order (energy is integrated by the meter).
ALL_CHANNELS = (
    "ActivePower", "ActivePower_L1", "ActivePower_L2", "ActivePower_L3",
    "ReactivePower", "ReactivePower_L1", "ReactivePower_L2", "ReactivePower_L3",
    "ApparentPower", "PowerFactor", "Frequency", "Frequency_RoCoF",
    "Voltage_L1", "Voltage_L2", "Voltage_L3", "Current_L1", "Current_L2", "Current_L3",
    "EnergyImport", "EnergyExport", "EnergyNet", "ReactiveEnergyImport", "ReactiveEnergyExport",
    "Voltage_L12", "Voltage_L23", "Voltage_L31",
    "ApparentPower_L1", "ApparentPower_L2", "ApparentPower_L3",
    "PowerFactor_L1", "PowerFactor_L2", "PowerFactor_L3", "PhaseImbalance",
)  # fmt: skip

_ENERGY = ("EnergyImport", "EnergyExport", "EnergyNet")
_REACTIVE_ENERGY = ("ReactiveEnergyImport", "ReactiveEnergyExport")


class MappingError(GridtapError, ValueError):
    """Phasors that cannot be mapped as asked: names the PMU, the phasor and the role."""


# --- names ------------------------------------------------------------------------------------

_SPLIT = re.compile(r"[^A-Z0-9+]+")
_PHASE_TOKENS = (
    (re.compile(r"^[VI]?([ABC])[GMNWXYZ]?$"), "ABC"),
    (re.compile(r"^[VI]?L([123])$"), "123"),
    (re.compile(r"^PH(?:ASE)?([ABC])$"), "ABC"),
)
_POSITIVE_TOKEN = re.compile(r"^(?:[VI]1[A-Z]?|[VI]?(?:POS|PS|\+)[A-Z]?|\+S[VI]?|POSITIVE)$")
_DIGIT_TOKEN = re.compile(r"^[VI]([0123])[A-Z]?$")
_COMPONENTS = {"A": "L1", "B": "L2", "C": "L3", "positive": "positive"}


def classify_phasor_name(name: str, digits_are_phases: bool = False) -> str | None:
    """ "L1", "L2", "L3", "positive" or None (not recognised, or conflicting tokens)."""
    found: set[str] = set()
    for token in _SPLIT.split(name.upper()):
        if not token:
            continue
        digit = _DIGIT_TOKEN.match(token)
        if digit and digits_are_phases:
            if digit.group(1) in "123":
                found.add(f"L{digit.group(1)}")
            continue
        for pattern, letters in _PHASE_TOKENS:
            m = pattern.match(token)
            if m:
                found.add(PHASES[letters.index(m.group(1))])
                break
        else:
            if _POSITIVE_TOKEN.match(token):
                found.add("positive")
    return found.pop() if len(found) == 1 else None


def _digits_are_phases(names: Sequence[str]) -> bool:
    """Whether the PMU numbers its phases 1-3: a "V3" or "I3" only exists in such a naming."""
    return any(
        (m := _DIGIT_TOKEN.match(token)) is not None and m.group(1) == "3"
        for name in names
        for token in _SPLIT.split(name.upper())
    )


# --- the mapping ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhasorMapping:
    """Phasor indices per role (None where the PMU has none) and what that allows.

    `mode` is "per-phase" (power from phase voltages and currents), "positive-sequence" (power
    from V1 and I1 only), or "none" (no power: voltages and/or frequency only).
    """

    station: str
    voltages: tuple[int | None, int | None, int | None]
    currents: tuple[int | None, int | None, int | None]
    positive_voltage: int | None
    positive_current: int | None
    phasor_names: tuple[str, ...]
    mode: str
    channels: tuple[str, ...]
    left_out: tuple[str, ...]

    @classmethod
    def build(
        cls,
        station: str,
        names: Sequence[str],
        units: Sequence[str],
        components: Sequence[str | None] | None = None,
        explicit: Mapping[str, str | int] | None = None,
    ) -> PhasorMapping:
        """Choose the phasors: by `explicit` ({role: phasor name or index}, see ROLES) if given,
        else by the name rules. `units` are "V" or "A" per phasor."""
        names = [n.strip() for n in names]
        if len(units) != len(names):
            raise MappingError(f"PMU {station!r}: {len(names)} phasor names but {len(units)} units")
        roles = (
            _explicit_roles(station, names, units, explicit)
            if explicit is not None
            else _roles_from_names(station, names, units, components)
        )
        volts = tuple(roles.get(f"Voltage_{p}") for p in PHASES)
        amps = tuple(roles.get(f"Current_{p}") for p in PHASES)
        v1, i1 = roles.get("Voltage_Positive"), roles.get("Current_Positive")
        channels = _channels_for(volts, amps, v1, i1)
        mode = (
            "per-phase"
            if any(f"ActivePower_{p}" in channels for p in PHASES)
            else "positive-sequence"
            if "ActivePower" in channels
            else "none"
        )
        return cls(
            station=station,
            voltages=volts,  # type: ignore[arg-type]
            currents=amps,  # type: ignore[arg-type]
            positive_voltage=v1,
            positive_current=i1,
            phasor_names=tuple(names),
            mode=mode,
            channels=tuple(c for c in ALL_CHANNELS if c in channels),
            left_out=tuple(c for c in ALL_CHANNELS if c not in channels),
        )

    @classmethod
    def for_config(
        cls, config: C37118Config, pmu: int | str | None, explicit: Mapping[str, str | int] | None, where: str
    ) -> tuple[int, PhasorMapping]:
        """The PMU block of a (multi-PMU) configuration chosen by `pmu` (its IDCODE or station
        name; None: the first, logged when there are more) and its mapping."""
        index = _pick_pmu(config, pmu, where)
        pc = config.pmus[index]
        names, units, components = pc.phasor_names, pc.phasor_units, pc.phasor_components
        return index, cls.build(pc.station.strip(), names, units, components, explicit)

    def left_out_note(self) -> str:
        """What this PMU's phasors do not give, for the log: "" when they give everything."""
        if not self.left_out:
            return ""
        what = {
            "positive-sequence": "sends positive sequence only: totals from 3·V1·conj(I1)",
            "per-phase": "maps per-phase phasors",
            "none": "sends no voltage and current pair: no power",
        }[self.mode]
        return f"PMU {self.station!r} {what}; left out: {', '.join(self.left_out)}"

    def describe(self) -> str:
        """One line per mapped role, e.g. "Voltage_L1 <- VA"."""

        def name(i: int | None) -> str:
            return "-" if i is None else self.phasor_names[i]

        parts = [f"Voltage_{p} <- {name(i)}" for p, i in zip(PHASES, self.voltages, strict=True)]
        parts += [f"Current_{p} <- {name(i)}" for p, i in zip(PHASES, self.currents, strict=True)]
        if self.positive_voltage is not None or self.positive_current is not None:
            parts.append(f"positive sequence V <- {name(self.positive_voltage)}")
            parts.append(f"positive sequence I <- {name(self.positive_current)}")
        return "\n".join(parts)


def _pick_pmu(config: C37118Config, pmu: int | str | None, where: str) -> int:
    pmus = config.pmus
    if pmu is None:
        if len(pmus) > 1:
            log.info(
                "%s: stream has %d PMUs (%s); mapping the first, %r (choose with pmu=...)",
                where,
                len(pmus),
                ", ".join(f"{p.station.strip()!r} id {p.idcode}" for p in pmus),
                pmus[0].station.strip(),
            )
        return 0
    for i, p in enumerate(pmus):
        if (isinstance(pmu, int) and p.idcode == pmu) or (
            isinstance(pmu, str) and p.station.strip() == pmu.strip()
        ):
            return i
    have = ", ".join(f"{p.station.strip()!r} (id {p.idcode})" for p in pmus)
    raise MappingError(f"{where}: the stream has no PMU {pmu!r}; it has {have}")


def check_roles(explicit: object, where: str = "phasors") -> None:
    """Raise MappingError unless `explicit` is {role: phasor name or index} with known roles."""
    if not isinstance(explicit, Mapping):
        raise MappingError(f"{where}: expected a mapping of role to phasor name, got {explicit!r}")
    for role, ref in explicit.items():
        if role not in ROLES:
            raise MappingError(f"{where}: unknown phasor role {role!r}; expected one of {', '.join(ROLES)}")
        if (
            isinstance(ref, bool)
            or not isinstance(ref, str | int)
            or (isinstance(ref, str) and not ref.strip())
            or (isinstance(ref, int) and ref < 0)
        ):
            raise MappingError(f"{where}: {role} must name a phasor (its name or index), got {ref!r}")


def _explicit_roles(
    station: str, names: list[str], units: Sequence[str], explicit: Mapping[str, str | int]
) -> dict[str, int]:
    check_roles(explicit, f"PMU {station!r}")
    roles: dict[str, int] = {}
    for role, ref in explicit.items():
        if isinstance(ref, int):
            if not 0 <= ref < len(names):
                raise MappingError(
                    f"PMU {station!r}: {role} = {ref}: phasor index out of range 0..{len(names) - 1}"
                )
            index = ref
        else:
            matches = [i for i, n in enumerate(names) if n == ref.strip()]
            if not matches:
                raise MappingError(
                    f"PMU {station!r}: {role} = {ref!r}: no such phasor; it has {', '.join(map(repr, names))}"
                )
            if len(matches) > 1:
                raise MappingError(
                    f"PMU {station!r}: {role} = {ref!r}: several phasors have that name; give its index"
                )
            index = matches[0]
        want = "V" if role.startswith("Voltage") else "A"
        if units[index] != want:
            kind = "a voltage" if want == "V" else "a current"
            raise MappingError(
                f"PMU {station!r}: {role} = {names[index]!r} is not {kind} (its unit is {units[index]})"
            )
        roles[role] = index
    return roles


def _roles_from_names(
    station: str, names: list[str], units: Sequence[str], components: Sequence[str | None] | None
) -> dict[str, int]:
    digits = _digits_are_phases(names)
    roles: dict[str, int] = {}
    for i, (name, unit) in enumerate(zip(names, units, strict=True)):
        component = components[i] if components is not None else None
        where = _COMPONENTS.get(component) if component is not None else classify_phasor_name(name, digits)
        if where is None:
            continue
        kind = "Voltage" if unit == "V" else "Current"
        role = f"{kind}_{'Positive' if where == 'positive' else where}"
        if role in roles:
            raise MappingError(
                f"PMU {station!r}: phasors {names[roles[role]]!r} and {name!r} both look like {role}; "
                "say which one to use with an explicit phasor mapping"
            )
        roles[role] = i
    return roles


def _channels_for(
    volts: Sequence[int | None], amps: Sequence[int | None], v1: int | None, i1: int | None
) -> set[str]:
    out = {"Frequency", "Frequency_RoCoF"}
    both = [v is not None and a is not None for v, a in zip(volts, amps, strict=True)]
    for p, v, a, ok in zip(PHASES, volts, amps, both, strict=True):
        if v is not None:
            out.add(f"Voltage_{p}")
        if a is not None:
            out.add(f"Current_{p}")
        if ok:
            out |= {f"{q}_{p}" for q in ("ActivePower", "ReactivePower", "ApparentPower", "PowerFactor")}
    for name, a, b in _LINE_PAIRS:
        if volts[a] is not None and volts[b] is not None:
            out.add(f"Voltage_{name}")
    # totals only when every phase that has a voltage or a current also has power: a sum over
    # some phases of a three-phase connection is not the site's power
    present = [v is not None or a is not None for v, a in zip(volts, amps, strict=True)]
    per_phase = any(both) and all(ok for ok, there in zip(both, present, strict=True) if there)
    if per_phase:
        out |= {"ActivePower", "ReactivePower", "ApparentPower", "PowerFactor"}
        if all(both):
            out.add("PhaseImbalance")
    elif not any(both) and v1 is not None and i1 is not None:
        out |= {"ActivePower", "ReactivePower", "ApparentPower", "PowerFactor"}
    if "ActivePower" in out:
        out |= {*_ENERGY, *_REACTIVE_ENERGY}
    return out


# --- one frame --------------------------------------------------------------------------------


class ChannelMapper:
    """Grid channels from one frame's phasors, FREQ and DFREQ, by a `PhasorMapping`, computed in
    the Rust core (`PhasorChannels`).

    `values()` returns {channel: value or None} for the mapping's instantaneous channels (not
    the energy counters, which the meter integrates); None where a phasor or value the channel
    needs was absent (NaN) in the frame. `block()` does the same straight from a decoded PMU
    block of a data frame.
    """

    __slots__ = ("_core", "block", "channels", "mapping")

    def __init__(self, mapping: PhasorMapping, invert: bool = False) -> None:
        self.mapping = mapping
        positive = None
        if mapping.mode == "positive-sequence":
            assert mapping.positive_voltage is not None and mapping.positive_current is not None
            positive = (mapping.positive_voltage, mapping.positive_current)
        self._core = PhasorChannels(
            mapping.voltages,
            mapping.currents,
            positive,
            totals="ActivePower" in mapping.channels,
            invert=invert,
        )
        self.channels = tuple(c for c in mapping.channels if c not in (*_ENERGY, *_REACTIVE_ENERGY))
        self.block = self._core.block

    def values(self, phasors: Sequence[complex], freq: float, rocof: float) -> dict[str, float | None]:
        return self._core.values(list(phasors), freq, rocof)
