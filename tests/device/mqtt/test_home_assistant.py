"""What Home Assistant gets, through a real Mosquitto broker: discovery without dangling
via_device, default_entity_id on every entity, no "None" in any config, state or rendered
template, battery as a diagnostic entity, entities removed when a device is forgotten, and a
last retained state that is the real last state even if the broker was away at the end."""

from __future__ import annotations

import asyncio
import json
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from device.mqtt import MqttBridge, MqttSettings
from tests.mosquitto import Watcher, mosquitto, publish, running
from tests.simserve import THERAPYCTL

pytestmark = pytest.mark.slow

BELT_KEY = "eb4f8333dbd5"  # the simulated light-belt-800's address, without colons
IDENTITY = {
    "kind": "heat-pad",
    "name": "pad",
    "address": "D6:7C:BE:E0:42:E5",
    "model": "heat-pad",
    "firmware": "sim-1.0.0",
}
PAD_KEY = "d67cbee042e5"


def render(template: str, state: dict[str, Any]) -> str:
    """A value template rendered as Home Assistant renders it."""
    env = ImmutableSandboxedEnvironment()
    return env.from_string(template).render(value=json.dumps(state), value_json=state)


async def retained(port: int, topics: tuple[str, ...] = ("#",)) -> dict[str, Any]:
    """Every retained message on ``topics`` now: topic -> payload. A message published after
    subscribing comes back after all the retained ones, so none is missed."""
    async with Watcher(port, (*topics, "test/marker")) as late:
        await publish(port, "test/marker", "end")
        await late.wait_for(lambda t, p, r: t == "test/marker")
        return {t: p for t, p, r in late.messages if r}


