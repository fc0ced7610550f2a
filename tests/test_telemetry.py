"""The MQTT publisher against a real mosquitto on loopback (tests/mqtt_broker.py starts it)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from gridtap.dal import Dal, Quality, Reading
from gridtap.errors import InvalidValueError, ValueTypeError
from gridtap.telemetry import MqttPublisher, decode_reading, encode_reading
from mqtt_broker import (  # the *_fixture imports are the fixtures mosquitto, mosquitto_auth, mosquitto_tls
    PASSWORD,
    USERNAME,
    Broker,
    Subscriber,
    free_port,
    make_tls_files,
    mosquitto_auth_fixture,  # noqa: F401
    mosquitto_fixture,  # noqa: F401
    mosquitto_tls_fixture,  # noqa: F401
    wait_until,
)

P = "gridtap/grid/ActivePower"


@contextmanager
def publishing(dal: Dal, broker: Broker, **kwargs: Any) -> Iterator[MqttPublisher]:
    kwargs.setdefault("min_interval", 0.0)
    pub = MqttPublisher(dal, broker.host, broker.port, **kwargs)
    pub.start()
    try:
        if kwargs.get("password", PASSWORD) == PASSWORD:
            assert pub.wait_connected(10), f"{pub.last_error}\n{broker.log_text()}"
        yield pub
    finally:
        pub.stop()


def test_payload_and_topic(mosquitto: Broker) -> None:
    dal = Dal()
    with Subscriber(mosquitto, "gridtap/#") as sub, publishing(dal, mosquitto) as pub:
        t = time.time() - 0.25
        dal.write("grid/ActivePower", 1234.5, t)
        dal.write_many("grid_main", {"Voltage_L1": 230.1, "PowerFactor": -0.97}, t)
        assert sub.wait_for(lambda s: len(s.received()) >= 4)
        assert pub.topic("grid_main/Voltage_L1") == "gridtap/grid_main/Voltage_L1"

    msg = sub.received(P)[0]
    assert json.loads(msg.payload) == {"value": 1234.5, "unit": "W", "timestamp": t, "quality": "GOOD"}
    assert sub.last("gridtap/grid_main/Voltage_L1") == {
        "value": 230.1,
        "unit": "V",
        "timestamp": t,
        "quality": "GOOD",
    }
    assert sub.last("gridtap/grid_main/PowerFactor")["unit"] == ""
    assert decode_reading(msg.payload) == Reading(1234.5, "W", t, Quality.GOOD)
    # status: online while connected, offline after stop(); retained, like the values
    assert [m.payload for m in sub.received("gridtap/status")] == [b"online", b"offline"]
    with Subscriber(mosquitto, "gridtap/#") as later:
        assert later.wait_for(lambda s: len(s.received()) == 4)
        assert all(m.retain for m in later.received())
        assert later.last(P)["timestamp"] == t


def test_encode_decode_roundtrip_and_errors() -> None:
    r = Reading(None, "A", 1_767_225_600.125, Quality.ERROR)
    assert json.loads(encode_reading(r)) == {
        "value": None,
        "unit": "A",
        "timestamp": 1_767_225_600.125,
        "quality": "ERROR",
    }
    assert decode_reading(encode_reading(r)) == r
    with pytest.raises(InvalidValueError, match="expected JSON with value, unit, timestamp, quality"):
        decode_reading(b'{"value": 1}')
    with pytest.raises(InvalidValueError, match="non-numeric"):
        decode_reading(b'{"value": "1", "unit": "W", "timestamp": 1, "quality": "GOOD"}')


def test_rate_limit_sends_first_at_once_and_latest_after_the_interval(mosquitto: Broker) -> None:
    dal = Dal()
    with Subscriber(mosquitto, P) as sub, publishing(dal, mosquitto, min_interval=1.0):
        t = time.time()
        for i in range(5):
            dal.write("grid/ActivePower", 100.0 + i, t + i * 0.01)
        assert sub.wait_for_value(P, 104.0)
    got = sub.received(P)
    assert [m.json()["value"] for m in got] == [100.0, 104.0]  # nothing in between
    assert [m.json()["timestamp"] for m in got] == [t, t + 0.04]  # each with its own measurement time
    # the trailing send waits for the interval (a lower bound: safe on a slow machine)
    assert got[1].received - got[0].received >= 0.8


def test_deadband_suppresses_small_changes_but_never_a_quality_change(mosquitto: Broker) -> None:
    dal = Dal()
    deadband = {"grid/ActivePower": 10.0, "grid/Voltage_*": 1.0}
    with Subscriber(mosquitto, "gridtap/#") as sub, publishing(dal, mosquitto, deadband=deadband):
        t = time.time()
        for i, v in enumerate([1000.0, 1005.0, 1009.9, 1020.0, 1025.0, None, 1025.0, 1026.0]):
            dal.write("grid/ActivePower", v, t + i * 0.01)
        for i, v in enumerate([230.0, 230.5, 231.5]):
            dal.write("grid/Voltage_L1", v, t + i * 0.01)
        for i, v in enumerate([5.0, 5.1, 5.2]):  # no deadband for currents: every value goes out
            dal.write("grid/Current_L1", v, t + i * 0.01)
        dal.write("grid/Frequency", 50.0, t + 1)  # written last: once it is here, all the rest is
        assert sub.wait_for_value("gridtap/grid/Frequency", 50.0)
    # 1005 and 1009.9 are within 10 W of 1000; 1025 within 10 W of 1020; ERROR and back to GOOD are
    # quality changes; 1026 is within 10 W of the 1025 sent
    assert sub.values(P) == [1000.0, 1020.0, None, 1025.0]
    assert [p["quality"] for p in sub.payloads(P)] == ["GOOD", "GOOD", "ERROR", "GOOD"]
    assert sub.values("gridtap/grid/Voltage_L1") == [230.0, 231.5]
    assert sub.values("gridtap/grid/Current_L1") == [5.0, 5.1, 5.2]


def test_deadband_heartbeat_refreshes_the_timestamp(mosquitto: Broker) -> None:
    dal = Dal()
    with Subscriber(mosquitto, P) as sub, publishing(dal, mosquitto, deadband=50.0, max_interval=0.5):
        t = time.time()
        dal.write("grid/ActivePower", 500.0, t)
        dal.write("grid/ActivePower", 501.0, t + 0.01)  # within the deadband: held for the heartbeat
        assert sub.wait_for_value(P, 501.0)
    assert sub.values(P) == [500.0, 501.0]
    assert sub.payloads(P)[1]["timestamp"] == t + 0.01


def test_error_reading_has_null_value_and_quality_changes_skip_the_rate_limit(mosquitto: Broker) -> None:
    dal = Dal()
    with Subscriber(mosquitto, P) as sub, publishing(dal, mosquitto, min_interval=30.0):
        t = time.time()
        dal.write("grid/ActivePower", 800.0, t)
        dal.write("grid/ActivePower", None, t + 0.5)  # communication loss
        dal.write("grid/ActivePower", 810.0, t + 1.0)  # back
        assert sub.wait_for_value(P, 810.0, timeout=5.0)  # well within the 30 s rate limit
    assert sub.payloads(P) == [
        {"value": 800.0, "unit": "W", "timestamp": t, "quality": "GOOD"},
        {"value": None, "unit": "W", "timestamp": t + 0.5, "quality": "ERROR"},
        {"value": 810.0, "unit": "W", "timestamp": t + 1.0, "quality": "GOOD"},
    ]


def test_outlived_good_reading_is_republished_stale_with_its_own_timestamp(mosquitto: Broker) -> None:
    dal = Dal(default_max_age=0.5)
    with Subscriber(mosquitto, P) as sub, publishing(dal, mosquitto, min_interval=10.0):
        t = time.time()
        dal.write("grid/ActivePower", 42.0, t)
        assert sub.wait_for(lambda s: len(s.received(P)) == 2, timeout=5.0)
        first, stale = sub.payloads(P)
        assert first["quality"] == "GOOD"
        assert stale == {"value": 42.0, "unit": "W", "timestamp": t, "quality": "STALE"}
        assert sub.received(P)[1].received - t >= 0.5
        dal.write("grid/ActivePower", 43.0, time.time())  # fresh again: a quality change, sent at once
        assert sub.wait_for_value(P, 43.0, timeout=5.0)
    assert sub.payloads(P)[-1]["quality"] == "GOOD"


def test_channel_filter(mosquitto: Broker) -> None:
    dal = Dal()
    with Subscriber(mosquitto, "gridtap/#") as sub, publishing(dal, mosquitto, channels=["grid/*"]):
        t = time.time()
        dal.write("pv/ActivePower", 3000.0, t)
        dal.write("grid_sub/ActivePower", 10.0, t)
        dal.write("grid/ActivePower", -2000.0, t)
        assert sub.wait_for_value(P, -2000.0)
    assert {m.topic for m in sub.received()} == {P, "gridtap/status"}


def test_values_in_the_dal_before_start_are_published(mosquitto: Broker) -> None:
    dal = Dal()
    t = time.time()
    dal.write_many("grid", {"ActivePower": 1.0, "Frequency": 49.98}, t)
    with Subscriber(mosquitto, "gridtap/#") as sub, publishing(dal, mosquitto):
        assert sub.wait_for(lambda s: s.last("gridtap/grid/Frequency") is not None)
        assert sub.last(P) == {"value": 1.0, "unit": "W", "timestamp": t, "quality": "GOOD"}
    assert "gridtap/grid/Timestamp" not in {m.topic for m in sub.received()}  # the DAL's own, not data


def test_stop_flushes_the_value_held_by_the_rate_limit(mosquitto: Broker) -> None:
    dal = Dal()
    with Subscriber(mosquitto, P) as sub:
        with publishing(dal, mosquitto, min_interval=30.0):
            t = time.time()
            dal.write("grid/ActivePower", 1.0, t)
            dal.write("grid/ActivePower", 2.0, t + 0.01)
            assert sub.wait_for_value(P, 1.0)
        assert sub.wait_for_value(P, 2.0, timeout=5.0)
    assert sub.values(P) == [1.0, 2.0]


def test_concurrent_writers_keep_per_channel_order(mosquitto: Broker) -> None:
    dal = Dal()
    names = ["ActivePower_L1", "ActivePower_L2", "ActivePower_L3", "Current_L1"]
    last: dict[str, float] = {}

    def writer(name: str) -> None:
        for i in range(200):
            ts = time.time()
            dal.write(f"grid/{name}", float(i), ts)
            last[name] = ts

    with Subscriber(mosquitto, "gridtap/grid/#") as sub, publishing(dal, mosquitto, min_interval=0.05):
        threads = [threading.Thread(target=writer, args=(n,)) for n in names]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        for n in names:
            assert sub.wait_for(
                lambda s, n=n: (s.last(f"gridtap/grid/{n}") or {}).get("timestamp") == last[n]
            )
    for n in names:
        stamps = [p["timestamp"] for p in sub.payloads(f"gridtap/grid/{n}")]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
        assert sub.last(f"gridtap/grid/{n}")["value"] == 199.0


def test_reconnect_delivers_the_latest_values(mosquitto: Broker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gridtap.telemetry")
    dal = Dal(default_max_age=60.0)
    with publishing(dal, mosquitto, min_interval=0.2, reconnect_delay=(1, 2)) as pub:
        t = time.time() - 10  # measurements lie in the past: the DAL refuses them ahead of its clock
        dal.write_many("grid", {"ActivePower": 100.0, "Frequency": 50.0, "Voltage_L1": 230.0}, t)
        with Subscriber(mosquitto, "gridtap/#") as sub:
            assert sub.wait_for(lambda s: s.last("gridtap/grid/Voltage_L1") is not None)

        mosquitto.kill()  # no persistence: the retained values die with it
        assert wait_until(lambda: not pub.connected, 10)
        latest: dict[str, tuple[float, float]] = {}
        for i in range(1, 6):  # several writes per channel while down: only the last must arrive
            ts = t + i
            dal.write_many("grid", {"ActivePower": 100.0 + i, "Frequency": 50.0 + i / 100}, ts)
            latest = {"ActivePower": (100.0 + i, ts), "Frequency": (50.0 + i / 100, ts)}
        dal.write("grid/Voltage_L1", None, t + 5)  # the meter failed meanwhile
        time.sleep(0.3)
        mosquitto.start()  # same port
        assert pub.wait_connected(15), pub.last_error

        with Subscriber(mosquitto, "gridtap/#") as sub:
            assert sub.wait_for(lambda s: len(s.received()) >= 4)
            for name, (value, ts) in latest.items():
                assert sub.last(f"gridtap/grid/{name}") == {
                    "value": value,
                    "unit": "W" if name == "ActivePower" else "Hz",
                    "timestamp": ts,
                    "quality": "GOOD",
                }
            assert sub.last("gridtap/grid/Voltage_L1")["quality"] == "ERROR"
            assert sub.received("gridtap/status")[-1].payload == b"online"
    assert any(
        "lost the connection" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
    )


def test_broker_killed_mid_stream_retains_the_last_written_values(mosquitto: Broker) -> None:
    # QoS 1 messages are in flight when the broker dies; after the restart paho re-sends them, and
    # the publisher's re-publication must still come last, so the retained value is the newest.
    names = [f"{q}_L{n}" for q in ("ActivePower", "Voltage", "Current") for n in (1, 2, 3)]
    dal = Dal(default_max_age=60.0)
    stop = threading.Event()
    last: list[float] = []

    def writer() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            ts = time.time()
            dal.write_many("grid", dict.fromkeys(names, float(i)), ts)
            last.append(ts)
            time.sleep(0.0005)

    with publishing(dal, mosquitto, reconnect_delay=(1, 1)) as pub:
        th = threading.Thread(target=writer)
        th.start()
        time.sleep(0.3)
        mosquitto.kill()
        time.sleep(0.005)
        stop.set()
        th.join()
        mosquitto.start()
        assert pub.wait_connected(15), pub.last_error
        with Subscriber(mosquitto, "gridtap/grid/#") as sub:
            newest = last[-1]
            assert sub.wait_for(
                lambda s: all((s.last(f"gridtap/grid/{n}") or {}).get("timestamp") == newest for n in names)
            ), {n: sub.last(f"gridtap/grid/{n}") for n in names}


def test_starts_before_the_broker_and_connects_when_it_comes(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "late", port=free_port())
    dal = Dal(default_max_age=60.0)
    pub = MqttPublisher(dal, broker.host, broker.port, min_interval=0.0, reconnect_delay=(1, 1))
    pub.start()
    try:
        t = time.time()
        dal.write("grid/ActivePower", 7.0, t)
        assert wait_until(lambda: pub.last_error is not None, 5)
        assert "ConnectionRefusedError" in (pub.last_error or "")
        broker.start()
        assert pub.wait_connected(10)
        with Subscriber(broker, "gridtap/#") as sub:
            assert sub.wait_for(lambda s: s.last(P) is not None)
            assert sub.last(P)["timestamp"] == t
    finally:
        pub.stop()
        broker.stop()


def test_username_and_password(mosquitto_auth: Broker, caplog: pytest.LogCaptureFixture) -> None:
    dal = Dal()
    creds = {"username": USERNAME, "password": PASSWORD}
    with Subscriber(mosquitto_auth, "gridtap/#", **creds) as sub:
        with publishing(dal, mosquitto_auth, **creds):
            dal.write("grid/ActivePower", 5.0, time.time())
            assert sub.wait_for_value(P, 5.0)

        wrong = MqttPublisher(
            dal, mosquitto_auth.host, mosquitto_auth.port, username=USERNAME, password="nope"
        )
        wrong.start()
        try:
            assert wait_until(lambda: wrong.last_error is not None, 5)
            assert not wrong.connected
        finally:
            wrong.stop()
    assert "refused the connection: Not authorized (check username and password)" in (wrong.last_error or "")
    assert any(r.levelno == logging.ERROR and "Not authorized" in r.getMessage() for r in caplog.records)


def test_tls_with_ca_file(mosquitto_tls: Broker) -> None:
    assert mosquitto_tls.tls is not None
    dal = Dal()
    ctx = mosquitto_tls.tls_context()
    tls = {"ca_certs": str(mosquitto_tls.tls.ca_cert)}
    with Subscriber(mosquitto_tls, "gridtap/#", tls=ctx) as sub, publishing(dal, mosquitto_tls, tls=tls):
        dal.write("grid/ActivePower", 9.0, time.time())
        assert sub.wait_for_value(P, 9.0)


def test_tls_with_client_certificate(tmp_path: Path) -> None:
    pki = make_tls_files(tmp_path / "pki")
    broker = Broker(tmp_path / "mtls", tls=pki, require_certificate=True)
    broker.start()
    try:
        dal = Dal()
        tls = {"ca_certs": str(pki.ca_cert), "certfile": str(pki.client_cert), "keyfile": str(pki.client_key)}
        ctx = broker.tls_context(client_cert=True)
        with Subscriber(broker, "gridtap/#", tls=ctx) as sub, publishing(dal, broker, tls=tls):
            dal.write("grid/ActivePower", 11.0, time.time())
            assert sub.wait_for_value(P, 11.0)
    finally:
        broker.stop()


def test_tls_with_an_untrusted_certificate_fails_with_a_clear_error(
    mosquitto_tls: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    pub = MqttPublisher(Dal(), mosquitto_tls.host, mosquitto_tls.port, tls=True)  # the system's CAs
    pub.start()
    try:
        assert wait_until(lambda: pub.last_error is not None, 5)
        assert not pub.connected
    finally:
        pub.stop()
    assert "SSLCertVerificationError" in (pub.last_error or "")
    assert any(
        "certificate verify failed" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
    )


def test_homeassistant_discovery(mosquitto: Broker) -> None:
    dal = Dal()
    with (
        Subscriber(mosquitto, "homeassistant/#", "site/#") as sub,
        publishing(dal, mosquitto, prefix="site", homeassistant=True),
    ):
        t = time.time()
        dal.write_many("grid", {"ActivePower": 10.0, "PowerFactor": 0.9, "EnergyImport": 12.5}, t)
        dal.write("grid_sub/ReactivePower", -3.0, t)
        dal.write("pv/ActivePower", 100.0, t)
        assert sub.wait_for(lambda s: s.last("site/pv/ActivePower") is not None)

    configs = {m.topic: m.json() for m in sub.received() if m.topic.startswith("homeassistant/")}
    assert set(configs) == {
        "homeassistant/sensor/site/grid_ActivePower/config",
        "homeassistant/sensor/site/grid_PowerFactor/config",
        "homeassistant/sensor/site/grid_EnergyImport/config",
        "homeassistant/sensor/site/grid_sub_ReactivePower/config",
    }  # grid namespaces only
    power = configs["homeassistant/sensor/site/grid_ActivePower/config"]
    assert power["state_topic"] == "site/grid/ActivePower"
    assert power["value_template"] == "{{ value_json.value }}"
    assert (power["device_class"], power["unit_of_measurement"], power["state_class"]) == (
        "power",
        "W",
        "measurement",
    )
    assert power["availability_topic"] == "site/status"
    assert power["unique_id"] == "gridtap_site_grid_ActivePower"
    energy = configs["homeassistant/sensor/site/grid_EnergyImport/config"]
    assert (energy["device_class"], energy["state_class"]) == ("energy", "total_increasing")
    pf = configs["homeassistant/sensor/site/grid_PowerFactor/config"]
    assert pf["device_class"] == "power_factor" and "unit_of_measurement" not in pf
    reactive = configs["homeassistant/sensor/site/grid_sub_ReactivePower/config"]
    assert reactive["unit_of_measurement"] == "var"
    # each config comes before the first value on its state topic
    topics = [m.topic for m in sub.received()]
    assert topics.index("homeassistant/sensor/site/grid_ActivePower/config") < topics.index(
        "site/grid/ActivePower"
    )
    with Subscriber(mosquitto, "homeassistant/#") as later:  # retained: HA finds them after a restart
        assert later.wait_for(lambda s: len(s.received()) == 4)
        assert all(m.retain for m in later.received())


def test_out_of_order_delivery_never_sends_an_older_reading_last(mosquitto: Broker) -> None:
    # Dal calls subscribers outside its lock, so two writers' callbacks can arrive swapped.
    dal = Dal()
    with Subscriber(mosquitto, P) as sub, publishing(dal, mosquitto) as pub:
        t = time.time()
        newer, older = Reading(2.0, "W", t + 1, Quality.GOOD), Reading(1.0, "W", t, Quality.GOOD)
        pub._on_update([("grid/ActivePower", newer)])
        pub._on_update([("grid/ActivePower", older)])
        dal.write("grid/Frequency", 50.0, t)
        assert sub.wait_for_value(P, 2.0)
        time.sleep(0.2)
    assert sub.values(P) == [2.0]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"prefix": "site/#"}, InvalidValueError, "wildcard"),
        ({"prefix": "/site"}, InvalidValueError, "prefix must be a topic"),
        ({"prefix": "a//b"}, InvalidValueError, "empty level"),
        ({"qos": 3}, InvalidValueError, "qos must be 0, 1 or 2"),
        ({"port": 0}, InvalidValueError, "port must be an integer 1..65535"),
        ({"min_interval": -1}, InvalidValueError, "min_interval must be a finite number"),
        ({"min_interval": "1"}, ValueTypeError, "min_interval must be a number of seconds"),
        ({"deadband": {"grid/*": -5}}, InvalidValueError, "deadband 'grid/\\*' must be a finite number"),
        ({"channels": "grid/*"}, ValueTypeError, "channels must be an iterable of patterns"),
        ({"tls": {"cafile": "x"}}, InvalidValueError, "unknown keys \\['cafile'\\]: expected ca_certs"),
        ({"reconnect_delay": (5, 1)}, InvalidValueError, "0 < min ≤ max"),
        ({"reconnect_delay": [1]}, InvalidValueError, "reconnect_delay must be \\(min, max\\)"),
    ],
)
def test_bad_arguments_say_what_was_expected(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        MqttPublisher(Dal(), **kwargs)


# --- every connection failure is named, in the log and in last_error ---------------------------------


def _failing(broker_host: str, port: int, caplog: pytest.LogCaptureFixture, **kwargs: Any) -> str:
    pub = MqttPublisher(Dal(), broker_host, port, reconnect_delay=(1, 1), **kwargs)
    with caplog.at_level(logging.WARNING, logger="gridtap.telemetry"):
        pub.start()
        try:
            assert wait_until(lambda: pub.last_error is not None, 20), "no error reported"
            assert not pub.connected
        finally:
            pub.stop()
    error = pub.last_error or ""
    assert any(r.getMessage() == error for r in caplog.records if r.levelno >= logging.WARNING), [
        r.getMessage() for r in caplog.records
    ]
    return error


def test_a_plain_client_on_a_tls_only_port_says_so(
    mosquitto_tls: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    error = _failing(mosquitto_tls.host, mosquitto_tls.port, caplog)
    assert error == (
        f"MQTT broker 127.0.0.1:{mosquitto_tls.port} closed the connection before accepting it "
        "(a TLS-only port? then set tls; or not an MQTT broker); retrying"
    )


def test_a_tls_client_on_a_plain_port_says_so(mosquitto: Broker, caplog: pytest.LogCaptureFixture) -> None:
    error = _failing(mosquitto.host, mosquitto.port, caplog, tls=True)
    assert error.startswith(f"cannot connect to MQTT broker 127.0.0.1:{mosquitto.port}: ")
    assert "(tls is set: is this a plain MQTT port?)" in error


def test_a_silent_server_is_reported_after_the_keepalive(caplog: pytest.LogCaptureFixture) -> None:
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    conns: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conns.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    port = server.getsockname()[1]
    try:
        error = _failing("127.0.0.1", port, caplog, keepalive=5)
    finally:
        server.close()
        for c in conns:
            c.close()
    assert error.startswith(
        f"MQTT broker 127.0.0.1:{port} accepted the connection but sent no CONNACK within 5 s"
    )


def test_a_refused_connack_is_reported_once_not_overwritten(
    mosquitto_auth: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    error = _failing(mosquitto_auth.host, mosquitto_auth.port, caplog, username=USERNAME, password="wrong")
    assert error.endswith("refused the connection: Not authorized (check username and password)")
    assert not any("before accepting it" in r.getMessage() for r in caplog.records)


def test_unreadable_tls_files_are_named_with_their_key(tmp_path: Path) -> None:
    pki = make_tls_files(tmp_path / "pki")
    missing = tmp_path / "nope.pem"
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    cases = [
        ({"ca_certs": str(missing)}, f"tls.ca_certs: cannot read {missing}: No such file or directory"),
        ({"ca_certs": str(tmp_path)}, f"tls.ca_certs: cannot read {tmp_path}: Is a directory"),
        ({"ca_certs": str(garbage)}, f"tls.ca_certs: {garbage} holds no usable CA certificate"),
        ({"certfile": str(missing)}, f"tls.certfile: cannot read {missing}"),
        ({"certfile": str(pki.client_cert), "keyfile": str(missing)}, f"tls.keyfile: cannot read {missing}"),
        (
            {"certfile": str(pki.client_cert), "keyfile": str(pki.server_key)},
            "tls.certfile/tls.keyfile: ",
        ),
    ]
    for tls, says in cases:
        with pytest.raises(InvalidValueError) as info:
            MqttPublisher(Dal(), tls=tls)
        assert str(info.value).startswith(says), (tls, str(info.value))
