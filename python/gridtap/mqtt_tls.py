"""TLS for the MQTT client: the `tls` option of `MqttPublisher` (and a site file's `[telemetry]
tls`) made into an `ssl.SSLContext`, with every file named when it cannot be used."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping

from gridtap.errors import InvalidValueError, ValueTypeError

__all__ = ["TLS_KEYS", "ssl_context"]

TLS_KEYS = frozenset({"ca_certs", "certfile", "keyfile"})


class _ClosingSSLSocket(ssl.SSLSocket):
    """Closes itself when the TLS handshake fails: paho 2.2 drops such a socket without closing it."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def _client_context(cafile: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.sslsocket_class = _ClosingSSLSocket
    return ctx


def _check_readable(key: str, path: object) -> None:
    if not isinstance(path, str | os.PathLike):
        raise ValueTypeError(f"tls.{key} must be a path, got {path!r}")
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise InvalidValueError(f"tls.{key}: cannot read {path}: {e.strerror}") from None


def ssl_context(tls: ssl.SSLContext | Mapping[str, str] | bool | None) -> ssl.SSLContext | None:
    if tls is None or tls is False:
        return None
    if tls is True:
        return _client_context()
    if isinstance(tls, ssl.SSLContext):
        return tls  # the caller's, used as given
    if isinstance(tls, Mapping):
        unknown = set(tls) - TLS_KEYS
        if unknown:
            raise InvalidValueError(
                f"tls has unknown keys {sorted(unknown)}: expected ca_certs, certfile, keyfile (paths)"
            )
        if "keyfile" in tls and "certfile" not in tls:
            raise InvalidValueError("tls: keyfile given without certfile (the client certificate)")
        for key in ("ca_certs", "certfile", "keyfile"):
            if key in tls:
                _check_readable(key, tls[key])
        try:
            ctx = _client_context(tls.get("ca_certs"))
        except ssl.SSLError as e:
            raise InvalidValueError(
                f"tls.ca_certs: {tls['ca_certs']} holds no usable CA certificate: {e}"
            ) from None
        if "certfile" in tls:
            try:
                ctx.load_cert_chain(tls["certfile"], tls.get("keyfile"))
            except ssl.SSLError as e:
                keys = "tls.certfile/tls.keyfile" if "keyfile" in tls else "tls.certfile"
                raise InvalidValueError(
                    f"{keys}: {tls['certfile']}{' and ' + tls['keyfile'] if 'keyfile' in tls else ''} "
                    f"are not a matching PEM certificate and private key: {e}"
                ) from None
        return ctx
    raise ValueTypeError(
        f"tls must be an ssl.SSLContext, a dict with ca_certs/certfile/keyfile, True or None, got {tls!r}"
    )
