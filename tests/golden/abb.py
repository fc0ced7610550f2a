"""ABB B23/B24: register table. Holding registers (function code 03), high word first."""

from __future__ import annotations

from golden.model import Golden, Row


def _r(name, channel, address, type_, scale, unit, sign, value, na):
    return Row(name, channel, address, type_, "ABCD", scale, unit, sign, value, na=na)


U32, I32, U16, I16, U64 = "uint32", "int32", "uint16", "int16", "uint64"

B23 = Golden(
    profile="abb_b23",
    source="ABB B21/B23/B24 user manual (2CMC485003M0201), communication with Modbus, mapping tables "
    "(instantaneous values 0x5B00.., energy accumulators 0x5000..), as summarised in "
    "reference/meters.md 7.7; no-value codes (all-FF unsigned, 0x7FFF.. signed) as mbmd's ABB driver "
    "reads them. Reactive sign: the registers are signed, the sense is not stated",
    rows=(
        _r("Voltage L1-N", "Voltage_L1", 0x5B00, U32, 0.1, "V", "mag", 231.7, "all_ones"),
        _r("Voltage L2-N", "Voltage_L2", 0x5B02, U32, 0.1, "V", "mag", 229.3, "all_ones"),
        _r("Voltage L3-N", "Voltage_L3", 0x5B04, U32, 0.1, "V", "mag", 233.9, "all_ones"),
        _r("Voltage L1-L2", "Voltage_L12", 0x5B06, U32, 0.1, "V", "mag", 401.2, "all_ones"),
        _r("Voltage L3-L2", "Voltage_L23", 0x5B08, U32, 0.1, "V", "mag", 398.7, "all_ones"),
        _r("Voltage L1-L3", "Voltage_L31", 0x5B0A, U32, 0.1, "V", "mag", 404.1, "all_ones"),
        _r("Current L1", "Current_L1", 0x5B0C, U32, 0.01, "A", "mag", 12.34, "all_ones"),
        _r("Current L2", "Current_L2", 0x5B0E, U32, 0.01, "A", "mag", 5.67, "all_ones"),
        _r("Current L3", "Current_L3", 0x5B10, U32, 0.01, "A", "mag", 8.91, "all_ones"),
        _r("Active power, Total", "ActivePower", 0x5B14, I32, 0.01, "W", "+imp", 3410.93, "max"),
        _r("Active power, L1", "ActivePower_L1", 0x5B16, I32, 0.01, "W", "+imp", 2741.52, "max"),
        _r("Active power, L2", "ActivePower_L2", 0x5B18, I32, 0.01, "W", "+imp", -1204.31, "max"),
        _r("Active power, L3", "ActivePower_L3", 0x5B1A, I32, 0.01, "W", "+imp", 1873.74, "max"),
        _r("Reactive power, Total", "ReactivePower", 0x5B1C, I32, 0.01, "var", "+ind?", 1006.71, "max"),
        _r("Reactive power, L1", "ReactivePower_L1", 0x5B1E, I32, 0.01, "var", "+ind?", 782.53, "max"),
        _r("Reactive power, L2", "ReactivePower_L2", 0x5B20, I32, 0.01, "var", "+ind?", -509.12, "max"),
        _r("Reactive power, L3", "ReactivePower_L3", 0x5B22, I32, 0.01, "var", "+ind?", 733.34, "max"),
        _r("Apparent power, Total", "ApparentPower", 0x5B24, I32, 0.01, "VA", "mag", 6170.62, "max"),
        _r("Apparent power, L1", "ApparentPower_L1", 0x5B26, I32, 0.01, "VA", "mag", 2851.23, "max"),
        _r("Apparent power, L2", "ApparentPower_L2", 0x5B28, I32, 0.01, "VA", "mag", 1307.55, "max"),
        _r("Apparent power, L3", "ApparentPower_L3", 0x5B2A, I32, 0.01, "VA", "mag", 2011.84, "max"),
        _r("Frequency", "Frequency", 0x5B2C, U16, 0.01, "Hz", "hz", 49.95, "all_ones"),
        _r("Power factor, Total", "PowerFactor", 0x5B3A, I16, 0.001, "", "pf", 0.553, "max"),
        _r("Power factor, L1", "PowerFactor_L1", 0x5B3B, I16, 0.001, "", "pf", 0.958, "max"),
        _r("Power factor, L2", "PowerFactor_L2", 0x5B3C, I16, 0.001, "", "pf", -0.921, "max"),
        _r("Power factor, L3", "PowerFactor_L3", 0x5B3D, I16, 0.001, "", "pf", 0.931, "max"),
        _r("Active import kWh", "EnergyImport", 0x5000, U64, 0.01, "kWh", "counter", 12345.67, "all_ones"),
        _r("Active export kWh", "EnergyExport", 0x5004, U64, 0.01, "kWh", "counter", 2345.78, "all_ones"),
        _r(
            "Reactive import kvarh",
            "ReactiveEnergyImport",
            0x500C,
            U64,
            0.01,
            "kvarh",
            "counter",
            456.78,
            "all_ones",
        ),
        _r(
            "Reactive export kvarh",
            "ReactiveEnergyExport",
            0x5010,
            U64,
            0.01,
            "kvarh",
            "counter",
            123.45,
            "all_ones",
        ),
    ),
    function_codes=(3,),
)

GOLDENS = (B23,)
