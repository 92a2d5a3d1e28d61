"""Hostile messages through a real Mosquitto broker: the bridge of ``serve`` answers them and
stays alive for the next stop; the monitor survives hostile retained states."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from device.mqtt import MqttSettings
from tests.device.mqtt.test_bridge import HEAT_PAD_KEY, command_topic, response, serve
from tests.mosquitto import Watcher, mosquitto, publish
from ui.tui.monitor import MonitorApp

pytestmark = pytest.mark.slow

HUGE = "4" * 400


async def test_a_400_digit_start_is_rejected_and_the_next_stop_is_honoured(
    tmp_path: Path,
) -> None:
    """serve without --remote-control: a start whose minutes is a 400-digit integer and a stop
    whose id is a lone surrogate are answered `rejected`; the bridge lives on: a stop after
    them is `accepted` and the controller is still `online`."""
    with mosquitto(tmp_path / "broker") as broker:
        async with (
            serve(broker.url, "--mqtt-node", "h1", "--db", str(tmp_path / "j.db")) as process,
            Watcher(broker.port, ("therapyctl/h1/#",)) as watch,
        ):
            await watch.wait_for(lambda t, p, r: t.endswith(f"{HEAT_PAD_KEY}/state"))
            topic = command_topic("h1")
            big = f'{{"id": "big", "command": "start", "mode": "heat", "minutes": {HUGE}}}'
            await publish(broker.port, topic, big)
            rejected = await response(watch, "big")
            assert rejected["status"] == "rejected" and not rejected["ok"]
            assert "minutes must be between" in rejected["reason"]

            await publish(broker.port, topic, '{"id": "\\ud800", "command": "stop"}')
            await watch.wait_for(
                lambda t, p, r: (
                    t.endswith("/command/response")
                    and p["status"] == "rejected"
                    and "printable" in p["reason"]
                )
            )

            await publish(broker.port, topic, json.dumps({"id": "s1", "command": "stop"}))
            stopped = await response(watch, "s1")
            assert stopped["ok"] and stopped["status"] == "accepted"
            assert process.returncode is None
            availability = [p for t, p, _ in watch.messages if t == "therapyctl/h1/availability"]
            assert availability and availability[-1] == "online"


async def test_monitor_survives_hostile_retained_states(tmp_path: Path) -> None:
    """Retained garbage on other devices' state topics (100000 nested brackets, invalid UTF-8,
    markup, NaN, 1e308, 400-digit ints, wrong types): the monitor keeps running and shows the
    real controller's device beside the hostile ones."""
    hostile = {
        "deep": b"[" * 100_000,
        "utf8": b'{"state": "\xff\xfe\xfd"}',
        "list": b"[1, 2, 3]",
        "types": (
            f'{{"device": {{"name": "[/]", "kind": [1]}}, "state": {{"a": 1}},'
            f' "temperature_c": NaN, "remaining_s": {HUGE}, "battery_pct": 1e308}}'
        ).encode(),
    }
    with mosquitto(tmp_path / "broker") as broker:
        for key, payload in hostile.items():
            await publish(broker.port, f"therapyctl/evil/{key}/state", payload, retain=True)
        await publish(broker.port, "therapyctl/evil/availability", b"\xff[/]", retain=True)
        async with serve(broker.url, "--mqtt-node", "good", "--db", str(tmp_path / "a.db")):
            app = MonitorApp(MqttSettings.from_url(broker.url, node_id="monitor"))
            async with app.run_test(size=(120, 30)) as pilot:

                def good_rows() -> list[tuple[str, ...]]:
                    return [r for r in app.model.rows() if r[0] == "good" and r[1] == "online"]

                async with asyncio.timeout(20):
                    while not good_rows() or ("evil", "types") not in app.model.devices:
                        await pilot.pause(0.05)
                await pilot.pause()
                assert app.is_running
                [good] = good_rows()
                assert (good[3], good[4]) == ("heat-pad", "idle")
                evil = [r for r in app.model.rows() if r[0] == "evil"]
                assert [r[2] for r in evil] == ["[/]"]  # only the dict is a row, as text
                assert app.query_one("DataTable").row_count == 2
                await pilot.press("q")
            assert app.return_value is None
