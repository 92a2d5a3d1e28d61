"""A controller that waits for commands (``therapyctl serve``): remote start, stop, pause,
resume and the attended-use answer, each through the same supervisor as a local command.

A remote start is on a body site, so the per-site limits (every device on the site added
up) hold for it as for ``run --site``: the command's ``site`` if it names one, else the
device's remembered site (``devices.site`` in the journal), else the controller's default
(``serve --site``); none of them: no site, as ``run`` without one. The site goes into the
preview the start is checked against and into the session (journal, usage)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from device.journal import JournalWriter
from device.link import DeviceDriver
from device.mqtt.commands import CommandResult, RemoteCommand
from device.mqtt.days import DaysReporter
from device.mqtt.reporter import MqttReporter
from device.safety import (
    Limits,
    SessionRequest,
    Supervisor,
    Usage,
    normalise_site,
    request_problem,
)
from device.sessions import (
    CompositeListener,
    JournalLedger,
    PlanRunner,
    RunSummary,
    SessionListener,
    Step,
    TherapyPlan,
    UsageLedger,
    remembered_site,
)
from protocols import Mode, TherapyctlError

logger = logging.getLogger(__name__)

_MODES = {"heat": Mode.HEAT, "cold": Mode.COLD, "light": Mode.LIGHT}
DEFAULT_SETPOINT_C = {Mode.HEAT: 40.0, Mode.COLD: 15.0}


class RemoteController:
    """One device, idle until told to start; runs one session at a time."""

    def __init__(
        self,
        driver: DeviceDriver,
        limits: Limits,
        *,
        reporter: MqttReporter | None = None,
        journal: JournalWriter | None = None,
        attended_auto: bool = False,
        listener: SessionListener | None = None,
        site: str | None = None,
        days: DaysReporter | None = None,
    ) -> None:
        self.driver = driver
        # The body site of remote starts on a device with none remembered (normalised).
        self.site = None if site is None else normalise_site(site)
        self.days = days  # told when a session ends (the per-site dose, the next due)
        self.limits = limits
        self.reporter = reporter
        self.journal = journal
        self.attended_auto = attended_auto
        self.listener = listener
        self.ledger = UsageLedger()
        self.runner: PlanRunner | None = None
        self.task: asyncio.Task[RunSummary] | None = None
        self.summaries: list[RunSummary] = []

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.done()

    async def handle(self, _device_key: str, command: RemoteCommand) -> CommandResult:
        """Carry out a validated remote command; over-limit starts are refused with reasons."""
        match command.command:
            case "stop":
                if self.busy and self.runner is not None:
                    self.runner.request_stop()
                    return CommandResult(True, "accepted", "stopping the session")
                with contextlib.suppress(TherapyctlError):
                    await self.driver.stop()  # nothing running here: make sure anyway
                return CommandResult(True, "accepted", "no session was running; output is off")
            case "pause" | "resume" | "ack":
                if not self.busy or self.runner is None:
                    return CommandResult(False, "rejected", "no session is running")
                {
                    "pause": self.runner.pause,
                    "resume": self.runner.resume,
                    "ack": self.runner.acknowledge,
                }[command.command]()
                return CommandResult(True, "accepted", f"{command.command} sent")
            case "start":
                return await self._start(command)
        return CommandResult(False, "rejected", "unknown command")  # pragma: no cover

    async def _start(self, command: RemoteCommand) -> CommandResult:
        if self.busy:
            return CommandResult(False, "rejected", "a session is already running on this device")
        assert command.mode is not None and command.minutes is not None
        mode = _MODES[command.mode]
        setpoint = command.setpoint_c
        if mode != Mode.LIGHT and setpoint is None and command.level is None:
            setpoint = DEFAULT_SETPOINT_C[mode]
        request = SessionRequest(
            mode,
            command.minutes * 60,
            setpoint_c=setpoint,
            level=command.level or 0,
            power_mw=command.power_mw,
        )
        assert self.driver.feature is not None
        try:
            site = command.site or await self._remembered_site() or self.site
            battery = await self.driver.read_battery()
            usage = await self._usage(site)
        except TherapyctlError as exc:
            return CommandResult(False, "rejected", f"cannot reach the device: {exc}")
        problem = request_problem(request, self.driver.feature)
        if problem is not None:
            return CommandResult(False, "rejected", problem)
        preview = Supervisor(self.limits, self.driver.feature, usage).plan(request, battery)
        if preview.start is None:
            return CommandResult(False, "rejected", preview.message)
        if preview.clamps:
            reasons = "; ".join(clamp.message for clamp in preview.clamps)
            return CommandResult(False, "rejected", f"over a limit, not started: {reasons}")
        plan = TherapyPlan(command.mode, (Step(request),))
        self.runner = PlanRunner(
            self.driver,
            plan,
            self.limits,
            attended_auto=self.attended_auto,
            listener=self._listener(),
            single_session=True,
            journal=self.journal,
            ledger=None if self.journal else self.ledger,
            site=site,
        )
        self.task = asyncio.create_task(self._run(self.runner), name="remote-session")
        on_site = f" on {site}" if site else ""
        return CommandResult(True, "accepted", f"session {self.runner.session_id} started{on_site}")

    async def _usage(self, site: str | None = None) -> Usage:
        assert self.driver.identity is not None
        key = self.driver.identity.address
        if self.journal is not None:
            return await JournalLedger(self.journal, self.driver.clock.time_scale).usage_for(
                key, self.driver.clock.now(), site
            )
        return await self.ledger.usage_for(key, self.driver.clock.now(), site)

    async def _remembered_site(self) -> str | None:
        """The body site the journal remembers for this device (None: none, no journal, or
        a journal that cannot be read now)."""
        if self.journal is None or self.driver.identity is None:
            return None
        return await remembered_site(self.journal, self.driver.identity.address)

    def _listener(self) -> SessionListener | None:
        return CompositeListener(self.listener, self.reporter)

    async def _run(self, runner: PlanRunner) -> RunSummary:
        try:
            summary = await runner.run()
        finally:
            if self.days is not None:  # the dose, the next due: republished from the journal
                self.days.session_ended()
        self.summaries.append(summary)
        if self.reporter is not None:
            self.reporter.finished(summary.as_json())
        logger.info("remote session %s ended %s", summary.session_id, summary.end_reason)
        return summary

    async def close(self) -> None:
        """Stop a running session (output off) and wait for it."""
        if self.busy and self.runner is not None and self.task is not None:
            self.runner.request_stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.task, 30)
