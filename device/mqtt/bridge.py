"""The MQTT bridge: sessions on a broker, Home Assistant discovery, safe remote control.

aiomqtt (the maintained successor of asyncio-mqtt); the topics are in
:mod:`device.mqtt.topics`. The broker being down never touches a session: everything is
queued (telemetry bounded, oldest dropped first and counted) and the bridge reconnects with
backoff. No message ends it either: each incoming one is handled under a guard (a failure is
answered ``rejected`` and logged), an outgoing one that cannot be sent is dropped and counted,
and a run loop that fails anyway is logged, counted and restarted. Closing flushes what is
queued (waiting briefly for a broker that is away), so the last retained state is the real
last state, then says ``offline``.

**Home Assistant discovery** (the configs are built in :mod:`device.mqtt.discovery`): on every
connection, and whenever Home Assistant announces ``online`` on ``homeassistant/status``, the
controller is announced as a device of its own, then every device it serves. Discovery is
removed by publishing an empty retained payload to a config topic:

- :meth:`MqttBridge.announce` sends entities that are no therapy device's (a body site's
  dose, the next session due) with the rest, and clears those a group no longer has.
- :meth:`MqttBridge.remove_device` is the explicit *forget*: it clears the device's configs
  (so Home Assistant removes its entities) and its retained state. A controller that merely
  stops (``serve`` closing, ``run`` ending) keeps them: the device shows as unavailable.
- A device announced again with configs on other topics than before (by this process), and
  the first announcement of a device by this process, clear the config topics that are no
  longer used, including those of releases that put the node in them.

**One controller per node id.** Each process connects with a client id of its own (node, pid
and a random part), so two controllers never knock each other off the broker. Before saying
``online`` a controller checks that no other live controller holds its node:

1. it subscribes to ``PREFIX/NODE/availability``, ``PREFIX/NODE/owner`` and
   ``PREFIX/NODE/owner/ping``, and publishes a ping carrying its random token; its own ping
   coming back means the retained availability and owner have arrived;
2. the node is free if the availability is not ``online`` (a controller that crashed left
   ``offline`` through its Last Will) or the owner is this process (a reconnect). Otherwise
   the holder is asked: a live holder answers every ping by publishing its owner record
   again; no answer within :data:`OWNER_PING_TIMEOUT_S` means the ``online`` is stale (its
   Last Will was lost) and the node is free;
3. a free node is claimed by publishing the owner record (retained); if another claim arrives
   before this one comes back, the other controller claimed first and this one gives up.

A node held by someone else is :class:`~device.mqtt.settings.MqttNodeTakenError`: raised by
:meth:`MqttBridge.wait_first_attempt` on the first connection, logged (and reporting stopped)
on a later one. The holder also answers a later claim by publishing its own again, and puts
back ``online`` if a stray Last Will says ``offline`` while it runs. Two holders can only come
from a holder stalled past the ping timeout and taken over: each answers the other's claims,
and on the rival's second claim the one with the greater token gives way (logged, as above).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import re
import secrets
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from device.mqtt.commands import CommandHandler, CommandRejected, CommandResult, parse_command
from device.mqtt.discovery import (
    PAYLOAD_OFFLINE,
    PAYLOAD_ONLINE,
    controller_config,
    device_config_topics,
    discovery_configs,
    legacy_config_topics,
)
from device.mqtt.settings import (
    AUTH_CODES,
    BACKOFF_MAX_S,
    BACKOFF_MIN_S,
    MqttAuthError,
    MqttConfigError,
    MqttNodeTakenError,
    MqttSettings,
)
from device.mqtt.topics import DISCOVERY_PREFIX, TOPIC_PART, compact_json, device_slug, slug

logger = logging.getLogger(__name__)

RELIABLE_BUFFER = 2000
REMEMBERED_IDS = 1000
OWNER_PING_TIMEOUT_S = 2.0  # how long a live holder of the node has to answer a ping
CLAIM_TIMEOUT_S = 10.0  # the broker echoing a ping or a claim: past this, reconnect
MAX_OWNER_BYTES = 512  # an owner record is well under 100 bytes
MAX_PID = 1 << 22  # Linux pid_max is at most 2**22
MAX_RIVALS = 64  # rival tokens remembered (anyone may publish claims)
_TOKEN = re.compile(r"[0-9a-f]{16}")


@dataclass(slots=True)
class _Outgoing:
    topic: str
    payload: str
    qos: int
    retain: bool


@dataclass(frozen=True, slots=True)
class _Owner:
    """An owner record from the broker: the holder's token and, if it said, who it is."""

    token: str
    holder: str  # "pid 123 on host-a", or empty


