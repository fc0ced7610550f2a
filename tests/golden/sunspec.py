"""SunSpec meter models 203 (int16 + scale factors) and 213 (float32): register tables.

Offsets are from the model's ID register and come from the SunSpec model files
(github.com/sunspec/models, json/model_203.json and json/model_213.json); the model sits at 40070
(base 40000, "SunS" marker, common model 1 of length 66). Holding registers, function code 03.
"Not implemented": int16 0x8000, acc32 0, sunssf 0x8000, float32 NaN.
"""

from __future__ import annotations

from golden.model import Golden, Row

ORIGIN = 40070


def _sf(name: str, offset: int, exponent: int) -> Row:
    return Row(name, None, offset, "int16", "-", 1.0, "", "sf", exponent, na="min")


def _i(name, channel, offset, sf, unit, sign, value, scale=1.0):
    return Row(name, channel, offset, "int16", "-", scale, unit, sign, value, sf=sf, na="min")


def _acc(name, channel, offset, sf, unit, value):
    return Row(name, channel, offset, "acc32", "ABCD", 0.001, unit, "counter", value, sf=sf, na="zero")


# Every scale factor differs, so that a field reading another field's scale factor shows. Values
# are whole steps of their scale: W_SF = 1 means 10 W steps, TotVArh_SF = -4 means 0.1 mvarh.
A_SF, V_SF, HZ_SF, W_SF, VA_SF, VAR_SF, PF_SF, WH_SF, VARH_SF = 6, 15, 17, 22, 27, 32, 37, 54, 104

_ROWS_203 = (
    _i("A", None, 2, A_SF, "A", "mag", 26.935),
    _i("AphA", "Current_L1", 3, A_SF, "A", "-exp", 12.345),
    _i("AphB", "Current_L2", 4, A_SF, "A", "-exp", -5.678),
    _i("AphC", "Current_L3", 5, A_SF, "A", "-exp", 8.912),
    _sf("A_SF", A_SF, -3),
    _i("PhV", None, 7, V_SF, "V", "mag", 231.6),
    _i("PhVphA", "Voltage_L1", 8, V_SF, "V", "mag", 231.7),
    _i("PhVphB", "Voltage_L2", 9, V_SF, "V", "mag", 229.3),
    _i("PhVphC", "Voltage_L3", 10, V_SF, "V", "mag", 233.9),
    _i("PPV", None, 11, V_SF, "V", "mag", 401.3),
    _i("PhVphAB", "Voltage_L12", 12, V_SF, "V", "mag", 401.2),
    _i("PhVphBC", "Voltage_L23", 13, V_SF, "V", "mag", 398.7),
    _i("PhVphCA", "Voltage_L31", 14, V_SF, "V", "mag", 404.1),
    _sf("V_SF", V_SF, -1),
    _i("Hz", "Frequency", 16, HZ_SF, "Hz", "hz", 49.97),
    _sf("Hz_SF", HZ_SF, -2),
    _i("W", "ActivePower", 18, W_SF, "W", "+imp", 3410.0),
    _i("WphA", "ActivePower_L1", 19, W_SF, "W", "+imp", 2740.0),
    _i("WphB", "ActivePower_L2", 20, W_SF, "W", "+imp", -1200.0),
    _i("WphC", "ActivePower_L3", 21, W_SF, "W", "+imp", 1870.0),
    _sf("W_SF", W_SF, 1),
    _i("VA", "ApparentPower", 23, VA_SF, "VA", "mag", 8000.0),
    _i("VAphA", "ApparentPower_L1", 24, VA_SF, "VA", "mag", 3000.0),
    _i("VAphB", "ApparentPower_L2", 25, VA_SF, "VA", "mag", 2000.0),
    _i("VAphC", "ApparentPower_L3", 26, VA_SF, "VA", "mag", 4000.0),
    _sf("VA_SF", VA_SF, 3),
    _i("VAR", "ReactivePower", 28, VAR_SF, "var", "+ind", 1100.0),
    _i("VARphA", "ReactivePower_L1", 29, VAR_SF, "var", "+ind", 800.0),
    _i("VARphB", "ReactivePower_L2", 30, VAR_SF, "var", "+ind", -500.0),
    _i("VARphC", "ReactivePower_L3", 31, VAR_SF, "var", "+ind", 700.0),
    _sf("VAR_SF", VAR_SF, 2),
    # PF in percent: the channel is a ratio, hence the scale 0.01
    _i("PF", "PowerFactor", 33, PF_SF, "Pct->ratio", "pf", 0.55, scale=0.01),
    _i("PFphA", "PowerFactor_L1", 34, PF_SF, "Pct->ratio", "pf", 0.96, scale=0.01),
    _i("PFphB", "PowerFactor_L2", 35, PF_SF, "Pct->ratio", "pf", -0.92, scale=0.01),
    _i("PFphC", "PowerFactor_L3", 36, PF_SF, "Pct->ratio", "pf", 0.93, scale=0.01),
    _sf("PF_SF", PF_SF, 0),
    _acc("TotWhExp", "EnergyExport", 38, WH_SF, "Wh->kWh", 23450.0),
    _acc("TotWhImp", "EnergyImport", 46, WH_SF, "Wh->kWh", 123450.0),
    _sf("TotWh_SF", WH_SF, 4),
    _acc("TotVArhImpQ1", "ReactiveEnergyImport", 72, VARH_SF, "varh->kvarh", 300.5),
    _acc("TotVArhImpQ2", "ReactiveEnergyImport", 80, VARH_SF, "varh->kvarh", 56.25),
    _acc("TotVArhExpQ3", "ReactiveEnergyExport", 88, VARH_SF, "varh->kvarh", 100.125),
    _acc("TotVArhExpQ4", "ReactiveEnergyExport", 96, VARH_SF, "varh->kvarh", 23.5),
    _sf("TotVArh_SF", VARH_SF, -4),
)

