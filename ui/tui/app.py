"""``therapyctl ui``: find devices, run and watch sessions, answer safety prompts, browse history.

A client of the same controller API as ``run`` (``device``): every start goes through the
session runner and its supervisor; no safety logic lives here. The radio, journal and MQTT
bridge are opened by a worker after the first screen is up; scans, connects and sessions run
in workers, and telemetry updates widgets from the runner's listener hooks, so input never
waits on a device.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.widgets import DataTable, Footer, Header, TabbedContent, TabPane

from device.journal import JournalReader, JournalWriter, KnownDevice
from device.link import (
    Clock,
    DeviceDriver,
    FoundDevice,
    NotPairedError,
    Radio,
    TherapyLink,
    scan,
)
from device.safety import Limits
from device.sessions import UsageLedger
from protocols import TherapyctlError
from ui.tui.widgets.devices import DeviceRow, DevicesView
from ui.tui.widgets.history import HistoryView, SessionDetail
from ui.tui.widgets.prompts import AliasPrompt, AttendedPrompt, ResumePrompt
from ui.tui.widgets.session import SessionEnded, SessionPanel

if TYPE_CHECKING:
    from device.mqtt import MqttBridge

__all__ = ["AttendedPrompt", "Backend", "ResumePrompt", "SessionPanel", "TherapyApp"]

SCAN_S = 1.0  # one scan's length
SCAN_EVERY_S = 5.0  # the list is refreshed this often while the app runs
SHUTDOWN_S = 20.0  # at quit: how long to wait for sessions to confirm their output is off


@dataclass(slots=True)
class Backend:
    """What the app talks through: the radio, and where it records and reports."""

    radio: Radio
    journal: JournalWriter | None = None
    bridge: MqttBridge | None = None


BackendOpener = Callable[[], AbstractAsyncContextManager[Backend]]


class TherapyCommands(Provider):
    """The command palette (ctrl+p): connect, start, stop, history, by name."""

    def _commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        app = self.app
        assert isinstance(app, TherapyApp)
        commands: list[tuple[str, Callable[[], Any], str]] = [
            ("Rescan for devices", app.action_rescan, "scan again now"),
            ("Show devices", partial(app.show_tab, "devices-tab"), "the device list"),
            ("Show history", app.action_history, "the journal's sessions"),
            ("Stop all sessions", app.stop_all, "turn every output off"),
        ]
        for row in app.device_rows():
            if row.address in app.panels:
                panel = app.panels[row.address]
                commands += [
                    (f"Start session on {row.label}", panel.start, "as set in its panel"),
                    (f"Stop session on {row.label}", panel.stop, "turn its output off"),
                    (f"Disconnect {row.label}", partial(app.disconnect, row.address), ""),
                ]
            elif row.address in app.found:
                commands.append((f"Connect {row.label}", partial(app.connect, row.address), ""))
            commands.append(
                (f"Alias for {row.label}", partial(app.ask_alias, row.address), "a name of yours")
            )
            if row.bonded is False:
                commands.append(
                    (f"Pair {row.label}", partial(app.pair, row.address), "bond with the device")
                )
        return commands

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            if (score := matcher.match(name)) > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)


class TherapyApp(App[None]):
    """Devices, sessions and their safety prompts, and the journal's history."""

    TITLE = "therapyctl"
    COMMANDS = App.COMMANDS | {TherapyCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False),
        Binding("r", "rescan", "Rescan"),
        Binding("d", "disconnect", "Disconnect"),
        Binding("a", "alias", "Alias"),
        Binding("b", "pair", "Pair", show=False),
        Binding("s", "start", "Start"),
        Binding("p", "pause", "Pause"),
        Binding("u", "resume", "Resume"),
        Binding("x", "stop", "Stop"),
        # Stop works from anywhere, also while typing in a field or with a question open.
        Binding("ctrl+x", "stop", "Stop", priority=True, show=False),
        Binding("escape", "leave_field", "Leave field", show=False),
        Binding("h", "history", "History"),
    ]
    CSS = "TabPane { padding: 0; }"

    def __init__(
        self,
        open_backend: BackendOpener,
        limits: Limits,
        *,
        time_scale: float | None = None,
        db_path: Path | None = None,
        scan_every_s: float = SCAN_EVERY_S,
    ) -> None:
        super().__init__()
        self.open_backend = open_backend
        self.limits = limits
        self.time_scale = time_scale
        self.db_path = db_path
        self.scan_every_s = scan_every_s
        self.backend: Backend | None = None
        self.found: dict[str, FoundDevice] = {}
        self.known: dict[str, DeviceRow] = {}
        self.panels: dict[str, SessionPanel] = {}
        self.scans = 0
        # Without a journal, usage (heat rest, light per day) is kept for the app's life.
        self.ledger = UsageLedger()
        self._backend_ready = asyncio.Event()
        self._shutting_down = asyncio.Event()
        self._radio_lock = asyncio.Lock()  # one scan or connect at a time
        self._note = "starting the radio..."

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        # Kept as attributes: the app's own queries would look at a modal when one is up.
        self.tabs = TabbedContent(id="tabs", initial="devices-tab")
        self.devices_view = DevicesView()
        self.history_view = HistoryView(self.db_path)
        with self.tabs:
            with TabPane("Devices", id="devices-tab"):
                yield self.devices_view
            with TabPane("History", id="history-tab"):
                yield self.history_view
        yield Footer()

    def on_mount(self) -> None:
        self.devices_view.show([], self._note)
        # Enter connects at once. (Not App.AUTO_FOCUS: modal screens would inherit it.)
        self.devices_view.query_one(DataTable).focus()
        self.call_after_refresh(self._hold_backend)  # the first screen is drawn before

    @property
    def radio(self) -> Radio:
        assert self.backend is not None
        return self.backend.radio

    @property
    def journal(self) -> JournalWriter | None:
        return self.backend.journal if self.backend else None

    async def ready(self) -> Backend:
        """The backend, once it is open."""
        await self._backend_ready.wait()
        assert self.backend is not None
        return self.backend

    @work(group="backend", exit_on_error=False)
    async def _hold_backend(self) -> None:
        """Open the radio (and journal, bridge); keep them until quit; then close them."""
        try:
            async with self.open_backend() as backend:
                self.backend = backend
                await self._load_known()
                self._backend_ready.set()
                self._scan_loop()
                await self._shutting_down.wait()
        except TherapyctlError as exc:
            self._note = f"cannot start: {exc}"
            self.devices_view.show([], self._note)
            self.notify(str(exc), title="cannot start", severity="error", timeout=30)

    async def _load_known(self) -> None:
        if self.db_path is None or not self.db_path.exists():
            return
        try:
            known = await asyncio.to_thread(_known_devices, self.db_path)
        except TherapyctlError as exc:
            self.notify(f"known devices: {exc}", severity="warning")
            return
        for k in known:
            self.known[k.address] = DeviceRow(k.address, k.name, k.kind, alias=k.alias)

    # ------------------------------------------------------------------ devices

    def device_rows(self) -> list[DeviceRow]:
        """Connected first, then in range (strongest first), then remembered ones."""
        rows: dict[str, DeviceRow] = {}
        for address, found in self.found.items():
            known = self.known.get(address)
            rows[address] = DeviceRow(
                address,
                found.name,
                found.kind,
                alias=known.alias if known else None,
                rssi=found.rssi,
                battery_pct=found.battery_pct,
                state="in range",
                bonded=found.bonded,
            )
        for address, known in self.known.items():
            rows.setdefault(address, DeviceRow(address, known.name, known.kind, known.alias))
        for address, panel in self.panels.items():
            row = rows.setdefault(address, DeviceRow(address, panel.label, "?"))
            row.state = "connected" if panel.driver.connected else "link lost"
            if panel.last_status is not None:
                row.battery_pct = panel.last_status.battery_pct
        order = {"connected": 0, "link lost": 0, "in range": 1, "not in range": 2}
        return sorted(
            rows.values(), key=lambda r: (order[r.state], -(r.rssi or -999), r.label.lower())
        )

    def label_of(self, address: str) -> str:
        row = next((r for r in self.device_rows() if r.address == address), None)
        return row.label if row else address

    def _show_devices(self) -> None:
        rows = self.device_rows()
        in_range = sum(1 for r in rows if r.state == "in range")
        self._note = (
            f"{in_range} in range · {len(self.panels)} connected · {len(self.known)} remembered\n"
            "Enter: connect   d: disconnect   a: alias   r: rescan"
        )
        self.devices_view.show(rows, self._note)

    @work(group="scan", exit_on_error=False)
    async def _scan_loop(self) -> None:
        while not self._shutting_down.is_set():
            await self._scan_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._shutting_down.wait(), self.scan_every_s)

    async def _scan_once(self) -> None:
        async with self._radio_lock:
            try:
                found = await scan(self.radio, timeout_s=SCAN_S)
            except TherapyctlError as exc:
                self.notify(str(exc), title="scan", severity="error")
                return
        self.scans += 1
        self.found = {f.address: f for f in found}
        self._show_devices()

    @work(exclusive=True, group="rescan", exit_on_error=False)
    async def action_rescan(self) -> None:
        await self.ready()
        await self._scan_once()

    @on(DataTable.RowSelected, "#devices")
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        address = str(event.row_key.value)
        if address in self.panels:
            self.show_tab(self._pane_id(address))
        else:
            self.connect(address)

    def _pane_id(self, address: str) -> str:
        return "dev-" + address.replace(":", "")

    def show_tab(self, pane_id: str) -> None:
        self.tabs.active = pane_id

    @work(group="connect", exit_on_error=False)
    async def connect(self, address: str) -> SessionPanel | None:
        backend = await self.ready()
        found = self.found.get(address)
        if found is None:
            self.notify(f"{self.label_of(address)} is not in range; rescan (r) when it is")
            return None
        if address in self.panels:
            return self.panels[address]
        label = self.label_of(address)
        self.notify(f"connecting to {label}...")
        # The in-process simulators' speed when known; else (None) the device's own, from
        # its Feature: the driver trusts the device either way.
        clock = Clock(self.time_scale) if self.time_scale is not None else None
        driver = DeviceDriver(backend.radio, found, clock)
        async with self._radio_lock:
            try:
                await driver.connect()
            except NotPairedError as exc:
                self.notify(
                    f"{exc} — or press b here to pair now",
                    title=f"{label} is not paired",
                    severity="error",
                    timeout=15,
                )
                return None
            except TherapyctlError as exc:
                self.notify(str(exc), title=f"cannot connect to {label}", severity="error")
                return None
        if address in self.panels:  # connected twice meanwhile: keep the first
            await driver.close()
            return self.panels[address]
        panel = SessionPanel(driver, self.limits, backend.journal, self.ledger, label=label)
        if backend.bridge is not None and driver.identity is not None:
            from device.mqtt import MqttReporter

            panel.reporter = MqttReporter(backend.bridge, driver.identity.as_json())
        self.panels[address] = panel
        if backend.journal is not None:
            backend.journal.remember_device(address, found.name, found.kind)
        known = self.known.get(address)
        self.known[address] = DeviceRow(
            address, found.name, found.kind, alias=known.alias if known else None
        )
        tabs = self.tabs
        await tabs.add_pane(TabPane(label, panel, id=self._pane_id(address)), before="history-tab")
        tabs.active = self._pane_id(address)
        self._show_devices()
        self.notify(f"connected to {label} ({found.kind})")
        return panel

    def _address_in_view(self) -> str | None:
        """The device of the active tab, or the one highlighted in the device list."""
        if panel := self._active_panel():
            return next(a for a, p in self.panels.items() if p is panel)
        if self.tabs.active == "devices-tab":
            return self.devices_view.highlighted()
        return None

    def action_disconnect(self) -> None:
        if (address := self._address_in_view()) is not None:
            self.disconnect(address)

    def action_pair(self) -> None:
        if (address := self._address_in_view()) is not None:
            self.pair(address)

    @work(group="connect", exit_on_error=False)
    async def pair(self, address: str) -> bool:
        """Bond with a device (its pairing window must be open), so it may be commanded."""
        backend = await self.ready()
        found = self.found.get(address)
        label = self.label_of(address)
        if found is None:
            self.notify(f"{label} is not in range; rescan (r) when it is")
            return False
        self.notify(f"pairing with {label}...")
        async with self._radio_lock:
            try:
                link = await TherapyLink.connect(backend.radio, found)
                try:
                    await link.pair()
                finally:
                    await link.disconnect()
            except TherapyctlError as exc:
                self.notify(str(exc), title=f"cannot pair with {label}", severity="error")
                return False
        self.notify(f"paired with {label}")
        await self._scan_once()
        return True

    @work(group="connect", exit_on_error=False)
    async def disconnect(self, address: str) -> None:
        panel = self.panels.get(address)
        if panel is None:
            return
        if panel.runner is not None:
            self.notify("stop the session first (x)", title=panel.label, severity="warning")
            return
        del self.panels[address]
        await panel.driver.close()
        tabs = self.tabs
        await tabs.remove_pane(self._pane_id(address))
        self.show_tab("devices-tab")
        self._show_devices()
        self.notify(f"disconnected from {panel.label}")

    def action_alias(self) -> None:
        if (address := self._address_in_view()) is not None:
            self.ask_alias(address)

    def ask_alias(self, address: str) -> None:
        row = next((r for r in self.device_rows() if r.address == address), None)
        if row is None:
            return

        def chosen(alias: str | None) -> None:
            if alias is None:
                return
            alias = alias.strip() or None
            journal = self.journal
            if journal is not None:
                try:
                    journal.remember_device(address, row.name, row.kind)
                    journal.set_alias(address, alias)
                except TherapyctlError as exc:
                    self.notify(str(exc), title="alias", severity="error")
                    return
            known = self.known.setdefault(address, DeviceRow(address, row.name, row.kind))
            known.alias = alias
            if panel := self.panels.get(address):
                panel.label = alias or row.name
                tabs = self.tabs
                tabs.get_tab(self._pane_id(address)).label = panel.label
            self._show_devices()

        self.push_screen(AliasPrompt(row.name, row.alias), chosen)

    # ------------------------------------------------------------------ sessions

    def _active_panel(self) -> SessionPanel | None:
        active = self.tabs.active
        return next((p for a, p in self.panels.items() if self._pane_id(a) == active), None)

    def action_start(self) -> None:
        if panel := self._active_panel():
            panel.start()
        elif self.panels:
            self.notify("open a device's tab to start its session", severity="warning")

    def action_pause(self) -> None:
        if panel := self._active_panel():
            panel.pause()

    def action_resume(self) -> None:
        if panel := self._active_panel():
            panel.resume()

    def action_stop(self) -> None:
        if panel := self._active_panel():
            panel.stop()

    def action_leave_field(self) -> None:
        """Esc in a field: back to the keys (s, x, ...) without a mouse."""
        self.screen.set_focus(None)

    def stop_all(self) -> None:
        for panel in self.panels.values():
            panel.stop()

    def action_history(self) -> None:
        self.show_tab("history-tab")
        self.history_view.reload()

    @on(SessionEnded)
    def _session_ended(self, _event: SessionEnded) -> None:
        if self._shutting_down.is_set():
            return
        self._show_devices()
        if self.journal is not None:
            self._reload_history_after_write()

    @work(group="history-barrier", exit_on_error=False)
    async def _reload_history_after_write(self) -> None:
        if self.journal is not None:
            await self.journal.barrier()
        self.history_view.reload()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Footer: device keys on the device list, session keys on a device's tab."""
        tabs = getattr(self, "tabs", None)  # None: not composed yet
        tab = tabs.active if tabs is not None else ""
        device_actions = ("rescan", "disconnect", "alias", "start", "pause", "resume")
        stack = self.screen_stack  # empty while the app closes
        if stack and isinstance(stack[-1], SessionDetail) and action in device_actions:
            return False  # a recorded session is on screen: back (esc), history, stop, quit
        on_device = tab.startswith("dev-")
        if action in ("start", "pause", "resume", "stop"):
            return on_device
        if action == "rescan":
            return tab == "devices-tab"
        if action in ("disconnect", "alias"):
            return on_device or tab == "devices-tab"
        return True

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        if self.screen_stack:
            self.refresh_bindings()

    # ------------------------------------------------------------------ quit

    async def action_quit(self) -> None:
        """Stop every output first, wait for the devices to confirm, then close and exit."""
        await self.shutdown()
        self.exit()

    async def shutdown(self) -> None:
        for panel in self.panels.values():
            if panel.runner is not None:
                panel.runner.request_stop()
        sessions = [w for w in self.workers if w.group == "session" and not w.is_finished]
        if sessions:
            self.notify("stopping the sessions...")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SHUTDOWN_S):
                    for worker in sessions:
                        with contextlib.suppress(Exception):  # failed or cancelled: it ended
                            await worker.wait()
        for panel in self.panels.values():
            with contextlib.suppress(TherapyctlError):
                await panel.driver.close()
        self._shutting_down.set()
        holders = [w for w in self.workers if w.group == "backend" and not w.is_finished]
        with contextlib.suppress(TimeoutError, Exception):
            async with asyncio.timeout(SHUTDOWN_S):
                for worker in holders:
                    await worker.wait()

    async def on_unmount(self) -> None:
        # Reached without action_quit (an error, or a test's end): stop outputs all the same.
        if not self._shutting_down.is_set():
            await self.shutdown()


def _known_devices(path: Path) -> list[KnownDevice]:
    with JournalReader(path) as reader:
        return reader.known_devices()
