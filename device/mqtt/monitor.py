"""Watching a broker: every controller and device reporting there, folded into rows (the
model is pure; ``watch_broker`` is the subscription)."""

from __future__ import annotations

import asyncio
import json
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
    MqttSettings,
)
from device.mqtt.topics import DEFAULT_PREFIX


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
        text = payload.decode("utf-8", errors="replace")
        if len(parts) == 3 and parts[2] == "availability":
            self.availability[node] = text[:16]
            return True
        if len(parts) != 4:
            return False
        key, leaf = parts[2], parts[3]
        try:
            data = json.loads(text) if leaf in ("state", "telemetry", "event", "summary") else None
        except ValueError:
            return False
        if not isinstance(data, dict):
            return False
        device = self.devices.setdefault((node, key), MonitoredDevice(node, key))
        if leaf == "state":
            device.state = data
        elif leaf == "telemetry":
            device.telemetry_count += 1
            device.state.update(
                {
                    k: data.get(k)
                    for k in (
                        "temperature_c",
                        "remaining_s",
                        "battery_pct",
                        "output_on",
                        "power_mw",
                    )
                    if k in data
                }
            )
        elif leaf == "event":
            device.last_event = f"{data.get('kind', '')}: {data.get('detail', '')}"[:80]
        elif leaf == "summary":
            device.last_event = f"ended {data.get('end_reason', '')}"
        return True

    def rows(self) -> list[tuple[str, ...]]:
        out: list[tuple[str, ...]] = []
        for (node, key), device in sorted(self.devices.items()):
            s = device.state
            raw_device = s.get("device")
            dev: dict[str, Any] = raw_device if isinstance(raw_device, dict) else {}
            temp = s.get("temperature_c")
            out.append(
                (
                    node,
                    self.availability.get(node, "?"),
                    str(dev.get("name", key)),
                    str(dev.get("kind", "")),
                    str(s.get("state", "")),
                    "" if not isinstance(temp, int | float) else f"{temp:.1f}",
                    str(s.get("remaining_s", "") or ""),
                    str(s.get("battery_pct", "") or ""),
                    device.last_event,
                )
            )
        return out


async def watch_broker(
    settings: MqttSettings,
    on_message: Callable[[str, bytes], None],
    on_connection: Callable[[bool, str], None] | None = None,
) -> None:
    """Subscribe to everything under the prefix, reconnecting with backoff, until cancelled."""
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
                    raw = message.payload
                    payload = raw if isinstance(raw, bytes) else str(raw or "").encode()
                    on_message(str(message.topic), payload)
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
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, BACKOFF_MAX_S)
