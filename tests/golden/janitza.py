"""Janitza UMG 96RM and UMG 604: register tables.

Both are IEEE 754 float32, high word first, read with function code 03. Energies are in Wh (the
profiles divide by 1000 for kWh): the rows say "Wh -> kWh" with scale 0.001.
"""

from __future__ import annotations

from golden.model import Golden, Row


def _f(name, channel, address, unit, sign, value, scale=1.0):
    return Row(name, channel, address, "float32", "ABCD", scale, unit, sign, value, na="nan")


WH = 0.001  # register in Wh, channel in kWh

UMG96RM = Golden(
    profile="umg96rm",
    source='Janitza "Power Analyser UMG 96RM, Modbus address list and formulary", Dok. Nr. 1.040.034.b '
    "(from firmware 1.14), frequently required readings 19000..19108; CosPhi sign: - supply / + obtain; "
    "reactive sign: not stated in any source we could check. Energies cross-checked with OpenEMS's "
    "UMG 96RME driver (19068 = energy with positive power, 19076 = with negative power)",
    rows=(
        _f("_ULN[0]", "Voltage_L1", 19000, "V", "mag", 231.7),
        _f("_ULN[1]", "Voltage_L2", 19002, "V", "mag", 229.3),
        _f("_ULN[2]", "Voltage_L3", 19004, "V", "mag", 233.9),
        _f("_ULL[0]", "Voltage_L12", 19006, "V", "mag", 401.2),
        _f("_ULL[1]", "Voltage_L23", 19008, "V", "mag", 398.7),
        _f("_ULL[2]", "Voltage_L31", 19010, "V", "mag", 404.1),
        _f("_ILN[0]", "Current_L1", 19012, "A", "mag", 12.34),
        _f("_ILN[1]", "Current_L2", 19014, "A", "mag", 5.67),
        _f("_ILN[2]", "Current_L3", 19016, "A", "mag", 8.91),
        _f("_PLN[0]", "ActivePower_L1", 19020, "W", "+imp", 2741.5),
        _f("_PLN[1]", "ActivePower_L2", 19022, "W", "+imp", -1204.25),
        _f("_PLN[2]", "ActivePower_L3", 19024, "W", "+imp", 1873.75),
        _f("_P_SUM3", "ActivePower", 19026, "W", "+imp", 3411.0),
        _f("_SLN[0]", "ApparentPower_L1", 19028, "VA", "mag", 2851.0),
        _f("_SLN[1]", "ApparentPower_L2", 19030, "VA", "mag", 1307.5),
        _f("_SLN[2]", "ApparentPower_L3", 19032, "VA", "mag", 2011.75),
        _f("_S_SUM3", "ApparentPower", 19034, "VA", "mag", 6170.5),
        _f("_QLN[0]", "ReactivePower_L1", 19036, "var", "+ind?", 782.5),
        _f("_QLN[1]", "ReactivePower_L2", 19038, "var", "+ind?", -509.0),
        _f("_QLN[2]", "ReactivePower_L3", 19040, "var", "+ind?", 733.25),
        _f("_Q_SUM3", "ReactivePower", 19042, "var", "+ind?", 1006.5),
        _f("_COSPHI[0]", "PowerFactor_L1", 19044, "", "pf", 0.9581),
        _f("_COSPHI[1]", "PowerFactor_L2", 19046, "", "pf", -0.9206),
        _f("_COSPHI[2]", "PowerFactor_L3", 19048, "", "pf", 0.9312),
        _f("_FREQ", "Frequency", 19050, "Hz", "hz", 49.97),
        _f("_WH_V[0] consumed", "EnergyImport", 19068, "Wh->kWh", "counter", 12345.678, WH),
        _f("_WH_Z[0] delivered", "EnergyExport", 19076, "Wh->kWh", "counter", 2345.678, WH),
        _f("_QH_IND inductive", "ReactiveEnergyImport", 19100, "varh->kvarh", "counter", 456.75, WH),
        _f("_QH_CAP capacitive", "ReactiveEnergyExport", 19108, "varh->kvarh", "counter", 123.375, WH),
    ),
    function_codes=(3,),
)

UMG604 = Golden(
    profile="umg604",
    source="OpenEMS io.openems.edge.meter.janitza.umg604 (MeterJanitzaUmg604Impl): float registers "
    "1317..1371, 1439, 9851/9863 (Wh; 9851 = energy with positive power). The Janitza UMG 604 "
    "address list itself was not available to check; reactive sign: not stated",
    rows=(
        _f("U L1-N", "Voltage_L1", 1317, "V", "mag", 231.7),
        _f("U L2-N", "Voltage_L2", 1319, "V", "mag", 229.3),
        _f("U L3-N", "Voltage_L3", 1321, "V", "mag", 233.9),
        _f("I L1", "Current_L1", 1325, "A", "mag", 12.34),
        _f("I L2", "Current_L2", 1327, "A", "mag", 5.67),
        _f("I L3", "Current_L3", 1329, "A", "mag", 8.91),
        _f("P L1", "ActivePower_L1", 1333, "W", "+imp", 2741.5),
        _f("P L2", "ActivePower_L2", 1335, "W", "+imp", -1204.25),
        _f("P L3", "ActivePower_L3", 1337, "W", "+imp", 1873.75),
        _f("Q L1", "ReactivePower_L1", 1341, "var", "+ind?", 782.5),
        _f("Q L2", "ReactivePower_L2", 1343, "var", "+ind?", -509.0),
        _f("Q L3", "ReactivePower_L3", 1345, "var", "+ind?", 733.25),
        _f("P sum", "ActivePower", 1369, "W", "+imp", 3411.0),
        _f("Q sum", "ReactivePower", 1371, "var", "+ind?", 1006.5),
        _f("Frequency", "Frequency", 1439, "Hz", "hz", 49.97),
        _f("Real energy (+)", "EnergyImport", 9851, "Wh->kWh", "counter", 12345.678, WH),
        _f("Real energy (-)", "EnergyExport", 9863, "Wh->kWh", "counter", 2345.678, WH),
    ),
    function_codes=(3,),
)

GOLDENS = (UMG96RM, UMG604)
