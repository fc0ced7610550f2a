"""Site-file meters grouped onto buses: the same RTU device, or the same TCP host and port, is one
bus with no extra key; conflicting settings name both entries."""

from __future__ import annotations

import pytest
from gridtap.bus import plan_buses
from gridtap.link import SerialLink, TcpLink


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
        (rtu("/dev/ttyUSB0", 1), r"meter\[0\] and meter\[1\] both use unit ID 1 on /dev/ttyUSB0"),
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
    with pytest.raises(ValueError, match=r"meter\[0\] and meter\[1\] both use unit ID 4 on 10.0.0.5:502"):
        plan_buses([tcp("10.0.0.5", 4), tcp("10.0.0.5", 4, port=502)])
