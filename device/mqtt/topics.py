"""The topic schema, under ``PREFIX`` (default ``therapyctl``) and a controller's node id::

    PREFIX/NODE/availability               "online" / "offline"     retained, QoS 1, Last Will
    PREFIX/NODE/owner                      the controller holding   retained, QoS 1
                                           NODE: {"token", "pid", "host"}
    PREFIX/NODE/owner/ping                 "is NODE held?" (in/out) never retained
    PREFIX/NODE/DEVICE/state               device + session state   retained, QoS 1
    PREFIX/NODE/DEVICE/telemetry           one object per Status    QoS 0
    PREFIX/NODE/DEVICE/event               session events           QoS 1
    PREFIX/NODE/DEVICE/summary             end-of-session summary  QoS 1
    PREFIX/NODE/DEVICE/command             remote commands (in)     never retained
    PREFIX/NODE/DEVICE/command/response    answers                  QoS 1

DEVICE is the device's address without colons. Home Assistant discovery configs go under
``homeassistant/`` (see :mod:`device.mqtt.discovery`). One controller reports as a node at a
time; how a second one is refused is in :mod:`device.mqtt.bridge`.
"""

from __future__ import annotations

import json
import re
from typing import Any

DEFAULT_PREFIX = "therapyctl"
DISCOVERY_PREFIX = "homeassistant"

TOPIC_PART = re.compile(r"[A-Za-z0-9_-]{1,64}")


def slug(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in text)[:64]
    return cleaned or "controller"


def device_slug(address: str) -> str:
    return address.replace(":", "").replace("-", "").lower()


def compact_json(value: Any) -> str:
    """A payload: compact JSON, UTF-8 as is, anything unknown as its text; text that is not
    valid UTF-8 (a lone surrogate) is escaped, so the payload can always be sent."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True, default=str)
    return text
