"""The MQTT bridge: sessions on a broker, Home Assistant discovery, safe remote control.

aiomqtt (the maintained successor of asyncio-mqtt). Topic schema, under ``PREFIX`` (default
``therapyctl``) and this controller's node id::

    PREFIX/NODE/availability               "online" / "offline"     retained, QoS 1, Last Will
    PREFIX/NODE/DEVICE/state               device + session state   retained, QoS 1
    PREFIX/NODE/DEVICE/telemetry           one object per Status    QoS 0
    PREFIX/NODE/DEVICE/event               session events           QoS 1
    PREFIX/NODE/DEVICE/summary             end-of-session summary  QoS 1
    PREFIX/NODE/DEVICE/command             remote commands (in)     never retained
    PREFIX/NODE/DEVICE/command/response    answers                  QoS 1

DEVICE is the device's address without colons. The broker being down never touches a
session: everything is queued (telemetry bounded, oldest dropped first and counted) and the
bridge reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import math
import re
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from protocols import TherapyctlError

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "therapyctl"
DISCOVERY_PREFIX = "homeassistant"
MAX_COMMAND_BYTES = 2048
TELEMETRY_BUFFER = 2000
RELIABLE_BUFFER = 2000
REMEMBERED_IDS = 1000
BACKOFF_MIN_S = 0.2
BACKOFF_MAX_S = 15.0
_AUTH_CODES = {4, 5, 134, 135}  # bad user name or password / not authorized (v3.1.1 and v5)


class MqttConfigError(TherapyctlError):
    """A broker URL or TLS option that cannot be used."""


class MqttAuthError(TherapyctlError):
    """The broker refused this controller's credentials."""


