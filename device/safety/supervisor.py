"""The safety supervisor: a pure state machine every session command goes through.

Status and time in, actions out; no I/O, no clock (the model is aioquic's
``get_timer()`` / ``handle_timer(now)``). The runner turns its actions into device commands.

The invariant it keeps (tested as a hypothesis state machine): while the device reports its
output on, the session is running, the reading is fresh and valid, and every limit holds -
otherwise the supervisor has asked for the output to go off.
"""

from __future__ import annotations

import math

from device.safety.aftercare import AfterStop, danger_is_up
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
from protocols import DeviceKind, Feature, Mode, Resume, State, Status, StopCause

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
        answer_window_s: float | None = None,
    ) -> None:
        """``answer_window_s``: how long a person has to answer the attended-use check, in
        device seconds (at least ``attended_ack_s``; the runner stretches it at high time
        scales so it is at least 30 s of wall time)."""
        self.limits = limits
        self.answer_window_s = max(limits.attended_ack_s, answer_window_s or 0.0)
        self.feature = feature
        self.usage = usage
        self.status_period_s = max(status_period_s, feature.status_interval_ms / 1000)
        self.phase = Phase.READY
        self.mode = Mode.NONE
        self.plan_: Plan | None = None
        self.tally = Tally()
        self.end_reason: EndReason | None = None
        self.end_detail = ""
        self._last_status_s: float | None = None
        self._sensor = SensorCheck(limits)
        self._output_on = False
        self._on_from_c: float | None = None
        self.output_started_c: float | None = None  # the last runaway reference
        self.last_c: float | None = None  # the last trusted reading
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

    @property
    def site_cem43_left_min(self) -> float | None:
        """What is left of the site's thermal dose for 24 hours (None: no site given)."""
        if self.usage.site is None:
            return None
        return self.limits.site_heat_cem43_24h_min - max(0.0, self.usage.site_heat_cem43_24h_min)

    def max_session_s(self, mode: Mode) -> float:
        return max_session_s(self.limits, mode)

    # ------------------------------------------------------------------ planning

    def plan(self, request: SessionRequest, battery_pct: int | None = None) -> Plan:
        """Check and clamp a request. Over a limit: clamped with a message, or refused."""
        plan = plan_session(self.limits, self.feature, self.usage, request, battery_pct)
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
        was_on, self._output_on = self._output_on, status.output_on
        if not self.active:
            if status.output_on:
                return [StopOutput(EndReason.DEVICE_FAULT, "output is on with no session here")]
            return []
        dt = 0.0 if previous_s is None else min(max(0.0, now_s - previous_s), self.stale_after_s)

        if self.phase == Phase.STOPPING:
            self._account(status, dt, self._in_sensor_range(status.temperature_c))
            if status.output_on:
                return [StopOutput(self.end_reason or EndReason.DEVICE_FAULT, "still on")]
            self.phase = Phase.ENDED
            return [Note("output_off", "the device reports its output off")]

        # Judge the reading before anything is computed from it: an implausible one never
        # reaches the dose, the peak or the runaway reference.
        finding = self._sensor.observe(
            status.temperature_c,
            now_s,
            status.elapsed_s,
            output_on=status.output_on,
            judge=self.mode in (Mode.HEAT, Mode.COLD) or status.output_on,
        )
        trusted = self._in_sensor_range(status.temperature_c) if finding is None else None
        self._account(status, dt, trusted)
        if not status.output_on:
            self._on_from_c = None
        elif not was_on or self._on_from_c is None:
            self._on_from_c = trusted  # where the output (re)started: the runaway reference
            self.output_started_c = trusted if trusted is not None else self.output_started_c

        if not status.output_on and status.state in (State.IDLE, State.FAULT):
            # The device ended the session by itself.
            reason = _STOP_CAUSE_REASON.get(status.stop_cause, EndReason.DEVICE_FAULT)
            return [StopOutput(reason, _STOP_CAUSE_TEXT.get(status.stop_cause, ""))]
        if status.state == State.PAUSED and self.phase == Phase.RUNNING:
            self.phase = Phase.PAUSED
            actions.append(Note("paused", "the device reports the session paused"))
        elif status.state == State.RUNNING and self.phase == Phase.PAUSED:
            self.phase = Phase.RUNNING

        if finding is not None:
            return [*actions, StopOutput(EndReason.SENSOR_FAULT, finding)]
        violation = self._violation(status, trusted)
        if violation is not None:
            return [*actions, violation]
        return actions

    def trusted(self, t: float | None) -> float | None:
        """``t`` if it is a reading a sensor can give, else None."""
        return self._in_sensor_range(t)

    def _in_sensor_range(self, t: float | None) -> float | None:
        """``t`` if it is a reading a sensor can give, else None."""
        if t is None or not math.isfinite(t):
            return None
        return t if self.limits.sensor_min_c <= t <= self.limits.sensor_max_c else None

    @property
    def ceiling_c(self) -> float:
        """The highest temperature allowed while a session is on, in every mode."""
        if self.mode == Mode.LIGHT:
            return min(self.limits.heat_ceiling_c, self.limits.light_ceiling_c)
        return self.limits.heat_ceiling_c

    @property
    def floor_c(self) -> float:
        """The lowest temperature allowed while a session is on, in every mode."""
        return self.limits.cold_floor_c

    def _account(self, status: Status, dt: float, trusted_c: float | None) -> None:
        tally = self.tally
        tally.samples += 1
        if status.output_on:
            tally.running_s += dt
            if self.mode == Mode.LIGHT:
                tally.energy_j += status.power_mw / 1000 * dt
        if trusted_c is not None:
            self.last_c = trusted_c
            tally.note_temperature(trusted_c)
            if self.mode == Mode.HEAT:
                tally.cem43_min += cem43_minutes(trusted_c, dt)

    def _violation(self, status: Status, t: float | None) -> StopOutput | None:
        limits = self.limits
        thing = _thing(self.feature)
        if t is not None and t > self.ceiling_c:
            return StopOutput(
                EndReason.OVER_TEMPERATURE,
                f"the {thing} reached {_beyond(t, self.ceiling_c)} °C, above the"
                f" {self.ceiling_c:g} °C limit",
            )
        if t is not None and t < self.floor_c:
            return StopOutput(
                EndReason.UNDER_TEMPERATURE,
                f"the {thing} reached {_beyond(t, self.floor_c)} °C, below the"
                f" {self.floor_c:g} °C limit",
            )
        runaway = self._runaway(status, t)
        if runaway is not None:
            return runaway
        if self.mode == Mode.HEAT and self.cem43_min >= limits.heat_dose_cem43_min:
            return StopOutput(
                EndReason.THERMAL_DOSE,
                f"the thermal dose reached {self.cem43_min:.1f} CEM43 min"
                f" (limit {limits.heat_dose_cem43_min:g})",
            )
        site_left = self.site_cem43_left_min
        if self.mode == Mode.HEAT and site_left is not None and self.tally.cem43_min >= site_left:
            return StopOutput(
                EndReason.THERMAL_DOSE,
                f"the thermal dose on {self.usage.site} reached its"
                f" {limits.site_heat_cem43_24h_min:g} CEM43 min in 24 hours (every device on"
                " it added up)",
            )
        if status.battery_pct < limits.battery_low_pct:
            return StopOutput(
                EndReason.BATTERY_LOW,
                f"the battery is at {status.battery_pct} %, below {limits.battery_low_pct:g} %",
            )
        if self.mode == Mode.LIGHT and status.output_on and not status.skin_contact:
            return StopOutput(EndReason.CONTACT_LOST, "the belt lost skin contact")
        grace_s = 2 * self.status_period_s
        if self.mode == Mode.LIGHT and (
            self.usage.light_s_24h + self.tally.running_s > limits.light_daily_s + grace_s
        ):
            return StopOutput(
                EndReason.DAILY_LIMIT, "the light treatment of the last 24 hours is used up"
            )
        if (
            self.mode == Mode.LIGHT
            and self.usage.site is not None
            and self.usage.site_light_s_24h + self.tally.running_s
            > limits.site_light_daily_s + grace_s
        ):
            return StopOutput(
                EndReason.DAILY_LIMIT,
                f"the light treatment of {self.usage.site} in the last 24 hours is used up",
            )
        if self.usage.continuing_s + self.tally.running_s > self.max_session_s(self.mode) + grace_s:
            return StopOutput(EndReason.COMPLETED, "the session reached its maximum length")
        return None

    def _runaway(self, status: Status, t: float | None) -> StopOutput | None:
        """Output on while the temperature moves the wrong way, beyond a margin from where
        the output started and from the setpoint: a stuck heater or cooler."""
        start_c = self._on_from_c
        plan = self.plan_
        if not status.output_on or t is None or start_c is None or plan is None:
            return None
        setpoint = plan.setpoint_c if plan.setpoint_c is not None else start_c
        margin = self.limits.runaway_margin_c
        thing = _thing(self.feature)
        if self.mode == Mode.HEAT and t < min(start_c, setpoint) - margin:
            return StopOutput(
                EndReason.RUNAWAY,
                f"the {thing} is cooling with its heat on ({t:.1f} °C, from {start_c:.1f} °C):"
                " its cooler may be stuck on",
            )
        if self.mode == Mode.COLD and t > max(start_c, setpoint) + margin:
            return StopOutput(
                EndReason.RUNAWAY,
                f"the {thing} is warming with its cold on ({t:.1f} °C, from {start_c:.1f} °C):"
                " its heater may be stuck on",
            )
        return None

    def after_stop(self, now_s: float, t: float | None) -> AfterStop:
        """What to watch for after this session's stop, confirmed at ``now_s`` (reading
        ``t``, if one is known)."""
        known = self._in_sensor_range(t)
        reference = known if known is not None else self.last_c
        return AfterStop(
            self.limits,
            ceiling_c=self.ceiling_c,
            floor_c=self.floor_c,
            danger_up=danger_is_up(
                self.mode, self.end_reason, self.output_started_c, reference or 0.0
            ),
            thing=_thing(self.feature),
            stopped_at_s=now_s,
            stop_c=reference,
        )

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
            self._attended_deadline_s = now_s + self.answer_window_s
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


def _thing(feature: Feature) -> str:
    """What to call the device in a sentence."""
    return "belt" if feature.kind == DeviceKind.LIGHT_BELT else "pad"


def _beyond(t: float, limit: float) -> str:
    """``t`` to 0.1 °C, or to 0.01 °C where 0.1 would read as the limit itself."""
    text = f"{t:.1f}"
    return f"{t:.2f}" if float(text) == limit else text
