"""Watching a broker: every controller and device reporting there, folded into rows (the
model is pure; ``watch_broker`` is the subscription). Anyone may publish there: a payload
that is not what a controller sends is ignored or shown as bounded plain text, never raised."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from device.mqtt.settings import (
    AUTH_CODES,
    BACKOFF_MAX_S,
    BACKOFF_MIN_S,
    MqttAuthError,
    MqttConfigError,
    MqttSettings,
)
from device.mqtt.topics import DEFAULT_PREFIX

logger = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 64 * 1024  # a controller's state is well under 1 KiB
MAX_CELL = 40  # characters of one shown value
_TELEMETRY_KEYS = ("temperature_c", "remaining_s", "battery_pct", "output_on", "power_mw")


@dataclass(slots=True)
class MonitoredDevice:
    node: str
    key: str
    state: dict[str, Any] = field(default_factory=dict)
    last_event: str = ""
    telemetry_count: int = 0


class MonitorModel:
    """What every controller on a broker reports, folded from its topics (pure)."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix
        self.availability: dict[str, str] = {}
        self.devices: dict[tuple[str, str], MonitoredDevice] = {}

    def ingest(self, topic: str, payload: bytes) -> bool:
        """Fold one message in; True if something shown changed. Bad payloads are ignored."""
        parts = topic.split("/")
        if len(parts) < 3 or parts[0] != self.prefix:
            return False
        node = parts[1]
        if len(parts) == 3 and parts[2] == "availability":
            self.availability[node] = _text(payload[:64].decode("utf-8", errors="replace"), 16)
            return True
        if len(parts) != 4 or parts[3] not in ("state", "telemetry", "event", "summary"):
            return False
        key, leaf = parts[2], parts[3]
        if len(payload) > MAX_PAYLOAD_BYTES:
            return False
        try:
            data = json.loads(payload.decode("utf-8"))
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return False
        if not isinstance(data, dict):
            return False
        device = self.devices.setdefault((node, key), MonitoredDevice(node, key))
        if leaf == "state":
            device.state = data
        elif leaf == "telemetry":
            device.telemetry_count += 1
            device.state.update({k: data[k] for k in _TELEMETRY_KEYS if k in data})
        elif leaf == "event":
            kind, detail = _text(data.get("kind")), _text(data.get("detail"), 80)
            device.last_event = f"{kind}: {detail}"[:80]
        else:
            device.last_event = f"ended {_text(data.get('end_reason'))}"
        return True

    def rows(self) -> list[tuple[str, ...]]:
        """One row of plain text per device: every value checked, bounded and printable."""
        out: list[tuple[str, ...]] = []
        for (node, key), device in sorted(self.devices.items()):
            s = device.state
            raw_device = s.get("device")
            dev: dict[str, Any] = raw_device if isinstance(raw_device, dict) else {}
            out.append(
                (
                    _text(node),
                    self.availability.get(node, "?"),
                    _text(dev.get("name", key)),
                    _text(dev.get("kind")),
                    _text(s.get("state")),
                    _number(s.get("temperature_c"), -100, 200, "{:.1f}"),
                    _number(s.get("remaining_s"), 1, 10**9, "{:.0f}"),
                    _number(s.get("battery_pct"), 1, 100, "{:.0f}"),
                    _text(device.last_event, 80),
                )
            )
        return out


def _text(value: object, limit: int = MAX_CELL) -> str:
    """A string or a plain number as bounded, printable text; anything else is empty."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    if isinstance(value, int) and not -(10**limit) < value < 10**limit:
        return "…"  # str() of a huge int is slow (and past 4300 digits an error)
    text = str(value)
    cleaned = "".join(c if c.isprintable() else "\ufffd" for c in text[:limit])
    return cleaned if len(text) <= limit else cleaned[: limit - 1] + "…"


def _number(value: object, low: float, high: float, form: str) -> str:
    """A reading within [low, high] formatted; anything else (not a number, NaN, 1e308, a
    400-digit int) is empty. Ints are compared as ints, before any conversion."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if not low <= value <= high:
        return ""
    return form.format(value)


async def watch_broker(
    settings: MqttSettings,
    on_message: Callable[[str, bytes], None],
    on_connection: Callable[[bool, str], None] | None = None,
) -> None:
    """Subscribe to everything under the prefix, reconnecting with backoff, until cancelled.
    ``on_message`` raising is logged and that message skipped; a failure that is not the
    broker's is reported through ``on_connection`` and retried. Only bad credentials or TLS
    files end the watch (MqttAuthError, MqttConfigError)."""
    backoff = BACKOFF_MIN_S
    while True:
        try:
            async with aiomqtt.Client(
                settings.host,
                settings.port,
                username=settings.username,
                password=settings.password,
                tls_context=settings.tls_context(),
                timeout=5,
            ) as client:
                backoff = BACKOFF_MIN_S
                await client.subscribe(f"{settings.prefix}/#", qos=1)
                if on_connection:
                    on_connection(True, f"connected to {settings.host}:{settings.port}")
                async for message in client.messages:
                    _deliver(message, on_message)
        except aiomqtt.MqttCodeError as exc:
            code = exc.rc if isinstance(exc.rc, int) else getattr(exc.rc, "value", None)
            if isinstance(exc, MqttConnectError) and code in AUTH_CODES:
                raise MqttAuthError(
                    f"the MQTT broker {settings.host}:{settings.port} refused the monitor:"
                    " not authorized"
                ) from None
            if on_connection:
                on_connection(False, str(exc))
        except aiomqtt.MqttError as exc:
            if on_connection:
                on_connection(False, f"broker unreachable: {exc}")
        except MqttConfigError:
            raise
        except Exception as exc:  # not the broker's doing: say so and keep watching
            logger.debug("monitor: watching the broker failed", exc_info=True)
            if on_connection:
                on_connection(False, f"monitor error, reconnecting: {exc!r}"[:200])
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, BACKOFF_MAX_S)


def _deliver(message: aiomqtt.Message, on_message: Callable[[str, bytes], None]) -> None:
    """Hand one message on; whatever goes wrong with it is logged, never raised."""
    try:
        raw = message.payload
        payload = raw if isinstance(raw, bytes) else str(raw or "").encode()
        on_message(str(message.topic), payload)
    except Exception:
        logger.debug("monitor: a message could not be shown", exc_info=True)