async def test_a_session_gives_home_assistant_consistent_discovery_and_no_none(
    tmp_path: Path,
) -> None:
    """`run --mqtt --site lower-back` on a light belt to completion: every via_device is an
    announced device, every entity has default_entity_id, battery is diagnostic, the body
    site's entities are the node's, and no config, state or value template rendered on a
    state says "None" (the idle state before the first reading has null readings and a null
    end reason); the last retained state is idle, output off, completed."""
    with mosquitto(tmp_path / "broker") as broker:
        async with Watcher(broker.port) as watch:
            process = await asyncio.create_subprocess_exec(
                THERAPYCTL,
                "run",
                "--sim",
                "light-belt-800",
                "--mode",
                "light",
                "--minutes",
                "1",
                "--time-scale",
                "60",
                "--mqtt",
                broker.url,
                "--mqtt-node",
                "ha1",
                "--site",
                "lower-back",
                "--db",
                str(tmp_path / "j.db"),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await asyncio.wait_for(process.communicate(), 60)
            assert process.returncode == 0, err.decode()
            await watch.wait_for(
                lambda t, p, r: t == "therapyctl/ha1/availability" and p == "offline"
            )
        configs = {
            t: p
            for t, p, _ in watch.messages
            if t.startswith("homeassistant/") and t.endswith("/config") and p
        }
        states = [p for t, p, _ in watch.messages if t == f"therapyctl/ha1/{BELT_KEY}/state"]
        assert states and states[0]["end_reason"] is None  # the case old templates said "None" to

        identifiers = {i for config in configs.values() for i in config["device"]["identifiers"]}
        vias = {c["device"]["via_device"] for c in configs.values() if "via_device" in c["device"]}
        assert vias == {"therapyctl_ha1"} and vias <= identifiers
        for topic, config in configs.items():
            platform = topic.split("/")[1]
            assert config["default_entity_id"] == f"{platform}.{config['unique_id']}", topic
        # The site's dose sensors: a device of node ha1's own (identifier, config topics and
        # unique ids with the node in them), via the controller, on its availability.
        site = {t: c for t, c in configs.items() if "_site_" in t}
        assert len(site) == 10
        for topic, config in site.items():
            assert topic.startswith("homeassistant/sensor/therapyctl_ha1_site_lower_back/")
            assert config["unique_id"].startswith("therapyctl_ha1_site_lower_back_")
            assert config["device"]["identifiers"] == ["therapyctl_ha1_site_lower_back"]
            assert config["availability"] == [{"topic": "therapyctl/ha1/availability"}]
        battery = configs[f"homeassistant/sensor/therapyctl_{BELT_KEY}/battery/config"]
        assert battery["entity_category"] == "diagnostic"

        for _, payload, _ in watch.messages:
            text = payload if isinstance(payload, str) else json.dumps(payload)
            assert "None" not in text
        device_state = f"therapyctl/ha1/{BELT_KEY}/state"
        templates = [
            c["value_template"]
            for c in configs.values()
            if "value_template" in c and c.get("state_topic") == device_state
        ]
        assert len(templates) == 5
        for state in states:
            for template in templates:
                assert render(template, state) != "None"
        # The controller's days (next due, last pain) are announced and published too, with
        # nothing due and no rating yet: their templates say nothing, never "None".
        diary = {
            c["state_topic"]: c["value_template"]
            for c in configs.values()
            if c.get("state_topic", "").startswith(
                ("therapyctl/ha1/regimen", "therapyctl/ha1/pain")
            )
        }
        assert set(diary) == {"therapyctl/ha1/regimen/next", "therapyctl/ha1/pain/last"}
        for topic, template in diary.items():
            published = [p for t, p, _ in watch.messages if t == topic]
            assert published, topic
            assert all(render(template, p) not in ("None", "none") for p in published)

        last = await retained(broker.port)
        final = last[f"therapyctl/ha1/{BELT_KEY}/state"]
        assert (final["state"], final["output_on"], final["end_reason"]) == (
            "idle",
            False,
            "completed",
        )
        assert last["therapyctl/ha1/availability"] == "offline"
        assert last["homeassistant/binary_sensor/therapyctl_ha1/connectivity/config"][
            "state_topic"
        ] == ("therapyctl/ha1/availability")


async def test_forgetting_a_device_removes_its_entities_and_keeps_the_controller(
    tmp_path: Path,
) -> None:
    """remove_device publishes an empty retained payload to each of the device's config
    topics and its state topic: nothing of the device stays retained (Home Assistant removes
    its entities); the controller's own config stays. Closing is not forgetting."""
    with mosquitto(tmp_path / "broker") as broker:
        settings = MqttSettings.from_url(broker.url, node_id="f1")
        async with Watcher(broker.port) as watch, running(MqttBridge(settings)) as bridge:
            bridge.add_device(IDENTITY)
            bridge.add_device({**IDENTITY, "name": "other", "address": "C1:22:33:44:55:66"})
            bridge.publish_state(IDENTITY["address"], {"state": "idle"})
            await watch.wait_for(lambda t, p, r: t == f"therapyctl/f1/{PAD_KEY}/state")
            before = await retained(broker.port)
            ours = [t for t in before if PAD_KEY in t]
            assert len(ours) == 7  # 6 entity configs and the state

            bridge.remove_device(IDENTITY)
            for topic in ours:
                await watch.wait_for(lambda t, p, r, topic=topic: t == topic and p == "")
            after = await retained(broker.port)
            assert not [t for t in after if PAD_KEY in t]
            assert "homeassistant/binary_sensor/therapyctl_f1/connectivity/config" in after
            assert "homeassistant/button/therapyctl_c12233445566/stop/config" in after
        kept = await retained(broker.port)
        assert "homeassistant/button/therapyctl_c12233445566/stop/config" in kept
        assert kept["therapyctl/f1/availability"] == "offline"


async def test_the_last_state_is_delivered_even_if_the_broker_was_away_at_the_end(
    tmp_path: Path,
) -> None:
    """The broker goes away; the session's last state is published meanwhile; the broker
    comes back (empty) and the bridge is closed at once: closing reconnects, sends that last
    state, then says offline."""
    with mosquitto(tmp_path / "broker") as broker:
        settings = MqttSettings.from_url(broker.url, node_id="e1")
        bridge = MqttBridge(settings)
        task = asyncio.create_task(bridge.run())
        try:
            await bridge.wait_first_attempt(20)
            bridge.add_device(IDENTITY)
            bridge.publish_state(IDENTITY["address"], {"state": "running", "output_on": True})
            async with Watcher(broker.port) as watch:
                await watch.wait_for(lambda t, p, r: t.endswith("/state") and p["output_on"])
            broker.stop()
            async with asyncio.timeout(20):  # the bridge notices the broker gone
                while bridge.connected.is_set():  # noqa: ASYNC110 - no event for "disconnected"
                    await asyncio.sleep(0.02)
            bridge.publish_state(IDENTITY["address"], {"state": "idle", "output_on": False})
            broker.start()
            await bridge.close(timeout_s=20)
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        last = await retained(broker.port)
        assert last[f"therapyctl/e1/{PAD_KEY}/state"] == {"state": "idle", "output_on": False}
        assert last["therapyctl/e1/availability"] == "offline"
