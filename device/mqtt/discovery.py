"""Home Assistant MQTT discovery: the controller and the entities of each therapy device (pure).

Two kinds of HA device are announced, both retained under ``homeassistant/``:

- the controller (node ``NODE``): one ``binary_sensor`` (device class ``connectivity``) whose
  state is the controller's availability topic, identifiers ``["therapyctl_NODE"]``;
- each therapy device (``KEY``, its address without colons): sensors for temperature,
  remaining time, battery (a diagnostic entity), state and end reason, and a Stop button,
  identifiers ``["therapyctl_KEY"]`` and ``via_device`` the controller serving it, which is
  therefore always an announced device.

A device's entities belong to the device, not to the controller serving it: their config
topics and unique ids carry only its key (``homeassistant/sensor/therapyctl_KEY/OBJECT/config``,
``therapyctl_KEY_OBJECT``), so a device moved to another node (or a node renamed) is announced
again over the same entities instead of beside them. Releases before this one put the node in
them (``homeassistant/sensor/NODE_KEY/OBJECT/config``): :func:`legacy_config_topics` names
those, so the bridge can clear them.

Each entity sets ``default_entity_id`` (``PLATFORM.ID``, e.g.
``sensor.therapyctl_d67cbee042e5_temperature``), which Home Assistant 2025.10 introduced to
replace ``object_id`` (deprecated there, to stop working in 2026.4). Home Assistant uses it
only when it first adds an entity; older releases ignore it and derive the entity id from the
names. ``object_id`` is not sent: it would add nothing on current Home Assistant and is due to
be removed from its schema.

Every value template renders text for a null or missing field (an empty string) rather than
``None``: Home Assistant up to 2024.3 showed a text sensor's ``None`` as the word "None", and
a numeric sensor ignores an empty state (it stays unknown until the first reading).
"""

from __future__ import annotations

from typing import Any

from device.mqtt.topics import DISCOVERY_PREFIX, compact_json

PAYLOAD_ONLINE = "online"
PAYLOAD_OFFLINE = "offline"

# (object id, name, state field, is numeric, extra options) of each sensor of a device.
_SENSORS: tuple[tuple[str, str, str, bool, dict[str, Any]], ...] = (
    (
        "temperature",
        "Temperature",
        "temperature_c",
        True,
        {"device_class": "temperature", "unit_of_measurement": "°C", "state_class": "measurement"},
    ),
    (
        "remaining",
        "Remaining time",
        "remaining_s",
        True,
        {"device_class": "duration", "unit_of_measurement": "s"},
    ),
    (
        "battery",
        "Battery",
        "battery_pct",
        True,
        {
            "device_class": "battery",
            "unit_of_measurement": "%",
            "state_class": "measurement",
            "entity_category": "diagnostic",
        },
    ),
    ("state", "State", "state", False, {}),
    ("end_reason", "End reason", "end_reason", False, {}),
)
_LEGACY_OBJECTS = (*(sensor[0] for sensor in _SENSORS), "stop")


def value_template(field: str, *, numeric: bool) -> str:
    """A template for one field of the JSON state: the value if it is a number (or a string,
    for a text sensor), otherwise the empty string, never ``None``."""
    test = "number" if numeric else "string"
    return f"{{{{ value_json.{field} if value_json.{field} is {test} else '' }}}}"


def controller_id(node: str) -> str:
    """The HA device identifier of the controller ``node`` (the ``via_device`` of its devices)."""
    return f"therapyctl_{node}"


def controller_config(node: str, *, availability_topic: str) -> tuple[str, str]:
    """(topic, retained payload) announcing the controller as a device of its own: a
    connectivity sensor that is on while the controller is online."""
    unique = f"{controller_id(node)}_connectivity"
    config = {
        "name": "Connectivity",
        "unique_id": unique,
        "default_entity_id": f"binary_sensor.{unique}",
        "device_class": "connectivity",
        "entity_category": "diagnostic",
        "state_topic": availability_topic,
        "payload_on": PAYLOAD_ONLINE,
        "payload_off": PAYLOAD_OFFLINE,
        "device": {
            "identifiers": [controller_id(node)],
            "name": f"therapyctl {node}",
            "manufacturer": "therapyctl",
            "model": "therapyctl controller",
        },
    }
    topic = f"{DISCOVERY_PREFIX}/binary_sensor/{controller_id(node)}/connectivity/config"
    return topic, compact_json(config)


def discovery_configs(
    node: str,
    key: str,
    identity: dict[str, str],
    *,
    state_topic: str,
    command_topic: str,
    availability_topic: str,
) -> list[tuple[str, str]]:
    """(topic, retained payload) of every entity a device has in Home Assistant, served by
    the controller ``node``."""
    device = {
        "identifiers": [f"therapyctl_{key}"],
        "name": _text(identity.get("name")) or key,
        "model": _text(identity.get("model")) or _text(identity.get("kind")),
        "manufacturer": "therapyctl",
        "sw_version": _text(identity.get("firmware")),
        "via_device": controller_id(node),
    }
    availability = [{"topic": availability_topic}]
    messages: list[tuple[str, str]] = []
    for object_id, name, field, numeric, extra in _SENSORS:
        unique = f"therapyctl_{key}_{object_id}"
        config = {
            "name": name,
            "unique_id": unique,
            "default_entity_id": f"sensor.{unique}",
            "state_topic": state_topic,
            "value_template": value_template(field, numeric=numeric),
            "availability": availability,
            "device": device,
            **extra,
        }
        messages.append((config_topic("sensor", key, object_id), compact_json(config)))
    unique = f"therapyctl_{key}_stop"
    button = {
        "name": "Stop",
        "unique_id": unique,
        "default_entity_id": f"button.{unique}",
        "command_topic": command_topic,
        "payload_press": compact_json({"id": "home-assistant-stop", "command": "stop"}),
        "availability": availability,
        "device": device,
    }
    messages.append((config_topic("button", key, "stop"), compact_json(button)))
    return messages


def config_topic(platform: str, key: str, object_id: str) -> str:
    return f"{DISCOVERY_PREFIX}/{platform}/therapyctl_{key}/{object_id}/config"


def device_config_topics(key: str) -> list[str]:
    """The config topics of a device's entities (what :func:`discovery_configs` publishes)."""
    return [
        *(config_topic("sensor", key, sensor[0]) for sensor in _SENSORS),
        config_topic("button", key, "stop"),
    ]


def legacy_config_topics(node: str, key: str) -> list[str]:
    """The config topics that releases before this one used for a device on ``node``."""
    return [
        f"{DISCOVERY_PREFIX}/{'button' if obj == 'stop' else 'sensor'}/{node}_{key}/{obj}/config"
        for obj in _LEGACY_OBJECTS
    ]


def _text(value: object) -> str:
    """An identity field as text: a string as is, anything else (a missing one) empty."""
    return value if isinstance(value, str) else ""
