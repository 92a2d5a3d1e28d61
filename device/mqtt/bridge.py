"""The MQTT bridge: sessions on a broker, Home Assistant discovery, safe remote control.

aiomqtt (the maintained successor of asyncio-mqtt); the topics are in
:mod:`device.mqtt.topics`. The broker being down never touches a session: everything is
queued (telemetry bounded, oldest dropped first and counted) and the bridge reconnects with
backoff. No message ends it either: each incoming one is handled under a guard (a failure is
answered ``rejected`` and logged), an outgoing one that cannot be sent is dropped and counted,
and a run loop that fails anyway is logged, counted and restarted.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from device.mqtt.commands import CommandHandler, CommandRejected, CommandResult, parse_command
from device.mqtt.discovery import discovery_configs
from device.mqtt.settings import (
    AUTH_CODES,
    BACKOFF_MAX_S,
    BACKOFF_MIN_S,
    MqttAuthError,
    MqttConfigError,
    MqttSettings,
)
from device.mqtt.topics import DISCOVERY_PREFIX, compact_json, device_slug

logger = logging.getLogger(__name__)

RELIABLE_BUFFER = 2000
REMEMBERED_IDS = 1000


@dataclass(slots=True)
class _Outgoing:
    topic: str
    payload: str
    qos: int
    retain: bool


class MqttBridge:
    """Publishes controller state to a broker and takes remote commands; never blocks a
    session: every publish is a queue append."""

    def __init__(self, settings: MqttSettings, handler: CommandHandler | None = None) -> None:
        self.settings = settings
        self.handler = handler
        base = f"{settings.prefix}/{settings.node_id}"
        self.base = base
        self.availability_topic = f"{base}/availability"
        self._reliable: collections.deque[_Outgoing] = collections.deque(maxlen=RELIABLE_BUFFER)
        self._telemetry: collections.deque[_Outgoing] = collections.deque(
            maxlen=settings.telemetry_buffer
        )
        self._wake = asyncio.Event()
        self._retained: dict[str, _Outgoing] = {}
        self._dirty: set[str] = set()
        self._devices: dict[str, dict[str, str]] = {}
        self._seen_ids: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.dropped_telemetry = 0
        self.dropped_messages = 0  # outgoing messages that could not be sent at all
        self.message_errors = 0  # incoming messages whose handling failed (answered, logged)
        self.failures = 0  # run loops that failed unexpectedly (logged, restarted)
        self.last_failure: Exception | None = None
        self.connected = asyncio.Event()
        self.connections = 0
        self.auth_error: MqttAuthError | None = None
        self._first_attempt = asyncio.Event()
        self._stopping = False
        self._client: aiomqtt.Client | None = None

    # -- topics
    def device_topic(self, device_key: str, leaf: str) -> str:
        return f"{self.base}/{device_slug(device_key)}/{leaf}"

    # -- called by the controller; never blocks
    def add_device(self, identity: dict[str, str]) -> None:
        key = device_slug(identity["address"])
        self._devices[key] = identity
        for message in self._discovery(key, identity):
            self._queue(message)

    def publish_state(self, device_key: str, state: dict[str, Any]) -> None:
        """Retained device/session state; only the latest is sent (no backlog)."""
        message = _Outgoing(self.device_topic(device_key, "state"), compact_json(state), 1, True)
        self._retained[message.topic] = message
        self._dirty.add(message.topic)
        self._wake.set()

    def publish_telemetry(self, device_key: str, sample: dict[str, Any]) -> None:
        if len(self._telemetry) == self._telemetry.maxlen:
            self.dropped_telemetry += 1
        self._telemetry.append(
            _Outgoing(self.device_topic(device_key, "telemetry"), compact_json(sample), 0, False)
        )
        self._wake.set()

    def publish_event(self, device_key: str, event: dict[str, Any]) -> None:
        self._queue(
            _Outgoing(self.device_topic(device_key, "event"), compact_json(event), 1, False)
        )

    def publish_summary(self, device_key: str, summary: dict[str, Any]) -> None:
        self._queue(
            _Outgoing(self.device_topic(device_key, "summary"), compact_json(summary), 1, False)
        )

    def _queue(self, message: _Outgoing) -> None:
        self._reliable.append(message)
        self._wake.set()

    # -- Home Assistant discovery
    def _discovery(self, key: str, identity: dict[str, str]) -> list[_Outgoing]:
        return [
            _Outgoing(topic, payload, 1, True)
            for topic, payload in discovery_configs(
                self.settings.node_id,
                key,
                identity,
                state_topic=self.device_topic(key, "state"),
                command_topic=self.device_topic(key, "command"),
                availability_topic=self.availability_topic,
            )
        ]

    # -- connection
    async def wait_first_attempt(self, timeout_s: float) -> None:
        """Wait for the first connection attempt; raise MqttAuthError if credentials failed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._first_attempt.wait()
        if self.auth_error is not None:
            raise self.auth_error

    async def run(self) -> None:
        """Connect, publish, take commands; reconnect with backoff until cancelled. An
        unexpected failure is logged, counted (``failures``) and restarted, with a backoff that
        grows while the failures repeat."""
        backoff = BACKOFF_MIN_S
        failure_backoff = BACKOFF_MIN_S
        s = self.settings
        while not self._stopping:
            try:
                async with aiomqtt.Client(
                    s.host,
                    s.port,
                    username=s.username,
                    password=s.password,
                    identifier=f"therapyctl-{s.node_id}",
                    will=aiomqtt.Will(self.availability_topic, "offline", qos=1, retain=True),
                    tls_context=s.tls_context(),
                    keepalive=10,
                    timeout=5,
                ) as client:
                    backoff = BACKOFF_MIN_S
                    self.connections += 1
                    self._first_attempt.set()
                    await self._session(client)
            except aiomqtt.MqttCodeError as exc:
                # Only a refused CONNECT says anything about credentials; the same numbers
                # on other calls are paho's own error codes (4: not connected).
                code = exc.rc if isinstance(exc.rc, int) else getattr(exc.rc, "value", None)
                if isinstance(exc, MqttConnectError) and code in AUTH_CODES:
                    self.auth_error = MqttAuthError(
                        f"the MQTT broker {s.host}:{s.port} refused this controller: not"
                        " authorized (check the user name and password in the URL)"
                    )
                logger.warning("MQTT: %s", exc)
                failure_backoff = BACKOFF_MIN_S
            except aiomqtt.MqttError as exc:
                logger.info("MQTT: broker %s:%s unreachable: %s", s.host, s.port, exc)
                failure_backoff = BACKOFF_MIN_S
            except Exception as exc:
                # Not the broker: a TLS file gone since the start, or a bug. Never a silent
                # end of the bridge (a remote stop must still get through): say so and retry.
                self.failures += 1
                self.last_failure = exc
                backoff = max(backoff, failure_backoff)
                failure_backoff = min(failure_backoff * 2, BACKOFF_MAX_S)
                logger.error(
                    "MQTT bridge failed (%d so far), restarting in %.1f s: %s",
                    self.failures,
                    backoff,
                    exc if isinstance(exc, MqttConfigError) else repr(exc),
                    exc_info=logger.isEnabledFor(logging.DEBUG),
                )
            self.connected.clear()
            self._first_attempt.set()
            if self.auth_error is not None:
                return  # credentials do not fix themselves: stop trying
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _session(self, client: aiomqtt.Client) -> None:
        self._client = client
        await client.publish(self.availability_topic, "online", qos=1, retain=True)
        await client.subscribe(f"{DISCOVERY_PREFIX}/status", qos=1)
        await client.subscribe(f"{self.base}/+/command", qos=1)
        for key, identity in self._devices.items():
            for message in self._discovery(key, identity):
                await self._send(client, message)
        self._dirty.update(self._retained)  # re-send the latest state after a reconnect
        self.connected.set()
        self._wake.set()
        # Both loops end with the connection; the first failure (a lost broker) is raised
        # as itself, so run() reconnects.
        tasks = {
            asyncio.create_task(self._pump(client), name="mqtt-pump"),
            asyncio.create_task(self._listen(client), name="mqtt-listen"),
        }
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        raise aiomqtt.MqttError("the broker closed the connection")

    async def _send(self, client: aiomqtt.Client, message: _Outgoing) -> None:
        await client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain)

    async def _pump(self, client: aiomqtt.Client) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._reliable or self._dirty or self._telemetry:
                if self._reliable or not self._dirty:
                    queue = self._reliable if self._reliable else self._telemetry
                    message = queue[0]
                    await self._deliver(client, message)  # on a lost broker it stays queued
                    if queue and queue[0] is message:
                        queue.popleft()
                else:
                    # Take the topic off first: a newer state arriving during the send
                    # marks it dirty again instead of being lost.
                    topic = next(iter(self._dirty))
                    self._dirty.discard(topic)
                    try:
                        await self._deliver(client, self._retained[topic])
                    except BaseException:
                        self._dirty.add(topic)
                        raise

    async def _deliver(self, client: aiomqtt.Client, message: _Outgoing) -> None:
        """Send one message; one that can never be sent (not a lost broker: a topic or payload
        the client refuses) is dropped and counted instead of blocking the queue."""
        try:
            await self._send(client, message)
        except aiomqtt.MqttError:
            raise
        except Exception as exc:
            self.dropped_messages += 1
            logger.error(
                "MQTT: dropped a message to %s that cannot be sent: %r", message.topic, exc
            )

    async def _listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            await self.handle_message(message)

    async def handle_message(self, message: aiomqtt.Message) -> None:
        """Handle one incoming message. Whatever goes wrong is logged and counted (a command
        is answered ``rejected``), never raised: no message ends the bridge."""
        topic = "?"
        try:
            topic = str(message.topic)
            if topic == f"{DISCOVERY_PREFIX}/status":
                if message.payload == b"online":  # Home Assistant (re)started: re-announce
                    for key, identity in self._devices.items():
                        for outgoing in self._discovery(key, identity):
                            self._queue(outgoing)
            elif topic.startswith(f"{self.base}/") and topic.endswith("/command"):
                key = topic[len(self.base) + 1 : -len("/command")]
                await self._command(key, message)
        except Exception as exc:
            self.message_errors += 1
            logger.error(
                "MQTT: a message on %r could not be handled: %r",
                topic,
                exc,
                exc_info=logger.isEnabledFor(logging.DEBUG),
            )

    async def _command(self, key: str, message: aiomqtt.Message) -> None:
        response_topic = self.device_topic(key, "command/response")
        command_id: str | None = None
        try:
            payload = (
                message.payload
                if isinstance(message.payload, bytes)
                else str(message.payload or "").encode()
            )
            if message.retain:
                raise CommandRejected("retained commands are ignored: publish without retain")
            command = parse_command(payload)
            command_id = command.id
            if key not in self._devices:
                raise CommandRejected(f"no device {key} on this controller", command_id)
            duplicate = command_id in self._seen_ids
            self._remember(command_id)
            if duplicate and command.command != "stop":  # a stop is always honoured
                result = CommandResult(False, "duplicate", "this command id was already handled")
            elif command.command != "stop" and not self.settings.remote_control:
                result = CommandResult(
                    False, "rejected", "remote control is off on this controller (stop only)"
                )
            elif self.handler is None:
                result = CommandResult(False, "rejected", "this controller takes no commands")
            else:
                result = await self.handler(key, command)
        except CommandRejected as exc:
            command_id = exc.command_id or command_id
            result = CommandResult(False, "rejected", exc.reason)
        except Exception as exc:  # a bug, or the controller failing: answered, never raised
            self.message_errors += 1
            logger.error(
                "remote command %s on %s failed: %r",
                command_id,
                key,
                exc,
                exc_info=logger.isEnabledFor(logging.DEBUG),
            )
            result = CommandResult(
                False,
                "rejected",
                f"the controller could not handle this command ({type(exc).__name__})",
            )
        logger.info("remote command %s on %s: %s %s", command_id, key, result.status, result.reason)
        self._queue(
            _Outgoing(
                response_topic,
                compact_json(
                    {
                        "id": command_id,
                        "ok": result.ok,
                        "status": result.status,
                        "reason": result.reason,
                    }
                ),
                1,
                False,
            )
        )

    def _remember(self, command_id: str) -> None:
        self._seen_ids[command_id] = None
        self._seen_ids.move_to_end(command_id)
        while len(self._seen_ids) > REMEMBERED_IDS:
            self._seen_ids.popitem(last=False)

    async def close(self, timeout_s: float = 3.0) -> None:
        """Flush what is queued (briefly), announce offline, disconnect."""
        self._stopping = True
        with contextlib.suppress(TimeoutError, aiomqtt.MqttError):
            async with asyncio.timeout(timeout_s):
                while self.connected.is_set() and (
                    self._reliable or self._dirty or self._telemetry
                ):
                    self._wake.set()
                    await asyncio.sleep(0.01)
                if self.connected.is_set() and self._client is not None:
                    await self._client.publish(
                        self.availability_topic, "offline", qos=1, retain=True
                    )
