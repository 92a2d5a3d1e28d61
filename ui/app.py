"""``therapyctl ui``: find devices, run and watch sessions, answer safety prompts.

A client of the same controller API as ``run`` (``device``): every start goes through the
session runner and its supervisor; no safety logic lives here. Commands run in workers and
telemetry updates widgets from the runner's listener hooks, so input never waits on a device.
"""

from __future__ import annotations

import contextlib
from collections import deque
from typing import Any, ClassVar, Literal

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    DataTable,
    Digits,
    Footer,
    Header,
    Input,
    Label,
    ProgressBar,
    Select,
    Sparkline,
    Static,
    TabbedContent,
    TabPane,
)

from device import FoundDevice, Radio, scan
from device.clock import Clock
from device.controller import PlanRunner, RunSummary, UsageLedger
from device.driver import DeviceDriver
from device.journal import JournalWriter
from device.limits import Limits
from device.mqtt import MqttBridge, MqttReporter
from device.plans import Step, TherapyPlan
from device.session import (
    CompositeListener,
    RunnerState,
    SessionEvent,
    SessionListener,
    SessionRunner,
)
from device.supervisor import SessionRequest
from protocols import Mode, ModeSupport, Status, TherapyctlError

ALERT_KINDS = {"clamp", "safety_stop", "alarm", "link_lost", "refused"}
CHART_POINTS = 120


class AttendedPrompt(ModalScreen[bool]):
    """Heat: are you awake? A countdown that must be answered."""

    BINDINGS: ClassVar[list[Binding | tuple[str, str] | tuple[str, str, str]]] = [
        Binding("enter,y", "confirm", "I am awake"),
    ]
    DEFAULT_CSS = """
    AttendedPrompt { align: center middle; }
    #prompt { width: 60; height: auto; border: thick $warning; padding: 1 2; background: $panel; }
    """

    def __init__(self, device_name: str, seconds: float) -> None:
        super().__init__()
        self.device_name = device_name
        self.seconds = seconds

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Label(f"Heat on {self.device_name}: are you awake?")
            yield Label("Falling asleep on a heating pad causes burns.")
            yield Label(f"Press Enter within {self.seconds:.0f} s, or the heat stops.", id="left")
            yield Button("I am awake", variant="warning", id="awake")

    @on(Button.Pressed, "#awake")
    def action_confirm(self) -> None:
        self.dismiss(True)


