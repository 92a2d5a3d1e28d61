"""Remote commands: the JSON schema a command must meet, checked before anything acts."""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from device.safety import SiteError, normalise_site
from protocols import TherapyctlError

MAX_COMMAND_BYTES = 2048


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
    site: str | None = None  # the body site (normalised); None: the controller's choice


_COMMANDS = {"start", "stop", "pause", "resume", "ack"}
_START_KEYS = {"mode", "minutes", "setpoint_c", "level", "power_mw", "site"}


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
    if (
        not isinstance(command_id, str)
        or not 1 <= len(command_id) <= 64
        or not command_id.isprintable()  # no control characters, no lone surrogates
    ):
        raise CommandRejected("id must be a string of 1 to 64 printable characters")
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
    site = data.get("site")
    if site is not None:
        if not isinstance(site, str):
            raise CommandRejected("site must be text, e.g. lower-back", command_id)
        try:
            site = normalise_site(site)
        except SiteError as exc:
            raise CommandRejected(f"site: {exc.reason}", command_id) from None
    return RemoteCommand(
        command_id,
        "start",
        mode,
        minutes,
        setpoint,
        None if level is None else int(level),
        None if power is None else int(power),
        site,
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
    # The range is checked before any conversion: an int is compared as an int (a 400-digit
    # one is simply out of range), a float must be finite (JSON's NaN and Infinity are not).
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CommandRejected(f"{key} must be a number", command_id)
    if isinstance(value, float) and not math.isfinite(value):
        raise CommandRejected(f"{key} must be a number, not {value}", command_id)
    if not low <= value <= high:
        raise CommandRejected(f"{key} must be between {low:g} and {high:g}", command_id)
    if integer and value != int(value):
        raise CommandRejected(f"{key} must be a whole number", command_id)
    return float(value)


@dataclass(frozen=True, slots=True)
class CommandResult:
    ok: bool
    status: str  # accepted | rejected | duplicate
    reason: str = ""


CommandHandler = Callable[[str, RemoteCommand], Awaitable[CommandResult]]
