"""Two controllers on one broker, through a real Mosquitto: a second one with the node id of a
live one is refused in one line and the first keeps its connection; different node ids both
stay connected; two starting together end with one holder; a crashed controller, or a stale
"online" nobody answers for, does not block the next one."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from contextlib import suppress
from pathlib import Path

import pytest

from device.mqtt import MqttBridge, MqttNodeTakenError, MqttSettings
from device.mqtt.topics import slug
from tests.device.mqtt.test_bridge import HEAT_PAD_KEY, serve
from tests.mosquitto import Watcher, mosquitto, publish, running
from tests.simserve import THERAPYCTL

pytestmark = pytest.mark.slow


async def refused(url: str, tmp_path: Path, *command: str) -> tuple[int | None, str, str]:
    """``therapyctl COMMAND --sim heat-pad --mqtt URL``, expected to exit: (code, out, err)."""
    process = await asyncio.create_subprocess_exec(
        THERAPYCTL,
        *command,
        "--sim",
        "heat-pad",
        "--mqtt",
        url,
        "--db",
        str(tmp_path / "second.db"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:  # it did not give up: it is serving (the old bug)
            process.send_signal(signal.SIGTERM)
            await process.wait()
    return process.returncode, out.decode(), err.decode()


async def test_a_second_controller_with_the_default_node_id_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    """A controller holds the default node id (the host name); `serve`, and `run --mqtt`,
    without --mqtt-node on the same host exit 1 with one line naming the node, the holder and
    --mqtt-node, before touching a device. The first is never knocked off: one connection, no
    "offline" on its availability, still the owner, still answering commands."""
    node = slug(socket.gethostname())
    with mosquitto(tmp_path / "broker") as broker:
        settings = MqttSettings.from_url(broker.url)
        assert settings.node_id == node
        async with (
            Watcher(broker.port, (f"therapyctl/{node}/#",)) as watch,
            running(MqttBridge(settings)) as first,
        ):
            line = (
                f"therapyctl: error: another controller (pid {os.getpid()} on {node}) is already"
                f" reporting as node {node!r} on the MQTT broker 127.0.0.1:{broker.port}; give"
                " this one its own node id (--mqtt-node)"
            )
            for command in (("serve",), ("run", "--mode", "heat", "--minutes", "1")):
                code, out, err = await refused(broker.url, tmp_path, *command)
                assert (code, out, err.splitlines()) == (1, "", [line]), command
            # The first answers a command after that: it is still connected and serving.
            first.add_device({"address": "D6:7C:BE:E0:42:E5", "name": "pad", "kind": "heat-pad"})
            topic = f"therapyctl/{node}/{HEAT_PAD_KEY}/command"
            await publish(broker.port, topic, json.dumps({"id": "s1", "command": "stop"}))
            await watch.wait_for(
                lambda t, p, r: t.endswith("/command/response") and p["id"] == "s1"
            )
            assert first.connections == 1 and first.connected.is_set()
            availability = [p for t, p, _ in watch.messages if t.endswith("/availability")]
            assert "offline" not in availability
            owners = [p for t, p, _ in watch.messages if t == f"therapyctl/{node}/owner"]
            assert owners and owners[-1]["token"] == first.owner_token


async def test_two_controllers_with_different_node_ids_both_stay_connected(
    tmp_path: Path,
) -> None:
    """A controller on node "left" and `serve --mqtt-node right` on one broker: the serve runs,
    both say online, and neither loses its connection."""
    with mosquitto(tmp_path / "broker") as broker:
        settings = MqttSettings.from_url(broker.url, node_id="left")
        async with (
            Watcher(broker.port) as watch,
            running(MqttBridge(settings)) as left,
            serve(broker.url, "--mqtt-node", "right", "--db", str(tmp_path / "r.db")) as right,
        ):
            await watch.wait_for(lambda t, p, r: t == f"therapyctl/right/{HEAT_PAD_KEY}/state")
            await publish(broker.port, "homeassistant/status", "online")  # both re-announce
            for node in ("left", "right"):
                await watch.wait_for(
                    lambda t, p, r, n=node: (
                        t == f"homeassistant/binary_sensor/therapyctl_{n}/connectivity/config"
                        and not r
                    )
                )
            assert right.returncode is None
            assert left.connections == 1 and left.connected.is_set()
            offline = [
                t for t, p, _ in watch.messages if t.endswith("/availability") and p != "online"
            ]
            assert offline == []


async def test_two_controllers_starting_together_on_one_node_end_with_one_holder(
    tmp_path: Path,
) -> None:
    """Two bridges with one node id connecting at the same moment: exactly one holds the node
    (connected, the retained owner) and the other is refused."""
    with mosquitto(tmp_path / "broker") as broker:
        settings = MqttSettings.from_url(broker.url, node_id="race")
        bridges = [MqttBridge(settings), MqttBridge(settings)]
        tasks = [asyncio.create_task(b.run()) for b in bridges]
        try:
            results = await asyncio.gather(
                *(b.wait_first_attempt(20) for b in bridges), return_exceptions=True
            )
            refused = [b for b, r in zip(bridges, results, strict=True) if r is not None]
            holders = [b for b, r in zip(bridges, results, strict=True) if r is None]
            assert len(refused) == 1 and len(holders) == 1, results
            assert isinstance(refused[0].node_taken, MqttNodeTakenError)
            async with asyncio.timeout(20):
                await holders[0].connected.wait()
            async with Watcher(broker.port, ("therapyctl/race/owner",)) as owner:
                _, record, _ = await owner.wait_for(lambda t, p, r: r)
            assert record["token"] == holders[0].owner_token
            await asyncio.wait_for(tasks[bridges.index(refused[0])], 10)  # it stopped trying
        finally:
            for bridge in bridges:
                await bridge.close(timeout_s=5)
            for task in tasks:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task


async def test_a_controller_that_crashed_does_not_block_the_next_one(tmp_path: Path) -> None:
    """SIGKILL: the Last Will says offline, and a new controller on that node starts at once."""
    with mosquitto(tmp_path / "broker") as broker:
        async with Watcher(broker.port, ("therapyctl/n6/availability",)) as watch:
            async with serve(broker.url, "--mqtt-node", "n6", "--db", str(tmp_path / "a.db")) as p:
                await watch.wait_for(lambda t, p, r: p == "online")
                p.kill()
                await p.wait()
            await watch.wait_for(lambda t, p, r: p == "offline")
            seen = len(watch.messages)
            # serve() itself checks that the second one starts serving rather than exiting.
            async with serve(broker.url, "--mqtt-node", "n6", "--db", str(tmp_path / "b.db")) as p:
                await watch.wait_for(lambda *_: "online" in [m[1] for m in watch.messages[seen:]])
                assert p.returncode is None


async def test_a_stale_online_that_nobody_answers_for_does_not_block(tmp_path: Path) -> None:
    """A retained "online" and owner record left by a controller whose Last Will was lost
    (a broker restored from disk): nobody answers the ping, so `serve` takes the node over."""
    stale = {"token": "0123456789abcdef", "pid": 4242, "host": "gone"}
    with mosquitto(tmp_path / "broker") as broker:
        await publish(broker.port, "therapyctl/n7/availability", "online", retain=True)
        await publish(broker.port, "therapyctl/n7/owner", json.dumps(stale), retain=True)
        async with (
            Watcher(broker.port, ("therapyctl/n7/owner",)) as watch,
            serve(broker.url, "--mqtt-node", "n7", "--db", str(tmp_path / "a.db")) as process,
        ):
            await watch.wait_for(lambda t, p, r: not r and p["token"] != stale["token"])
            assert process.returncode is None


async def test_a_holder_that_stalled_and_was_taken_over_settles_to_one_holder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A holder whose message handling stalls past the ping timeout is taken over by a second
    controller; once it catches up, the two answer each other's claims until the one with the
    greater token gives way: one holder remains, the retained owner, after a few messages."""
    import device.mqtt.bridge as bridge_module

    monkeypatch.setattr(bridge_module, "OWNER_PING_TIMEOUT_S", 0.3)
    with mosquitto(tmp_path / "broker") as broker:
        settings = MqttSettings.from_url(broker.url, node_id="stall")
        first, second = MqttBridge(settings), MqttBridge(settings)
        gate = asyncio.Event()
        handle = first.handle_message

        async def stalled(message: object) -> None:
            if str(getattr(message, "topic", "")) == first.ping_topic:
                await gate.wait()  # the holder does not answer until released
            await handle(message)  # type: ignore[arg-type]

        monkeypatch.setattr(first, "handle_message", stalled)
        async with (
            Watcher(broker.port, ("therapyctl/stall/owner",)) as watch,
            running(first),
            running(second),
        ):
            assert first.connected.is_set() and second.connected.is_set()  # taken over
            gate.set()
            async with asyncio.timeout(20):
                while first.node_taken is None and second.node_taken is None:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
            survivor = second if first.node_taken is not None else first
            loser = first if survivor is second else second
            assert survivor.owner_token < loser.owner_token
            await watch.wait_for(
                lambda *_: (
                    [p for t, p, r in watch.messages if not r][-1]["token"] == survivor.owner_token
                )
            )
            assert survivor.connected.is_set() and survivor.node_taken is None
            assert len(watch.messages) <= 8  # settled, not an endless exchange
