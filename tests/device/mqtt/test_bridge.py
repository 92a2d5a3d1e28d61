"""The MQTT bridge against a real Mosquitto broker: discovery, retained state, Last Will,
remote commands through the supervisor, a broker restart, and a password-only broker."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.mosquitto import Watcher, mosquitto, publish
from tests.simserve import THERAPYCTL

pytestmark = pytest.mark.slow

HEAT_PAD_KEY = "d67cbee042e5"  # the simulated heat-pad's address, without colons


@asynccontextmanager
async def serve(url: str, *args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """``therapyctl serve --sim heat-pad`` reporting to ``url``; stopped with SIGTERM."""
    process = await asyncio.create_subprocess_exec(
        THERAPYCTL,
        "serve",
        "--sim",
        "heat-pad",
        "--mqtt",
        url,
        "--time-scale",
        "60",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:  # whatever fails, the process is stopped: a failed test leaves none running
        said = []  # the broker's state is said first (issue #12, finding 7), then "serving"
        while not (line := await asyncio.wait_for(process.stderr.readline(), 30)).startswith(
            b"serving heat-pad"
        ):
            assert line, b"".join(said)  # it ended before serving
            said.append(line)
        assert any(line.startswith(b"MQTT: connected to 127.0.0.1:") for line in said), said
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


def command_topic(node: str) -> str:
    return f"therapyctl/{node}/{HEAT_PAD_KEY}/command"


async def response(watcher: Watcher, command_id: str) -> dict:
    _, payload, _ = await watcher.wait_for(
        lambda t, p, r: (
            t.endswith("/command/response") and isinstance(p, dict) and p.get("id") == command_id
        )
    )
    return payload


async def test_discovery_and_retained_state_reach_a_separate_subscriber(tmp_path: Path) -> None:
    """A subscriber arriving later gets availability, state and Home Assistant discovery
    (retained); a Home Assistant restart announcement makes the controller re-send it; a
    stale retained command is ignored."""
    with mosquitto(tmp_path / "broker") as broker:
        stale = {"id": "old", "command": "start", "mode": "heat", "minutes": 5}
        await publish(broker.port, command_topic("n1"), json.dumps(stale), retain=True)
        first_watcher = Watcher(broker.port)  # subscribed before the controller starts
        async with (
            first_watcher as first,
            serve(broker.url, "--mqtt-node", "n1", "--remote-control"),
        ):
            await first.wait_for(lambda t, p, r: t.endswith("/stop/config"))
            await first.wait_for(lambda t, p, r: t.endswith(f"{HEAT_PAD_KEY}/state"))
            _, ignored, _ = await first.wait_for(
                lambda t, p, r: t.endswith("/command/response") and "retained" in p["reason"]
            )
            assert not ignored["ok"]
            async with Watcher(broker.port) as late:  # arrives after everything was sent
                await late.wait_for(
                    lambda t, p, r: t == "therapyctl/n1/availability" and p == "online" and r
                )
                _, state, retained = await late.wait_for(
                    lambda t, p, r: t.endswith(f"{HEAT_PAD_KEY}/state")
                )
                assert retained and state["state"] == "idle"
                assert state["device"]["kind"] == "heat-pad"
                for sensor in ("temperature", "remaining", "battery", "state", "end_reason"):
                    _, config, retained = await late.wait_for(
                        lambda t, p, r, s=sensor: (
                            t == f"homeassistant/sensor/therapyctl_{HEAT_PAD_KEY}/{s}/config"
                        )
                    )
                    assert retained
                    assert config["state_topic"] == f"therapyctl/n1/{HEAT_PAD_KEY}/state"
                    assert config["device"]["identifiers"] == [f"therapyctl_{HEAT_PAD_KEY}"]
                temperature = late.on("/temperature/config")[0]
                assert temperature["device_class"] == "temperature"
                assert temperature["unit_of_measurement"] == "°C"
                _, button, _ = await late.wait_for(lambda t, p, r: t.endswith("/stop/config"))
                assert button["command_topic"] == command_topic("n1")
                assert json.loads(button["payload_press"])["command"] == "stop"
                before = len(late.on("/temperature/config"))
                await publish(broker.port, "homeassistant/status", "online")
                await late.wait_for(lambda t, p, r: len(late.on("/temperature/config")) > before)


async def test_remote_commands_go_through_the_supervisor(tmp_path: Path) -> None:
    """Over-limit start refused with the reason; a valid start runs; a duplicate id is
    ignored; stop works; hostile payloads are rejected and change nothing."""
    with mosquitto(tmp_path / "broker") as broker:
        async with (
            serve(
                broker.url, "--mqtt-node", "n2", "--remote-control", "--db", str(tmp_path / "j.db")
            ),
            Watcher(broker.port) as watch,
        ):
            topic = command_topic("n2")
            for bad in (
                "not json",
                "[1,2]",
                '{"id": 5, "command": "stop"}',
                '{"id": "x", "command": "explode"}',
                "x" * 5000,
                '{"id": "y", "command": "start", "mode": "heat", "minutes": "lots"}',
            ):
                await publish(broker.port, topic, bad)
            await watch.wait_for(lambda t, p, r: len(watch.on("/command/response")) >= 6)
            assert all(
                not r["ok"] and r["status"] == "rejected" for r in watch.on("/command/response")
            )
            assert all(s["state"] == "idle" for s in watch.on(f"{HEAT_PAD_KEY}/state"))

            await publish(
                broker.port,
                topic,
                json.dumps(
                    {
                        "id": "c1",
                        "command": "start",
                        "mode": "heat",
                        "minutes": 45,
                        "setpoint_c": 40,
                    }
                ),
            )
            refused = await response(watch, "c1")
            assert not refused["ok"] and "heat sessions are limited to 20 min" in refused["reason"]

            await publish(
                broker.port,
                topic,
                json.dumps(
                    {
                        "id": "c2",
                        "command": "start",
                        "mode": "heat",
                        "minutes": 10,
                        "setpoint_c": 40,
                    }
                ),
            )
            assert (await response(watch, "c2"))["ok"]
            await watch.wait_for(lambda t, p, r: t.endswith("/telemetry") and p["output_on"])
            await publish(
                broker.port,
                topic,
                json.dumps(
                    {
                        "id": "c2",
                        "command": "start",
                        "mode": "heat",
                        "minutes": 10,
                        "setpoint_c": 40,
                    }
                ),
            )
            await watch.wait_for(
                lambda t, p, r: (
                    t.endswith("/command/response")
                    and p.get("id") == "c2"
                    and p["status"] == "duplicate"
                )
            )

            await publish(broker.port, topic, json.dumps({"id": "c3", "command": "stop"}))
            assert (await response(watch, "c3"))["ok"]
            _, summary, _ = await watch.wait_for(lambda t, p, r: t.endswith("/summary"))
            assert summary["end_reason"] == "user_stopped"
            await watch.wait_for(
                lambda t, p, r: (
                    t.endswith(f"{HEAT_PAD_KEY}/state")
                    and p["state"] == "idle"
                    and p["end_reason"] == "user_stopped"
                )
            )


async def test_last_will_says_offline_when_the_controller_is_killed(tmp_path: Path) -> None:
    """SIGKILL: the broker publishes the controller's Last Will, retained 'offline'."""
    with mosquitto(tmp_path / "broker") as broker:
        async with serve(broker.url, "--mqtt-node", "n3") as process, Watcher(broker.port) as watch:
            await watch.wait_for(
                lambda t, p, r: t == "therapyctl/n3/availability" and p == "online"
            )
            process.kill()
            await process.wait()
            await watch.wait_for(
                lambda t, p, r: t == "therapyctl/n3/availability" and p == "offline"
            )
        async with Watcher(broker.port, ("therapyctl/n3/availability",)) as later:
            _, payload, retained = await later.wait_for(lambda t, p, r: True)
            assert payload == "offline" and retained


