"""The bridge never dies from a message: numbers range-checked before any conversion, every
incoming message handled under a guard, unsendable messages dropped, a failed run loop
restarted and reported."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import pytest

from device.mqtt import (
    CommandRejected,
    CommandResult,
    MqttBridge,
    MqttSettings,
    RemoteCommand,
    parse_command,
)

ADDRESS = "C0:11:22:33:44:55"
KEY = "c01122334455"
HUGE = "4" * 400  # a 400-digit integer: float() of it raises OverflowError


def start(field: str, value: str) -> bytes:
    """A start command whose ``field`` is the literal JSON text ``value``."""
    fields = {"minutes": "5", field: value}
    body = ", ".join(f'"{k}": {v}' for k, v in fields.items())
    return f'{{"id": "h", "command": "start", "mode": "light", {body}}}'.encode()


HOSTILE_NUMBERS = [
    ("minutes", HUGE, "minutes must be between"),
    ("minutes", "-" + HUGE, "minutes must be between"),
    ("minutes", "NaN", "minutes must be a number"),
    ("minutes", "Infinity", "minutes must be a number"),
    ("minutes", "-Infinity", "minutes must be a number"),
    ("minutes", "1e308", "minutes must be between"),
    ("minutes", "true", "minutes must be a number"),
    ("minutes", "[5]", "minutes must be a number"),
    ("level", HUGE, "level must be between"),
    ("level", "1e308", "level must be between"),
    ("level", "NaN", "level must be a number"),
    ("power_mw", "-" + HUGE, "power_mw must be between"),
    ("setpoint_c", HUGE, "setpoint_c must be between"),
    ("setpoint_c", "NaN", "setpoint_c must be a number"),
]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    HOSTILE_NUMBERS,
    ids=[f"{f}={v if len(v) <= 12 else f'{len(v)}-char int'}" for f, v, _ in HOSTILE_NUMBERS],
)
def test_huge_and_non_finite_numbers_are_rejected_before_any_conversion(
    field: str, value: str, reason: str
) -> None:
    """400-digit ints, NaN, infinities, 1e308 and bools are CommandRejected with the field
    named (never OverflowError), and the command id is kept for the response."""
    with pytest.raises(CommandRejected, match=reason) as caught:
        parse_command(start(field, value))
    assert caught.value.command_id == "h"


@pytest.mark.parametrize("command_id", ["\\ud800", "a\\nb", "\\u0000", "\\u001b[2J"])
def test_ids_with_control_characters_or_lone_surrogates_are_rejected(command_id: str) -> None:
    """An id that could not be sent back (a lone surrogate) or that would forge log lines
    (control characters) is rejected."""
    with pytest.raises(CommandRejected, match="printable"):
        parse_command(f'{{"id": "{command_id}", "command": "stop"}}'.encode())


@dataclass
class Incoming:
    topic: str
    payload: Any
    retain: bool = False


def make_bridge(
    handler: Any = None, *, remote_control: bool = False
) -> tuple[MqttBridge, list[RemoteCommand]]:
    calls: list[RemoteCommand] = []

    async def record(_key: str, command: RemoteCommand) -> CommandResult:
        calls.append(command)
        return CommandResult(True, "accepted", "ok")

    settings = MqttSettings("127.0.0.1", 1, node_id="n", remote_control=remote_control)
    bridge = MqttBridge(settings, handler or record)
    bridge.add_device({"address": ADDRESS, "name": "pad", "kind": "heat-pad"})
    return bridge, calls


def responses(bridge: MqttBridge) -> list[dict[str, Any]]:
    return [
        json.loads(m.payload) for m in bridge._reliable if m.topic.endswith("/command/response")
    ]


async def test_stop_is_honoured_after_a_start_with_a_400_digit_minutes() -> None:
    """Remote control off: the hostile start is answered rejected with its id, and the stop
    after it still reaches the controller and is accepted."""
    bridge, calls = make_bridge()
    topic = f"therapyctl/n/{KEY}/command"
    await bridge.handle_message(Incoming(topic, start("minutes", HUGE)))
    await bridge.handle_message(Incoming(topic, b'{"id": "s1", "command": "stop"}'))
    rejected, stopped = responses(bridge)
    assert rejected["id"] == "h" and rejected["status"] == "rejected"
    assert "minutes must be between" in rejected["reason"]
    assert stopped == {"id": "s1", "ok": True, "status": "accepted", "reason": "ok"}
    assert calls == [RemoteCommand("s1", "stop")]


async def test_a_handler_that_raises_is_answered_rejected_with_the_command_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Any exception while handling one command becomes a `rejected` response carrying the
    command id, is logged and counted, and does not propagate."""

    async def broken(_key: str, _command: RemoteCommand) -> CommandResult:
        raise OverflowError("int too large to convert to float")

    bridge, _ = make_bridge(broken)
    with caplog.at_level(logging.ERROR, logger="device.mqtt.bridge"):
        await bridge.handle_message(
            Incoming(f"therapyctl/n/{KEY}/command", b'{"id": "x1", "command": "stop"}')
        )
    [answer] = responses(bridge)
    assert answer["id"] == "x1" and answer["status"] == "rejected" and not answer["ok"]
    assert "OverflowError" in answer["reason"]
    assert bridge.message_errors == 1
    assert [r.levelno for r in caplog.records] == [logging.ERROR]


