"""What the supervisor is asked and what it answers: requests, usage, plans, actions, the
tally of a session, and the closed set of end reasons (frozen dataclasses; no logic)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from protocols import Mode, Start


class EndReason(enum.StrEnum):
    """Why a session ended: one closed set."""

    COMPLETED = "completed"
    USER_STOPPED = "user_stopped"
    OVER_TEMPERATURE = "over_temperature"
    UNDER_TEMPERATURE = "under_temperature"
    THERMAL_DOSE = "thermal_dose"
    DAILY_LIMIT = "daily_limit"
    REST_REQUIRED = "rest_required"
    SENSOR_FAULT = "sensor_fault"
    CONTACT_LOST = "contact_lost"
    LINK_LOST = "link_lost"
    DEVICE_FAULT = "device_fault"
    BATTERY_LOW = "battery_low"
    UNATTENDED = "unattended"
    RUNAWAY = "runaway"  # output on, the temperature moving the wrong way
    CONTROLLER_FAULT = "controller_fault"  # an unexpected error here: output turned off
    JOURNAL_UNAVAILABLE = "journal_unavailable"  # a start the journal cannot record

    @property
    def is_safety_stop(self) -> bool:
        return self not in (EndReason.COMPLETED, EndReason.USER_STOPPED)


class Phase(enum.StrEnum):
    READY = "ready"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class SessionRequest:
    """What a user (CLI, UI, remote) asks for. Exactly one of setpoint, level or power."""

    mode: Mode
    duration_s: float
    setpoint_c: float | None = None
    level: int = 0
    power_mw: int | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """What earlier sessions used, from the journal (or this process's memory)."""

    light_s_24h: float = 0.0  # light on-time in the last 24 hours (a rolling day)
    s_since_heat: float | None = None  # seconds since heat output was last on
    s_since_cold_start: float | None = None  # seconds since the last cold session started
    # Resuming a session the link interrupted: what it already ran and its thermal dose.
    # The resumed session may only have what is left of the per-session caps.
    continuing_s: float = 0.0
    continuing_cem43_min: float = 0.0
    # The body site of the next session (None: none given, so no per-site limits) and what
    # every device used on it in the last 24 hours.
    site: str | None = None
    site_heat_sessions_24h: int = 0  # heat sessions started on the site
    site_heat_cem43_24h_min: float = 0.0  # their thermal dose
    site_light_s_24h: float = 0.0  # light on-time on the site
    s_since_site_cold_start: float | None = None  # seconds since cold last started there


NO_USAGE = Usage()


@dataclass(frozen=True, slots=True)
class Clamp:
    """A request cut back to a limit, in plain words; always recorded, never silent."""

    limit: str
    requested: float
    applied: float
    message: str


@dataclass(frozen=True, slots=True)
class Plan:
    """The supervisor's answer to a request: the START to send, or why not."""

    start: Start | None
    clamps: tuple[Clamp, ...]
    refused: EndReason | None = None
    message: str = ""
    setpoint_c: float | None = None
    power_mw: int = 0


@dataclass(frozen=True, slots=True)
class StopOutput:
    """Turn the output off now; the session ends with ``reason``."""

    reason: EndReason
    detail: str


@dataclass(frozen=True, slots=True)
class AskAttended:
    """Heat: ask the user to confirm they are awake, before ``deadline_s``."""

    deadline_s: float


@dataclass(frozen=True, slots=True)
class Note:
    """Something to record as a session event."""

    kind: str
    detail: str


Action = StopOutput | AskAttended | Note


@dataclass(slots=True)
class Tally:
    """What the session did so far."""

    running_s: float = 0.0
    cem43_min: float = 0.0
    energy_j: float = 0.0
    max_temperature_c: float | None = None
    min_temperature_c: float | None = None
    samples: int = 0

    def note_temperature(self, t: float) -> None:
        """A trusted reading: keep the true peak and trough."""
        if self.max_temperature_c is None or t > self.max_temperature_c:
            self.max_temperature_c = t
        if self.min_temperature_c is None or t < self.min_temperature_c:
            self.min_temperature_c = t