@dataclass(slots=True)
class _NodeView:
    """What a claiming controller has seen of its node's topics (see the module docstring)."""

    token: str  # ours
    availability: bytes | None = None  # retained, or since
    owner: _Owner | None = None  # the retained owner record
    live: _Owner | None = None  # another controller claiming or answering, now
    pinged: bool = False  # our ping came back: everything retained has arrived
    claimed: bool = False  # our claim came back

    @property
    def held_by_another(self) -> bool:
        """Online, and not by us: ask the holder whether it is still there."""
        online = self.availability == PAYLOAD_ONLINE.encode()
        return online and (self.owner is None or self.owner.token != self.token)

    def take(self, which: str, message: aiomqtt.Message) -> None:
        payload = _payload_bytes(message)
        record = _parse_owner(payload)
        ours = record is not None and record.token == self.token
        if which == "availability":
            self.availability = payload
        elif which == "ping":
            self.pinged = self.pinged or ours
        elif which == "owner" and message.retain:
            self.owner = record
        elif which == "owner" and ours:
            self.claimed = True
        elif which == "owner" and record is not None:
            self.live = self.live or record


class MqttBridge:
    """Publishes controller state to a broker and takes remote commands; never blocks a
    session: every publish is a queue append."""

    def __init__(self, settings: MqttSettings, handler: CommandHandler | None = None) -> None:
        self.settings = settings
        self.handler = handler
        base = f"{settings.prefix}/{settings.node_id}"
        self.base = base
        self.availability_topic = f"{base}/availability"
        self.owner_topic = f"{base}/owner"
        self.ping_topic = f"{base}/owner/ping"
        # Unique per process: two controllers never take each other's connection over.
        self.owner_token = secrets.token_hex(8)
        pid = os.getpid()
        self.client_id = f"therapyctl-{settings.node_id[:32]}-{pid}-{self.owner_token[:8]}"
        self._owner_record = compact_json(
            {"token": self.owner_token, "pid": pid, "host": slug(socket.gethostname())}
        )
        self._reliable: collections.deque[_Outgoing] = collections.deque(maxlen=RELIABLE_BUFFER)
        self._telemetry: collections.deque[_Outgoing] = collections.deque(
            maxlen=settings.telemetry_buffer
        )
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()  # nothing queued, nothing being sent
        self._drained.set()
        self._retained: dict[str, _Outgoing] = {}
        self._dirty: set[str] = set()
        self._devices: dict[str, dict[str, str]] = {}
        self._announced: dict[str, set[str]] = {}  # device key -> its config topics, as sent
        # Entities that are no therapy device's (body sites, the regimen): group -> configs.
        self._groups: dict[str, list[_Outgoing]] = {}
        self._journal_watchers: list[Callable[[], None]] = []
        self._seen_ids: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.dropped_telemetry = 0
        self.dropped_messages = 0  # outgoing messages that could not be sent at all
        self.message_errors = 0  # incoming messages whose handling failed (answered, logged)
        self.failures = 0  # run loops that failed unexpectedly (logged, restarted)
        self.last_failure: Exception | None = None
        self.connected = asyncio.Event()
        self.connections = 0
        self.last_error: str | None = None  # why the broker could not be reached, last time
        self.auth_error: MqttAuthError | None = None
        self.node_taken: MqttNodeTakenError | None = None
        self._first_attempt = asyncio.Event()
        self._retry_now = asyncio.Event()
        self._holding = False  # this process holds the node (and says it is online)
        self._rival_claims: collections.Counter[str] = collections.Counter()
        self._ended = False  # run() gave up for good (credentials, node held elsewhere)
        self._stopping = False
        self._client: aiomqtt.Client | None = None

    # -- topics
    def device_topic(self, device_key: str, leaf: str) -> str:
        return f"{self.base}/{device_slug(device_key)}/{leaf}"

    # -- called by the controller; never blocks
    def add_device(self, identity: dict[str, str]) -> None:
        """Announce a device (again): its discovery configs, clearing any it no longer uses."""
        key = device_slug(identity["address"])
        self._devices[key] = identity
        configs = self._discovery(key, identity)
        topics = {message.topic for message in configs}
        stale = self._announced.get(key)
        if stale is None:  # first announced by this process: clear what older releases used
            stale = set(legacy_config_topics(self.settings.node_id, key))
        self._announced[key] = topics
        for topic in sorted(stale - topics):
            self._queue(_Outgoing(topic, "", 1, True))
        for message in configs:
            self._queue(message)

    def remove_device(self, identity: Mapping[str, str] | str) -> None:
        """Forget a device (its identity or address): clear its discovery configs, so Home
        Assistant removes its entities, and its retained state. Stop reporting it first."""
        address = identity if isinstance(identity, str) else identity["address"]
        key = device_slug(address)
        self._devices.pop(key, None)
        topics = self._announced.pop(key, set())
        topics |= {*device_config_topics(key), *legacy_config_topics(self.settings.node_id, key)}
        state_topic = self.device_topic(key, "state")
        self._retained.pop(state_topic, None)
        self._dirty.discard(state_topic)
        for topic in [*sorted(topics), state_topic]:
            self._queue(_Outgoing(topic, "", 1, True))

    def publish_state(self, device_key: str, state: dict[str, Any]) -> None:
        """Retained device/session state; only the latest is sent (no backlog)."""
        message = _Outgoing(self.device_topic(device_key, "state"), compact_json(state), 1, True)
        self._retained[message.topic] = message
        self._dirty.add(message.topic)
        self._kick()

    def announce(self, group: str, configs: list[tuple[str, str]]) -> None:
        """Announce Home Assistant entities that are not a therapy device's (a body site's
        dose, the next session due, ...): sent now, again on every connection and whenever
        Home Assistant starts; config topics the group announced before and no longer does
        are cleared. Announcing the same configs again sends nothing."""
        messages = [_Outgoing(topic, payload, 1, True) for topic, payload in configs]
        before = self._groups.get(group)
        if before == messages:
            return
        self._groups[group] = messages
        used = {message.topic for message in messages}
        for topic in sorted({m.topic for m in before or []} - used):
            self._queue(_Outgoing(topic, "", 1, True))
        for message in messages:
            self._queue(message)

    def watch_journal(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (it must not block) on :meth:`journal_changed`: how the
        publisher of the journal's days (:class:`~device.mqtt.days.DaysReporter`) hears of
        a session's end or a pain rating recorded in this process."""
        self._journal_watchers.append(callback)

    def journal_changed(self) -> None:
        """Something the journal's days show was written in this process (a session ended,
        a pain rating or an episode recorded): what is published from it is refreshed soon.
        Never blocks, never raises."""
        for callback in self._journal_watchers:
            try:
                callback()
            except Exception as exc:  # a watcher's bug is no caller's problem
                logger.error("MQTT: a journal watcher failed: %r", exc)

    def publish_retained(self, leaf: str, value: dict[str, Any]) -> None:
        """Retained state on ``PREFIX/NODE/LEAF`` (``leaf`` is built from safe segments by
        the caller); only the latest is sent, again after a reconnect."""
        message = _Outgoing(f"{self.base}/{leaf}", compact_json(value), 1, True)
        self._retained[message.topic] = message
        self._dirty.add(message.topic)
        self._kick()

    def publish_telemetry(self, device_key: str, sample: dict[str, Any]) -> None:
        if len(self._telemetry) == self._telemetry.maxlen:
            self.dropped_telemetry += 1
        self._telemetry.append(
            _Outgoing(self.device_topic(device_key, "telemetry"), compact_json(sample), 0, False)
        )
        self._kick()

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
        self._kick()

    def _kick(self) -> None:
        self._drained.clear()
        self._wake.set()

    # -- Home Assistant discovery
    def _controller(self) -> _Outgoing:
        topic, payload = controller_config(
            self.settings.node_id, availability_topic=self.availability_topic
        )
        return _Outgoing(topic, payload, 1, True)

    def _all_discovery(self) -> list[_Outgoing]:
        """The controller, then every device it serves, then the other entities."""
        messages = [self._controller()]
        for key, identity in self._devices.items():
            messages += self._discovery(key, identity)
        for group in self._groups.values():
            messages += group
        return messages

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
        """Wait for the first connection attempt; raise MqttAuthError if credentials failed,
        MqttNodeTakenError if another live controller reports as this node."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._first_attempt.wait()
        if self.auth_error is not None:
            raise self.auth_error
        if self.node_taken is not None:
            raise self.node_taken

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
                    identifier=self.client_id,
                    will=aiomqtt.Will(self.availability_topic, PAYLOAD_OFFLINE, qos=1, retain=True),
                    tls_context=s.tls_context(),
                    keepalive=10,
                    timeout=5,
                ) as client:
                    backoff = BACKOFF_MIN_S
                    self.connections += 1
                    await self._session(client)
            except MqttNodeTakenError as exc:
                self.node_taken = exc
                if self._first_attempt.is_set():  # not the first connection: nobody else says it
                    logger.error("MQTT: %s; this controller stops reporting to the broker", exc)
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
                self.last_error = str(exc)
                failure_backoff = BACKOFF_MIN_S
            except aiomqtt.MqttError as exc:
                logger.info("MQTT: broker %s:%s unreachable: %s", s.host, s.port, exc)
                self.last_error = str(exc) or type(exc).__name__
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
            if self.auth_error is not None or self.node_taken is not None:
                self._ended = True  # neither fixes itself: stop trying
                return
            # Sleep off the backoff, unless close() asks for one more attempt now.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff):
                    await self._retry_now.wait()
            self._retry_now.clear()
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _session(self, client: aiomqtt.Client) -> None:
        self._client = client
        try:
            await self._claim(client)
            self._holding = True
            self._rival_claims.clear()
            self._first_attempt.set()
            await client.publish(self.availability_topic, PAYLOAD_ONLINE, qos=1, retain=True)
            await client.subscribe(f"{DISCOVERY_PREFIX}/status", qos=1)
            await client.subscribe(f"{self.base}/+/command", qos=1)
            for message in self._all_discovery():
                await self._send(client, message)
            self._dirty.update(self._retained)  # re-send the latest state after a reconnect
            self.connected.set()
            self._kick()
            await self._serve(client)
        finally:
            self._holding = False
            self._client = None

    async def _serve(self, client: aiomqtt.Client) -> None:
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

    # -- one controller per node (see the module docstring)
    async def _claim(self, client: aiomqtt.Client) -> None:
        """Claim the node, or raise MqttNodeTakenError if another live controller holds it."""
        for topic in (self.owner_topic, self.availability_topic, self.ping_topic):
            await client.subscribe(topic, qos=1)
        await client.publish(self.ping_topic, self._owner_record, qos=1)
        view = _NodeView(self.owner_token)
        messages = aiter(client.messages)

        async def read_until(done: Callable[[], bool]) -> None:
            while not done():
                message = await anext(messages)
                view.take(self._node_topic(str(message.topic)), message)

        try:
            async with asyncio.timeout(CLAIM_TIMEOUT_S):  # our ping back: the retained are in
                await read_until(lambda: view.pinged)
            if view.live is None and view.held_by_another:
                with contextlib.suppress(TimeoutError):  # a live holder answers the ping
                    async with asyncio.timeout(OWNER_PING_TIMEOUT_S):
                        await read_until(lambda: view.live is not None)
            if view.live is None:
                await client.publish(self.owner_topic, self._owner_record, qos=1, retain=True)
                async with asyncio.timeout(CLAIM_TIMEOUT_S):  # the first claim back wins
                    await read_until(lambda: view.live is not None or view.claimed)
        except TimeoutError:
            raise aiomqtt.MqttError("the broker did not echo this controller's claim") from None
        if view.live is not None:
            s = self.settings
            raise MqttNodeTakenError(s.node_id, f"{s.host}:{s.port}", view.live.holder)

    def _node_topic(self, topic: str) -> str:
        """Which of the node's own topics ``topic`` is: owner, ping, availability or ''."""
        return {
            self.owner_topic: "owner",
            self.ping_topic: "ping",
            self.availability_topic: "availability",
        }.get(topic, "")

    async def _assert_claim(self) -> None:
        client = self._client
        if self._holding and client is not None:
            await client.publish(self.owner_topic, self._owner_record, qos=1, retain=True)

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
            self._drained.set()

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
        is answered ``rejected``), never raised: no message ends the bridge, except a second
        claim of a rival holder of the node that this controller gives way to
        (MqttNodeTakenError)."""
        topic = "?"
        try:
            topic = str(message.topic)
            if topic == f"{DISCOVERY_PREFIX}/status":
                if _payload_bytes(message) == b"online":  # Home Assistant (re)started
                    for outgoing in self._all_discovery():
                        self._queue(outgoing)
            elif which := self._node_topic(topic):
                await self._on_node_message(which, message)
            elif topic.startswith(f"{self.base}/") and topic.endswith("/command"):
                key = topic[len(self.base) + 1 : -len("/command")]
                await self._command(key, message)
        except MqttNodeTakenError:
            raise  # this controller gave the node way to another holder: the session ends
        except Exception as exc:
            self.message_errors += 1
            logger.error(
                "MQTT: a message on %r could not be handled: %r",
                topic,
                exc,
                exc_info=logger.isEnabledFor(logging.DEBUG),
            )

    async def _on_node_message(self, which: str, message: aiomqtt.Message) -> None:
        """As the holder of the node: answer a ping or a rival's claim by claiming again, and
        put ``online`` back over a stray Last Will. Two holders happen only if one stalled past
        the ping timeout and was taken over; each answers the other's claims, and on the
        rival's second claim the one with the greater token gives way."""
        client = self._client
        if not self._holding or client is None or message.retain:
            return
        payload = _payload_bytes(message)
        if which == "availability":
            if payload == PAYLOAD_OFFLINE.encode():  # e.g. a refused controller, killed
                await client.publish(self.availability_topic, PAYLOAD_ONLINE, qos=1, retain=True)
            return
        other = _parse_owner(payload)
        if other is None or other.token == self.owner_token:
            return
        if which == "owner":
            if len(self._rival_claims) > MAX_RIVALS:
                self._rival_claims.clear()
            self._rival_claims[other.token] += 1
            if self._rival_claims[other.token] >= 2 and other.token < self.owner_token:
                self._holding = False
                s = self.settings
                raise MqttNodeTakenError(s.node_id, f"{s.host}:{s.port}", other.holder)
            logger.warning(
                "MQTT: another controller (%s) claimed node %s; it stays with this one",
                other.holder or "unknown",
                self.settings.node_id,
            )
        await self._assert_claim()

    async def _command(self, key: str, message: aiomqtt.Message) -> None:
        response_topic = self.device_topic(key, "command/response")
        command_id: str | None = None
        try:
            payload = _payload_bytes(message)
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
        """Flush what is queued, waiting up to ``timeout_s`` for a broker that is away to come
        back (so the last retained state is the real one); then say offline, release the node
        and stop. With nothing queued and no broker there is nothing to wait for: the Last
        Will says offline."""
        if not self._ended:
            self._retry_now.set()  # a reconnect now, not after the backoff
            with contextlib.suppress(TimeoutError, aiomqtt.MqttError):
                async with asyncio.timeout(timeout_s):
                    await self._drained.wait()  # only a connected pump empties the queues
                    client = self._client
                    if self._holding and client is not None:
                        self._holding = False  # our own "offline" is not a stray Last Will
                        await client.publish(
                            self.availability_topic, PAYLOAD_OFFLINE, qos=1, retain=True
                        )
                        await client.publish(self.owner_topic, "", qos=1, retain=True)
        self._stopping = True
        self._retry_now.set()


def _payload_bytes(message: aiomqtt.Message) -> bytes:
    raw = message.payload
    return raw if isinstance(raw, bytes) else str(raw or "").encode()


def _parse_owner(payload: bytes) -> _Owner | None:
    """An owner record (or a ping) from the network, checked; anything else is None."""
    if not payload or len(payload) > MAX_OWNER_BYTES:
        return None
    try:
        data = json.loads(payload.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    token = data.get("token")
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        return None
    pid, host = data.get("pid"), data.get("host")
    who = []
    if isinstance(pid, int) and not isinstance(pid, bool) and 0 < pid <= MAX_PID:
        who.append(f"pid {pid}")
    if isinstance(host, str) and TOPIC_PART.fullmatch(host):
        who.append(f"on {host}")
    return _Owner(token, " ".join(who))