@dataclass(frozen=True, slots=True)
class MqttSettings:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    prefix: str = DEFAULT_PREFIX
    node_id: str = field(default_factory=lambda: _slug(socket.gethostname()))
    remote_control: bool = False
    telemetry_buffer: int = TELEMETRY_BUFFER

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MqttSettings:
        """``mqtt://[user[:password]@]host[:port]`` or ``mqtts://...`` (TLS)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise MqttConfigError(f"bad MQTT URL {url!r}: {exc}") from None
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise MqttConfigError(
                f"bad MQTT URL {url!r}: use mqtt://[user[:password]@]host[:port] or mqtts://..."
            )
        tls = parts.scheme == "mqtts"
        settings = cls(
            host=parts.hostname,
            port=port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
            **{k: v for k, v in options.items() if v is not None},
        )
        if not _TOPIC_PART.fullmatch(settings.prefix.replace("/", "")) or not _TOPIC_PART.fullmatch(
            settings.node_id
        ):
            raise MqttConfigError("the MQTT prefix and node id take letters, digits, '-' and '_'")
        return settings

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(cafile=self.ca_file)
            if self.cert_file:
                context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise MqttConfigError(f"cannot use the MQTT TLS files: {exc}") from exc
        return context


_TOPIC_PART = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _slug(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in text)[:64]
    return cleaned or "controller"


def device_slug(address: str) -> str:
    return address.replace(":", "").replace("-", "").lower()


# ---------------------------------------------------------------------------- commands


class CommandRejected(TherapyctlError):
    """A remote command that is not valid; ``reason`` goes to the response topic."""

    def __init__(self, reason: str, command_id: str | None = None) -> None:
        self.reason = reason
        self.command_id = command_id
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class RemoteCommand:
    id: str
    command: str  # start | stop | pause | resume | ack
    mode: str | None = None
    minutes: float | None = None
    setpoint_c: float | None = None
    level: int | None = None
    power_mw: int | None = None


_COMMANDS = {"start", "stop", "pause", "resume", "ack"}
_START_KEYS = {"mode", "minutes", "setpoint_c", "level", "power_mw"}


def parse_command(payload: bytes) -> RemoteCommand:
    """Validate a command payload against the schema; anything else is CommandRejected."""
    if len(payload) > MAX_COMMAND_BYTES:
        raise CommandRejected(
            f"command too large ({len(payload)} bytes, at most {MAX_COMMAND_BYTES})"
        )
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CommandRejected("not valid JSON") from None
    if not isinstance(data, dict):
        raise CommandRejected("a command is a JSON object")
    command_id = data.get("id")
    if not isinstance(command_id, str) or not 1 <= len(command_id) <= 64:
        raise CommandRejected("id must be a string of 1 to 64 characters")
    command = data.get("command")
    if not isinstance(command, str) or command not in _COMMANDS:
        raise CommandRejected(f"command must be one of {', '.join(sorted(_COMMANDS))}", command_id)
    allowed = {"id", "command"} | (_START_KEYS if command == "start" else set())
    unknown = set(data) - allowed
    if unknown:
        raise CommandRejected(f"unexpected field {sorted(unknown)[0]!r}", command_id)
    if command != "start":
        return RemoteCommand(command_id, command)
    mode = data.get("mode")
    if not isinstance(mode, str) or mode not in ("heat", "cold", "light"):
        raise CommandRejected("mode must be heat, cold or light", command_id)
    minutes = _number(data, "minutes", 0.1, 24 * 60, command_id, required=True)
    setpoint = _number(data, "setpoint_c", -20, 80, command_id)
    level = _number(data, "level", 1, 255, command_id, integer=True)
    power = _number(data, "power_mw", 1, 65535, command_id, integer=True)
    if sum(v is not None for v in (setpoint, level, power)) > 1:
        raise CommandRejected("give at most one of setpoint_c, level, power_mw", command_id)
    return RemoteCommand(
        command_id,
        "start",
        mode,
        minutes,
        setpoint,
        None if level is None else int(level),
        None if power is None else int(power),
    )


def _number(
    data: dict[str, Any],
    key: str,
    low: float,
    high: float,
    command_id: str,
    *,
    required: bool = False,
    integer: bool = False,
) -> float | None:
    value = data.get(key)
    if value is None:
        if required:
            raise CommandRejected(f"{key} is required", command_id)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CommandRejected(f"{key} must be a number", command_id)
    if integer and value != int(value):
        raise CommandRejected(f"{key} must be a whole number", command_id)
    if not low <= value <= high:
        raise CommandRejected(f"{key} must be between {low:g} and {high:g}", command_id)
    return float(value)


@dataclass(frozen=True, slots=True)
class CommandResult:
    ok: bool
    status: str  # accepted | rejected | duplicate
    reason: str = ""


CommandHandler = Callable[[str, RemoteCommand], Awaitable[CommandResult]]


# ---------------------------------------------------------------------------- bridge


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
        message = _Outgoing(self.device_topic(device_key, "state"), _json(state), 1, True)
        self._retained[message.topic] = message
        self._dirty.add(message.topic)
        self._wake.set()

    def publish_telemetry(self, device_key: str, sample: dict[str, Any]) -> None:
        if len(self._telemetry) == self._telemetry.maxlen:
            self.dropped_telemetry += 1
        self._telemetry.append(
            _Outgoing(self.device_topic(device_key, "telemetry"), _json(sample), 0, False)
        )
        self._wake.set()

    def publish_event(self, device_key: str, event: dict[str, Any]) -> None:
        self._queue(_Outgoing(self.device_topic(device_key, "event"), _json(event), 1, False))

    def publish_summary(self, device_key: str, summary: dict[str, Any]) -> None:
        self._queue(_Outgoing(self.device_topic(device_key, "summary"), _json(summary), 1, False))

    def _queue(self, message: _Outgoing) -> None:
        self._reliable.append(message)
        self._wake.set()

    # -- Home Assistant discovery
    def _discovery(self, key: str, identity: dict[str, str]) -> list[_Outgoing]:
        node = self.settings.node_id
        state_topic = self.device_topic(key, "state")
        device = {
            "identifiers": [f"therapyctl_{key}"],
            "name": identity.get("name", key),
            "model": identity.get("model", identity.get("kind", "")),
            "manufacturer": "therapyctl",
            "sw_version": identity.get("firmware", ""),
            "via_device": f"therapyctl_{node}",
        }
        availability = {"topic": self.availability_topic}
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
        messages = []
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
                _Outgoing(
                    f"{DISCOVERY_PREFIX}/sensor/{node}_{key}/{object_id}/config",
                    _json(config),
                    1,
                    True,
                )
            )
        unique = f"therapyctl_{node}_{key}_stop"
        button = {
            "name": "Stop",
            "unique_id": unique,
            "object_id": unique,
            "command_topic": self.device_topic(key, "command"),
            "payload_press": _json({"id": "home-assistant-stop", "command": "stop"}),
            "availability": [availability],
            "device": device,
        }
        messages.append(
            _Outgoing(f"{DISCOVERY_PREFIX}/button/{node}_{key}/stop/config", _json(button), 1, True)
        )
        return messages

    # -- connection
    async def wait_first_attempt(self, timeout_s: float) -> None:
        """Wait for the first connection attempt; raise MqttAuthError if credentials failed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._first_attempt.wait()
        if self.auth_error is not None:
            raise self.auth_error

    async def run(self) -> None:
        """Connect, publish, take commands; reconnect with backoff until cancelled."""
        backoff = BACKOFF_MIN_S
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
                if isinstance(exc, MqttConnectError) and code in _AUTH_CODES:
                    self.auth_error = MqttAuthError(
                        f"the MQTT broker {s.host}:{s.port} refused this controller: not"
                        " authorized (check the user name and password in the URL)"
                    )
                logger.warning("MQTT: %s", exc)
            except aiomqtt.MqttError as exc:
                logger.info("MQTT: broker %s:%s unreachable: %s", s.host, s.port, exc)
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
                    await self._send(client, message)  # on failure it stays queued
                    if queue and queue[0] is message:
                        queue.popleft()
                else:
                    # Take the topic off first: a newer state arriving during the send
                    # marks it dirty again instead of being lost.
                    topic = next(iter(self._dirty))
                    self._dirty.discard(topic)
                    try:
                        await self._send(client, self._retained[topic])
                    except BaseException:
                        self._dirty.add(topic)
                        raise

    async def _listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic = str(message.topic)
            if topic == f"{DISCOVERY_PREFIX}/status":
                if message.payload == b"online":  # Home Assistant (re)started: re-announce
                    for key, identity in self._devices.items():
                        for outgoing in self._discovery(key, identity):
                            self._queue(outgoing)
                continue
            if topic.startswith(f"{self.base}/") and topic.endswith("/command"):
                key = topic[len(self.base) + 1 : -len("/command")]
                await self._command(key, message)

    async def _command(self, key: str, message: aiomqtt.Message) -> None:
        payload = (
            message.payload
            if isinstance(message.payload, bytes)
            else str(message.payload or "").encode()
        )
        response_topic = self.device_topic(key, "command/response")
        command_id: str | None = None
        try:
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
        logger.info("remote command %s on %s: %s %s", command_id, key, result.status, result.reason)
        self._queue(
            _Outgoing(
                response_topic,
                _json(
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


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


# ---------------------------------------------------------------------------- reporting


class MqttReporter:
    """A session listener that reports one device's sessions through the bridge."""

    def __init__(self, bridge: MqttBridge, identity: dict[str, str]) -> None:
        self.bridge = bridge
        self.key = identity["address"]
        self.state: dict[str, Any] = {
            "device": identity,
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
        bridge.add_device(identity)
        bridge.publish_state(self.key, self.state)

    def _update(self, **changes: Any) -> None:
        self.state.update(changes, dropped_telemetry=self.bridge.dropped_telemetry)
        self.bridge.publish_state(self.key, self.state)

    def on_state(self, runner: Any, state: Any) -> None:
        self._update(state=str(state), session_id=getattr(runner, "session_id", None))

    def on_status(self, runner: Any, status: Any) -> None:
        sample = {
            "session_id": getattr(runner, "session_id", None),
            "t_s": round(runner.now() - runner.t0_s, 2),
            "state": status.state.name.lower(),
            "mode": status.mode.name.lower(),
            "temperature_c": status.temperature_c,
            "setpoint_c": status.setpoint_c,
            "power_mw": status.power_mw,
            "output_on": status.output_on,
            "remaining_s": status.remaining_s,
            "battery_pct": status.battery_pct,
            "contact": status.skin_contact,
        }
        self.bridge.publish_telemetry(self.key, sample)
        self._update(
            mode=sample["mode"],
            temperature_c=status.temperature_c,
            setpoint_c=status.setpoint_c,
            power_mw=status.power_mw,
            output_on=status.output_on,
            remaining_s=status.remaining_s,
            battery_pct=status.battery_pct,
        )

    def on_event(self, runner: Any, event: Any) -> None:
        self.bridge.publish_event(
            self.key,
            {"session_id": getattr(runner, "session_id", None), **event.as_json()},
        )

    def on_prompt(self, runner: Any, deadline_s: float) -> None:
        self._update(state="attended_check")

    def finished(self, summary: dict[str, Any]) -> None:
        self.bridge.publish_summary(self.key, summary)
        self._update(
            state="idle",
            output_on=False,
            power_mw=0,
            remaining_s=0,
            end_reason=summary.get("end_reason"),
            session_id=summary.get("session_id"),
        )


# ---------------------------------------------------------------------------- monitoring


@dataclass(slots=True)
class MonitoredDevice:
    node: str
    key: str
    state: dict[str, Any] = field(default_factory=dict)
    last_event: str = ""
    telemetry_count: int = 0


class MonitorModel:
    """What every controller on a broker reports, folded from its topics (pure)."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix
        self.availability: dict[str, str] = {}
        self.devices: dict[tuple[str, str], MonitoredDevice] = {}

    def ingest(self, topic: str, payload: bytes) -> bool:
        """Fold one message in; True if something shown changed. Bad payloads are ignored."""
        parts = topic.split("/")
        if len(parts) < 3 or parts[0] != self.prefix:
            return False
        node = parts[1]
        text = payload.decode("utf-8", errors="replace")
        if len(parts) == 3 and parts[2] == "availability":
            self.availability[node] = text[:16]
            return True
        if len(parts) != 4:
            return False
        key, leaf = parts[2], parts[3]
        try:
            data = json.loads(text) if leaf in ("state", "telemetry", "event", "summary") else None
        except ValueError:
            return False
        if not isinstance(data, dict):
            return False
        device = self.devices.setdefault((node, key), MonitoredDevice(node, key))
        if leaf == "state":
            device.state = data
        elif leaf == "telemetry":
            device.telemetry_count += 1
            device.state.update(
                {
                    k: data.get(k)
                    for k in (
                        "temperature_c",
                        "remaining_s",
                        "battery_pct",
                        "output_on",
                        "power_mw",
                    )
                    if k in data
                }
            )
        elif leaf == "event":
            device.last_event = f"{data.get('kind', '')}: {data.get('detail', '')}"[:80]
        elif leaf == "summary":
            device.last_event = f"ended {data.get('end_reason', '')}"
        return True

    def rows(self) -> list[tuple[str, ...]]:
        out: list[tuple[str, ...]] = []
        for (node, key), device in sorted(self.devices.items()):
            s = device.state
            raw_device = s.get("device")
            dev: dict[str, Any] = raw_device if isinstance(raw_device, dict) else {}
            temp = s.get("temperature_c")
            out.append(
                (
                    node,
                    self.availability.get(node, "?"),
                    str(dev.get("name", key)),
                    str(dev.get("kind", "")),
                    str(s.get("state", "")),
                    "" if not isinstance(temp, int | float) else f"{temp:.1f}",
                    str(s.get("remaining_s", "") or ""),
                    str(s.get("battery_pct", "") or ""),
                    device.last_event,
                )
            )
        return out


async def watch_broker(
    settings: MqttSettings,
    on_message: Callable[[str, bytes], None],
    on_connection: Callable[[bool, str], None] | None = None,
) -> None:
    """Subscribe to everything under the prefix, reconnecting with backoff, until cancelled."""
    backoff = BACKOFF_MIN_S
    while True:
        try:
            async with aiomqtt.Client(
                settings.host,
                settings.port,
                username=settings.username,
                password=settings.password,
                tls_context=settings.tls_context(),
                timeout=5,
            ) as client:
                backoff = BACKOFF_MIN_S
                await client.subscribe(f"{settings.prefix}/#", qos=1)
                if on_connection:
                    on_connection(True, f"connected to {settings.host}:{settings.port}")
                async for message in client.messages:
                    raw = message.payload
                    payload = raw if isinstance(raw, bytes) else str(raw or "").encode()
                    on_message(str(message.topic), payload)
        except aiomqtt.MqttCodeError as exc:
            code = exc.rc if isinstance(exc.rc, int) else getattr(exc.rc, "value", None)
            if isinstance(exc, MqttConnectError) and code in _AUTH_CODES:
                raise MqttAuthError(
                    f"the MQTT broker {settings.host}:{settings.port} refused the monitor:"
                    " not authorized"
                ) from None
            if on_connection:
                on_connection(False, str(exc))
        except aiomqtt.MqttError as exc:
            if on_connection:
                on_connection(False, f"broker unreachable: {exc}")
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, BACKOFF_MAX_S)
