"""One connected device's session view: choose, start, watch, pause, resume, stop.

Every start goes through :class:`device.sessions.PlanRunner` and so through the session
runner's supervisor, exactly as ``therapyctl run`` does. This module only shows what the
runner reports and forwards the user's commands; it decides nothing about safety.

One notification per happening: a stop is told once, when the device has confirmed its output
off (what happened, that the output is off, what to do now); the end of a session that was not
stopped for safety is told at its end; clamps, alarms and refused commands each once.

A session carries the panel's body site (the device's remembered one, or ``ui --site``), as
``run --site`` does; heat started on a site in an episode's acute phase is warned about once
(the journal remembers it was said).
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Literal

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Digits, Input, Label, ProgressBar, Select, Static

from device.journal import JournalWriter
from device.link import DeviceDriver
from device.safety import EndReason, Limits, SessionRequest, Tally, request_problem
from device.sessions import (
    BUILTIN_PLANS,
    DEFAULT_COLD_C,
    DEFAULT_HEAT_C,
    CompositeListener,
    PlanRunner,
    Resumption,
    RunnerState,
    RunSummary,
    SessionEvent,
    SessionListener,
    SessionRunner,
    Step,
    TherapyPlan,
    UsageLedger,
    heat_warning,
)
from protocols import Feature, Mode, ModeSupport, Status, TherapyctlError
from ui.tui.widgets.chart import SessionChart, limit_lines, temperature_extremes
from ui.tui.widgets.prompts import AttendedPrompt, ResumePrompt

if TYPE_CHECKING:
    from textual.timer import Timer

    from device.mqtt import MqttReporter

# Events told as they happen (each once); a safety stop is told when the output is off.
ALERT_KINDS = {"clamp", "alarm", "refused"}
SINGLE = "single"  # the plan Select's "one session, as set here" choice
MAX_MINUTES = 24 * 60  # the minutes field's bound, as ``run --minutes``'s (longer: a typo)
Severity = Literal["information", "warning", "error"]

# What a safety stop means for the user: what to do now (the event says what happened).
ADVICE = {
    EndReason.OVER_TEMPERATURE: "Take the pad off and let the skin cool; check the pad before"
    " using it again.",
    EndReason.UNDER_TEMPERATURE: "Take the pad off and let the skin warm up.",
    EndReason.THERMAL_DOSE: "That is enough heat for now; let the skin rest.",
    EndReason.SENSOR_FAULT: "Do not use the device until its sensor works again.",
    EndReason.CONTACT_LOST: "Put the belt back on snugly before starting again.",
    EndReason.BATTERY_LOW: "Charge the device before the next session.",
    EndReason.DEVICE_FAULT: "Check the device; start again only if it looks right.",
    EndReason.UNATTENDED: "Heat stopped because nobody answered: never sleep on a heating pad.",
    EndReason.LINK_LOST: "Keep the device close to this computer.",
    EndReason.DAILY_LIMIT: "Today's light treatment is done; the belt is off.",
    EndReason.REST_REQUIRED: "Let the skin rest before the next session.",
    EndReason.RUNAWAY: "Take the pad off: its heater or cooler may be stuck. Unplug it and do"
    " not use it again until it is checked.",
    EndReason.CONTROLLER_FAULT: "This is a fault in therapyctl, not in you or the device;"
    " the output was turned off first. Please report it.",
    EndReason.JOURNAL_UNAVAILABLE: "The journal cannot record sessions: give a writable --db"
    " or free some disk space.",
}


# What an empty target field means (shown as its placeholder): plans.py's defaults, as
# ``run`` uses them; light: the belt's highest output (the planner's default, as ``run``'s).
DEFAULT_TARGET = {
    Mode.HEAT: f"{DEFAULT_HEAT_C:g} °C",
    Mode.COLD: f"{DEFAULT_COLD_C:g} °C",
}
TARGET_HELP = (
    "°C for heat and cold, mW for light (e.g. 400), or a level (L1, L2, ...);"
    " empty: the default shown"
)


def setpoint_problem(request: SessionRequest, feature: Feature) -> str | None:
    """A setpoint outside the device's own range (its Feature), naming that range; None if
    it fits (the limits may still lower it, as a clamp the supervisor tells)."""
    setpoint = request.setpoint_c
    if setpoint is None or request.level or request.mode == Mode.LIGHT:
        return None
    heat = request.mode == Mode.HEAT
    low, high = (
        (feature.heat_min_c, feature.heat_max_c)
        if heat
        else (feature.cold_min_c, feature.cold_max_c)
    )
    if low is None or high is None or low <= setpoint <= high:
        return None
    return (
        f"this device takes {'heat' if heat else 'cold'} setpoints from {low:g} to {high:g} °C,"
        f" not {setpoint:g}"
    )


def _mmss(seconds: float) -> str:
    whole = max(0, round(seconds))
    return f"{whole // 60:02d}:{whole % 60:02d}"


class SessionPanel(Vertical):
    """The view of one connected device."""

    DEFAULT_CSS = """
    SessionPanel { height: 1fr; }
    SessionPanel > Horizontal { height: auto; }
    SessionPanel Label { padding: 0 1 0 0; }
    SessionPanel Select { width: 16; }
    SessionPanel #plan { width: 20; }
    SessionPanel Input { width: 8; margin-right: 1; }
    SessionPanel Button { margin-right: 1; min-width: 8; width: auto; }
    SessionPanel #state { padding: 0 1; text-style: bold; }
    SessionPanel Digits { width: auto; min-width: 16; }
    SessionPanel #readings { padding: 0 0 0 2; height: 3; }
    SessionPanel ProgressBar { width: 1fr; }
    SessionPanel ProgressBar Bar { width: 1fr; }
    SessionPanel #progress Label { width: 6; }
    """

    def __init__(
        self,
        driver: DeviceDriver,
        limits: Limits,
        journal: JournalWriter | None,
        ledger: UsageLedger,
        *,
        label: str,
        site: str | None = None,
    ) -> None:
        super().__init__()
        self.driver = driver
        self.site = site  # the body site sessions started here carry (None: none)
        self.limits = limits
        self.journal = journal
        self.ledger = ledger
        self.label = label
        self.reporter: MqttReporter | None = None
        self.runner: PlanRunner | None = None
        self.session: SessionRunner | None = None
        self.summaries: list[RunSummary] = []
        self.temperatures: list[float] = []
        self.last_status: Status | None = None
        self.prompt: AttendedPrompt | None = None
        self.resume_offer: Resumption | None = None
        self.step_text = ""
        self._tally: Tally | None = None
        self._status_dirty = False
        self._plan_t0_s: float | None = None
        self._step_t0_s = 0.0
        self._step_s = 0.0
        self._done_s = 0.0  # planned seconds of the plan's steps already done
        self._step_run_s = 0.0  # how long the current step's output has run (device's count)
        self._resting = False
        self._pauses: list[tuple[float, float | None]] = []  # minutes since the plan began
        self._stop_told = False  # this session's stop has been told (one notification)
        self._told_state: tuple[str | None, bool] = (None, False)
        # The last session's chart and readings stay until the next one's first step has
        # started: a refused start (rest, daily limit) leaves them as they were.
        self._shown_is_current = True
        self._refresh_timer: Timer | None = None
        self.chart = SessionChart(id="chart")  # kept: every Status adds a point

    # ------------------------------------------------------------------ layout

    @property
    def modes(self) -> list[Mode]:
        assert self.driver.feature is not None
        bits = [
            (Mode.HEAT, ModeSupport.HEAT),
            (Mode.COLD, ModeSupport.COLD),
            (Mode.LIGHT, ModeSupport.LIGHT),
        ]
        return [mode for mode, bit in bits if bit in self.driver.feature.modes]

    def plans(self) -> list[TherapyPlan]:
        """The built-in plans this device can carry out."""
        modes = set(self.modes)
        return [p for p in BUILTIN_PLANS.values() if p.modes <= modes]

    def compose(self) -> ComposeResult:
        modes = [(m.name.lower(), m.name.lower()) for m in self.modes]
        plans = [(SINGLE, SINGLE)] + [
            (f"{p.name} ({p.minutes:g} min)", p.name) for p in self.plans()
        ]
        with Horizontal():
            yield Select(plans, value=SINGLE, allow_blank=False, compact=True, id="plan")
            yield Select(modes, value=modes[0][1], allow_blank=False, compact=True, id="mode")
            yield Input(
                placeholder=self.default_target(self.modes[0]),
                compact=True,
                id="target",
                tooltip=TARGET_HELP,
            )
            yield Input(value="10", placeholder="min", compact=True, id="minutes")
            yield Label("min")
            yield Static(self._site_text(), id="site")
        with Horizontal():
            yield Button("Start", variant="success", compact=True, id="start")
            yield Button("Pause", compact=True, id="pause")
            yield Button("Resume", compact=True, id="resume")
            yield Button("Stop", variant="error", compact=True, id="stop")
            yield Static("idle", id="state")
        with Horizontal():
            yield Digits("--:--", id="countdown")
            yield Static("connected, no session", id="readings")
        with Horizontal(id="progress"):
            yield Label("step")
            yield ProgressBar(total=1, show_eta=False, id="step-progress")
            yield Label("plan")
            yield ProgressBar(total=1, show_eta=False, id="plan-progress")
        yield self.chart

    def _site_text(self) -> str:
        return f"on {self.site}" if self.site else "no site"

    def set_site(self, site: str | None) -> None:
        """The body site of the next sessions (a running one keeps its own)."""
        self.site = site
        if self.is_mounted:
            self.query_one("#site", Static).update(self._site_text())

    def on_mount(self) -> None:
        self._refresh_timer = self.set_interval(0.5, self._refresh)
        self._configure_chart(self._chosen_mode(), None)

    @on(Select.Changed, "#mode")
    def _mode_chosen(self) -> None:
        mode = self._chosen_mode()
        self.query_one("#target", Input).placeholder = self.default_target(mode)
        if self.runner is None:
            self._configure_chart(mode, None)

    @on(Select.Changed, "#plan")
    def _plan_chosen(self, event: Select.Changed) -> None:
        single = event.value == SINGLE
        for selector in ("#mode", "#target", "#minutes"):
            self.query_one(selector).disabled = not single

    # ------------------------------------------------------------------ commands

    def default_target(self, mode: Mode) -> str:
        """What an empty target means for ``mode`` on this device, in its unit."""
        if mode == Mode.LIGHT:
            feature = self.driver.feature
            levels = feature.levels_for(Mode.LIGHT) if feature is not None else ()
            top = levels[-1].power_mw if levels else feature.max_power_mw if feature else None
            return f"{top} mW" if top else "max mW"
        return DEFAULT_TARGET[mode]

    def _chosen_mode(self) -> Mode:
        return Mode[str(self.query_one("#mode", Select).value).upper()]

    def request(self) -> SessionRequest:
        """The single session the fields describe, checked against what this device can do
        (levels, setpoint range) and a sane length; a TherapyctlError names the valid range.
        The limits are the supervisor's: they clamp or refuse it when it starts."""
        request = self._parsed_request()
        feature = self.driver.feature
        if feature is not None and (
            problem := request_problem(request, feature) or setpoint_problem(request, feature)
        ):
            raise TherapyctlError(problem)
        return request

    def _parsed_request(self) -> SessionRequest:
        mode = self._chosen_mode()
        target = self.query_one("#target", Input).value.strip()
        minutes_text = self.query_one("#minutes", Input).value.strip() or "10"
        try:
            minutes = float(minutes_text)
        except ValueError:
            minutes = math.nan
        if not 0 < minutes <= MAX_MINUTES:  # NaN too
            raise TherapyctlError(
                f"the minutes must be a number more than 0 and at most {MAX_MINUTES},"
                f" not {minutes_text!r}"
            )
        level = 0
        value: float | None = None
        power_mw: int | None = None
        if target.upper().startswith("L") and target[1:].isdigit():
            level = int(target[1:])
            if level == 0:
                raise TherapyctlError(f"levels are numbered from 1 (L1, L2, ...), not {target!r}")
        elif target.lower().replace(" ", "").endswith("mw") and mode == Mode.LIGHT:
            digits = target.lower().replace(" ", "").removesuffix("mw")
            if not digits.isdigit():
                raise TherapyctlError(
                    f"optical power must be whole mW (e.g. 400 mW), not {target!r}"
                )
            power_mw = int(digits)
        elif target:
            try:
                value = float(target)
            except ValueError:
                raise TherapyctlError(
                    f"the target must be °C (e.g. 40), a level (e.g. L2) or, for light, mW"
                    f" (e.g. 400 mW), not {target!r}"
                ) from None
        if mode == Mode.LIGHT:
            # A bare number is mW, as the placeholder shows; empty: the planner's default
            # (the belt's highest output), exactly as ``run --mode light`` without a target.
            if power_mw is None and value is not None:
                if value != int(value):
                    raise TherapyctlError(f"optical power must be whole mW, not {target!r}")
                power_mw = int(value)
            if power_mw is not None:
                return SessionRequest(mode, minutes * 60, power_mw=power_mw)
            return SessionRequest(mode, minutes * 60, level=level)
        if level:
            return SessionRequest(mode, minutes * 60, level=level)
        default = DEFAULT_HEAT_C if mode == Mode.HEAT else DEFAULT_COLD_C
        return SessionRequest(mode, minutes * 60, setpoint_c=default if value is None else value)

    def chosen_plan(self) -> tuple[TherapyPlan, bool]:
        """The plan to run and whether it is a single session."""
        name = self.query_one("#plan", Select).value
        if name == SINGLE:
            request = self.request()
            return TherapyPlan(request.mode.name.lower(), (Step(request),)), True
        return BUILTIN_PLANS[str(name)], False

    @on(Button.Pressed, "#start")
    def start(self) -> None:
        if self.runner is not None:
            self.app.notify("a session is already running on this device", severity="warning")
            return
        try:
            plan, single = self.chosen_plan()
        except TherapyctlError as exc:  # a typo: told here, nothing journaled or sent
            self.app.notify(str(exc), title=f"{self.label}: cannot start", severity="warning")
            return
        self._launch(plan, single, None)

    def _launch(self, plan: TherapyPlan, single: bool, resuming: Resumption | None) -> None:
        self.resume_offer = None
        self.runner = PlanRunner(
            self.driver,
            plan,
            self.limits,
            listener=CompositeListener(_PanelListener(self), self.reporter),
            single_session=single,
            journal=self.journal,
            ledger=None if self.journal else self.ledger,
            resuming=resuming,
            site=self.site,
        )
        if resuming is None and Mode.HEAT in plan.modes:
            self._warn_heat(self.site)
        self.last_status = None
        self._shown_is_current = False  # the last chart stays until a step has started
        self._plan_t0_s = self.driver.clock.now()
        self._step_t0_s, self._step_s = 0.0, self.runner.plan.steps[0].minutes * 60
        self._done_s = self._step_run_s = 0.0
        self._resting = self._stop_told = False
        self.step_text = ""
        self.query_one("#state", Static).update("starting")
        self._changed()
        self._run(self.runner)

    @work(group="heat-warning", exit_on_error=False)
    async def _warn_heat(self, site: str | None) -> None:
        """Heat on a site in an episode's acute phase: said once per episode (guidance: cold
        for the first 48-72 h of a spasm, then heat); allowed all the same."""
        if self.journal is None:
            return
        words = await asyncio.to_thread(heat_warning, self.journal.path, site, True)
        if words is not None:
            self.app.notify(words, title=f"{self.label}: heat while acute", timeout=20)

    @work(group="session", exit_on_error=False)
    async def _run(self, runner: PlanRunner) -> None:
        try:
            summary = await runner.run()
        except TherapyctlError as exc:
            self.app.notify(str(exc), title="cannot start", severity="error", timeout=10)
            self.runner = None
            self._shown_is_current = True  # nothing started: the last chart stays
            self.query_one("#state", Static).update("idle")
            self._changed()
            return
        finally:
            self._plan_t0_s = None
            self._resting = False
        self.summaries.append(summary)
        if self.reporter is not None:
            self.reporter.finished(summary.as_json())
        self.runner = None
        self.session = None
        self._changed()
        self._tell_end(summary)
        self._status_dirty = False
        ended = summary.end_reason.value.replace("_", " ")
        if not self._shown_is_current:
            # Refused before any step started: the last session's chart and readings stay.
            self._shown_is_current = True
            self.query_one("#state", Static).update(f"not started: {ended}")
        else:
            self.query_one("#countdown", Digits).update("--:--")
            self.query_one("#state", Static).update(ended)
            modes = {m.name.lower() for m in runner.plan.modes}
            extremes = temperature_extremes(
                modes, summary.max_temperature_c, summary.min_temperature_c
            )
            self.query_one("#readings", Static).update(
                f"output off — {ended} after {summary.actual_minutes:.1f} min"
                + (f"\n{extremes}" if extremes else "")
                + "".join(f"\nALARM: {alarm}" for alarm in summary.alarms)
            )
        offer = runner.resumption(summary)
        self.post_message(
            SessionEnded(
                self, summary, session_id=runner.session_id, site=runner.site, resumable=bool(offer)
            )
        )
        if offer is not None:
            await self._offer_resume(runner, summary, offer)

    def _tell_end(self, summary: RunSummary) -> None:
        """The session's one notification, unless its stop was told already."""
        if self._stop_told:
            return
        reason = summary.end_reason
        if not any(result.started_s is not None for result in summary.sessions):
            text = summary.end_detail or reason.value.replace("_", " ")
            if reason.is_safety_stop and (advice := ADVICE.get(reason)):
                text += ". " + advice
            self.app.notify(text, title=f"{self.label}: not started", severity="warning")
            return
        if reason.is_safety_stop:
            self._tell_stop(reason, summary.end_detail, f" ({summary.actual_minutes:.1f} min)")
            return
        text = f"session ended: {reason.value.replace('_', ' ')}"
        if summary.end_detail:
            text += f" — {summary.end_detail}"
        text += f" ({summary.actual_minutes:.1f} min). The output is off."
        self.app.notify(text, title=self.label, timeout=10)

    def _tell_stop(self, reason: EndReason, detail: str, ran: str = "") -> None:
        """A safety stop, once: what happened, that the output is off, what to do now."""
        self._stop_told = True
        what = reason.value.replace("_", " ")
        text = f"{(detail or what).rstrip('.')}{ran}. The output is off."
        if advice := ADVICE.get(reason):
            text += " " + advice
        # A lost link is followed by the question whether to resume: do not cover it long.
        timeout = 8 if reason == EndReason.LINK_LOST else 15
        self.app.notify(text, title=f"{self.label}: {what}", severity="error", timeout=timeout)

    async def _offer_resume(
        self, runner: PlanRunner, summary: RunSummary, offer: Resumption
    ) -> None:
        """Lost link: once reconnected, ask; resuming is never automatic."""
        if not self.driver.connected:
            self.query_one("#readings", Static).update("link lost: reconnecting...")
            if not await self.driver.reconnect(60.0):
                self.app.notify(
                    "could not reconnect; the device's own lease has turned its output off",
                    title=self.label,
                    severity="error",
                    timeout=15,
                )
                return
        self.resume_offer = offer
        lines = [
            "It turned its output off (confirmed after reconnecting).",
            f"{summary.actual_minutes:.1f} min had run; {offer.minutes:.1f} min of"
            f" {runner.plan.name} are left.",
            "Resume them now?",
        ]

        def answered(resume: bool | None) -> None:
            if resume and self.resume_offer is offer and self.runner is None:
                self._launch(offer.plan, runner.single_session, offer)
            elif not resume:
                self.app.notify("not resumed; the device stays off", title=self.label)

        self.app.push_screen(ResumePrompt(self.label, lines), answered)

    @on(Button.Pressed, "#pause")
    def pause(self) -> None:
        if self.runner is not None:
            self.runner.pause()

    @on(Button.Pressed, "#resume")
    def resume(self) -> None:
        if self.runner is not None:
            self.runner.resume()

    @on(Button.Pressed, "#stop")
    def stop(self) -> None:
        if self.runner is not None:
            self.runner.request_stop()

    # ------------------------------------------------------------------ listener hooks

    def session_state(self, runner: SessionRunner, state: RunnerState) -> None:
        self.session = runner
        if state == RunnerState.RUNNING:
            self._show_new_session()
        self.query_one("#state", Static).update(state.value)
        minute = self._elapsed_min()
        if state == RunnerState.PAUSED:
            if not self._pauses or self._pauses[-1][1] is not None:
                self._pauses.append((minute, None))
                self.chart.set_pauses(self._pauses)
        else:
            self._close_pause(minute)
        self._changed()
        if (
            state == RunnerState.RUNNING
            and self.prompt is not None
            and runner.prompt_deadline_s is None
        ):
            self._close_prompt()

    def session_status(self, runner: SessionRunner, status: Status) -> None:
        """Every Status (up to 10 a second): kept; drawn by :meth:`_refresh`, if on screen."""
        tally = runner.supervisor.tally if runner.supervisor else None
        self._show_new_session()
        if runner.state in (RunnerState.RUNNING, RunnerState.PAUSED):
            self._step_run_s = status.elapsed_s  # stands still while paused
        self._record_status(status, tally, self._elapsed_min())
        if status.output_on != self._told_state[1]:
            self._changed()

    def _elapsed_min(self) -> float:
        t0 = self._plan_t0_s
        return 0.0 if t0 is None else (self.driver.clock.now() - t0) / 60

    def _record_status(self, status: Status, tally: Tally | None, minute: float) -> None:
        self.last_status = status
        self._tally = tally
        self._status_dirty = True
        power = status.power_mw if status.output_on else 0
        self.chart.add_point(
            minute, status.temperature_c, power if status.mode == Mode.LIGHT else None
        )
        if status.temperature_c is not None:
            self.temperatures.append(status.temperature_c)

    def show_status(self, status: Status, tally: Tally | None, minute: float) -> None:
        """Show one Status now: readings, countdown, step progress and a chart point."""
        self._record_status(status, tally, minute)
        self._show_readings()

    def _show_readings(self) -> None:
        status, tally = self.last_status, self._tally
        self._status_dirty = False
        if status is None:
            return
        self.query_one("#countdown", Digits).update(_mmss(status.remaining_s))
        total = max(1, status.elapsed_s + status.remaining_s)
        self.query_one("#step-progress", ProgressBar).update(total=total, progress=status.elapsed_s)
        dose = ""
        if tally is not None:
            dose = (
                f"energy {tally.energy_j:.0f} J"
                if status.mode == Mode.LIGHT
                else f"CEM43 {tally.cem43_min:.2f} min"
            )
        temp = "--" if status.temperature_c is None else f"{status.temperature_c:.1f} °C"
        target = (
            f"{status.power_mw} mW"
            if status.mode == Mode.LIGHT
            else f"set {status.setpoint_c:g} °C"
            if status.setpoint_c is not None
            else ""
        )
        self.query_one("#readings", Static).update(
            f"{temp}  {target}  output {'ON' if status.output_on else 'off'}\n"
            f"battery {status.battery_pct} %  skin contact {'yes' if status.skin_contact else 'no'}"
            f"  {dose}\n{self.step_text}"
        )

    def session_event(self, runner: SessionRunner | None, event: SessionEvent) -> None:
        kind = event.kind
        if kind == "step":
            self._step_started(event)
        elif kind == "safety_stop":
            self._stop_told = False  # told once the output is confirmed off (or at the end)
        elif kind == "link_lost":
            self.query_one("#state", Static).update("link lost")
            self.query_one("#readings", Static).update(
                "link lost: reconnecting to confirm the output is off..."
            )
        elif kind == "output_off" and runner is not None and not self._stop_told:
            supervisor = runner.supervisor
            reason = supervisor.end_reason if supervisor is not None else None
            if reason is not None and reason.is_safety_stop:
                assert supervisor is not None
                self._tell_stop(reason, supervisor.end_detail)
        elif kind == "refused" and (
            runner is None or runner.state in (RunnerState.IDLE, RunnerState.STARTING)
        ):
            pass  # a start refused: the end says why, once
        elif kind in ALERT_KINDS:
            severity: Severity = "error" if kind == "alarm" else "warning"
            self.app.notify(
                event.detail,
                title=f"{self.label}: {kind.replace('_', ' ')}",
                severity=severity,
                timeout=15,
            )
        if kind == "ended":
            self._close_prompt()

    def _step_started(self, event: SessionEvent) -> None:
        runner = self.runner
        if runner is None:
            return
        self.step_text = event.detail
        index = runner.step_index
        step = runner.plan.steps[index]
        self._step_t0_s, self._step_s = event.t_s, step.minutes * 60
        self._done_s = sum(s.minutes * 60 for s in runner.plan.steps[:index])
        self._step_run_s = 0.0
        self._resting = step.request is None
        if step.request is not None:
            if self._shown_is_current:  # else: configured when the step has started
                self._configure_chart(step.request.mode, runner.plan)
        else:
            self._show_new_session()
            self.query_one("#state", Static).update(f"rest, {_mmss(step.minutes * 60)} left")
            self.query_one("#readings", Static).update(f"resting, output off\n\n{event.detail}")
        self._changed()

    def _show_new_session(self) -> None:
        """The plan's first step has started (a session runs, or a rest): its chart and
        readings replace the last session's, once."""
        runner = self.runner
        if self._shown_is_current or runner is None:
            return
        self._shown_is_current = True
        self.temperatures.clear()
        self.chart.clear_points()
        self._pauses.clear()
        step = runner.plan.steps[runner.step_index]
        self._configure_chart(step.request.mode if step.request else None, runner.plan)

    def session_prompt(self, runner: SessionRunner, deadline_s: float) -> None:
        # The deadline is in device seconds; a person answers in wall seconds: converted
        # now, then counted down on the wall clock.
        wall_left_s = runner.clock.wall_s(deadline_s - runner.now())
        self.prompt = AttendedPrompt(self.label, wall_left_s)

        def answered(ok: bool | None) -> None:
            self.prompt = None
            if ok and self.runner is not None:
                self.runner.acknowledge()

        self.app.push_screen(self.prompt, answered)

    def _close_prompt(self) -> None:
        if self.prompt is not None and self.prompt.is_attached:
            prompt, self.prompt = self.prompt, None
            prompt.dismiss(False)

    # ------------------------------------------------------------------ periodic

    def _close_pause(self, minute: float) -> None:
        if self._pauses and self._pauses[-1][1] is None:
            self._pauses[-1] = (self._pauses[-1][0], minute)
            self.chart.set_pauses(self._pauses)

    # ------------------------------------------------------------------ for the app

    @property
    def output_on(self) -> bool:
        """A session runs and the device's last Status says its output is on."""
        status = self.last_status
        return self.runner is not None and status is not None and status.output_on

    @property
    def activity(self) -> str | None:
        """What the session is doing, in a word or two (None: no session)."""
        runner = self.runner
        if runner is None:
            return None
        if self._resting:
            return "resting"
        step = runner.plan.steps[runner.step_index]
        mode = step.request.mode.name.lower() if step.request is not None else ""
        session = runner.current
        state = session.state if session is not None else RunnerState.STARTING
        words = {
            RunnerState.RUNNING: f"running {mode}",
            RunnerState.PAUSED: f"paused {mode}",
            RunnerState.STOPPING: "stopping",
            RunnerState.ENDED: "stopping",
        }
        return words.get(state, f"starting {mode}").strip()

    def _changed(self) -> None:
        """Tell the app when what the device list shows of this session changes."""
        state = (self.activity, self.output_on)
        if state != self._told_state:
            self._told_state = state
            self.post_message(SessionChanged(self))

    def _configure_chart(self, mode: Mode | None, plan: TherapyPlan | None) -> None:
        chart = self.chart
        span = plan.minutes if plan is not None else None
        modes = {m.name.lower() for m in (plan.modes if plan is not None else {mode}) if m}
        feature = self.driver.feature
        belt_max_mw = feature.max_power_mw if feature is not None else None
        lines = limit_lines(modes, self.limits.as_dict(), belt_max_mw)
        chart.configure(lines, span, show_power=Mode.LIGHT in self.modes)

    @property
    def on_screen(self) -> bool:
        """This device's tab is the one shown (the others are not drawn at all)."""
        return self.parent is not None and self.parent.display

    def _refresh(self) -> None:
        """Twice a second, if on screen: readings, chart and the plan's progress."""
        if not self.on_screen:
            return
        if self._status_dirty:
            self._show_readings()
        self.chart.flush()
        runner, t0 = self.runner, self._plan_t0_s
        if runner is None or t0 is None:
            return
        elapsed_s = self.driver.clock.now() - t0
        step = runner.plan.steps[runner.step_index]
        if step.request is None:  # a rest: no Status tells the time (and it cannot pause)
            self._step_run_s = elapsed_s - self._step_t0_s
            left_s = self._step_s - self._step_run_s
            self.query_one("#countdown", Digits).update(_mmss(left_s))
            self.query_one("#state", Static).update(f"rest, {_mmss(left_s)} left")
            self.query_one("#step-progress", ProgressBar).update(
                total=max(1.0, self._step_s), progress=min(self._step_s, self._step_run_s)
            )
            self.chart.add_point(elapsed_s / 60, None)
        # The plan's progress is what has run: it stands still while paused.
        plan_s = runner.plan.minutes * 60
        done_s = self._done_s + min(self._step_s, self._step_run_s)
        self.query_one("#plan-progress", ProgressBar).update(
            total=max(1.0, plan_s), progress=min(plan_s, done_s)
        )


