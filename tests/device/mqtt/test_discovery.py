"""Home Assistant discovery, pure: the configs (device.mqtt.discovery) and what the bridge
queues for them (no broker). Templates are rendered with Jinja's sandbox, as Home Assistant
renders them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from device.mqtt import MqttBridge, MqttSettings
from device.mqtt.discovery import (
    controller_config,
    device_config_topics,
    discovery_configs,
    legacy_config_topics,
    site_config_topics,
    site_configs,
    site_id,
)
from device.mqtt.topics import site_slug

NODE = "kitchen"
# Home Assistant's entity id (homeassistant.core.valid_entity_id).
ENTITY_ID = re.compile(r"^(?!.+__)(?!_)[\da-z_]+(?<!_)\.(?!_)[\da-z_]+(?<!_)$")
KEY = "d67cbee042e5"
IDENTITY = {
    "kind": "heat-pad",
    "name": "pad",
    "address": "D6:7C:BE:E0:42:E5",
    "model": "heat-pad",
    "firmware": "sim-1.0.0",
}
BELT = {**IDENTITY, "kind": "light-belt-800", "name": "belt", "address": "C1:22:33:44:55:66"}
# The reporter's state before any Status (MqttReporter.__init__): every reading null.
IDLE_STATE: dict[str, Any] = {
    "device": IDENTITY,
    "state": "idle",
    "mode": None,
    "session_id": None,
    "temperature_c": None,
    "setpoint_c": None,
    "power_mw": 0,
    "output_on": False,
    "remaining_s": 0,
    "battery_pct": None,
    "end_reason": None,
}


def configs(node: str = NODE, identity: dict[str, str] = IDENTITY) -> dict[str, dict[str, Any]]:
    """topic -> parsed config of a device's entities, as ``node`` announces them."""
    key = identity["address"].replace(":", "").lower()
    return {
        topic: json.loads(payload)
        for topic, payload in discovery_configs(
            node,
            key,
            identity,
            state_topic=f"therapyctl/{node}/{key}/state",
            command_topic=f"therapyctl/{node}/{key}/command",
            availability_topic=f"therapyctl/{node}/availability",
        )
    }


def controller() -> tuple[str, dict[str, Any]]:
    topic, payload = controller_config(NODE, availability_topic=f"therapyctl/{NODE}/availability")
    return topic, json.loads(payload)


def render(template: str, state: dict[str, Any]) -> str:
    """A value template rendered as Home Assistant renders it: ``value_json`` is the state."""
    env = ImmutableSandboxedEnvironment()
    return env.from_string(template).render(value=json.dumps(state), value_json=state)


def test_every_via_device_is_an_announced_device() -> None:
    """Each device's via_device names the identifiers of a device that is announced itself
    (the controller), never one Home Assistant would have to invent."""
    announced = [controller()[1], *configs().values(), *configs(identity=BELT).values()]
    identifiers = {i for config in announced for i in config["device"]["identifiers"]}
    vias = {
        config["device"]["via_device"] for config in announced if "via_device" in config["device"]
    }
    assert vias == {f"therapyctl_{NODE}"}
    assert vias <= identifiers


def test_the_controller_is_a_connectivity_sensor_on_its_availability_topic() -> None:
    """The controller's own device: a connectivity binary_sensor on PREFIX/NODE/availability,
    on for "online", off for "offline", named after the node."""
    topic, config = controller()
    assert topic == f"homeassistant/binary_sensor/therapyctl_{NODE}/connectivity/config"
    assert config["device_class"] == "connectivity"
    assert config["state_topic"] == f"therapyctl/{NODE}/availability"
    assert (config["payload_on"], config["payload_off"]) == ("online", "offline")
    assert config["device"]["identifiers"] == [f"therapyctl_{NODE}"]
    assert config["device"]["name"] == f"therapyctl {NODE}"
    assert "availability" not in config  # offline is its state, not "unavailable"


def test_every_entity_has_a_default_entity_id_of_its_platform() -> None:
    """default_entity_id is "<platform>.<unique id>", the platform being the one in the config
    topic; the deprecated object_id is not sent."""
    announced = {**configs(), **dict([controller()])}
    assert len(announced) == 7
    for topic, config in announced.items():
        platform = topic.split("/")[1]
        assert config["default_entity_id"] == f"{platform}.{config['unique_id']}", topic
        assert "object_id" not in config


