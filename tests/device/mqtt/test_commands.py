"""Remote command validation: the schema, and hostile payloads that change nothing."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.mqtt import (
    CommandRejected,
    CommandResult,
    MqttBridge,
    MqttConfigError,
    MqttSettings,
    RemoteCommand,
    parse_command,
)
from device.mqtt.commands import MAX_COMMAND_BYTES


def test_valid_commands_parse() -> None:
    """Stop and a full start parse to typed commands."""
    assert parse_command(b'{"id": "a", "command": "stop"}') == RemoteCommand("a", "stop")
    start = parse_command(
        b'{"id": "b", "command": "start", "mode": "light", "minutes": 10, "power_mw": 800}'
    )
    assert start == RemoteCommand("b", "start", "light", 10.0, None, None, 800)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'{"command": "stop"}', "id must be"),
        (b'{"id": "", "command": "stop"}', "id must be"),
        (b'{"id": "x", "command": "STOP"}', "command must be one of"),
        (b'{"id": "x", "command": "stop", "force": true}', "unexpected field 'force'"),
        (b'{"id": "x", "command": "start", "mode": "heat"}', "minutes is required"),
        (b'{"id": "x", "command": "start", "mode": "heat", "minutes": true}', "must be a number"),
        (b'{"id": "x", "command": "start", "mode": "heat", "minutes": 1e999}', "must be a number"),
        (
            b'{"id": "x", "command": "start", "mode": "heat", "minutes": 5, "level": 1.5}',
            "whole number",
        ),
        (b'{"id": "x", "command": "start", "mode": "lava", "minutes": 5}', "mode must be"),
        (
            b'{"id": "x", "command": "start", "mode": "heat", "minutes": 5, "level": 2,'
            b' "setpoint_c": 40}',
            "at most one",
        ),
        (b" " * (MAX_COMMAND_BYTES + 1), "too large"),
        (b"[" * 2000 + b"]" * 40, "not valid JSON"),
        (b'{"id": "x", "command": ["stop"]}', "command must be one of"),
    ],
)
def test_invalid_commands_are_rejected_with_a_reason(payload: bytes, reason: str) -> None:
    """Each schema violation names what is wrong."""
    with pytest.raises(CommandRejected, match=reason):
        parse_command(payload)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=12,
)
hostile = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(
        st.sampled_from(
            ["id", "command", "mode", "minutes", "setpoint_c", "level", "power_mw", "extra"]
        ),
        json_values,
    ).map(lambda d: json.dumps(d).encode()),
)


@given(hostile)
def test_anything_either_parses_to_a_valid_command_or_is_rejected(payload: bytes) -> None:
    """Random bytes and random JSON never raise anything but CommandRejected; what parses
    is within the schema."""
    try:
        command = parse_command(payload)
    except CommandRejected as exc:
        assert exc.reason
        return
    assert 1 <= len(command.id) <= 64
    assert command.command in {"start", "stop", "pause", "resume", "ack"}
    if command.command == "start":
        assert command.mode in {"heat", "cold", "light"}
        assert command.minutes is not None and 0.1 <= command.minutes <= 1440


@dataclass
class FakeMessage:
    payload: bytes
    retain: bool = False


@given(hostile)
def test_hostile_payloads_reach_no_handler_and_get_a_response(payload: bytes) -> None:
    """Through the bridge's command path: a rejected payload never calls the controller and
    always queues a response saying why."""
    settings = MqttSettings("127.0.0.1", 1883, node_id="n", remote_control=True)
    calls: list[RemoteCommand] = []

    async def handler(_key: str, command: RemoteCommand) -> CommandResult:
        calls.append(command)
        return CommandResult(True, "accepted")

    async def scenario() -> None:
        bridge = MqttBridge(settings, handler)
        bridge.add_device({"address": "C0:11:22:33:44:55", "name": "pad", "kind": "heat-pad"})
        queued = len(bridge._reliable)
        await bridge._command("c01122334455", FakeMessage(payload))  # type: ignore[arg-type]
        response = json.loads(bridge._reliable[-1].payload)
        assert len(bridge._reliable) == queued + 1
        try:
            parse_command(payload)
        except CommandRejected:
            assert calls == [] and response["ok"] is False and response["reason"]
        else:
            assert response["status"] in {"accepted", "rejected"}

    asyncio.run(scenario())


def test_settings_from_url() -> None:
    """mqtt:// and mqtts:// URLs with credentials; nonsense refused."""
    s = MqttSettings.from_url("mqtts://al%40ice:p%3Ass@broker.local", node_id="n1")
    assert (s.host, s.port, s.username, s.password, s.tls) == (
        "broker.local",
        8883,
        "al@ice",
        "p:ss",
        True,
    )
    assert MqttSettings.from_url("mqtt://127.0.0.1:1884", node_id="n").port == 1884
    for bad in ("http://x", "mqtt://", "mqtt://host:99999", "mqtt://h:port"):
        with pytest.raises(MqttConfigError):
            MqttSettings.from_url(bad, node_id="n")
    with pytest.raises(MqttConfigError, match="prefix and node id"):
        MqttSettings.from_url("mqtt://h", node_id="bad/node")


def test_telemetry_buffer_is_bounded_drops_the_oldest_and_counts() -> None:
    """With no broker, telemetry queues up to its bound; beyond it the oldest go, counted."""

    async def scenario() -> None:
        settings = MqttSettings("127.0.0.1", 1883, node_id="n", telemetry_buffer=100)
        bridge = MqttBridge(settings)
        for i in range(250):
            bridge.publish_telemetry("C0:11:22:33:44:55", {"i": i})
        assert len(bridge._telemetry) == 100
        assert bridge.dropped_telemetry == 150
        assert json.loads(bridge._telemetry[0].payload) == {"i": 150}
        assert json.loads(bridge._telemetry[-1].payload) == {"i": 249}

    asyncio.run(scenario())
