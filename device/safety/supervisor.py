"""The safety supervisor: a pure state machine every session command goes through.

Status and time in, actions out; no I/O, no clock (the model is aioquic's
``get_timer()`` / ``handle_timer(now)``). The runner turns its actions into device commands.

The invariant it keeps (tested as a hypothesis state machine): while the device reports its
output on, the session is running, the reading is fresh and valid, and every limit holds -
otherwise the supervisor has asked for the output to go off.
"""

from __future__ import annotations

import math

from device.safety.dose import cem43_minutes
from device.safety.limits import Limits
from device.safety.model import (
    NO_USAGE,
    Action,
    AskAttended,
    EndReason,
    Note,
    Phase,
    Plan,
    SessionRequest,
    StopOutput,
    Tally,
    Usage,
)
from device.safety.planning import max_session_s, plan_session
from device.safety.plausibility import SensorCheck
from protocols import Feature, Mode, Resume, State, Status, StopCause

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
        self._sensor = SensorCheck(limits)
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
        return max_session_s(self.limits, mode)

    # ------------------------------------------------------------------ planning

    def plan(self, request: SessionRequest, battery_pct: int | None = None) -> Plan:
        """Check and clamp a request. Over a limit: clamped with a message, or refused."""
        plan, self._cut_by = plan_session(
            self.limits, self.feature, self.usage, request, battery_pct
        )
        if plan.start is None:
            self.phase = Phase.ENDED
            self.end_reason = plan.refused
            self.end_detail = plan.message
            return plan
        self.plan_ = plan
        self.mode = request.mode
        return plan

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
        finding = self._sensor.observe(
            t,
            now_s,
            status.elapsed_s,
            output_on=status.output_on,
            judge=self.mode in (Mode.HEAT, Mode.COLD) or status.output_on,
        )
        if finding is not None:
            return StopOutput(EndReason.SENSOR_FAULT, finding)
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
        if self.mode == Mode.LIGHT and status.output_on and not status.skin_contact:
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