def test_battery_is_a_diagnostic_entity_and_the_readings_are_not() -> None:
    """Battery has entity_category diagnostic; temperature and remaining time are primary."""
    by_object = {topic.split("/")[3]: config for topic, config in configs().items()}
    assert by_object["battery"]["entity_category"] == "diagnostic"
    assert by_object["battery"]["device_class"] == "battery"
    assert "entity_category" not in by_object["temperature"]
    assert "entity_category" not in by_object["remaining"]


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (
            IDLE_STATE,
            {"temperature": "", "remaining": "0", "battery": "", "state": "idle", "end_reason": ""},
        ),
        (
            {**IDLE_STATE, "temperature_c": 39.5, "battery_pct": 0, "end_reason": "completed"},
            {
                "temperature": "39.5",
                "remaining": "0",
                "battery": "0",
                "state": "idle",
                "end_reason": "completed",
            },
        ),
        (
            {"state": None},  # a state missing every field
            {"temperature": "", "remaining": "", "battery": "", "state": "", "end_reason": ""},
        ),
    ],
)
def test_templates_render_text_never_none(state: dict[str, Any], expected: dict[str, str]) -> None:
    """A null or missing field renders as the empty string (a text sensor shows nothing, a
    numeric one stays unknown), never "None"; a 0 reading stays 0."""
    rendered = {
        topic.split("/")[3]: render(config["value_template"], state)
        for topic, config in configs().items()
        if "value_template" in config
    }
    assert rendered == expected


def test_discovery_payloads_never_say_none() -> None:
    """An identity with missing or null fields gives empty text, not null or "None", in the
    device block; the key stands in for a missing name."""
    sparse: dict[str, Any] = {"address": "D6:7C:BE:E0:42:E5", "name": None, "firmware": None}
    announced = configs(identity=sparse)
    for payload in announced.values():
        text = json.dumps(payload)
        assert "None" not in text and "null" not in text
    device = next(iter(announced.values()))["device"]
    assert device["name"] == KEY
    assert device["sw_version"] == "" and device["model"] == ""


def test_a_device_moved_to_another_node_keeps_its_entities() -> None:
    """Config topics and unique ids belong to the device, not the node: another node announces
    the same entities (now via itself, on its own state topic) instead of a second set."""
    here, there = configs("kitchen"), configs("bedroom")
    assert set(here) == set(there) == set(device_config_topics(KEY))
    for topic in here:
        assert here[topic]["unique_id"] == there[topic]["unique_id"]
        assert there[topic]["device"]["via_device"] == "therapyctl_bedroom"
    assert all(NODE not in topic for topic in here)


def site_announced(node: str, site: str = "lower-back") -> dict[str, dict[str, Any]]:
    """topic -> parsed config of a body site's sensors, as ``node`` announces them."""
    slug = site_slug(site)
    return {
        topic: json.loads(payload)
        for topic, payload in site_configs(
            node,
            slug,
            site,
            state_topic=f"therapyctl/{node}/site/{slug}/state",
            availability_topic=f"therapyctl/{node}/availability",
        )
    }


def test_two_nodes_reporting_the_same_site_announce_distinct_entities() -> None:
    """Two controllers reporting lower-back (each from its own journal): distinct config
    topics, unique ids, device identifiers and default entity ids, each on its own node's
    state and availability topics and via its own controller, so neither overwrites the
    other's config or availability."""
    kitchen, bedroom = site_announced("kitchen"), site_announced("bedroom")
    assert len(kitchen) == len(bedroom) == 10
    assert not set(kitchen) & set(bedroom)
    assert set(kitchen) == set(site_config_topics("kitchen", "lower_back"))
    assert set(bedroom) == set(site_config_topics("bedroom", "lower_back"))
    for key in ("unique_id", "default_entity_id"):
        ids = [c[key] for c in (*kitchen.values(), *bedroom.values())]
        assert len(set(ids)) == len(ids) == 20, key
    for node, announced in (("kitchen", kitchen), ("bedroom", bedroom)):
        for topic, config in announced.items():
            assert topic.startswith(f"homeassistant/sensor/therapyctl_{node}_site_lower_back/")
            assert config["unique_id"].startswith(f"therapyctl_{node}_site_lower_back_")
            assert config["device"]["identifiers"] == [site_id(node, "lower_back")]
            assert config["device"]["identifiers"] == [f"therapyctl_{node}_site_lower_back"]
            assert config["device"]["via_device"] == f"therapyctl_{node}"
            assert config["device"]["name"] == f"Body site lower-back ({node})"
            assert config["state_topic"] == f"therapyctl/{node}/site/lower_back/state"
            assert config["availability"] == [{"topic": f"therapyctl/{node}/availability"}]
            assert config["default_entity_id"] == f"sensor.{config['unique_id']}"


