"""Reaching a broker: its URL, credentials, TLS files and this controller's names."""

from __future__ import annotations

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


class MqttAuthError(TherapyctlError):
    """The broker refused this controller's credentials."""


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

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(cafile=self.ca_file)
            if self.cert_file:
                context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise MqttConfigError(f"cannot use the MQTT TLS files: {exc}") from exc
        return context