async def test_a_message_that_breaks_the_handling_itself_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A message whose very payload breaks the handling (here: one that cannot be turned into
    bytes) is logged and counted; handle_message returns normally and later commands work."""

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no text")

    bridge, calls = make_bridge()
    topic = f"therapyctl/n/{KEY}/command"
    with caplog.at_level(logging.ERROR, logger="device.mqtt.bridge"):
        await bridge.handle_message(Incoming(topic, Unprintable()))
    await bridge.handle_message(Incoming(topic, b'{"id": "s2", "command": "stop"}'))
    assert bridge.message_errors == 1
    assert any("RuntimeError" in r.getMessage() for r in caplog.records)
    assert [r["status"] for r in responses(bridge)] == ["rejected", "accepted"]
    assert calls == [RemoteCommand("s2", "stop")]


class FakeClient:
    """Stands in for aiomqtt.Client: records publishes; refuses payloads it cannot send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.got_two = asyncio.Event()

    async def publish(self, topic: str, payload: Any, **_kwargs: Any) -> None:
        if isinstance(payload, str):
            payload.encode("utf-8")  # paho does this: a lone surrogate raises here
        if "poison" in topic:
            raise ValueError("topic refused by the client")
        self.sent.append((topic, payload))
        if len(self.sent) >= 2:
            self.got_two.set()


async def test_a_message_that_can_never_be_sent_is_dropped_not_retried_forever(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The pump drops (and counts, and logs) a message the client refuses for a reason other
    than a lost broker, and goes on with the queue behind it."""
    bridge, _ = make_bridge()
    bridge._reliable.clear()
    bridge.publish_event("poison:00", {"kind": "x"})
    bridge.publish_event(ADDRESS, {"kind": "after"})
    bridge.publish_summary(ADDRESS, {"end_reason": "completed"})
    client = FakeClient()
    pump = asyncio.create_task(bridge._pump(client))  # type: ignore[arg-type]
    try:
        await asyncio.wait_for(client.got_two.wait(), 5)
    finally:
        pump.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pump
    assert [t.rsplit("/", 1)[1] for t, _ in client.sent] == ["event", "summary"]
    assert bridge.dropped_messages == 1
    assert any("poison" in r.getMessage() for r in caplog.records)


async def test_a_response_to_an_id_with_a_lone_surrogate_can_be_sent() -> None:
    """Even text that is not valid UTF-8 makes a sendable response (escaped JSON)."""
    bridge, _ = make_bridge()
    bridge._reliable.clear()
    await bridge.handle_message(
        Incoming(f"therapyctl/n/{KEY}/command", b'{"id": "\\ud800", "command": "stop"}')
    )
    bridge.publish_event(ADDRESS, {"detail": "\ud800"})
    client = FakeClient()
    pump = asyncio.create_task(bridge._pump(client))  # type: ignore[arg-type]
    try:
        await asyncio.wait_for(client.got_two.wait(), 5)
    finally:
        pump.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pump
    assert bridge.dropped_messages == 0
    assert json.loads(client.sent[1][1]) == {"detail": "\ud800"}


class FakeConnection:
    """Stands in for ``aiomqtt.Client(...)``: a connection that always opens."""

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        pass

    async def __aenter__(self) -> FakeConnection:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None


async def test_a_run_loop_that_fails_is_restarted_and_reported(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected exception in the session code does not end the bridge silently: one
    error is logged, ``failures`` counts it, and the bridge connects again."""
    import device.mqtt.bridge as bridge_module

    monkeypatch.setattr(bridge_module.aiomqtt, "Client", FakeConnection)
    bridge, _ = make_bridge()
    sessions: list[object] = []
    second = asyncio.Event()

    async def session(client: object) -> None:
        sessions.append(client)
        if len(sessions) == 1:
            raise OverflowError("int too large to convert to float")
        second.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(bridge, "_session", session)
    with caplog.at_level(logging.ERROR, logger="device.mqtt.bridge"):
        task = asyncio.create_task(bridge.run())
        try:
            await asyncio.wait_for(second.wait(), 10)
            assert not task.done()
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    assert bridge.failures == 1
    assert isinstance(bridge.last_failure, OverflowError)
    assert bridge.connections == 2
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "OverflowError" in errors[0].getMessage()


async def test_a_tls_file_that_goes_bad_is_reported_by_the_running_bridge(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A TLS file that cannot be used when the bridge connects is one logged error naming the
    file, counted in ``failures``; the bridge keeps trying instead of ending."""
    from device.mqtt import MqttTlsError

    settings = MqttSettings("127.0.0.1", 1, tls=True, ca_file="/nonexistent/ca.crt", node_id="n")
    bridge = MqttBridge(settings)
    with caplog.at_level(logging.ERROR, logger="device.mqtt.bridge"):
        task = asyncio.create_task(bridge.run())
        try:
            await bridge.wait_first_attempt(10)
            assert not task.done()
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    assert bridge.failures == 1
    assert isinstance(bridge.last_failure, MqttTlsError)
    assert bridge.last_failure.path == "/nonexistent/ca.crt"
    assert any("/nonexistent/ca.crt" in r.getMessage() for r in caplog.records)
