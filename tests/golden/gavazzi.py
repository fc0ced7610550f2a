"""Carlo Gavazzi EM340 (EM330/ET330/ET340, EM24 Ethernet) and EM24-DIN: register tables.

Values are INT32 with the least significant word first ("LSW" in the documents; CDAB here) and a
"value weight" (V×10, A×1000, W/VA/var×10, kWh/kvarh×10), PF and Hz INT16 (PF×1000, Hz×10). Both
meters answer function codes 03 and 04 alike.
"""

from __future__ import annotations

from dataclasses import replace

from golden.model import Golden, Row


def _i32(name, channel, address, scale, unit, sign, value, na=None):
    return Row(name, channel, address, "int32", "CDAB", scale, unit, sign, value, na=na)


def _i16(name, channel, address, scale, unit, sign, value):
    return Row(name, channel, address, "int16", "-", scale, unit, sign, value)


# The documents give no "not available" code for VA; a negative VA is out of range, which is how
# the golden frames make S go missing to reach the total and PF registers.
NO_VA = "raw:-1"


def _common(pf_base: int, hz: int, e_imp: int, re_imp: int, e_exp: int, re_exp: int) -> tuple[Row, ...]:
    return (
        _i32("V L1-N", "Voltage_L1", 0x0000, 0.1, "V", "mag", 231.7),
        _i32("V L2-N", "Voltage_L2", 0x0002, 0.1, "V", "mag", 229.3),
        _i32("V L3-N", "Voltage_L3", 0x0004, 0.1, "V", "mag", 233.9),
        _i32("V L1-L2", "Voltage_L12", 0x0006, 0.1, "V", "mag", 401.2),
        _i32("V L2-L3", "Voltage_L23", 0x0008, 0.1, "V", "mag", 398.7),
        _i32("V L3-L1", "Voltage_L31", 0x000A, 0.1, "V", "mag", 404.1),
        # signed in bidirectional mode: negative while the phase exports
        _i32("A L1", "Current_L1", 0x000C, 0.001, "A", "-exp", 12.345),
        _i32("A L2", "Current_L2", 0x000E, 0.001, "A", "-exp", -5.678),
        _i32("A L3", "Current_L3", 0x0010, 0.001, "A", "-exp", 8.912),
        _i32("W L1", "ActivePower_L1", 0x0012, 0.1, "W", "+imp", 2741.5),
        _i32("W L2", "ActivePower_L2", 0x0014, 0.1, "W", "+imp", -1204.3),
        _i32("W L3", "ActivePower_L3", 0x0016, 0.1, "W", "+imp", 1873.7),
        _i32("VA L1", "ApparentPower_L1", 0x0018, 0.1, "VA", "mag", 2851.2, NO_VA),
        _i32("VA L2", "ApparentPower_L2", 0x001A, 0.1, "VA", "mag", 1307.5, NO_VA),
        _i32("VA L3", "ApparentPower_L3", 0x001C, 0.1, "VA", "mag", 2011.8, NO_VA),
        _i32("var L1", "ReactivePower_L1", 0x001E, 0.1, "var", "+ind?", 782.5),
        _i32("var L2", "ReactivePower_L2", 0x0020, 0.1, "var", "+ind?", -509.1),
        _i32("var L3", "ReactivePower_L3", 0x0022, 0.1, "var", "+ind?", 733.3),
        _i32("W sys", "ActivePower", 0x0028, 0.1, "W", "+imp", 3410.9),
        _i32("VA sys", "ApparentPower", 0x002A, 0.1, "VA", "mag", 6170.6, NO_VA),
        _i32("var sys", "ReactivePower", 0x002C, 0.1, "var", "+ind?", 1006.7),
        _i16("PF L1", "PowerFactor_L1", pf_base, 0.001, "", "pf", 0.958),
        _i16("PF L2", "PowerFactor_L2", pf_base + 1, 0.001, "", "pf", -0.921),
        _i16("PF L3", "PowerFactor_L3", pf_base + 2, 0.001, "", "pf", 0.931),
        _i16("PF sys", "PowerFactor", pf_base + 3, 0.001, "", "pf", 0.553),
        _i16("Hz", "Frequency", hz, 0.1, "Hz", "hz", 49.9),
        _i32("kWh (+) TOT", "EnergyImport", e_imp, 0.1, "kWh", "counter", 12345.6),
        _i32("kvarh (+) TOT", "ReactiveEnergyImport", re_imp, 0.1, "kvarh", "counter", 456.7),
        _i32("kWh (-) TOT", "EnergyExport", e_exp, 0.1, "kWh", "counter", 2345.7),
        _i32("kvarh (-) TOT", "ReactiveEnergyExport", re_exp, 0.1, "kvarh", "counter", 123.4),
    )


def _frames(rows: tuple[Row, ...]) -> dict[str, dict[str, float | None]]:
    return {
        # behind VT/CT ratios (up to 6000 and 60000 on these meters) the registers hold primary
        # values: every INT32 needs its high word, so a 16-bit read of the low word shows
        "VT/CT ratios": {r.name: r.value * 100 for r in rows if r.type == "int32"},
    }


EM340 = Golden(
    profile="em340",
    source='Carlo Gavazzi "EM300 Series and ET300 Series communication protocol", version 2 revision 17 '
    "(2021), table of instantaneous variables and meters; PF sign: - export / + import; var sign: not "
    "stated. Cross-checks: mbmd CGEX3X0 driver (same addresses and weights); reference/meters.md 7.4",
    rows=_common(pf_base=0x002E, hz=0x0033, e_imp=0x0034, re_imp=0x0036, e_exp=0x004E, re_exp=0x0050),
    function_codes=(3, 4),
)
EM340 = replace(EM340, extra_frames=_frames(EM340.rows))

EM24DIN = Golden(
    profile="em24din",
    source='Carlo Gavazzi "EM24-DIN PFA, PFB & X models communication protocol", table of '
    "instantaneous variables and meters (0x003E kWh(+) TOT, 0x005C kWh(-) TOT); PF sign: - lead / + lag; "
    "var sign: not stated. Cross-checks: EM24 register map at aggsoft.com (same offsets; 0x0042 is "
    "kWh(+) PAR, the partial counter mbmd's CGEM24 reads); reference/meters.md 7.5",
    rows=_common(pf_base=0x0032, hz=0x0037, e_imp=0x003E, re_imp=0x0040, e_exp=0x005C, re_exp=0x005E),
    function_codes=(3, 4),
)
EM24DIN = replace(EM24DIN, extra_frames=_frames(EM24DIN.rows))

GOLDENS = (EM340, EM24DIN)
