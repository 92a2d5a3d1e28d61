"""The session runner: one session on one device, every command through the supervisor.

States: idle -> starting -> running <-> paused -> stopping -> ended. Every failure path ends
with the output off (or, when the device cannot be reached, with its own lease turning it
off) and a recorded reason. Several runners can run at once in one process, one per device.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from device.link import DeviceDriver, DeviceError, DeviceIdentity, LinkLostError
from device.safety import (
    NO_USAGE,
    Action,
    AskAttended,
    EndReason,
    Limits,
    Note,
    Phase,
    SessionRequest,
    StopOutput,
    Supervisor,
    Tally,
    Usage,
    Verdict,
)
from protocols import Mode, ProtocolError, ResultCode, Resume, Status, StopCause, TherapyctlError

logger = logging.getLogger(__name__)

STOP_ATTEMPTS = 3
MIN_ANSWER_WALL_S = 30.0  # a person gets at least this long to answer, whatever the scale
RENEW_FAILURES_BEFORE_FAULT = 2


class RunnerState(enum.StrEnum):
    IDLE = "idle"
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    ENDED = "ended"


class _Command(enum.Enum):
    STOP = "stop"
    PAUSE = "pause"
    RESUME = "resume"
    ACKNOWLEDGE = "acknowledge"
    DEVICE_REJECTS = "device_rejects"


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """Something that happened, at simulated seconds since the session (or plan) began."""

    t_s: float
    kind: str
    detail: str

    def as_json(self) -> dict[str, object]:
        return {"t_s": round(self.t_s, 1), "kind": self.kind, "detail": self.detail}


@dataclass(slots=True)
class SessionResult:
    """What one session did: the basis of ``run --json``, the journal and the UI."""

    session_id: str
    device: DeviceIdentity | None
    mode: Mode
    requested_minutes: float
    planned_minutes: float
    end_reason: EndReason
    end_detail: str
    tally: Tally
    limits_applied: list[str] = field(default_factory=list)
    events: list[SessionEvent] = field(default_factory=list)
    started_s: float | None = None
    ended_s: float | None = None
    refused_by_device: bool = False  # the device answered START with an error: nothing ran
    alarms: list[str] = field(default_factory=list)

    @property
    def actual_minutes(self) -> float:
        return self.tally.running_s / 60


# Records a start (its mode and lease, device seconds) durably before START is sent (the
# journal); raises TherapyctlError if it cannot, and the start is refused.
StartGuard = Callable[[Mode, float], Awaitable[None]]


class SessionListener:
    """Hooks for a UI or progress line; every method is optional to override."""

    def on_state(self, runner: SessionRunner, state: RunnerState) -> None:
        """The runner changed state."""

    def on_status(self, runner: SessionRunner, status: Status) -> None:
        """A Status notification was processed."""

    def on_event(self, runner: SessionRunner | None, event: SessionEvent) -> None:
        """An event was recorded (``runner`` is None for plan-level events: steps)."""

    def on_prompt(self, runner: SessionRunner, deadline_s: float) -> None:
        """The attended-use check needs an answer before ``deadline_s``."""


class SessionRunner:
    """Runs one session on one connected device under a :class:`Supervisor`."""

    def __init__(
        self,
        driver: DeviceDriver,
        limits: Limits,
        *,
        usage: Usage = NO_USAGE,
        attended_auto: bool = False,
        listener: SessionListener | None = None,
        session_id: str | None = None,
        t0_s: float | None = None,
        before_start: StartGuard | None = None,
    ) -> None:
        self.driver = driver
        self.before_start = before_start
        self.clock = driver.clock
        self.limits = limits
        self.usage = usage
        self.attended_auto = attended_auto
        # A listener (UI, journal, MQTT) that raises must never stop the supervision.
        self.listener = GuardedListener(listener) if listener is not None else SessionListener()
        self.session_id = session_id or uuid.uuid4().hex[:12]
        self.t0_s = self.clock.now() if t0_s is None else t0_s
        self.state = RunnerState.IDLE
        self.events: list[SessionEvent] = []
        self.supervisor: Supervisor | None = None
        self.last_status: Status | None = None
        self.prompt_deadline_s: float | None = None
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._renew_failures = 0
        self._min_seq: int | None = None
        self.alarms: list[str] = []

    # ------------------------------------------------------------------ controls

    def request_stop(self) -> None:
        """Stop the session (any source: key, signal, remote). Always honoured."""
        self._inbox.put_nowait(_Command.STOP)

    def pause(self) -> None:
        self._inbox.put_nowait(_Command.PAUSE)

    def resume(self) -> None:
        self._inbox.put_nowait(_Command.RESUME)

    def acknowledge(self) -> None:
        """Answer the attended-use check."""
        self._inbox.put_nowait(_Command.ACKNOWLEDGE)

    # ------------------------------------------------------------------ bookkeeping

    def now(self) -> float:
        return self.clock.now()

    def _event(self, kind: str, detail: str) -> SessionEvent:
        event = SessionEvent(self.now() - self.t0_s, kind, detail)
        self.events.append(event)
        logger.info("%s %s: %s", self.session_id, kind, detail)
        self.listener.on_event(self, event)
        return event

    def _set_state(self, state: RunnerState) -> None:
        if state != self.state:
            self.state = state
            self.listener.on_state(self, state)

    # ------------------------------------------------------------------ run

    async def run(self, request: SessionRequest) -> SessionResult:
        """Plan, start, supervise and end one session; always returns a result."""
        driver = self.driver
        assert driver.feature is not None, "connect the driver first"
        answer_window_s = max(self.limits.attended_ack_s, MIN_ANSWER_WALL_S * self.clock.time_scale)
        supervisor = Supervisor(
            self.limits,
            driver.feature,
            self.usage,
            status_period_s=driver.status_period_s(),
            answer_window_s=answer_window_s,
        )
        self.supervisor = supervisor
        started_s: float | None = None
        try:
            battery = await driver.read_battery()
            plan = supervisor.plan(request, battery)
            for clamp in plan.clamps:
                self._event("clamp", clamp.message)
            if plan.start is None:
                self._event("refused", plan.message)
                return self._result(request, supervisor, None)
            self._set_state(RunnerState.STARTING)
            lease_s = driver.lease_for(self.limits.lease_s)
            if lease_s > self.limits.lease_s:
                self._event(
                    "lease",
                    f"lease {lease_s:g} s of device time ({self.clock.wall_s(lease_s) * 1000:.0f}"
                    f" ms of wall time at {self.clock.time_scale:g}x)",
                )
            if self.before_start is not None:
                try:
                    await self.before_start(request.mode, lease_s)
                except TherapyctlError as exc:
                    supervisor.stopping(
                        EndReason.JOURNAL_UNAVAILABLE,
                        f"the start cannot be recorded, so it is refused: {exc}",
                    )
                    supervisor.ended()
                    self._event("refused", supervisor.end_detail)
                    return self._result(request, supervisor, None)
            await driver.set_lease(lease_s)
            async with driver.link.statuses(self._inbox):
                result = await driver.start(plan.start)
                if result != ResultCode.SUCCESS:
                    supervisor.stopping(
                        EndReason.DEVICE_FAULT, f"the device refused to start: {result.name}"
                    )
                    supervisor.ended()
                    self._event("refused", supervisor.end_detail)
                    refused = self._result(request, supervisor, None)
                    refused.refused_by_device = True
                    return refused
                started_s = self.now()
                self._set_state(RunnerState.RUNNING)
                await self._act(supervisor.started(started_s))
                # Notifications already in flight describe the device before START: read
                # the Status once (ordered after START) and ignore anything older.
                await self._fresh_status(supervisor)
                renewing = asyncio.Event()
                renewing.set()
                renewer = asyncio.create_task(self._renew_lease(lease_s, renewing), name="lease")
                try:
                    await self._supervise(supervisor)
                finally:
                    renewing.clear()
                    await stop_task(renewer)
        except asyncio.CancelledError:
            # Interrupted (Ctrl-C, SIGTERM, a cancelled UI worker): output off first.
            if supervisor.active or self.state == RunnerState.STARTING:
                await asyncio.shield(self._stop(EndReason.USER_STOPPED, "interrupted"))
            raise
        except LinkLostError as exc:
            await self._fail(supervisor, EndReason.LINK_LOST, str(exc))
        except DeviceError as exc:
            await self._fail(supervisor, EndReason.DEVICE_FAULT, str(exc))
        except ProtocolError as exc:
            await self._fail(
                supervisor, EndReason.DEVICE_FAULT, f"the device sent a malformed message: {exc}"
            )
        except Exception as exc:
            # A fault of ours: the output goes off before anything else, then it is told.
            logger.exception("%s: unexpected error in the session runner", self.session_id)
            await self._fail(
                supervisor,
                EndReason.CONTROLLER_FAULT,
                f"an unexpected error in the controller ({type(exc).__name__}: {exc});"
                " the output was turned off",
            )
        return self._result(request, supervisor, started_s)

    def _result(
        self, request: SessionRequest, supervisor: Supervisor, started_s: float | None
    ) -> SessionResult:
        supervisor.ended()
        self._set_state(RunnerState.ENDED)
        plan = supervisor.plan_
        reason = supervisor.end_reason or EndReason.COMPLETED
        self._event("ended", f"{reason.value}: {supervisor.end_detail}".rstrip(": "))
        return SessionResult(
            session_id=self.session_id,
            device=self.driver.identity,
            mode=request.mode,
            requested_minutes=request.duration_s / 60,
            planned_minutes=(plan.start.duration_s / 60) if plan and plan.start else 0.0,
            end_reason=reason,
            end_detail=supervisor.end_detail,
            tally=supervisor.tally,
            limits_applied=[c.message for c in plan.clamps] if plan else [],
            events=list(self.events),
            started_s=started_s,
            ended_s=self.now(),
            alarms=list(self.alarms),
        )

    async def _supervise(self, supervisor: Supervisor) -> None:
        while supervisor.active:
            deadline = supervisor.next_deadline()
            if deadline is not None and self.now() >= deadline:
                await self._act(supervisor.on_timer(self.now()))
                continue
            timeout = None if deadline is None else self.clock.wall_s(deadline - self.now())
            try:
                async with asyncio.timeout(timeout):
                    item = await self._inbox.get()
            except TimeoutError:
                await self._act(supervisor.on_timer(self.now()))
                continue
            now = self.now()
            if isinstance(item, Status):
                if self._is_stale(item):
                    continue
                self.last_status = item
                actions = supervisor.on_status(item, now)
                self.listener.on_status(self, item)
                self._sync_state(supervisor)
                await self._act(actions)
            elif item is None:
                await self._act(supervisor.on_link_lost(now))
            elif isinstance(item, _Command):
                await self._command(item, supervisor)

    async def _fresh_status(self, supervisor: Supervisor) -> None:
        status = await self.driver.read_status()
        self._min_seq = status.seq
        self.last_status = status
        actions = supervisor.on_status(status, self.now())
        self.listener.on_status(self, status)
        await self._act(actions)

    def _is_stale(self, status: Status) -> bool:
        """Older than the last Status read (sequence numbers wrap at 2^16)."""
        if self._min_seq is None:
            return False
        behind = (self._min_seq - status.seq) % 0x10000
        return 0 < behind < 0x8000

    def _sync_state(self, supervisor: Supervisor) -> None:
        if supervisor.phase == Phase.PAUSED:
            self._set_state(RunnerState.PAUSED)
        elif supervisor.phase == Phase.RUNNING:
            self._set_state(RunnerState.RUNNING)

    async def _command(self, command: _Command, supervisor: Supervisor) -> None:
        match command:
            case _Command.STOP:
                await self._act([StopOutput(EndReason.USER_STOPPED, "stopped by the user")])
            case _Command.ACKNOWLEDGE:
                self.prompt_deadline_s = None
                await self._act(supervisor.acknowledge(self.now()))
            case _Command.DEVICE_REJECTS:
                await self._act([StopOutput(EndReason.DEVICE_FAULT, "the device rejects commands")])
            case _Command.PAUSE:
                if supervisor.phase != Phase.RUNNING:
                    self._event("refused", "pause: the session is not running")
                    return
                result = await self.driver.pause()
                if result == ResultCode.SUCCESS:
                    supervisor.phase = Phase.PAUSED
                    self._set_state(RunnerState.PAUSED)
                    self._event("paused", "paused by the user: output off")
                    await self._fresh_status(supervisor)
                else:
                    self._event("refused", f"pause: the device answered {result.name}")
            case _Command.RESUME:
                battery = self.last_status.battery_pct if self.last_status else None
                decision = supervisor.allow_resume(battery)
                if decision is None:
                    self._event("refused", "resume: the session is not paused")
                elif isinstance(decision, StopOutput):
                    await self._act([decision])
                elif isinstance(decision, Resume):
                    result = await self.driver.resume()
                    if result == ResultCode.SUCCESS:
                        supervisor.phase = Phase.RUNNING
                        self._set_state(RunnerState.RUNNING)
                        self._event("resumed", "resumed by the user")
                        await self._fresh_status(supervisor)
                    else:
                        self._event("refused", f"resume: the device answered {result.name}")

    async def _act(self, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case Note(kind=kind, detail=detail):
                    self._event(kind, detail)
                case AskAttended(deadline_s=deadline_s):
                    self.prompt_deadline_s = deadline_s
                    wall_s = self.clock.wall_s(deadline_s - self.now())
                    self._event(
                        "attended_check",
                        f"are you awake? answer within {wall_s:.0f} s"
                        + (
                            f" ({deadline_s - self.now():.0f} s of device time at"
                            f" {self.clock.time_scale:g}x)"
                            if self.clock.time_scale != 1
                            else ""
                        ),
                    )
                    if self.attended_auto:
                        assert self.supervisor is not None
                        self.prompt_deadline_s = None
                        self._event("attended_ack", "answered automatically (--attended-ack auto)")
                        self.supervisor.acknowledge(self.now())
                    else:
                        self.listener.on_prompt(self, deadline_s)
                case StopOutput(reason=reason, detail=detail):
                    await self._stop(reason, detail)
                    return

    async def _fail(self, supervisor: Supervisor, reason: EndReason, detail: str) -> None:
        """An error ended the session: output off (if it may be on), the reason recorded."""
        if supervisor.active or self.state == RunnerState.STARTING:
            try:
                await self._stop(reason, detail)
            except Exception:
                logger.exception("%s: the stop itself failed", self.session_id)
                await self._last_resort_stop(supervisor, reason, detail)
        elif supervisor.end_reason is None:
            supervisor.stopping(reason, detail)

    async def _last_resort_stop(
        self, supervisor: Supervisor, reason: EndReason, detail: str
    ) -> None:
        """The orderly stop failed: one plain STOP, then drop the link so the device's lease
        turns the output off whatever happens."""
        supervisor.stopping(reason, detail)
        with contextlib.suppress(Exception):
            await self.driver.stop()
        with contextlib.suppress(Exception):
            await self.driver.close()
        self._event(
            "alarm",
            f"the stop could not be confirmed; the link was dropped so the device's lease turns"
            f" its output off within {self.driver.lease_s:g} s",
        )

    # ------------------------------------------------------------------ stopping

    async def _stop(self, reason: EndReason, detail: str) -> None:
        supervisor = self.supervisor
        assert supervisor is not None
        first = supervisor.end_reason is None
        supervisor.stopping(reason, detail)
        self._set_state(RunnerState.STOPPING)
        if first:
            kind = "safety_stop" if reason.is_safety_stop else "stop"
            self._event(kind, f"{reason.value}: {detail}")
        link = self.driver.link if self.driver.connected else None
        if link is None or reason == EndReason.LINK_LOST:
            await self._recover_link(supervisor)
        elif not await self._send_stop():
            await self._abandon(supervisor)
        if self.driver.connected:
            await self._watch_after_stop(supervisor)
        supervisor.ended()

    async def _watch_after_stop(self, supervisor: Supervisor) -> None:
        """Keep reading the temperature after the stop until it is back inside the band and
        settling, or a bounded time passed; still going the wrong way with the output off is
        an alarm (a heater or cooler stuck on), recorded with the true peak."""
        last = self.last_status
        watch = supervisor.after_stop(self.now(), last.temperature_c if last else None)
        wait_s = supervisor.stale_after_s
        async with self.driver.link.statuses() as queue:
            while True:
                try:
                    async with asyncio.timeout(self.clock.wall_s(wait_s)):
                        item = await queue.get()
                except TimeoutError:
                    return  # the device went quiet: nothing more to learn here
                if item is None:
                    return  # the link dropped
                status: Status = item
                self.last_status = status
                verdict = watch.on_status(status, self.now())
                trusted = supervisor.trusted(status.temperature_c)
                if trusted is not None:
                    supervisor.tally.note_temperature(trusted)  # the true peak
                self.listener.on_status(self, status)
                match verdict:
                    case Verdict.OUTPUT_ON:
                        self._event("alarm", "the device turned its output on after the stop")
                        if not await self._send_stop():
                            await self._abandon(supervisor)
                            return
                    case Verdict.ALARM:
                        self.alarms.append(watch.message)
                        self._event("alarm", watch.message)
                    case Verdict.SETTLED | Verdict.TIMED_OUT:
                        if watch.alarmed and watch.peak_c is not None:
                            self._event(
                                "alarm_peak",
                                f"the temperature peaked at {watch.peak_c:.1f} °C after the stop",
                            )
                        return
                    case Verdict.WATCHING:
                        pass

    async def _send_stop(self) -> bool:
        """STOP until acknowledged and Status shows the output off (retried)."""
        for attempt in range(1, STOP_ATTEMPTS + 1):
            try:
                result = await self.driver.stop()
                if result == ResultCode.SUCCESS:
                    status = await self.driver.read_status()
                    if not status.output_on:
                        self._event("output_off", "the device confirmed its output is off")
                        return True
                    self._event("stop_retry", f"attempt {attempt}: the output is still on")
                else:
                    self._event(
                        "stop_retry", f"attempt {attempt}: the device answered {result.name}"
                    )
            except TherapyctlError as exc:
                self._event("stop_retry", f"attempt {attempt}: {exc}")
                if not self.driver.connected:
                    return False
        return False

    async def _abandon(self, supervisor: Supervisor) -> None:
        """The stop was not acknowledged: disconnect so the lease expires, raise the alarm."""
        lease_s = self.driver.lease_s
        self._event(
            "alarm",
            f"the device did not confirm the stop after {STOP_ATTEMPTS} attempts: disconnecting"
            f" so its lease turns the output off within {lease_s:g} s",
        )
        await self.driver.close()
        await self.clock.sleep(lease_s + 2 * self.driver.status_period_s())
        await self._confirm_after_reconnect(supervisor, give_up_after_s=lease_s + 30)

    async def _recover_link(self, supervisor: Supervisor) -> None:
        """The link is gone: reconnect to confirm the output is off; never turn it back on."""
        self._event(
            "link_lost",
            f"the link to the device is lost; its lease turns the output off within"
            f" {self.driver.lease_s:g} s; reconnecting to confirm",
        )
        await self.driver.close()
        await self._confirm_after_reconnect(
            supervisor, give_up_after_s=2 * self.driver.lease_s + 30
        )

    async def _confirm_after_reconnect(
        self, supervisor: Supervisor, give_up_after_s: float
    ) -> None:
        if not await self.driver.reconnect(give_up_after_s):
            self._event(
                "alarm",
                f"could not reconnect within {give_up_after_s:g} s; the device's own lease"
                " has turned its output off",
            )
            # Unconfirmed: count the longest the output can have stayed on (one lease).
            supervisor.tally.running_s += self.driver.lease_s
            return
        try:
            status = await self.driver.read_status()
        except TherapyctlError as exc:
            self._event("alarm", f"reconnected but could not read the device: {exc}")
            return
        self._event("reconnected", f"device state {status.state.name.lower()}")
        # The output stayed on after the last Status until the device stopped it: its own
        # count of on-time (elapsed) is the truth for the caps and daily limits.
        if status.mode == supervisor.mode and status.elapsed_s > supervisor.tally.running_s:
            supervisor.tally.running_s = float(status.elapsed_s)
        if status.stop_cause == StopCause.POWER_ON and supervisor.end_reason == EndReason.LINK_LOST:
            supervisor.end_reason = EndReason.DEVICE_FAULT
            supervisor.end_detail = "the device restarted during the session"
            self._event("device_fault", supervisor.end_detail)
        if status.output_on:
            if not await self._send_stop():
                self._event("alarm", "the output is on and the device does not confirm a stop")
        else:
            cause = status.stop_cause.name.lower().replace("_", " ")
            self._event("output_off", f"the device's output is off (its stop cause: {cause})")

    # ------------------------------------------------------------------ lease

    async def _renew_lease(self, lease_s: float, renewing: asyncio.Event) -> None:
        """Renew the lease at a quarter of its time while ``renewing`` is set."""
        every_s = lease_s / 4
        while renewing.is_set():
            await self.clock.sleep(every_s)
            if not renewing.is_set():
                return
            try:
                result = await self.driver.renew_lease()
            except LinkLostError:
                return
            except TherapyctlError as exc:
                logger.warning("lease renewal failed: %s", exc)
                result = ResultCode.OPERATION_FAILED
            if result == ResultCode.SUCCESS:
                self._renew_failures = 0
                continue
            self._renew_failures += 1
            if self._renew_failures >= RENEW_FAILURES_BEFORE_FAULT:
                self._inbox.put_nowait(_Command.DEVICE_REJECTS)
                return


async def stop_task(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait until it has ended. Python 3.11's ``wait_for`` (used by the
    BLE stack) can swallow a cancellation that arrives as its operation completes, so one
    cancel is not always enough; and waiting on the task itself with CancelledError
    suppressed would swallow our own cancellation too."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    if not task.cancelled() and task.exception() is not None:
        logger.warning("%s ended with %r", task.get_name(), task.exception())


class GuardedListener(SessionListener):
    """A listener whose exceptions are logged, not raised into the runner."""

    def __init__(self, listener: SessionListener) -> None:
        self.listener = listener

    def on_state(self, runner: SessionRunner, state: RunnerState) -> None:
        try:
            self.listener.on_state(runner, state)
        except Exception:
            logger.exception("a session listener failed on a state change")

    def on_status(self, runner: SessionRunner, status: Status) -> None:
        try:
            self.listener.on_status(runner, status)
        except Exception:
            logger.exception("a session listener failed on a status")

    def on_event(self, runner: SessionRunner | None, event: SessionEvent) -> None:
        try:
            self.listener.on_event(runner, event)
        except Exception:
            logger.exception("a session listener failed on an event")

    def on_prompt(self, runner: SessionRunner, deadline_s: float) -> None:
        try:
            self.listener.on_prompt(runner, deadline_s)
        except Exception:
            logger.exception("a session listener failed on a prompt")


class CompositeListener(SessionListener):
    """Several listeners as one (progress line, journal, UI)."""

    def __init__(self, *listeners: SessionListener | None) -> None:
        self.listeners = [listener for listener in listeners if listener is not None]

    def on_state(self, runner: SessionRunner, state: RunnerState) -> None:
        for listener in self.listeners:
            listener.on_state(runner, state)

    def on_status(self, runner: SessionRunner, status: Status) -> None:
        for listener in self.listeners:
            listener.on_status(runner, status)

    def on_event(self, runner: SessionRunner | None, event: SessionEvent) -> None:
        for listener in self.listeners:
            listener.on_event(runner, event)

    def on_prompt(self, runner: SessionRunner, deadline_s: float) -> None:
        for listener in self.listeners:
            listener.on_prompt(runner, deadline_s)
