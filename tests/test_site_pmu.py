"""`[[pmu]]` in site files: strict checking, and a site that polls a simulated PMU."""

from __future__ import annotations

import pytest
from gridtap import Dal, Quality
from gridtap.sim.pmu_server import PmuSimulator
from gridtap.site import SiteError, load_site, run_site
from simkit import SPEC_SITE, run, static_site

PMU_SITE = """
[site]
name = "pmu-site"

[[pmu]]
namespace = "grid_pmu"
transport = "tcp"
host = "127.0.0.1"
port = {port}
idcode = 12
invert = {invert}
[pmu.phasors]
Voltage_L1 = "VA"
Voltage_L2 = "VB"
Voltage_L3 = "VC"
Current_L1 = "IA"
Current_L2 = "IB"
Current_L3 = "IC"
"""


def test_a_site_polls_its_pmu(tmp_path):
    async def go():
        sim = PmuSimulator(static_site(**SPEC_SITE), idcode=12, rate=25)
        port = await sim.start()
        path = tmp_path / "site.toml"
        path.write_text(PMU_SITE.format(port=port, invert="true"))
        site = load_site(path)
        dal = Dal()
        try:
            await run_site(site, duration=1.5, dal=dal)
        finally:
            await sim.stop()
        return dal.snapshot()

    snap = run(go())
    p = snap["grid_pmu/ActivePower"]
    assert p.quality is Quality.GOOD and p.value == pytest.approx(-10000.0, abs=1.0)  # inverted
    assert snap.value("grid_pmu/ActivePower_L2") == pytest.approx(3000.0, abs=0.5)
    assert snap.value("grid_pmu/EnergyExport") > 0 and snap.value("grid_pmu/EnergyImport") == 0.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("idcode = 12", "idcode = 0"), "pmu[0].idcode: expected an integer 1..65534, got 0"),
        (
            ('transport = "tcp"', 'transport = "serial"'),
            "pmu[0].transport: expected one of 'tcp', 'udp', got 'serial'",
        ),
        (("invert = true", "inverted = true"), "pmu[0].inverted: unknown key"),
        (('Voltage_L1 = "VA"', 'Voltage_L4 = "VA"'), "pmu[0].phasors: unknown phasor role 'Voltage_L4'"),
        (('Current_L3 = "IC"', "Current_L3 = 2.5"), "pmu[0].phasors: Current_L3 must name a phasor"),
        (('Current_L3 = "IC"', 'Current_L3 = " "'), "pmu[0].phasors: Current_L3 must name a phasor"),
        (('Current_L3 = "IC"', "Current_L3 = -1"), "pmu[0].phasors: Current_L3 must name a phasor"),
        (('namespace = "grid_pmu"', 'namespace = "pv"'), "pmu[0].namespace: expected a grid namespace"),
        (("port = 4712", "port = '4712'"), "pmu[0].port: expected an integer"),
    ],
)
def test_bad_pmu_entries_name_the_key(tmp_path, change, message):
    text = PMU_SITE.format(port=4712, invert="true").replace(*change)
    path = tmp_path / "site.toml"
    path.write_text(text)
    with pytest.raises(SiteError) as e:
        load_site(path)
    assert str(e.value).startswith(f"{path}: {message}")