M203 = Golden(
    profile="sunspec_int",
    source="SunSpec model 203 (wye-connect three phase meter), json/model_203.json of "
    "github.com/sunspec/models: int16 points with sunssf scale factors, acc32 energy accumulators; "
    "PF unit Pct; W sign not defined by the model (integrators read + import); reactive sign "
    "implied by the quadrant names (TotVArhImpQ1)",
    rows=_ROWS_203,
    function_codes=(3,),
    origin=ORIGIN,
    model=203,
    # every data point "not implemented" (the scale factors stay valid)
    extra_frames={"not implemented": {r.name: None for r in _ROWS_203 if r.sign != "sf"}},
)


def _f(name, channel, offset, unit, sign, value, scale=1.0):
    return Row(name, channel, offset, "float32", "ABCD", scale, unit, sign, value, na="nan")


WH = 0.001

_ROWS_213 = (
    _f("A", None, 2, "A", "mag", 26.935),
    _f("AphA", "Current_L1", 4, "A", "-exp", 12.345),
    _f("AphB", "Current_L2", 6, "A", "-exp", -5.678),
    _f("AphC", "Current_L3", 8, "A", "-exp", 8.912),
    _f("PhV", None, 10, "V", "mag", 231.6),
    _f("PhVphA", "Voltage_L1", 12, "V", "mag", 231.7),
    _f("PhVphB", "Voltage_L2", 14, "V", "mag", 229.3),
    _f("PhVphC", "Voltage_L3", 16, "V", "mag", 233.9),
    _f("PPV", None, 18, "V", "mag", 401.3),
    _f("PPVphAB", "Voltage_L12", 20, "V", "mag", 401.2),
    _f("PPVphBC", "Voltage_L23", 22, "V", "mag", 398.7),
    _f("PPVphCA", "Voltage_L31", 24, "V", "mag", 404.1),
    _f("Hz", "Frequency", 26, "Hz", "hz", 49.97),
    _f("W", "ActivePower", 28, "W", "+imp", 3411.0),
    _f("WphA", "ActivePower_L1", 30, "W", "+imp", 2741.5),
    _f("WphB", "ActivePower_L2", 32, "W", "+imp", -1204.25),
    _f("WphC", "ActivePower_L3", 34, "W", "+imp", 1873.75),
    _f("VA", "ApparentPower", 36, "VA", "mag", 6170.5),
    _f("VAphA", "ApparentPower_L1", 38, "VA", "mag", 2851.0),
    _f("VAphB", "ApparentPower_L2", 40, "VA", "mag", 1307.5),
    _f("VAphC", "ApparentPower_L3", 42, "VA", "mag", 2011.75),
    _f("VAR", "ReactivePower", 44, "var", "+ind", 1006.5),
    _f("VARphA", "ReactivePower_L1", 46, "var", "+ind", 782.5),
    _f("VARphB", "ReactivePower_L2", 48, "var", "+ind", -509.0),
    _f("VARphC", "ReactivePower_L3", 50, "var", "+ind", 733.25),
    _f("PF", "PowerFactor", 52, "PF", "pf", 0.5527),
    _f("PFphA", "PowerFactor_L1", 54, "PF", "pf", 0.9581),
    _f("PFphB", "PowerFactor_L2", 56, "PF", "pf", -0.9206),
    _f("PFphC", "PowerFactor_L3", 58, "PF", "pf", 0.9312),
    _f("TotWhExp", "EnergyExport", 60, "Wh->kWh", "counter", 2345.678, WH),
    _f("TotWhImp", "EnergyImport", 68, "Wh->kWh", "counter", 12345.678, WH),
    _f("TotVArhImpQ1", "ReactiveEnergyImport", 92, "varh->kvarh", "counter", 300.5, WH),
    _f("TotVArhImpQ2", "ReactiveEnergyImport", 100, "varh->kvarh", "counter", 56.25, WH),
    _f("TotVArhExpQ3", "ReactiveEnergyExport", 108, "varh->kvarh", "counter", 100.125, WH),
    _f("TotVArhExpQ4", "ReactiveEnergyExport", 116, "varh->kvarh", "counter", 23.5, WH),
)

M213 = Golden(
    profile="sunspec_float",
    source="SunSpec model 213 (wye-connect three phase meter, float), json/model_213.json of "
    "github.com/sunspec/models: float32 points; PF unit PF (a ratio, unlike the Pct of 201-204); W "
    "sign not defined by the model (integrators read + import); reactive sign implied by the "
    "quadrant names (TotVArhImpQ1)",
    rows=_ROWS_213,
    function_codes=(3,),
    origin=ORIGIN,
    model=213,
    extra_frames={"not implemented": {r.name: None for r in _ROWS_213}},
)

GOLDENS = (M203, M213)