async def test_remote_stop_is_honoured_even_without_remote_control(tmp_path: Path) -> None:
    """A running `run` without --remote-control: pause is refused, stop is honoured."""
    with mosquitto(tmp_path / "broker") as broker:
        async with Watcher(broker.port) as watch:
            process = await asyncio.create_subprocess_exec(
                THERAPYCTL,
                "run",
                "--sim",
                "heat-pad",
                "--mode",
                "heat",
                "--minutes",
                "15",
                "--time-scale",
                "30",
                "--attended-ack",
                "auto",
                "--mqtt",
                broker.url,
                "--mqtt-node",
                "n5",
                "--json",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            await watch.wait_for(lambda t, p, r: t.endswith("/telemetry") and p["output_on"])
            topic = command_topic("n5")
            await publish(broker.port, topic, json.dumps({"id": "p1", "command": "pause"}))
            paused = await response(watch, "p1")
            assert not paused["ok"] and "remote control is off" in paused["reason"]
            await publish(broker.port, topic, json.dumps({"id": "s1", "command": "stop"}))
            assert (await response(watch, "s1"))["ok"]
            out, _ = await asyncio.wait_for(process.communicate(), 60)
            assert process.returncode == 130
            assert json.loads(out)["end_reason"] == "user_stopped"


async def test_broker_restart_mid_session_does_not_touch_the_session(tmp_path: Path) -> None:
    """The broker goes away and comes back: the session completes, telemetry resumes."""
    with mosquitto(tmp_path / "broker") as broker:
        async with Watcher(broker.port, ("therapyctl/+/+/telemetry",)) as watch:
            process = await asyncio.create_subprocess_exec(
                THERAPYCTL,
                "-v",
                "run",
                "--sim",
                "heat-pad",
                "--mode",
                "heat",
                "--minutes",
                "8",
                "--time-scale",
                "40",
                "--mqtt",
                broker.url,
                "--mqtt-node",
                "n4",
                "--json",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            await watch.wait_for(lambda t, p, r: p["t_s"] > 30)
            broker.stop()
            await asyncio.sleep(1.0)  # the broker is down for a second of wall time
            broker.start()
            seen_before = len(watch.messages)
            out, err = await asyncio.wait_for(process.communicate(), 60)
            assert process.returncode == 0, err.decode()
            assert json.loads(out)["end_reason"] == "completed"
            assert watch.connections >= 2
            after = watch.messages[seen_before:]
            last = [p["t_s"] for _, p, _ in watch.messages[-3:]]
            assert after, (
                seen_before,
                len(watch.messages),
                last,
                watch.connections,
                [line for line in err.decode().splitlines() if "MQTT" in line],
            )
            assert max(p["t_s"] for _, p, _ in after) > 400  # late in the session


async def test_password_broker_refuses_an_anonymous_controller(tmp_path: Path) -> None:
    """No credentials: one clear error before any device is touched; with them: fine."""
    with mosquitto(tmp_path / "broker", user=("alice", "s3cret")) as broker:
        anonymous = await asyncio.create_subprocess_exec(
            THERAPYCTL,
            "run",
            "--sim",
            "heat-pad",
            "--mode",
            "heat",
            "--minutes",
            "1",
            "--mqtt",
            broker.url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(anonymous.communicate(), 60)
        assert anonymous.returncode == 1
        assert "refused this controller: not authorized" in err.decode()
        assert "Traceback" not in err.decode() and "connected to" not in err.decode()
        ok = await asyncio.create_subprocess_exec(
            THERAPYCTL,
            "run",
            "--sim",
            "heat-pad",
            "--mode",
            "heat",
            "--minutes",
            "1",
            "--time-scale",
            "60",
            "--mqtt",
            f"mqtt://alice:s3cret@127.0.0.1:{broker.port}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(ok.communicate(), 60)
        assert ok.returncode == 0, err.decode()


async def test_two_controllers_show_up_in_monitor(tmp_path: Path) -> None:
    """monitor (Textual, driven by Pilot) lists both controllers' devices, online."""
    from device.mqtt import MqttSettings
    from ui.tui.monitor import MonitorApp

    with mosquitto(tmp_path / "broker") as broker:
        async with (
            serve(broker.url, "--mqtt-node", "left", "--db", str(tmp_path / "a.db")),
            serve(broker.url, "--mqtt-node", "right", "--db", str(tmp_path / "b.db")),
        ):
            app = MonitorApp(MqttSettings.from_url(broker.url, node_id="monitor"))
            async with app.run_test(size=(120, 30)) as pilot:
                async with asyncio.timeout(20):
                    while len(app.model.rows()) < 2 or set(app.model.availability.values()) != {
                        "online"
                    }:
                        await pilot.pause(0.05)
                rows = app.model.rows()
                assert [(r[0], r[1], r[3], r[4]) for r in rows] == [
                    ("left", "online", "heat-pad", "idle"),
                    ("right", "online", "heat-pad", "idle"),
                ]
                await pilot.pause()
                table = app.query_one("DataTable")
                assert table.row_count == 2
                await pilot.press("q")


async def test_mqtts_with_a_client_certificate(tmp_path: Path) -> None:
    """mqtts:// with --mqtt-ca, --mqtt-cert and --mqtt-key reaches a TLS-only broker that
    requires a client certificate; the summary arrives over TLS."""
    import ssl

    import aiomqtt

    from tests.mosquitto import mosquitto_tls

    with mosquitto_tls(tmp_path / "broker") as (broker, files):
        context = ssl.create_default_context(cafile=str(files["ca.crt"]))
        context.load_cert_chain(str(files["client.crt"]), str(files["client.key"]))
        async with aiomqtt.Client("127.0.0.1", broker.port, tls_context=context) as client:
            await client.subscribe("therapyctl/+/+/summary", qos=1)
            process = await asyncio.create_subprocess_exec(
                THERAPYCTL,
                "run",
                "--sim",
                "heat-pad",
                "--mode",
                "heat",
                "--minutes",
                "1",
                "--time-scale",
                "60",
                "--mqtt",
                f"mqtts://127.0.0.1:{broker.port}",
                "--mqtt-ca",
                str(files["ca.crt"]),
                "--mqtt-cert",
                str(files["client.crt"]),
                "--mqtt-key",
                str(files["client.key"]),
                "--mqtt-node",
                "tls",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            async with asyncio.timeout(30):
                async for message in client.messages:
                    assert json.loads(message.payload)["end_reason"] == "completed"
                    break
            _, err = await asyncio.wait_for(process.communicate(), 30)
            assert process.returncode == 0, err.decode()
