"""Reaching a broker: its URL, credentials, TLS files and this controller's names."""

from __future__ import annotations

import re
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from device.mqtt.topics import DEFAULT_PREFIX, TOPIC_PART, slug
from protocols import TherapyctlError

TELEMETRY_BUFFER = 2000
BACKOFF_MIN_S = 0.2
BACKOFF_MAX_S = 15.0
AUTH_CODES = {4, 5, 134, 135}  # bad user name or password / not authorized (v3.1.1 and v5)


class MqttConfigError(TherapyctlError):
    """A broker URL or TLS option that cannot be used."""


class MqttTlsError(MqttConfigError):
    """A TLS file (``role``: CA file, client certificate, client key) that cannot be used."""

    def __init__(self, role: str, path: str, reason: str) -> None:
        self.role = role
        self.path = path
        self.reason = reason
        super().__init__(f"cannot use the MQTT {role} {path!r}: {reason}")


class MqttAuthError(TherapyctlError):
    """The broker refused this controller's credentials."""


class MqttNodeTakenError(TherapyctlError):
    """Another live controller already reports as this node id on the broker."""

    def __init__(self, node: str, broker: str, holder: str = "") -> None:
        self.node = node
        self.broker = broker
        self.holder = holder  # "pid 123 on host-a", or empty when it did not say
        who = f" ({holder})" if holder else ""
        super().__init__(
            f"another controller{who} is already reporting as node {node!r} on the MQTT broker"
            f" {broker}; give this one its own node id (--mqtt-node)"
        )


@dataclass(frozen=True, slots=True)
class MqttSettings:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    prefix: str = DEFAULT_PREFIX
    node_id: str = field(default_factory=lambda: slug(socket.gethostname()))
    remote_control: bool = False
    telemetry_buffer: int = TELEMETRY_BUFFER

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MqttSettings:
        """``mqtt://[user[:password]@]host[:port]`` or ``mqtts://...`` (TLS)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise MqttConfigError(f"bad MQTT URL {url!r}: {exc}") from None
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise MqttConfigError(
                f"bad MQTT URL {url!r}: use mqtt://[user[:password]@]host[:port] or mqtts://..."
            )
        tls = parts.scheme == "mqtts"
        settings = cls(
            host=parts.hostname,
            port=port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
            **{k: v for k, v in options.items() if v is not None},
        )
        if not TOPIC_PART.fullmatch(settings.prefix.replace("/", "")) or not TOPIC_PART.fullmatch(
            settings.node_id
        ):
            raise MqttConfigError("the MQTT prefix and node id take letters, digits, '-' and '_'")
        return settings

    def check(self) -> None:
        """Raise MqttConfigError now for what would otherwise fail only when connecting: a
        TLS file that cannot be read or is not a certificate or key, a key without its
        certificate, TLS files with a plain ``mqtt://`` URL (they would be ignored)."""
        files = (self.ca_file, self.cert_file, self.key_file)
        if not self.tls and not any(files):
            return
        self._tls_context()
        if self.key_file and not self.cert_file:
            raise MqttConfigError("an MQTT client key needs its client certificate")
        if not self.tls:
            raise MqttConfigError(
                "MQTT TLS files were given for a plain mqtt:// URL: use mqtts:// for TLS"
            )

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS context for ``mqtts://`` (None for ``mqtt://``); MqttTlsError names a file
        that cannot be used."""
        return self._tls_context() if self.tls else None

    def _tls_context(self) -> ssl.SSLContext:
        if self.ca_file:
            _readable("CA file", self.ca_file)
        if self.cert_file:
            _readable("client certificate", self.cert_file)
        if self.key_file:
            _readable("client key", self.key_file)
        try:
            context = ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            if self.ca_file is None:
                raise MqttConfigError(f"cannot set up TLS: {_reason(exc)}") from exc
            raise MqttTlsError("CA file", self.ca_file, _reason(exc, "certificate")) from exc
        if self.cert_file:
            try:
                context.load_cert_chain(self.cert_file, self.key_file)
            except (OSError, ssl.SSLError) as exc:
                reason = _reason(exc, "certificate and key")
                if self.key_file:
                    reason += f" (with the key {self.key_file!r})"
                raise MqttTlsError("client certificate", self.cert_file, reason) from exc
        return context


def _readable(role: str, path: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise MqttTlsError(role, path, exc.strerror or str(exc)) from exc


def _reason(exc: OSError, what: str = "") -> str:
    """An ssl error in a few words: OpenSSL's reason, without the C source line."""
    if isinstance(exc, ssl.SSLError):
        text = exc.reason or re.sub(
            r"^\[\w+\]\s*|\s*\(_ssl\.c:\d+\)$", "", str(exc.strerror or exc)
        )
        reason = text.replace("_", " ").lower()
        return f"not a usable PEM {what} ({reason})" if what else reason
    return exc.strerror or str(exc)
