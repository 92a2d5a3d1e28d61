"""Home Assistant MQTT discovery: the entities of one therapy device."""

from __future__ import annotations

from device.mqtt.topics import DISCOVERY_PREFIX, compact_json


def discovery_configs(
    node: str,
    key: str,
    identity: dict[str, str],
    *,
    state_topic: str,
    command_topic: str,
    availability_topic: str,
) -> list[tuple[str, str]]:
    """(topic, retained payload) of every entity a device has in Home Assistant."""
    device = {
        "identifiers": [f"therapyctl_{key}"],
        "name": identity.get("name", key),
        "model": identity.get("model", identity.get("kind", "")),
        "manufacturer": "therapyctl",
        "sw_version": identity.get("firmware", ""),
        "via_device": f"therapyctl_{node}",
    }
    availability = {"topic": availability_topic}
    sensors = [
        (
            "temperature",
            "Temperature",
            "{{ value_json.temperature_c }}",
            {
                "device_class": "temperature",
                "unit_of_measurement": "°C",
                "state_class": "measurement",
            },
        ),
        (
            "remaining",
            "Remaining time",
            "{{ value_json.remaining_s }}",
            {"device_class": "duration", "unit_of_measurement": "s"},
        ),
        (
            "battery",
            "Battery",
            "{{ value_json.battery_pct }}",
            {"device_class": "battery", "unit_of_measurement": "%"},
        ),
        ("state", "State", "{{ value_json.state }}", {}),
        ("end_reason", "End reason", "{{ value_json.end_reason }}", {}),
    ]
    messages: list[tuple[str, str]] = []
    for object_id, name, template, extra in sensors:
        unique = f"therapyctl_{node}_{key}_{object_id}"
        config = {
            "name": name,
            "unique_id": unique,
            "object_id": unique,
            "state_topic": state_topic,
            "value_template": template,
            "availability": [availability],
            "device": device,
            **extra,
        }
        messages.append(
            (f"{DISCOVERY_PREFIX}/sensor/{node}_{key}/{object_id}/config", compact_json(config))
        )
    unique = f"therapyctl_{node}_{key}_stop"
    button = {
        "name": "Stop",
        "unique_id": unique,
        "object_id": unique,
        "command_topic": command_topic,
        "payload_press": compact_json({"id": "home-assistant-stop", "command": "stop"}),
        "availability": [availability],
        "device": device,
    }
    messages.append((f"{DISCOVERY_PREFIX}/button/{node}_{key}/stop/config", compact_json(button)))
    return messages
