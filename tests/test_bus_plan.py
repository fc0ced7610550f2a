"""Site-file meters grouped onto buses: the same RTU device, or the same TCP host and port, is one
bus with no extra key; conflicting settings name both entries."""

from __future__ import annotations

from pathlib import Path

import pytest
from gridtap import Dal, Quality
from gridtap.bus import plan_buses
from gridtap.link import SerialLink, TcpLink
from gridtap.site import SiteError, load_site, run_site
from linekit import rtu_line
from simkit import run


def rtu(device: str, unit: int, **kw):
    return {
        "namespace": f"grid_{unit}",
        "profile": "sdm630",
        "transport": "rtu",
        "device": device,
        "unit_id": unit,
        **kw,
    }


def tcp(host: str, unit: int, port: int | None = None, transport: str = "tcp"):
    e = {
        "namespace": f"grid_{unit}",
        "profile": "sdm630",
        "transport": transport,
        "host": host,
        "unit_id": unit,
    }
    if port is not None:
        e["port"] = port
    return e


def test_entries_on_one_device_or_gateway_share_a_bus():
    entries = [
        rtu("/dev/ttyUSB0", 1),
        tcp("10.0.0.5", 1),
        rtu("/dev/ttyUSB0", 2, baudrate=9600, parity="n"),  # the defaults, spelt out
        tcp("10.0.0.5", 2, port=502),
        tcp("10.0.0.5", 3, port=5020),
        rtu("/dev/ttyUSB1", 1, baudrate=19200),
    ]
    plans = plan_buses(entries)
    assert [(p.kind, p.key, p.members) for p in plans] == [
        ("rtu", ("/dev/ttyUSB0",), [0, 2]),
        ("tcp", ("10.0.0.5", 502, "socket"), [1, 3]),
        ("tcp", ("10.0.0.5", 5020, "socket"), [4]),
        ("rtu", ("/dev/ttyUSB1",), [5]),
    ]
    bus = plans[0].open()
    assert isinstance(bus.link, SerialLink) and bus.link.settings == (9600, "N", 1, 8)
    assert plans[3].open().link.settings == (19200, "N", 1, 8)
    gw = plans[1].open(max_backoff=2.0)
    assert isinstance(gw.link, TcpLink) and (gw.link.host, gw.link.port, gw.link.framer) == (
        "10.0.0.5",
        502,
        "socket",
    )
    assert gw.max_backoff == 2.0


@pytest.mark.parametrize(
    "second, match",
    [
        (
            rtu("/dev/ttyUSB0", 2, baudrate=19200),
            r"meter\[0\] and meter\[1\] share serial device /dev/ttyUSB0 but differ in baudrate \(9600 vs 19200\)",
        ),
        (rtu("/dev/ttyUSB0", 2, parity="E"), r"differ in parity \('N' vs 'E'\)"),
        (rtu("/dev/ttyUSB0", 2, stopbits=2), r"differ in stopbits \(1 vs 2\)"),
    ],
)
def test_conflicts_on_one_serial_device_name_both_entries(second, match):
    with pytest.raises(ValueError, match=match):
        plan_buses([rtu("/dev/ttyUSB0", 1), second])


def test_conflicts_on_one_gateway_name_both_entries():
    with pytest.raises(
        ValueError, match=r"meter\[0\] and meter\[2\] share 10.0.0.5:502 but differ in framer"
    ):
        plan_buses([tcp("10.0.0.5", 1), tcp("10.0.0.6", 1), tcp("10.0.0.5", 2, transport="rtu-over-tcp")])
    # one device read into two namespaces: allowed, on one bus
    assert [p.members for p in plan_buses([tcp("10.0.0.5", 4), tcp("10.0.0.5", 4, port=502)])] == [[0, 1]]


# --- in site files ------------------------------------------------------------------------------


def _site(tmp_path: Path, meters: str) -> Path:
    p = tmp_path / "site.toml"
    p.write_text(f'[site]\nname = "bus"\n{meters}', encoding="utf-8")
    return p


def _rtu_entry(ns: str, device: str, unit: int, extra: str = "") -> str:
    return (
        f'[[meter]]\nnamespace = "{ns}"\nprofile = "sdm630"\ntransport = "rtu"\ndevice = "{device}"\n'
        f"unit_id = {unit}\nbaudrate = 38400\ninterval = 0.2\n{extra}\n"
    )


def test_a_site_with_three_meters_on_one_serial_line(tmp_path: Path):
    """Three [[meter]] entries on one device share one bus: the port is opened exclusively, so
    three connections of their own could not all work."""

    async def go():
        async with rtu_line((1, 2, 3), 38400) as (line, _):
            entries = "".join(_rtu_entry(f"grid_u{u}", line.master_port, u) for u in (1, 2, 3))
            site = load_site(_site(tmp_path, entries))
            dal = Dal()
            code = await run_site(site, duration=2.5, dal=dal)
            return code, dal.snapshot()

    code, snap = run(go())
    assert code == 0
    for u in (1, 2, 3):
        assert snap[f"grid_u{u}/ActivePower_L1"].value == 1000.0 * u
        assert snap[f"grid_u{u}/ActivePower_L1"].quality is Quality.GOOD


def test_a_site_with_different_serial_settings_on_one_device_names_both(tmp_path: Path):
    entries = _rtu_entry("grid", "/dev/ttyUSB0", 1) + _rtu_entry("grid_pv", "/dev/ttyUSB0", 2, 'parity = "E"')
    with pytest.raises(
        SiteError,
        match=r"site.toml: meter\[0\] and meter\[1\] share serial device /dev/ttyUSB0 but differ in parity",
    ):
        load_site(_site(tmp_path, entries))
