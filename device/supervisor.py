"""The safety supervisor: a pure state machine every session command goes through.

Status and time in, actions out; no I/O, no clock (the model is aioquic's
``get_timer()`` / ``handle_timer(now)``). The runner turns its actions into device commands.

The invariant it keeps (tested as a hypothesis state machine): while the device reports its
output on, the session is running, the reading is fresh and valid, and every limit holds -
otherwise the supervisor has asked for the output to go off.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from device.limits import Limits
from protocols import DeviceKind, Feature, Mode, Resume, Start, State, Status, StopCause


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

    @property
    def is_safety_stop(self) -> bool:
        return self not in (EndReason.COMPLETED, EndReason.USER_STOPPED)


_STOP_CAUSE_REASON = {
    StopCause.COMPLETED: EndReason.COMPLETED,
    StopCause.LEASE_EXPIRED: EndReason.LINK_LOST,
    StopCause.OVER_TEMPERATURE_CUTOUT: EndReason.OVER_TEMPERATURE,
    StopCause.UNDER_TEMPERATURE_CUTOUT: EndReason.UNDER_TEMPERATURE,
    StopCause.SENSOR_INVALID: EndReason.SENSOR_FAULT,
    StopCause.BATTERY_CRITICAL: EndReason.BATTERY_LOW,
    StopCause.CONTACT_LOST: EndReason.CONTACT_LOST,
    StopCause.POWER_ON: EndReason.DEVICE_FAULT,
    StopCause.STOP_COMMAND: EndReason.DEVICE_FAULT,  # nobody here asked for it
    StopCause.NONE: EndReason.DEVICE_FAULT,
}
_STOP_CAUSE_TEXT = {
    StopCause.COMPLETED: "the device's session timer ended the session",
    StopCause.LEASE_EXPIRED: "the device's lease ran out and it turned its output off",
    StopCause.OVER_TEMPERATURE_CUTOUT: "the device's own over-temperature cut-out tripped",
    StopCause.UNDER_TEMPERATURE_CUTOUT: "the device's own under-temperature cut-out tripped",
    StopCause.SENSOR_INVALID: "the device's temperature sensor gives no valid reading",
    StopCause.BATTERY_CRITICAL: "the device's battery is critically low",
    StopCause.CONTACT_LOST: "the device lost skin contact and stopped its light",
    StopCause.POWER_ON: "the device restarted and is idle",
    StopCause.STOP_COMMAND: "the device was stopped by a command from elsewhere",
    StopCause.NONE: "the device stopped without saying why",
}


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

    light_s_today: float = 0.0
    s_since_heat: float | None = None  # seconds since the last heat session ended
    # Resuming a session the link interrupted: what it already ran and its thermal dose.
    # The resumed session may only have what is left of the per-session caps.
    continuing_s: float = 0.0
    continuing_cem43_min: float = 0.0


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


@dataclass(slots=True)
class _Sensor:
    last_value: float | None = None
    last_at_s: float | None = None
    last_elapsed_s: int | None = None
    same_since_s: float | None = None


class Supervisor:
    """Safety rules for one session on one device."""

    def __init__(
        self,
        limits: Limits,
        feature: Feature,
        usage: Usage = NO_USAGE,
        *,
        status_period_s: float = 1.0,
    ) -> None:
        self.limits = limits
        self.feature = feature
        self.usage = usage
        self.status_period_s = max(status_period_s, feature.status_interval_ms / 1000)
        self.phase = Phase.READY
        self.mode = Mode.NONE
        self.plan_: Plan | None = None
        self.tally = Tally()
        self.end_reason: EndReason | None = None
        self.end_detail = ""
        self._cut_by: EndReason | None = None
        self._last_status_s: float | None = None
        self._sensor = _Sensor()
        self._output_on = False
        self._attended_at_s: float | None = None
        self._attended_deadline_s: float | None = None
        self._started_s: float | None = None

    # ------------------------------------------------------------------ limits

    @property
    def stale_after_s(self) -> float:
        """No Status for this long while a session is on counts as a lost link."""
        return self.limits.stale_factor * self.status_period_s

    @property
    def continuing(self) -> bool:
        """This session resumes one the link interrupted (see :class:`Usage`)."""
        return self.usage.continuing_s > 0

    @property
    def cem43_min(self) -> float:
        """The thermal dose of this session, with what an interrupted one it resumes had."""
        return self.usage.continuing_cem43_min + self.tally.cem43_min

    def max_session_s(self, mode: Mode) -> float:
        return {
            Mode.HEAT: self.limits.heat_max_session_s,
            Mode.COLD: self.limits.cold_max_session_s,
            Mode.LIGHT: self.limits.light_max_session_s,
        }.get(mode, 0.0)

    # ------------------------------------------------------------------ planning

    def plan(self, request: SessionRequest, battery_pct: int | None = None) -> Plan:
        """Check and clamp a request. Over a limit: clamped with a message, or refused."""
        mode = request.mode
        feature = self.feature
        clamps: list[Clamp] = []
        supported = {
            Mode.HEAT: feature.heat_max_c is not None or bool(feature.levels_for(Mode.HEAT)),
            Mode.COLD: feature.cold_min_c is not None or bool(feature.levels_for(Mode.COLD)),
            Mode.LIGHT: bool(feature.levels_for(Mode.LIGHT)),
        }
        if not supported.get(mode, False):
            return self._refuse(
                EndReason.DEVICE_FAULT, f"this {_kind(feature)} cannot do {mode.name.lower()}"
            )
        if not request.duration_s > 0 or not math.isfinite(request.duration_s):
            return self._refuse(EndReason.DEVICE_FAULT, "a session needs a positive duration")
        if battery_pct is not None and battery_pct < self.limits.battery_low_pct:
            return self._refuse(
                EndReason.BATTERY_LOW,
                f"the battery is at {battery_pct} %, below {self.limits.battery_low_pct:g} %:"
                " charge the device first",
            )
        if mode == Mode.HEAT and self.usage.s_since_heat is not None and not self.continuing:
            wait_s = self.limits.heat_rest_s - self.usage.s_since_heat
            if wait_s > 0:
                return self._refuse(
                    EndReason.REST_REQUIRED,
                    f"rest at least {self.limits.heat_rest_s / 60:g} min between heat sessions:"
                    f" {math.ceil(wait_s / 60)} min to go",
                )

        duration_s = float(request.duration_s)
        limit_s = self.max_session_s(mode)
        if self.continuing:
            limit_s -= self.usage.continuing_s
            if limit_s < 60:
                return self._refuse(
                    EndReason.COMPLETED,
                    f"the interrupted {mode.name.lower()} session had less than a minute of its"
                    f" {self.max_session_s(mode) / 60:g} min left",
                )
        if duration_s > limit_s:
            clamps.append(
                Clamp(
                    f"{mode.name.lower()}_max_session",
                    duration_s / 60,
                    limit_s / 60,
                    f"{mode.name.lower()} sessions are limited to {limit_s / 60:g} min"
                    f" — running {limit_s / 60:g}"
                    if not self.continuing
                    else f"{mode.name.lower()} sessions are limited to"
                    f" {self.max_session_s(mode) / 60:g} min and"
                    f" {self.usage.continuing_s / 60:.1f} ran before the link was lost"
                    f" — running {limit_s / 60:.1f}",
                )
            )
            duration_s = limit_s
        if mode == Mode.LIGHT:
            left_s = self.limits.light_daily_s - self.usage.light_s_today
            if left_s < 60:
                return self._refuse(
                    EndReason.DAILY_LIMIT,
                    f"today's light treatment ({self.limits.light_daily_s / 60:g} min a day)"
                    " is used up",
                )
            if duration_s > left_s:
                clamps.append(
                    Clamp(
                        "light_daily",
                        duration_s / 60,
                        left_s / 60,
                        f"light is limited to {self.limits.light_daily_s / 60:g} min a day —"
                        f" {left_s / 60:.0f} min left today, running {left_s / 60:.0f}",
                    )
                )
                duration_s = left_s
                self._cut_by = EndReason.DAILY_LIMIT
        if duration_s > feature.max_session_s:
            clamps.append(
                Clamp(
                    "device_max_session",
                    duration_s / 60,
                    feature.max_session_s / 60,
                    f"this device's own timer allows {feature.max_session_s / 60:g} min",
                )
            )
            duration_s = float(feature.max_session_s)

        if mode == Mode.LIGHT:
            level, power_mw, message = self._light_level(request, clamps)
            if level == 0:
                return self._refuse(EndReason.DEVICE_FAULT, message)
            start = Start(Mode.LIGHT, level, None, max(1, int(duration_s)))
            plan = Plan(start, tuple(clamps), power_mw=power_mw)
        else:
            setpoint = self._setpoint(request, clamps)
            if setpoint is None:
                return self._refuse(
                    EndReason.DEVICE_FAULT,
                    "give a setpoint or a level the device has, within the limits and the"
                    " device's own range",
                )
            start = Start(mode, 0, setpoint, max(1, int(duration_s)))
            plan = Plan(start, tuple(clamps), setpoint_c=setpoint)
        self.plan_ = plan
        self.mode = mode
        return plan

    def _refuse(self, reason: EndReason, message: str) -> Plan:
        self.phase = Phase.ENDED
        self.end_reason = reason
        self.end_detail = message
        return Plan(None, (), reason, message)

    def _setpoint(self, request: SessionRequest, clamps: list[Clamp]) -> float | None:
        mode = request.mode
        feature = self.feature
        setpoint = request.setpoint_c
        if request.level:
            levels = feature.levels_for(mode)
            if not 1 <= request.level <= len(levels):
                return None
            setpoint = levels[request.level - 1].setpoint_c
        if setpoint is None or not math.isfinite(setpoint):
            return None
        margin = self.limits.setpoint_margin_c
        if mode == Mode.HEAT:
            high = self.limits.heat_ceiling_c - margin
            if feature.heat_max_c is not None:
                high = min(high, feature.heat_max_c)
            if setpoint > high:
                clamps.append(
                    Clamp(
                        "heat_ceiling",
                        setpoint,
                        high,
                        f"heat is limited to {self.limits.heat_ceiling_c:g} °C —"
                        f" setpoint {high:g} °C instead of {setpoint:g} °C",
                    )
                )
                setpoint = high
            if feature.heat_min_c is not None and high < feature.heat_min_c:
                return None  # the ceiling is below anything this pad can be set to
            if feature.heat_min_c is not None and setpoint < feature.heat_min_c:
                clamps.append(
                    Clamp(
                        "device_heat_min",
                        setpoint,
                        feature.heat_min_c,
                        f"this device heats from {feature.heat_min_c:g} °C",
                    )
                )
                setpoint = feature.heat_min_c
        else:
            low = self.limits.cold_floor_c + margin
            if feature.cold_min_c is not None:
                low = max(low, feature.cold_min_c)
            if setpoint < low:
                clamps.append(
                    Clamp(
                        "cold_floor",
                        setpoint,
                        low,
                        f"cold is limited to {self.limits.cold_floor_c:g} °C —"
                        f" setpoint {low:g} °C instead of {setpoint:g} °C",
                    )
                )
                setpoint = low
            if feature.cold_max_c is not None and low > feature.cold_max_c:
                return None  # the floor is above anything this pad can be set to
            if feature.cold_max_c is not None and setpoint > feature.cold_max_c:
                clamps.append(
                    Clamp(
                        "device_cold_max",
                        setpoint,
                        feature.cold_max_c,
                        f"this device cools to {feature.cold_max_c:g} °C at most",
                    )
                )
                setpoint = feature.cold_max_c
        return round(setpoint, 2)

    def _light_level(self, request: SessionRequest, clamps: list[Clamp]) -> tuple[int, int, str]:
        levels = self.feature.levels_for(Mode.LIGHT)
        if request.level:
            if not 1 <= request.level <= len(levels):
                return 0, 0, f"this belt has levels 1 to {len(levels)}, not {request.level}"
            return request.level, levels[request.level - 1].power_mw, ""
        wanted = request.power_mw if request.power_mw is not None else levels[-1].power_mw
        fitting = [(i + 1, lv.power_mw) for i, lv in enumerate(levels) if lv.power_mw <= wanted]
        if not fitting:
            return 0, 0, f"this belt's lowest output is {levels[0].power_mw} mW, above {wanted}"
        level, power = fitting[-1]
        if power != wanted:
            clamps.append(
                Clamp(
                    "light_power",
                    wanted,
                    power,
                    f"this belt emits {', '.join(str(lv.power_mw) for lv in levels)} mW —"
                    f" running {power} mW instead of {wanted}",
                )
            )
        return level, power, ""

    # ------------------------------------------------------------------ running

    def started(self, now_s: float) -> list[Action]:
        """The device acknowledged START."""
        self.phase = Phase.RUNNING
        self._started_s = now_s
        self._last_status_s = now_s
        if self.mode == Mode.HEAT:
            self._attended_at_s = now_s + self.limits.attended_check_s
        return [Note("started", self._describe_plan())]

    def _describe_plan(self) -> str:
        plan = self.plan_
        if plan is None or plan.start is None:
            return ""
        minutes = plan.start.duration_s / 60
        if self.mode == Mode.LIGHT:
            return f"light at {plan.power_mw} mW for {minutes:g} min"
        return f"{self.mode.name.lower()} at {plan.setpoint_c:g} °C for {minutes:g} min"

    @property
    def active(self) -> bool:
        """A session is on the device (running, paused or being stopped)."""
        return self.phase in (Phase.RUNNING, Phase.PAUSED, Phase.STOPPING)

    def on_status(self, status: Status, now_s: float) -> list[Action]:
        """A Status notification arrived at ``now_s``."""
        actions: list[Action] = []
        previous_s = self._last_status_s
        self._last_status_s = now_s
        self._output_on = status.output_on
        if not self.active:
            if status.output_on:
                return [StopOutput(EndReason.DEVICE_FAULT, "output is on with no session here")]
            return []
        dt = 0.0 if previous_s is None else min(max(0.0, now_s - previous_s), self.stale_after_s)
        self._account(status, dt)

        if self.phase == Phase.STOPPING:
            if status.output_on:
                return [StopOutput(self.end_reason or EndReason.DEVICE_FAULT, "still on")]
            self.phase = Phase.ENDED
            return [Note("output_off", "the device reports its output off")]

        if not status.output_on and status.state in (State.IDLE, State.FAULT):
            # The device ended the session by itself.
            reason = _STOP_CAUSE_REASON.get(status.stop_cause, EndReason.DEVICE_FAULT)
            if reason == EndReason.COMPLETED and self._cut_by is not None:
                reason = self._cut_by
            return [StopOutput(reason, _STOP_CAUSE_TEXT.get(status.stop_cause, ""))]
        if status.state == State.PAUSED and self.phase == Phase.RUNNING:
            self.phase = Phase.PAUSED
            actions.append(Note("paused", "the device reports the session paused"))
        elif status.state == State.RUNNING and self.phase == Phase.PAUSED:
            self.phase = Phase.RUNNING

        violation = self._violation(status, now_s, dt)
        if violation is not None:
            return [*actions, violation]
        return actions

    def _account(self, status: Status, dt: float) -> None:
        tally = self.tally
        tally.samples += 1
        t = status.temperature_c
        if status.output_on:
            tally.running_s += dt
            if self.mode == Mode.LIGHT:
                tally.energy_j += status.power_mw / 1000 * dt
        if t is not None and math.isfinite(t):
            tally.max_temperature_c = max(t, tally.max_temperature_c or t)
            tally.min_temperature_c = min(t, tally.min_temperature_c or t)
            if self.mode == Mode.HEAT:
                tally.cem43_min += cem43_minutes(t, dt)

    def _violation(self, status: Status, now_s: float, dt: float) -> StopOutput | None:
        limits = self.limits
        t = status.temperature_c
        sensor = self._sensor
        previous_value, previous_at = sensor.last_value, sensor.last_at_s
        previous_elapsed = sensor.last_elapsed_s
        sensor.last_value, sensor.last_at_s = t, now_s
        sensor.last_elapsed_s = status.elapsed_s
        output_on = status.output_on
        if self.mode in (Mode.HEAT, Mode.COLD) or output_on:
            if t is None or not math.isfinite(t):
                return StopOutput(EndReason.SENSOR_FAULT, "the temperature sensor gives no reading")
            if not limits.sensor_min_c <= t <= limits.sensor_max_c:
                return StopOutput(
                    EndReason.SENSOR_FAULT, f"the sensor reads an implausible {t:g} °C"
                )
            if previous_value is not None and previous_at is not None and now_s > previous_at:
                # Time between the readings: as they arrived here, or as the device's own
                # session clock says, whichever is longer (a backlog of notifications
                # arrives close together although the device took them far apart).
                span_s = now_s - previous_at
                if previous_elapsed is not None and status.elapsed_s >= previous_elapsed:
                    span_s = max(span_s, float(status.elapsed_s - previous_elapsed))
                rate = abs(t - previous_value) / span_s
                if rate > limits.sensor_max_rate_c_per_s and span_s >= 0.5:
                    return StopOutput(
                        EndReason.SENSOR_FAULT,
                        f"the temperature jumped {abs(t - previous_value):.1f} °C in"
                        f" {span_s:.0f} s, faster than a pad can change",
                    )
            if output_on and previous_value == t:
                if sensor.same_since_s is None:
                    sensor.same_since_s = previous_at
                if (
                    sensor.same_since_s is not None
                    and now_s - sensor.same_since_s >= limits.sensor_stuck_s
                ):
                    return StopOutput(
                        EndReason.SENSOR_FAULT,
                        f"the sensor has read exactly {t:g} °C for"
                        f" {now_s - sensor.same_since_s:.0f} s with the output on: it is stuck",
                    )
            else:
                sensor.same_since_s = None
        if self.mode == Mode.HEAT and t is not None and t > limits.heat_ceiling_c:
            return StopOutput(
                EndReason.OVER_TEMPERATURE,
                f"the pad reached {t:.1f} °C, above the {limits.heat_ceiling_c:g} °C limit",
            )
        if self.mode == Mode.COLD and t is not None and t < limits.cold_floor_c:
            return StopOutput(
                EndReason.UNDER_TEMPERATURE,
                f"the pad reached {t:.1f} °C, below the {limits.cold_floor_c:g} °C limit",
            )
        if self.mode == Mode.HEAT and self.cem43_min >= limits.heat_dose_cem43_min:
            return StopOutput(
                EndReason.THERMAL_DOSE,
                f"the thermal dose reached {self.cem43_min:.1f} CEM43 min"
                f" (limit {limits.heat_dose_cem43_min:g})",
            )
        if status.battery_pct < limits.battery_low_pct:
            return StopOutput(
                EndReason.BATTERY_LOW,
                f"the battery is at {status.battery_pct} %, below {limits.battery_low_pct:g} %",
            )
        if self.mode == Mode.LIGHT and output_on and not status.skin_contact:
            return StopOutput(EndReason.CONTACT_LOST, "the belt lost skin contact")
        if self.mode == Mode.LIGHT and (
            self.usage.light_s_today + self.tally.running_s >= limits.light_daily_s
        ):
            return StopOutput(EndReason.DAILY_LIMIT, "today's light treatment time is used up")
        grace_s = 2 * self.status_period_s
        if self.usage.continuing_s + self.tally.running_s > self.max_session_s(self.mode) + grace_s:
            return StopOutput(EndReason.COMPLETED, "the session reached its maximum length")
        return None

    def next_deadline(self) -> float | None:
        """When :meth:`on_timer` must run next (simulated seconds), or None."""
        if not self.active:
            return None
        deadlines = []
        if self._last_status_s is not None:
            deadlines.append(self._last_status_s + self.stale_after_s)
        if self.phase == Phase.RUNNING:
            if self._attended_deadline_s is not None:
                deadlines.append(self._attended_deadline_s)
            elif self._attended_at_s is not None:
                deadlines.append(self._attended_at_s)
        return min(deadlines) if deadlines else None

    def on_timer(self, now_s: float) -> list[Action]:
        """Time passed: staleness and the attended-use check."""
        if not self.active:
            return []
        if self._last_status_s is not None and now_s - self._last_status_s > self.stale_after_s:
            return [
                StopOutput(
                    EndReason.LINK_LOST,
                    f"no Status from the device for {now_s - self._last_status_s:.0f} s",
                )
            ]
        if self.phase != Phase.RUNNING:
            return []
        if self._attended_deadline_s is not None and now_s >= self._attended_deadline_s:
            return [
                StopOutput(
                    EndReason.UNATTENDED,
                    "the attended-use check was not answered: heat stopped (falling asleep"
                    " on a heating pad causes burns)",
                )
            ]
        if (
            self._attended_deadline_s is None
            and self._attended_at_s is not None
            and now_s >= self._attended_at_s
        ):
            self._attended_deadline_s = now_s + self.limits.attended_ack_s
            return [AskAttended(self._attended_deadline_s)]
        return []

    def acknowledge(self, now_s: float) -> list[Action]:
        """The user answered the attended-use check."""
        if self._attended_deadline_s is None or not self.active:
            return []
        self._attended_deadline_s = None
        self._attended_at_s = now_s + self.limits.attended_check_s
        return [Note("attended", "the user confirmed they are attending the heat session")]

    def on_link_lost(self, now_s: float) -> list[Action]:
        if not self.active:
            return []
        return [StopOutput(EndReason.LINK_LOST, "the Bluetooth link to the device dropped")]

    def stopping(self, reason: EndReason, detail: str) -> None:
        """The runner is turning the output off for ``reason`` (the first reason wins)."""
        if self.end_reason is None:
            self.end_reason = reason
            self.end_detail = detail
        if self.phase != Phase.ENDED:
            self.phase = Phase.STOPPING

    def ended(self) -> None:
        self.phase = Phase.ENDED

    def allow_resume(self, battery_pct: int | None = None) -> Resume | StopOutput | None:
        """Resume after a pause, if every limit still allows it (None: nothing to resume)."""
        if self.phase != Phase.PAUSED:
            return None
        if battery_pct is not None and battery_pct < self.limits.battery_low_pct:
            return StopOutput(EndReason.BATTERY_LOW, f"the battery is at {battery_pct} %")
        return Resume()


def cem43_minutes(temperature_c: float, dt_s: float) -> float:
    """Cumulative equivalent minutes at 43 °C for ``dt_s`` at ``temperature_c``.

    CEM43 = sum of dt * R^(43 - T), with R = 0.5 at T >= 43 °C and 0.25 below
    (Sapareto and Dewey, 1984).
    """
    r = 0.5 if temperature_c >= 43.0 else 0.25
    return float(dt_s / 60 * r ** (43.0 - temperature_c))


def _kind(feature: Feature) -> str:
    return {
        DeviceKind.HEAT_PAD: "heat pad",
        DeviceKind.THERMAL_PAD: "thermal pad",
        DeviceKind.LIGHT_BELT: "light belt",
    }[feature.kind]


__all__ = [
    "NO_USAGE",
    "Action",
    "AskAttended",
    "Clamp",
    "EndReason",
    "Note",
    "Phase",
    "Plan",
    "SessionRequest",
    "StopOutput",
    "Supervisor",
    "Tally",
    "Usage",
    "cem43_minutes",
]
