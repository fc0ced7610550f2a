"""A private mosquitto broker on loopback for the telemetry tests, and a subscriber that records.

Each fixture starts its own `mosquitto` on 127.0.0.1 on a free port, with a generated config file
in the test's tmp_path and no persistence, waits until it accepts connections, and stops it
afterwards. `Broker.kill()` and `Broker.start()` restart it on the same port (for reconnect tests).
Variants: `mosquitto_auth` (password file made with `mosquitto_passwd`, anonymous refused) and
`mosquitto_tls` (a throwaway CA and server certificate made with the `openssl` command line).

Use them by importing `from mqtt_broker import mosquitto_fixture  # noqa: F401`: the fixture is
then named `mosquitto` (tests/ is on sys.path; the different name keeps linters from seeing the test
argument as a redefinition of the import).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

__all__ = [
    "Broker",
    "Message",
    "Subscriber",
    "free_port",
    "make_tls_files",
    "mosquitto_auth_fixture",
    "mosquitto_fixture",
    "mosquitto_tls_fixture",
    "wait_until",
]

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
USERNAME, PASSWORD = "site-01", "correct horse battery"


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll `condition` until it is true or `timeout` seconds have passed; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return bool(condition())
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True)


def make_tls_files(directory: Path) -> TlsFiles:
    """A throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate.

    EC P-256 keys keep this fast. The extensions are the ones strict X.509 verification wants
    (CA basicConstraints and keyUsage, key identifiers, subjectAltName on the server).
    """
    d = directory
    d.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=gridtap test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
        cwd=d,
    )  # fmt: skip
    leaf = {
        "server": "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        "client": "extendedKeyUsage=clientAuth\n",
    }
    for name, ext in leaf.items():
        (d / f"{name}.ext").write_text(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
            "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n" + ext
        )
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext",
            cwd=d,
        )  # fmt: skip
    return TlsFiles(d / "ca.crt", d / "server.crt", d / "server.key", d / "client.crt", d / "client.key")


@dataclass
class Broker:
    """One mosquitto process; `start()` again after `kill()`/`stop()` reuses the same port."""

    directory: Path
    port: int = 0
    host: str = "127.0.0.1"
    username: str | None = None
    password: str | None = None
    tls: TlsFiles | None = None
    require_certificate: bool = False
    extra_config: Sequence[str] = ()
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _started_once: bool = field(default=False, init=False, repr=False)

    @property
    def config_file(self) -> Path:
        return self.directory / "mosquitto.conf"

    @property
    def log_file(self) -> Path:
        return self.directory / "mosquitto.log"

    def _write_config(self) -> None:
        # mosquitto started as root drops to the user "mosquitto", which cannot read a 0700 tmp_path:
        # naming the current user keeps it as is (and is ignored when not root).
        lines = [
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
            "persistence false",
            f"listener {self.port} {self.host}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
        ]
        if self.username is not None:
            pwfile = self.directory / "passwd"
            pwfile.touch(mode=0o600)
            subprocess.run(
                ["mosquitto_passwd", "-b", str(pwfile), self.username, self.password or ""],
                check=True,
                capture_output=True,
            )
            lines += [f"password_file {pwfile}", "allow_anonymous false"]
        else:
            lines.append("allow_anonymous true")
        if self.tls is not None:
            lines += [
                f"cafile {self.tls.ca_cert}",
                f"certfile {self.tls.server_cert}",
                f"keyfile {self.tls.server_key}",
                f"require_certificate {'true' if self.require_certificate else 'false'}",
            ]
        lines += list(self.extra_config)
        self.config_file.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 10.0) -> None:
        """Start mosquitto and wait until it accepts connections.

        The first start picks a free port (another one if that is taken meanwhile); later starts
        keep the port, so clients reconnect to the same address.
        """
        assert self.process is None, "broker already running"
        self.directory.mkdir(parents=True, exist_ok=True)
        for attempt in range(5):
            if not self._started_once and (attempt or not self.port):
                self.port = free_port()
            self._write_config()
            with open(self.log_file, "ab") as log:
                self.process = subprocess.Popen(
                    [MOSQUITTO, "-c", str(self.config_file)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                if _accepts(self.host, self.port):
                    self._started_once = True
                    return
                time.sleep(0.02)
            self._reap()
            time.sleep(0.2)
        raise RuntimeError(f"mosquitto did not start on {self.host}:{self.port}:\n{self.log_text()}")

    def _reap(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def kill(self) -> None:
        """SIGKILL: the broker vanishes without closing anything (retained messages are lost)."""
        self._reap()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        self._reap()

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tls_context(self, *, client_cert: bool = False) -> ssl.SSLContext:
        assert self.tls is not None
        ctx = ssl.create_default_context(cafile=str(self.tls.ca_cert))
        if client_cert:
            ctx.load_cert_chain(str(self.tls.client_cert), str(self.tls.client_key))
        return ctx


def _broker(tmp_path: Path, **kwargs: Any) -> Iterator[Broker]:
    broker = Broker(tmp_path / "mosquitto", **kwargs)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(name="mosquitto")
def mosquitto_fixture(tmp_path: Path) -> Iterator[Broker]:
    """A plain broker, anonymous access, no persistence."""
    yield from _broker(tmp_path)


@pytest.fixture(name="mosquitto_auth")
def mosquitto_auth_fixture(tmp_path: Path) -> Iterator[Broker]:
    """A broker that accepts only `USERNAME`/`PASSWORD`."""
    yield from _broker(tmp_path, username=USERNAME, password=PASSWORD)


@pytest.fixture(name="mosquitto_tls")
def mosquitto_tls_fixture(tmp_path: Path) -> Iterator[Broker]:
    """A TLS-only broker with a fresh CA (`broker.tls.ca_cert`); client certificates optional."""
    yield from _broker(tmp_path, tls=make_tls_files(tmp_path / "pki"))


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool
    received: float  # time.time() on arrival

    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """A paho client that records every message it receives, with its arrival time.

    `with Subscriber(broker, "gridtap/#") as sub:` connects and waits until the subscription is
    acknowledged, so nothing published afterwards is missed.
    """

    def __init__(
        self,
        broker: Broker,
        *topics: str,
        qos: int = 1,
        tls: ssl.SSLContext | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.broker = broker
        self.topics = topics or ("#",)
        self.qos = qos
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-sub-{id(self):x}")
        if tls is not None:
            self._client.tls_set_context(tls)
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            client.subscribe([(t, self.qos) for t in self.topics])

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        m = Message(msg.topic, bytes(msg.payload), bool(msg.retain), time.time())
        with self._lock:
            self.messages.append(m)

    def __enter__(self) -> Subscriber:
        self._client.connect(self.broker.host, self.broker.port, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            self.close()
            raise RuntimeError(f"test subscriber could not subscribe:\n{self.broker.log_text()}")
        return self

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reading what arrived ----------------------------------------------------------------------

    def received(self, topic: str | None = None) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if topic is None or m.topic == topic]

    def payloads(self, topic: str) -> list[Any]:
        return [m.json() for m in self.received(topic)]

    def values(self, topic: str) -> list[float | None]:
        return [p["value"] for p in self.payloads(topic)]

    def last(self, topic: str) -> Any:
        got = self.received(topic)
        return got[-1].json() if got else None

    def wait_for(self, condition: Callable[[Subscriber], bool], timeout: float = 10.0) -> bool:
        return wait_until(lambda: condition(self), timeout)

    def wait_for_value(self, topic: str, value: float | None, timeout: float = 10.0) -> bool:
        """Wait until a message on `topic` carries `value` (with quality GOOD unless value is None)."""
        return self.wait_for(lambda s: any(p["value"] == value for p in s.payloads(topic)), timeout)
