"""Running a session or a whole plan on one device, with usage remembered across sessions.

This is the API ``run`` (and later the UI and the MQTT bridge) drive: build a
:class:`PlanRunner` for a connected :class:`DeviceDriver`, call :meth:`PlanRunner.run`,
control it with ``request_stop`` / ``pause`` / ``resume`` / ``acknowledge``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field, replace

from device.journal import JournalWriter
from device.link import DeviceDriver, DeviceIdentity
from device.safety import EndReason, Limits, SessionRequest, normalise_site, request_problem
from device.sessions.plans import Step, TherapyPlan
from device.sessions.recording import JournalLedger, JournalRecorder, remembered_site
from device.sessions.runner import (
    CompositeListener,
    GuardedListener,
    SessionEvent,
    SessionListener,
    SessionResult,
    SessionRunner,
    StartGuard,
)
from device.sessions.usage import UsageLedger
from protocols import Mode, ModeSupport, TherapyctlError

logger = logging.getLogger(__name__)


class PlanMismatchError(TherapyctlError):
    """A plan the connected device cannot carry out."""


class RequestError(TherapyctlError):
    """A request this device cannot take as asked (a level it does not have, minutes that
    are not positive): a usage error, said before anything is journaled or turned on."""

    def __init__(self, reason: str, step: int | None = None) -> None:
        self.reason = reason
        self.step = step
        super().__init__(reason if step is None else f"step {step}: {reason}")


@dataclass(slots=True)
class RunSummary:
    """One ``run``: a single session or a plan of several; ``as_json`` is ``run --json``."""

    session_id: str
    device: DeviceIdentity | None
    mode: str | None
    plan: str | None
    requested_minutes: float
    planned_minutes: float
    actual_minutes: float
    end_reason: EndReason
    end_detail: str
    limits_applied: list[str] = field(default_factory=list)
    max_temperature_c: float | None = None
    min_temperature_c: float | None = None
    cem43_minutes: float = 0.0
    energy_j: float = 0.0
    events: list[SessionEvent] = field(default_factory=list)
    sessions: list[SessionResult] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)  # after-stop alarms, in plain words
    elapsed_minutes: float = 0.0  # from the first step to the end, rests included
    site: str | None = None  # the body site (None: none given)

    def as_json(self) -> dict[str, object]:
        summary: dict[str, object] = {
            "session_id": self.session_id,
            "device": self.device.as_json() if self.device else None,
        }
        if self.plan is not None:
            summary["plan"] = self.plan
        else:
            summary["mode"] = self.mode
        summary.update(
            {
                "site": self.site,
                "requested_minutes": round(self.requested_minutes, 2),
                "planned_minutes": round(self.planned_minutes, 2),
                "actual_minutes": round(self.actual_minutes, 2),
                "elapsed_minutes": round(self.elapsed_minutes, 2),
                "end_reason": self.end_reason.value,
                "end_detail": self.end_detail,
                "limits_applied": self.limits_applied,
                "max_temperature_c": _round(self.max_temperature_c),
                "min_temperature_c": _round(self.min_temperature_c),
                "cem43_minutes": round(self.cem43_minutes, 3),
                "energy_j": round(self.energy_j, 1),
                "alarms": self.alarms,
                "events": [event.as_json() for event in self.events],
            }
        )
        return summary


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def check_plan_fits(plan: TherapyPlan, driver: DeviceDriver) -> None:
    """Refuse a plan whose modes the device cannot do, in plain words."""
    assert driver.feature is not None and driver.identity is not None
    bits = {Mode.HEAT: ModeSupport.HEAT, Mode.COLD: ModeSupport.COLD, Mode.LIGHT: ModeSupport.LIGHT}
    missing = sorted(m.name.lower() for m in plan.modes if bits[m] not in driver.feature.modes)
    if missing:
        needs = " and ".join(sorted(m.name.lower() for m in plan.modes))
        raise PlanMismatchError(
            f"the {plan.name} plan needs {needs}; a {driver.identity.kind} cannot do"
            f" {' or '.join(missing)}"
        )
    requests = [step.request for step in plan.steps if step.request is not None]
    for number, request in enumerate(requests, start=1):
        problem = request_problem(request, driver.feature)
        if problem is not None:
            raise RequestError(problem, number if len(requests) > 1 else None)


@dataclass(frozen=True, slots=True)
class Resumption:
    """What is left of a plan a lost link interrupted; run only when the user asks for it.

    The first step continues the interrupted session: its supervisor gets what that session
    already ran and its thermal dose, so the per-session caps (heat 20 min, CEM43) hold
    across the interruption and no heat rest is demanded between the two parts.
    """

    plan: TherapyPlan
    continuing_s: float
    continuing_cem43_min: float
    interrupted_at_min: float

    @property
    def minutes(self) -> float:
        return self.plan.minutes


MIN_RESUME_S = 60.0  # less than a minute left of a step is not worth turning the output on for


class PlanRunner:
    """Runs a plan's steps in order on one device, each session through its supervisor."""

    def __init__(
        self,
        driver: DeviceDriver,
        plan: TherapyPlan,
        limits: Limits,
        *,
        ledger: UsageLedger | None = None,
        attended_auto: bool = False,
        listener: SessionListener | None = None,
        single_session: bool = False,
        journal: JournalWriter | None = None,
        resuming: Resumption | None = None,
        site: str | None = None,
    ) -> None:
        self.driver = driver
        # The body site: normalised (SiteError for a name that is not one); None here means
        # the device's remembered site, if the journal has one.
        self.site = None if site is None else normalise_site(site)
        self._site_given = site is not None
        self.plan = resuming.plan if resuming is not None else plan
        self.resuming = resuming
        self.limits = limits
        self.attended_auto = attended_auto
        self.single_session = single_session
        self.session_id = uuid.uuid4().hex[:12]
        self.journal = journal
        if ledger is None and journal is not None:
            ledger = JournalLedger(journal, driver.clock.time_scale)
        self.ledger = ledger or UsageLedger()
        recorder = None
        if journal is not None:
            recorder = JournalRecorder(journal, self.session_id)
        chosen = CompositeListener(listener, recorder) if recorder else listener
        # A listener (UI, journal, MQTT) that raises must never stop the plan or its stops.
        self.listener: SessionListener | None = GuardedListener(chosen) if chosen else None
        self.current: SessionRunner | None = None
        self.step_index = 0
        self._stopped = asyncio.Event()
        self.events: list[SessionEvent] = []

    # controls, forwarded to the running step
    def request_stop(self) -> None:
        self._stopped.set()
        if self.current is not None:
            self.current.request_stop()

    def pause(self) -> None:
        if self.current is not None:
            self.current.pause()

    def resume(self) -> None:
        if self.current is not None:
            self.current.resume()

    def acknowledge(self) -> None:
        if self.current is not None:
            self.current.acknowledge()

    def resumption(self, summary: RunSummary) -> Resumption | None:
        """After a lost link: what is left to resume (None if nothing, or not a lost link)."""
        if summary.end_reason != EndReason.LINK_LOST or not summary.sessions:
            return None
        index = self.step_index
        step = self.plan.steps[index]
        last = summary.sessions[-1]
        steps: list[Step] = []
        continuing_s = cem43 = 0.0
        if step.request is not None:
            planned_s = last.planned_minutes * 60 or step.request.duration_s
            left_s = planned_s - last.tally.running_s
            if left_s >= MIN_RESUME_S:
                steps.append(Step(replace(step.request, duration_s=left_s)))
                continuing_s = last.tally.running_s + self._continued_s()
                cem43 = last.tally.cem43_min + self._continued_cem43()
        steps.extend(self.plan.steps[index + 1 :])
        if not any(s.request is not None for s in steps):
            return None
        name = self.plan.name.removesuffix(" (resumed)")
        return Resumption(
            TherapyPlan(f"{name} (resumed)", tuple(steps)),
            continuing_s,
            cem43,
            summary.actual_minutes,
        )

    def _before_start(self) -> StartGuard | None:
        ledger = self.ledger
        if not isinstance(ledger, JournalLedger):
            return None
        session_id = self.session_id

        async def record_start(mode: Mode, lease_s: float) -> None:
            await ledger.before_start(session_id, mode, lease_s)

        return record_start

    def _continued_s(self) -> float:
        """A resumed step resumed again: what its earlier parts ran too."""
        return self.resuming.continuing_s if self.resuming and self.step_index == 0 else 0.0

    def _continued_cem43(self) -> float:
        return self.resuming.continuing_cem43_min if self.resuming and self.step_index == 0 else 0.0

    async def run(self) -> RunSummary:
        """Run the plan; with a journal, record it from start to end (also if cancelled)."""
        check_plan_fits(self.plan, self.driver)
        journal = self.journal
        if journal is not None:
            assert self.driver.identity is not None
            identity = self.driver.identity
            if not self._site_given:
                self.site = await remembered_site(journal, identity.address)
            journal.begin(
                self.session_id,
                {**identity.as_json(), "serial": identity.serial},
                mode=self._mode_name(),
                plan=None if self._single() else self.plan.name,
                requested_minutes=self.plan.minutes,
                time_scale=self.driver.clock.time_scale,
                limits=self.limits.as_dict(),
                site=self.site,
                # a light device's area, for J/cm² (None: unknown, or a pad)
                emitting_area_cm2=(
                    self.driver.feature.emitting_area_cm2 if self.driver.feature else None
                ),
            )
            if self._site_given:  # remembered for this device's next sessions
                journal.set_site(identity.address, self.site)
            await journal.commit()  # a session that cannot be on record does not start
        try:
            summary = await self._run_steps()
        except asyncio.CancelledError:
            if journal is not None:
                journal.end(
                    self.session_id,
                    end_reason=EndReason.USER_STOPPED.value,
                    end_detail="interrupted",
                )
            raise
        except TherapyctlError as exc:
            if journal is not None:
                journal.end(
                    self.session_id,
                    end_reason=EndReason.DEVICE_FAULT.value,
                    end_detail=str(exc),
                )
            raise
        if journal is not None:
            journal.end(
                self.session_id,
                planned_minutes=summary.planned_minutes,
                actual_minutes=summary.actual_minutes,
                end_reason=summary.end_reason.value,
                end_detail=summary.end_detail,
                max_temperature_c=summary.max_temperature_c,
                min_temperature_c=summary.min_temperature_c,
                cem43_minutes=summary.cem43_minutes,
                energy_j=summary.energy_j,
                # Nothing was turned on: a refused request on record, not a session.
                refused=int(all(result.started_s is None for result in summary.sessions)),
            )
        return summary

    def _single(self) -> bool:
        return self.single_session and len(self.plan.steps) == 1

    def _mode_name(self) -> str | None:
        first = self.plan.steps[0].request
        return first.mode.name.lower() if self._single() and first else None

    async def _run_steps(self) -> RunSummary:
        clock = self.driver.clock
        t0 = clock.now()
        key = self.driver.identity.address if self.driver.identity else "?"
        results: list[SessionResult] = []
        end_reason, end_detail = EndReason.COMPLETED, ""
        planned_s = 0.0
        if self.resuming is not None:
            self._record(
                SessionEvent(
                    0.0,
                    "resumed",
                    f"resumed by the user after a lost link;"
                    f" {self.resuming.continuing_s / 60:.1f} min of the interrupted step had run",
                )
            )
        for index, step in enumerate(self.plan.steps):
            self.step_index = index
            if not self.single_session:
                self._record(
                    SessionEvent(
                        clock.now() - t0,
                        "step",
                        f"step {index + 1}/{len(self.plan.steps)}: {step.describe()}",
                    )
                )
            if self._stopped.is_set():
                end_reason, end_detail = EndReason.USER_STOPPED, "stopped by the user"
                break
            if step.request is None:
                planned_s += step.rest_s
                if not await self._rest(step):
                    end_reason, end_detail = EndReason.USER_STOPPED, "stopped during a rest"
                    break
                continue
            try:
                result = await self._session(step.request, key, t0)
            except asyncio.CancelledError:
                raise
            except TherapyctlError:
                await self._make_sure_off()
                raise  # the caller says why in one line (cannot connect, journal, ...)
            except Exception as exc:
                logger.exception("%s: unexpected error in the plan runner", self.session_id)
                await self._make_sure_off()
                end_reason = EndReason.CONTROLLER_FAULT
                end_detail = (
                    f"an unexpected error in the controller ({type(exc).__name__}: {exc});"
                    " the output was turned off"
                )
                self._record(SessionEvent(clock.now() - t0, "safety_stop", end_detail))
                break
            results.append(result)
            planned_s += result.planned_minutes * 60
            if result.end_reason != EndReason.COMPLETED:
                end_reason, end_detail = result.end_reason, result.end_detail
                break
        summary = self._summary(results, end_reason, end_detail, planned_s)
        summary.elapsed_minutes = (clock.now() - t0) / 60
        return summary

    async def _make_sure_off(self) -> None:
        """After an error outside a session runner: one STOP (a stop always succeeds)."""
        if self.driver.connected:
            with contextlib.suppress(Exception):
                await self.driver.stop()

    async def _session(self, request: SessionRequest, key: str, t0: float) -> SessionResult:
        if not self.driver.connected:
            await self.driver.connect()
        usage = await self.ledger.usage_for(key, self.driver.clock.now(), self.site)
        if self.resuming is not None and self.step_index == 0:
            usage = replace(
                usage,
                continuing_s=self.resuming.continuing_s,
                continuing_cem43_min=self.resuming.continuing_cem43_min,
            )
        runner = SessionRunner(
            self.driver,
            self.limits,
            usage=usage,
            attended_auto=self.attended_auto,
            listener=self.listener,
            session_id=self.session_id,
            t0_s=t0,
            before_start=self._before_start(),
        )
        self.current = runner
        if self._stopped.is_set():
            runner.request_stop()
        try:
            result = await runner.run(request)
        finally:
            self.current = None
            self.events.extend(runner.events)
        await self.ledger.recorded(key, self.session_id, result, self.site)
        return result

    async def _rest(self, step: Step) -> bool:
        """Rest with the output off; False if stopped meanwhile."""
        try:
            await asyncio.wait_for(self._stopped.wait(), self.driver.clock.wall_s(step.rest_s))
        except TimeoutError:
            return True
        return False

    def _record(self, event: SessionEvent) -> None:
        self.events.append(event)
        if self.listener is not None:
            self.listener.on_event(None, event)

    def _summary(
        self,
        results: list[SessionResult],
        end_reason: EndReason,
        end_detail: str,
        planned_s: float,
    ) -> RunSummary:
        temps_max = [
            r.tally.max_temperature_c for r in results if r.tally.max_temperature_c is not None
        ]
        temps_min = [
            r.tally.min_temperature_c for r in results if r.tally.min_temperature_c is not None
        ]
        return RunSummary(
            session_id=self.session_id,
            device=self.driver.identity,
            mode=self._mode_name(),
            plan=None if self._single() else self.plan.name,
            requested_minutes=self.plan.minutes,
            planned_minutes=planned_s / 60,
            actual_minutes=sum(r.actual_minutes for r in results),
            end_reason=end_reason,
            end_detail=end_detail,
            limits_applied=[m for r in results for m in r.limits_applied],
            max_temperature_c=max(temps_max) if temps_max else None,
            min_temperature_c=min(temps_min) if temps_min else None,
            cem43_minutes=sum(r.tally.cem43_min for r in results),
            energy_j=sum(r.tally.energy_j for r in results),
            alarms=[alarm for r in results for alarm in r.alarms],
            events=sorted(self.events, key=lambda e: e.t_s),
            sessions=results,
            site=self.site,
        )
