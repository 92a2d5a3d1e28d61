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
    PREFIX/NODE/site/SITE/state            a body site's dose over  retained, QoS 1
                                           the last 24 h and what is
                                           left of its limits
    PREFIX/NODE/regimen/next               the next session due     retained, QoS 1
    PREFIX/NODE/pain/last                  the last pain rating     retained, QoS 1

DEVICE is the device's address without colons; SITE is :func:`site_slug` of the body site
(a site is user text: only ``[a-z0-9_]`` reaches a topic or an id). A four-level topic
ending in ``state`` is a device's (the monitor reads it so): nothing else uses one. Home
Assistant discovery configs go under ``homeassistant/`` (see :mod:`device.mqtt.discovery`).
One controller reports as a node at a time; how a second one is refused is in
:mod:`device.mqtt.bridge`.
"""

from __future__ import annotations

import hashlib
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


SITES_LEAF = "site"
REGIMEN_LEAF = "regimen"
PAIN_LEAF = "pain"
SITE_SLUG_CHARS = 40  # normalise_site allows 40; a digest may follow
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def site_slug(site: str) -> str:
    """A body site as a topic segment and an id part: ``[a-z0-9_]`` only, no leading,
    trailing or doubled ``_`` (Home Assistant's entity ids), at most 49 characters.

    A plain site (lower-case letters and digits joined by single dashes, as
    :func:`device.safety.normalise_site` makes the usual names) keeps its words:
    ``lower-back`` -> ``lower_back``. Any other text (``a/b+#``, accents, 400 characters
    from a damaged journal) is cut to its letters and digits and gets 8 hex digits of its
    SHA-256, so two different sites never share a slug and ``+``, ``#``, ``/`` and NUL never
    reach a topic."""
    text = site if isinstance(site, str) else str(site)
    base = _NOT_SLUG.sub("_", text.lower())[:SITE_SLUG_CHARS].strip("_")
    if base and base.replace("_", "-") == text:
        return base
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{base}_{digest}" if base else f"site_{digest}"


def entity_slug(text: str) -> str:
    """Text as the object part of a Home Assistant entity id (``[a-z0-9_]``, no leading,
    trailing or doubled ``_``)."""
    return _NOT_SLUG.sub("_", text.lower()).strip("_") or "therapyctl"


def compact_json(value: Any) -> str:
    """A payload: compact JSON, UTF-8 as is, anything unknown as its text; text that is not
    valid UTF-8 (a lone surrogate) is escaped, so the payload can always be sent."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True, default=str)
    return text