class SessionChanged(Message):
    """Posted when a panel's session starts, changes state or turns its output on or off
    (the device list, the output bar and the footer say which devices have output on)."""

    def __init__(self, panel: SessionPanel) -> None:
        super().__init__()
        self.panel = panel


class SessionEnded(Message):
    """Posted when a panel's session ends (the history and Today tabs refresh; the pain
    question follows one that turned output on)."""

    def __init__(
        self,
        panel: SessionPanel,
        summary: RunSummary,
        *,
        session_id: str | None = None,
        site: str | None = None,
        resumable: bool = False,
    ) -> None:
        super().__init__()
        self.panel = panel
        self.summary = summary
        self.session_id = session_id  # the journal's id of the session
        self.site = site  # the body site it was on
        self.resumable = resumable  # a lost link: resuming is offered next

    @property
    def started(self) -> bool:
        """Some output was turned on (not a refusal)."""
        return any(result.started_s is not None for result in self.summary.sessions)


class _PanelListener(SessionListener):
    """The runner's hooks, forwarded to a panel (Textual owns the on_* names there).

    Once the panel has left the screen (the app is closing) there is nothing to show.
    """

    def __init__(self, panel: SessionPanel) -> None:
        self.panel = panel

    def on_state(self, runner: SessionRunner, state: RunnerState) -> None:
        if self.panel.is_attached:
            self.panel.session_state(runner, state)

    def on_status(self, runner: SessionRunner, status: Status) -> None:
        if self.panel.is_attached:
            self.panel.session_status(runner, status)

    def on_event(self, runner: SessionRunner | None, event: SessionEvent) -> None:
        if self.panel.is_attached:
            self.panel.session_event(runner, event)

    def on_prompt(self, runner: SessionRunner, deadline_s: float) -> None:
        if self.panel.is_attached:
            self.panel.session_prompt(runner, deadline_s)
