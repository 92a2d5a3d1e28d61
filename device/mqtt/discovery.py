"""Home Assistant MQTT discovery: the controller and the entities of each therapy device (pure).

Two kinds of HA device are announced, both retained under ``homeassistant/``:

- the controller (node ``NODE``): one ``binary_sensor`` (device class ``connectivity``) whose
  state is the controller's availability topic, identifiers ``["therapyctl_NODE"]``;
- each therapy device (``KEY``, its address without colons): sensors for temperature,
  remaining time, battery (a diagnostic entity), state and end reason, and a Stop button,
  identifiers ``["therapyctl_KEY"]`` and ``via_device`` the controller serving it, which is
  therefore always an announced device.

Therapy over days (``serve`` and ``run --mqtt``, :mod:`device.mqtt.days`) adds a device per
body site and controller (``therapyctl_NODE_site_SLUG``, via the controller: sensors for the
site's 24-hour dose in that controller's journal and what is left of the site limits) and
two entities of the controller's device: the next session due (a timestamp) and the last
pain rating (:func:`site_configs`, :func:`diary_configs`). Unlike a therapy device's, a
site's entities are the node's: their config topics and unique ids carry the node
(``homeassistant/sensor/therapyctl_NODE_site_SLUG/OBJECT/config``), so two controllers
reporting the same site announce two devices, each with its own availability, rather than
overwriting one another's.

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

from device.mqtt.topics import DISCOVERY_PREFIX, compact_json, entity_slug

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
        "default_entity_id": f"binary_sensor.{entity_slug(unique)}",  # a node may say "A-b"
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


# -- therapy over days (issue 14): per-site dose, the next session due, the last pain rating
#
# A body site is announced as a device of its own per controller
# (``therapyctl_NODE_site_SLUG``, via the controller that reports it): the body, not a pad,
# takes the dose, and the dose is the one in that controller's journal, so the same site
# reported by two nodes is two devices (their config topics, unique ids and availability
# apart), not one the two overwrite. The next session due and the last pain rating come
# from the controller's journal too: they are entities of the controller's device.

# (object id, name, state field, extra options) of each sensor of a body site; all numeric.
_MEASURE: dict[str, Any] = {"state_class": "measurement"}
_MINUTES: dict[str, Any] = {"device_class": "duration", "unit_of_measurement": "min", **_MEASURE}
_SITE_SENSORS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("heat_sessions", "Heat sessions (24 h)", "heat_sessions", _MEASURE),
    ("heat_sessions_left", "Heat sessions left", "heat_sessions_left", _MEASURE),
    ("heat_minutes", "Heat (24 h)", "heat_minutes", _MINUTES),
    ("cem43", "Thermal dose CEM43 (24 h)", "cem43_min", {"unit_of_measurement": "min", **_MEASURE}),
    (
        "cem43_left",
        "Thermal dose CEM43 left",
        "cem43_min_left",
        {"unit_of_measurement": "min", **_MEASURE},
    ),
    ("cold_minutes", "Cold (24 h)", "cold_minutes", _MINUTES),
    ("light_minutes", "Light (24 h)", "light_minutes", _MINUTES),
    ("light_minutes_left", "Light left", "light_minutes_left", _MINUTES),
    # Not device class energy: Home Assistant wants a total there, this is a rolling 24 h.
    ("light_energy", "Light energy (24 h)", "light_j", {"unit_of_measurement": "J", **_MEASURE}),
    (
        "light_fluence",
        "Light fluence (24 h)",
        "light_j_cm2",
        {"unit_of_measurement": "J/cm²", **_MEASURE},
    ),
)


def site_id(node: str, slug: str) -> str:
    """The HA device identifier of the body site whose slug is ``slug`` as the controller
    ``node`` reports it (also the node part of its config topics and its unique ids'
    prefix)."""
    return f"{controller_id(node)}_site_{slug}"


def site_config_topic(node: str, slug: str, object_id: str) -> str:
    return f"{DISCOVERY_PREFIX}/sensor/{site_id(node, slug)}/{object_id}/config"


def site_configs(
    node: str, slug: str, site: str, *, state_topic: str, availability_topic: str
) -> list[tuple[str, str]]:
    """(topic, retained payload) of every sensor of one body site's dose (``slug`` is
    :func:`device.mqtt.topics.site_slug` of ``site``), reported by the controller ``node``."""
    device = {
        "identifiers": [site_id(node, slug)],
        "name": f"Body site {site} ({node})",
        "manufacturer": "therapyctl",
        "model": "body site (dose of every device on it, last 24 h)",
        "via_device": controller_id(node),
    }
    availability = [{"topic": availability_topic}]
    messages: list[tuple[str, str]] = []
    for object_id, name, field, extra in _SITE_SENSORS:
        unique = f"{site_id(node, slug)}_{object_id}"
        config = {
            "name": name,
            "unique_id": unique,
            "default_entity_id": f"sensor.{entity_slug(unique)}",
            "state_topic": state_topic,
            "value_template": value_template(field, numeric=True),
            "availability": availability,
            "device": device,
            **extra,
        }
        messages.append((site_config_topic(node, slug, object_id), compact_json(config)))
    return messages


def site_config_topics(node: str, slug: str) -> list[str]:
    """The config topics :func:`site_configs` publishes for a site reported by ``node``."""
    return [site_config_topic(node, slug, sensor[0]) for sensor in _SITE_SENSORS]


def attributes_template(fields: tuple[str, ...]) -> str:
    """A JSON attributes template: each field as it is if a string or a number, else empty
    text (never ``None``)."""
    parts = ", ".join(
        f"'{f}': value_json.{f} if value_json.{f} is string or value_json.{f} is number else ''"
        for f in fields
    )
    return f"{{{{ {{{parts}}} | tojson }}}}"


NEXT_DUE_ATTRIBUTES = ("modality", "site", "reason", "minutes", "phase", "due_now", "last_at")
PAIN_ATTRIBUTES = ("at", "site", "moment", "session_id")


def diary_configs(
    node: str, *, next_due_topic: str, pain_topic: str, availability_topic: str
) -> list[tuple[str, str]]:
    """(topic, retained payload) of the controller's regimen entities: the next session due
    (a timestamp, ISO 8601 with its offset; empty, so unknown, when nothing is due), with
    its modality, site and reason as attributes for an automation's notification; and the
    last pain rating (0-10), with its time and site as attributes."""
    device = {"identifiers": [controller_id(node)]}
    availability = [{"topic": availability_topic}]
    entities: tuple[tuple[str, dict[str, Any]], ...] = (
        (
            "next_due",
            {
                "name": "Next session due",
                "device_class": "timestamp",
                "state_topic": next_due_topic,
                "value_template": value_template("due_at", numeric=False),
                "json_attributes_topic": next_due_topic,
                "json_attributes_template": attributes_template(NEXT_DUE_ATTRIBUTES),
            },
        ),
        (
            "last_pain",
            {
                "name": "Last pain rating",
                "state_class": "measurement",
                "state_topic": pain_topic,
                "value_template": value_template("rating", numeric=True),
                "json_attributes_topic": pain_topic,
                "json_attributes_template": attributes_template(PAIN_ATTRIBUTES),
            },
        ),
    )
    messages: list[tuple[str, str]] = []
    for object_id, options in entities:
        unique = f"{controller_id(node)}_{object_id}"
        config = {
            "unique_id": unique,
            "default_entity_id": f"sensor.{entity_slug(unique)}",
            **options,
            "availability": availability,
            "device": device,
        }
        topic = f"{DISCOVERY_PREFIX}/sensor/{controller_id(node)}/{object_id}/config"
        messages.append((topic, compact_json(config)))
    return messages


def _text(value: object) -> str:
    """An identity field as text: a string as is, anything else (a missing one) empty."""
    return value if isinstance(value, str) else ""