class SessionPanel(Vertical):
    """One connected device: choose, start, watch, pause, resume, stop."""

    DEFAULT_CSS = """
    SessionPanel { height: auto; }
    SessionPanel Horizontal { height: auto; }
    SessionPanel Input { width: 14; }
    SessionPanel Button { min-width: 8; width: auto; }
    SessionPanel Select { width: 16; }
    SessionPanel Digits { width: auto; }
    SessionPanel #readings { padding: 0 2; }
    SessionPanel Sparkline { height: 4; }
    """

    def __init__(
        self,
        driver: DeviceDriver,
        limits: Limits,
        journal: JournalWriter | None,
        ledger: UsageLedger,
    ) -> None:
        super().__init__()
        self.driver = driver
        self.limits = limits
        self.journal = journal
        self.ledger = ledger
        self.reporter: MqttReporter | None = None
        self.runner: PlanRunner | None = None
        self.session: SessionRunner | None = None
        self.summaries: list[RunSummary] = []
        self.temperatures: deque[float] = deque(maxlen=CHART_POINTS)
        self.last_status: Status | None = None
        self.prompt: AttendedPrompt | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        assert self.driver.feature is not None
        modes = [
            (name, name)
            for name, bit in (
                ("heat", ModeSupport.HEAT),
                ("cold", ModeSupport.COLD),
                ("light", ModeSupport.LIGHT),
            )
            if bit in self.driver.feature.modes
        ]
        with Horizontal():
            yield Select(modes, value=modes[0][1], allow_blank=False, id="mode")
            yield Input(placeholder="°C / level", id="target")
            yield Input(value="10", placeholder="minutes", id="minutes")
            yield Button("Start", variant="success", id="start")
            yield Button("Pause", id="pause")
            yield Button("Resume", id="resume")
            yield Button("Stop", variant="error", id="stop")
        with Horizontal():
            yield Digits("--:--", id="countdown")
            yield Static("idle", id="readings")
        yield ProgressBar(total=100, show_eta=False, id="step-progress")
        yield Sparkline([], id="chart")
        yield Static("", id="limit")

    # ------------------------------------------------------------------ commands

    def request(self) -> SessionRequest:
        mode = Mode[str(self.query_one("#mode", Select).value).upper()]
        target = self.query_one("#target", Input).value.strip()
        minutes_text = self.query_one("#minutes", Input).value.strip() or "10"
        try:
            minutes = float(minutes_text)
            value = float(target) if target else None
        except ValueError:
            raise TherapyctlError(f"not a number: {target or minutes_text!r}") from None
        if mode == Mode.LIGHT:
            return SessionRequest(mode, minutes * 60, level=int(value) if value else 0)
        default = 40.0 if mode == Mode.HEAT else 15.0
        return SessionRequest(
            mode, minutes * 60, setpoint_c=value if value is not None else default
        )

    @on(Button.Pressed, "#start")
    def start(self) -> None:
        if self.runner is not None:
            self.app.notify("a session is already running on this device", severity="warning")
            return
        try:
            request = self.request()
        except TherapyctlError as exc:
            self.app.notify(str(exc), severity="error")
            return
        plan = TherapyPlan(request.mode.name.lower(), (Step(request),))
        self.runner = PlanRunner(
            self.driver,
            plan,
            self.limits,
            listener=CompositeListener(_PanelListener(self), self.reporter),  # type: ignore[arg-type]
            single_session=True,
            journal=self.journal,
            ledger=None if self.journal else self.ledger,
        )
        self._run(self.runner)

    @work(group="session", exit_on_error=False)
    async def _run(self, runner: PlanRunner) -> None:
        try:
            summary = await runner.run()
        except TherapyctlError as exc:
            self.app.notify(str(exc), severity="error", timeout=10)
            self.runner = None
            return
        self.summaries.append(summary)
        if self.reporter is not None:
            self.reporter.finished(summary.as_json())
        self.runner = None
        self.session = None
        severity: Literal["information", "warning", "error"] = (
            "error" if summary.end_reason.is_safety_stop else "information"
        )
        self.app.notify(
            f"{self.driver.identity.name if self.driver.identity else ''}: session ended"
            f" {summary.end_reason.value.replace('_', ' ')}"
            + (f" — {summary.end_detail}" if summary.end_detail else ""),
            severity=severity,
            timeout=10,
        )
        self.query_one("#countdown", Digits).update("--:--")

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
        if (
            state == RunnerState.RUNNING
            and self.prompt is not None
            and runner.prompt_deadline_s is None
        ):
            self._close_prompt()

    def session_status(self, runner: SessionRunner, status: Status) -> None:
        self.last_status = status
        if status.temperature_c is not None:
            self.temperatures.append(status.temperature_c)
            self.query_one("#chart", Sparkline).data = list(self.temperatures)
        self.query_one("#countdown", Digits).update(
            f"{status.remaining_s // 60:02d}:{status.remaining_s % 60:02d}"
        )
        total = max(1, status.elapsed_s + status.remaining_s)
        self.query_one("#step-progress", ProgressBar).update(total=total, progress=status.elapsed_s)
        tally = runner.supervisor.tally if runner.supervisor else None
        dose = ""
        if tally is not None:
            dose = (
                f"energy {tally.energy_j:.0f} J"
                if status.mode == Mode.LIGHT
                else f"CEM43 {tally.cem43_min:.2f} min"
            )
        temp = "--" if status.temperature_c is None else f"{status.temperature_c:.1f} °C"
        self.query_one("#readings", Static).update(
            f"{status.state.name.lower()}  {temp}  output {'on' if status.output_on else 'off'}"
            f"  battery {status.battery_pct} %  contact {'yes' if status.skin_contact else 'no'}"
            f"  {dose}"
        )
        if status.mode == Mode.HEAT:
            self.query_one("#limit", Static).update(f"limit {self.limits.heat_ceiling_c:g} °C")
        elif status.mode == Mode.COLD:
            self.query_one("#limit", Static).update(f"limit {self.limits.cold_floor_c:g} °C")

    def session_event(self, runner: SessionRunner | None, event: SessionEvent) -> None:
        if event.kind in ALERT_KINDS:
            severity: Literal["information", "warning", "error"] = (
                "warning" if event.kind in ("clamp", "refused") else "error"
            )
            self.app.notify(
                event.detail, title=event.kind.replace("_", " "), severity=severity, timeout=10
            )
        if event.kind == "ended":
            self._close_prompt()

    def session_prompt(self, runner: SessionRunner, deadline_s: float) -> None:
        name = self.driver.identity.name if self.driver.identity else "the pad"
        self.prompt = AttendedPrompt(name, deadline_s - runner.now())

        def answered(ok: bool | None) -> None:
            self.prompt = None
            if ok and self.runner is not None:
                self.runner.acknowledge()

        self.app.push_screen(self.prompt, answered)

    def _close_prompt(self) -> None:
        if self.prompt is not None and self.prompt.is_attached:
            prompt, self.prompt = self.prompt, None
            prompt.dismiss(False)