@pytest.mark.parametrize("node", ["kitchen", "Living-Room_2", "a--b", "_x_", "N0DE-"])
@pytest.mark.parametrize("site", ["lower-back", "a/b+#", "x" * 40, "épaule"])
def test_site_entity_ids_are_valid_for_any_node_and_site(node: str, site: str) -> None:
    """Whatever the node id (any the settings allow: letters, digits, "-" and "_") and the
    site, every site sensor's default_entity_id is a valid Home Assistant entity id, its
    config topic a valid discovery topic, and the controller's connectivity one too."""
    for topic, config in site_announced(node, site).items():
        assert ENTITY_ID.match(config["default_entity_id"]), config["default_entity_id"]
        assert re.fullmatch(r"homeassistant/sensor/[A-Za-z0-9_-]+/[a-z0-9_]+/config", topic)
        assert node in config["unique_id"]
    _, payload = controller_config(node, availability_topic=f"therapyctl/{node}/availability")
    assert ENTITY_ID.match(json.loads(payload)["default_entity_id"])


def bridge() -> MqttBridge:
    return MqttBridge(MqttSettings("127.0.0.1", 1883, node_id=NODE))


def queued(b: MqttBridge) -> list[tuple[str, str, bool]]:
    return [(m.topic, m.payload, m.retain) for m in b._reliable]


def test_remove_device_clears_its_configs_and_retained_state() -> None:
    """Forgetting a device queues an empty retained payload for every config topic it had (so
    Home Assistant removes the entities) and for its retained state, which is not re-sent."""
    b = bridge()
    b.add_device(IDENTITY)
    b.publish_state(IDENTITY["address"], {"state": "idle"})
    b._reliable.clear()
    b.remove_device(IDENTITY)
    cleared = {topic for topic, payload, retain in queued(b) if payload == "" and retain}
    state_topic = f"therapyctl/{NODE}/{KEY}/state"
    assert cleared == {*device_config_topics(KEY), *legacy_config_topics(NODE, KEY), state_topic}
    assert len(queued(b)) == len(cleared)
    assert state_topic not in b._retained and state_topic not in b._dirty


def test_first_announcement_clears_the_node_scoped_configs_of_older_releases() -> None:
    """A device first announced by this process clears the config topics with the node in
    them (what older releases published), then announces; announced again (renamed), it only
    sends the new configs."""
    b = bridge()
    b.add_device(IDENTITY)
    first = queued(b)
    legacy = legacy_config_topics(NODE, KEY)
    assert legacy == [
        f"homeassistant/sensor/{NODE}_{KEY}/{obj}/config"
        for obj in ("temperature", "remaining", "battery", "state", "end_reason")
    ] + [f"homeassistant/button/{NODE}_{KEY}/stop/config"]
    assert [(t, p) for t, p, r in first if p == "" and r] == [(t, "") for t in sorted(legacy)]
    assert {t for t, p, _ in first if p} == set(device_config_topics(KEY))

    b._reliable.clear()
    b.add_device({**IDENTITY, "name": "renamed pad"})
    again = queued(b)
    assert all(payload for _, payload, _ in again)
    assert {t for t, _, _ in again} == set(device_config_topics(KEY))
    assert all(json.loads(p)["device"]["name"] == "renamed pad" for _, p, _ in again)


def test_client_ids_differ_between_bridges_of_one_node() -> None:
    """Two bridges (two controllers) with the same node id connect with different client ids,
    so the broker never drops one for the other."""
    first, second = bridge(), bridge()
    assert first.client_id != second.client_id
    assert first.client_id.startswith(f"therapyctl-{NODE}-")
    assert first.owner_token != second.owner_token
