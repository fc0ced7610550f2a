"""Eastron SDM630, SDM120, SDM72D-M V2 and V1: register tables from the vendor documents.

All measured values are IEEE 754 float32 input registers (function code 04), high word first, in
the unit shown (scale 1). Cross-checks: mbmd (volkszaehler/mbmd meters/rs485/sdm.go, sdm120.go,
sdm72.go, sdm72v2.go) and reaper7/SDM_Energy_Meter SDM.h use the same addresses.
"""

from __future__ import annotations

from golden.model import Golden, Row

F = "float32"


def _r(name, channel, address, unit, sign, value):
    return Row(name, channel, address, F, "ABCD", 1.0, unit, sign, value, na="nan")


# (vendor name, channel, address, unit, native sign, golden value)
_SDM630 = [
    ("Phase 1 line to neutral volts", "Voltage_L1", 0x0000, "V", "mag", 231.7),
    ("Phase 2 line to neutral volts", "Voltage_L2", 0x0002, "V", "mag", 229.3),
    ("Phase 3 line to neutral volts", "Voltage_L3", 0x0004, "V", "mag", 233.9),
    ("Phase 1 current", "Current_L1", 0x0006, "A", "mag", 12.34),
    ("Phase 2 current", "Current_L2", 0x0008, "A", "mag", 5.67),
    ("Phase 3 current", "Current_L3", 0x000A, "A", "mag", 8.91),
    ("Phase 1 active power", "ActivePower_L1", 0x000C, "W", "+imp", 2741.5),
    ("Phase 2 active power", "ActivePower_L2", 0x000E, "W", "+imp", -1204.25),
    ("Phase 3 active power", "ActivePower_L3", 0x0010, "W", "+imp", 1873.75),
    ("Phase 1 apparent power", "ApparentPower_L1", 0x0012, "VA", "mag", 2851.0),
    ("Phase 2 apparent power", "ApparentPower_L2", 0x0014, "VA", "mag", 1307.5),
    ("Phase 3 apparent power", "ApparentPower_L3", 0x0016, "VA", "mag", 2011.75),
    ("Phase 1 reactive power", "ReactivePower_L1", 0x0018, "var", "+ind?", 782.5),
    ("Phase 2 reactive power", "ReactivePower_L2", 0x001A, "var", "+ind?", -509.0),
    ("Phase 3 reactive power", "ReactivePower_L3", 0x001C, "var", "+ind?", 733.25),
    # "the power factor has its sign adjusted to indicate the direction of the current"
    ("Phase 1 power factor", "PowerFactor_L1", 0x001E, "", "pf", 0.9581),
    ("Phase 2 power factor", "PowerFactor_L2", 0x0020, "", "pf", -0.9206),
    ("Phase 3 power factor", "PowerFactor_L3", 0x0022, "", "pf", 0.9312),
    ("Total system power", "ActivePower", 0x0034, "W", "+imp", 3411.0),
    ("Total system volt amps", "ApparentPower", 0x0038, "VA", "mag", 6170.5),
    ("Total system VAr", "ReactivePower", 0x003C, "var", "+ind?", 1006.5),
    ("Total system power factor", "PowerFactor", 0x003E, "", "pf", 0.5527),
    ("Frequency of supply voltages", "Frequency", 0x0046, "Hz", "hz", 49.97),
    ("Total import kWh", "EnergyImport", 0x0048, "kWh", "counter", 12345.6),
    ("Total export kWh", "EnergyExport", 0x004A, "kWh", "counter", 2345.7),
    ("Total import kVArh", "ReactiveEnergyImport", 0x004C, "kvarh", "counter", 456.7),
    ("Total export kVArh", "ReactiveEnergyExport", 0x004E, "kvarh", "counter", 123.4),
    ("Line 1 to Line 2 volts", "Voltage_L12", 0x00C8, "V", "mag", 401.2),
    ("Line 2 to Line 3 volts", "Voltage_L23", 0x00CA, "V", "mag", 398.7),
    ("Line 3 to Line 1 volts", "Voltage_L31", 0x00CC, "V", "mag", 404.1),
]

SDM630 = Golden(
    profile="sdm630",
    source="Eastron SDM630-Modbus V2 user manual (B+G e-tech), section 1.2 input registers "
    "(30001..30205 = protocol addresses 0x0000..0x00CC); reactive sign: not stated",
    rows=tuple(_r(*row) for row in _SDM630),
    function_codes=(4,),
)

_SDM120 = [
    ("Line to neutral volts", "Voltage_L1", 0x0000, "V", "mag", 231.7),
    ("Current", "Current_L1", 0x0006, "A", "mag", 12.34),
    ("Active power", "ActivePower_L1", 0x000C, "W", "+imp", -2741.5),
    ("Apparent power", "ApparentPower_L1", 0x0012, "VA", "mag", 2851.0),
    ("Reactive power", "ReactivePower_L1", 0x0018, "var", "+ind?", 782.5),
    ("Power factor", "PowerFactor_L1", 0x001E, "", "pf", -0.9581),
    ("Frequency", "Frequency", 0x0046, "Hz", "hz", 50.03),
    ("Import active energy", "EnergyImport", 0x0048, "kWh", "counter", 1234.5),
    ("Export active energy", "EnergyExport", 0x004A, "kWh", "counter", 678.9),
    ("Import reactive energy", "ReactiveEnergyImport", 0x004C, "kvarh", "counter", 45.6),
    ("Export reactive energy", "ReactiveEnergyExport", 0x004E, "kvarh", "counter", 12.3),
]

SDM120 = Golden(
    profile="sdm120",
    source="Eastron SDM120-Modbus protocol (sdm120modbus manual), input registers 30001..30079 "
    "(0x0000..0x004E); reactive sign: not stated",
    rows=tuple(_r(*row) for row in _SDM120),
    function_codes=(4,),
)

_SDM72_V2 = [row for row in _SDM630 if row[2] <= 0x004A]

SDM72_V2 = Golden(
    profile="sdm72",
    source="Eastron SDM72D-M-v2 Modbus protocol (SDM72DM-V2.pdf), input registers 0x0000..0x004A "
    "(as read by mbmd's SDM72V2 driver); no reactive energy registers; reactive sign: not stated",
    rows=tuple(_r(*row) for row in _SDM72_V2),
    function_codes=(4,),
)

_SDM72_V1 = [
    ("Total system power", "ActivePower", 0x0034, "W", "+imp", -3411.0),
    ("Total Import kWh", "EnergyImport", 0x0048, "kWh", "counter", 9876.5),
    ("Total Export kWh", "EnergyExport", 0x004A, "kWh", "counter", 5432.1),
]

SDM72_V1 = Golden(
    profile="sdm72v1",
    source="B+G e-tech EASTRON SDM72D-M User Manual V1.5, part 3 Modbus protocol, input registers "
    "30053, 30073, 30075 (0x0034, 0x0048, 0x004A)",
    rows=tuple(_r(*row) for row in _SDM72_V1),
    function_codes=(4,),
)

GOLDENS = (SDM630, SDM120, SDM72_V2, SDM72_V1)