class _PanelListener(SessionListener):
    """The runner's hooks, forwarded to a panel (Textual owns the on_* names there)."""

    def __init__(self, panel: SessionPanel) -> None:
        self.panel = panel

    def on_state(self, runner: SessionRunner, state: RunnerState) -> None:
        self.panel.session_state(runner, state)

    def on_status(self, runner: SessionRunner, status: Status) -> None:
        self.panel.session_status(runner, status)

    def on_event(self, runner: SessionRunner | None, event: SessionEvent) -> None:
        self.panel.session_event(runner, event)

    def on_prompt(self, runner: SessionRunner, deadline_s: float) -> None:
        self.panel.session_prompt(runner, deadline_s)


class TherapyApp(App[None]):
    """Devices, sessions and their safety prompts."""

    TITLE = "therapyctl"
    BINDINGS: ClassVar[list[Binding | tuple[str, str] | tuple[str, str, str]]] = [
        Binding("r", "rescan", "Rescan"),
        Binding("s", "start", "Start"),
        Binding("p", "pause", "Pause"),
        Binding("u", "resume", "Resume"),
        Binding("x", "stop", "Stop"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        radio: Radio,
        limits: Limits,
        *,
        time_scale: float = 1.0,
        journal: JournalWriter | None = None,
        bridge: MqttBridge | None = None,
    ) -> None:
        super().__init__()
        self.bridge = bridge
        self.radio = radio
        self.limits = limits
        self.time_scale = time_scale
        self.journal = journal
        self.found: dict[str, FoundDevice] = {}
        self.panels: dict[str, SessionPanel] = {}
        # Without a journal, usage (heat rest, light per day) is kept for the app's life.
        self.ledger = UsageLedger()

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="tabs"), TabPane("Devices", id="devices-tab"):
            yield DataTable(id="devices", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#devices", DataTable).add_columns("NAME", "KIND", "SIGNAL", "ADDRESS")
        self.action_rescan()

    @work(exclusive=True, group="scan", exit_on_error=False)
    async def action_rescan(self) -> None:
        try:
            found = await scan(self.radio, timeout_s=1.0)
        except TherapyctlError as exc:
            self.notify(str(exc), severity="error")
            return
        table = self.query_one("#devices", DataTable)
        table.clear()
        self.found = {f.address: f for f in found}
        for f in found:
            table.add_row(f.name, f.kind, f"{f.rssi} dBm", f.address, key=f.address)

    @on(DataTable.RowSelected, "#devices")
    def connect_selected(self, event: DataTable.RowSelected) -> None:
        address = str(event.row_key.value)
        if address in self.panels:
            self.query_one("#tabs", TabbedContent).active = self._pane_id(address)
            return
        self.connect(address)

    def _pane_id(self, address: str) -> str:
        return "dev-" + address.replace(":", "")

    @work(group="connect", exit_on_error=False)
    async def connect(self, address: str) -> SessionPanel | None:
        found = self.found.get(address)
        if found is None:
            return None
        driver = DeviceDriver(self.radio, found, Clock(self.time_scale))
        try:
            await driver.connect()
        except TherapyctlError as exc:
            self.notify(str(exc), severity="error")
            return None
        panel = SessionPanel(driver, self.limits, self.journal, self.ledger)
        if self.bridge is not None and driver.identity is not None:
            panel.reporter = MqttReporter(self.bridge, driver.identity.as_json())
        self.panels[address] = panel
        tabs = self.query_one("#tabs", TabbedContent)
        await tabs.add_pane(TabPane(found.name, panel, id=self._pane_id(address)))
        tabs.active = self._pane_id(address)
        self.notify(f"connected to {found.name} ({found.kind})")
        return panel

    def _active_panel(self) -> SessionPanel | None:
        active = self.query_one("#tabs", TabbedContent).active
        return next((p for a, p in self.panels.items() if self._pane_id(a) == active), None)

    def action_start(self) -> None:
        if panel := self._active_panel():
            panel.start()

    def action_pause(self) -> None:
        if panel := self._active_panel():
            panel.pause()

    def action_resume(self) -> None:
        if panel := self._active_panel():
            panel.resume()

    def action_stop(self) -> None:
        if panel := self._active_panel():
            panel.stop()

    async def on_unmount(self) -> None:
        for panel in self.panels.values():
            if panel.runner is not None:
                panel.runner.request_stop()
        for panel in self.panels.values():
            with contextlib.suppress(Exception):
                await panel.driver.close()

    def status_of(self, address: str) -> Any:
        panel = self.panels.get(address)
        return panel.last_status if panel else None
