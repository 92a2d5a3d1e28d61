"""``therapyctl ui``: find devices, run and watch sessions, answer safety prompts, browse history,
see today's therapy (episodes, what is due, dose per body site, the pain trend).

A client of the same controller API as ``run`` (``device``): every start goes through the
session runner and its supervisor; no safety logic lives here (stopping is the runners'
``request_stop``). The radio, journal and MQTT bridge are opened by a worker after the first
screen is up; if they cannot be (no adapter, a bad radio, a journal that cannot be opened),
the app ends with :attr:`TherapyApp.startup_error` set and exit code 1, and the command says
it in one line. Scans, connects and sessions run in workers, and telemetry updates widgets
from the runner's listener hooks, so input never waits on a device.

Keys: every binding has an action name (:mod:`ui.tui.keys`), remappable from the config
file's ``[keys]``; ``?``/F1 lists the live ones; ctrl+x stops every session from anywhere.

After a session that turned output on, the app asks the pain question (0-10, skipping is
fine) once no other question is on screen: it never covers the attended-use check, a
resume or quit question, and ctrl+x works over it as everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from device.journal import JournalReader, JournalWriter, KnownDevice, record_pain
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
from device.sessions import RegimenSettings, UsageLedger
from protocols import TherapyctlError
from ui.tui.keys import ACTIONS, KEY_ACTIONS
from ui.tui.widgets.devices import DeviceRow, DevicesView
from ui.tui.widgets.help import HelpScreen, help_rows
from ui.tui.widgets.history import HistoryView, SessionDetail
from ui.tui.widgets.prompts import (
    AliasPrompt,
    AttendedPrompt,
    PainPrompt,
    QuitPrompt,
    ResumePrompt,
    SitePrompt,
)
from ui.tui.widgets.session import SessionChanged, SessionEnded, SessionPanel
from ui.tui.widgets.today import TodayView

if TYPE_CHECKING:
    from device.mqtt import MqttBridge

__all__ = [
    "AttendedPrompt",
    "Backend",
    "HelpScreen",
    "PainPrompt",
    "QuitPrompt",
    "ResumePrompt",
    "SessionPanel",
    "SitePrompt",
    "TherapyApp",
    "TodayView",
]

logger = logging.getLogger(__name__)

SCAN_S = 1.0  # one scan's length
SCAN_EVERY_S = 5.0  # the list is refreshed this often while the app runs
SHUTDOWN_S = 20.0  # at quit: how long to wait for sessions to confirm their output is off
STATUS_EVERY_S = 1.0  # the header's radio, journal and MQTT state is read this often


@dataclass(slots=True)
class Backend:
    """What the app talks through: the radio, and where it records and reports."""

    radio: Radio
    journal: JournalWriter | None = None
    bridge: MqttBridge | None = None


BackendOpener = Callable[[], AbstractAsyncContextManager[Backend]]


class PainAsk(NamedTuple):
    """A pain question waiting for its turn: after which session, on which site."""

    session_id: str | None
    site: str | None
    about: str


class Command(NamedTuple):
    """One entry of the command palette, and the key action it does (None: palette only)."""

    name: str
    callback: Callable[[], Any]
    help: str
    action: str | None = None


class TherapyCommands(Provider):
    """The command palette (ctrl+p): every action by name (Quit and Theme are Textual's)."""

    async def discover(self) -> Hits:
        app = self.app
        assert isinstance(app, TherapyApp)
        for command in app.commands():
            yield DiscoveryHit(command.name, command.callback, help=command.help)

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, TherapyApp)
        matcher = self.matcher(query)
        for command in app.commands():
            if (score := matcher.match(command.name)) > 0:
                yield Hit(
                    score, matcher.highlight(command.name), command.callback, help=command.help
                )


def _mqtt_state(bridge: MqttBridge | None) -> str:
    """connected, unreachable or refused (credentials, or the node id is someone else's)."""
    if bridge is None:
        return "off"
    if bridge.auth_error is not None or bridge.node_taken is not None:
        return "refused"
    return "connected" if bridge.connected.is_set() else "unreachable"


class TherapyApp(App[None]):
    """Devices, sessions and their safety prompts, and the journal's history."""

    TITLE = "therapyctl"
    COMMANDS = App.COMMANDS | {TherapyCommands}
    # Each with its action name as id: ``[keys]`` in the config file remaps it.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(a.keys, a.action, a.description, show=a.show, priority=a.priority, id=a.name)
        for a in KEY_ACTIONS
    ]
    CSS = """
    TabPane { padding: 0; }
    /* Where the keys go: the focused widget is marked, whatever it is. */
    DataTable:focus { background-tint: $accent 8%; }
    Input:focus, Select:focus > SelectCurrent, Button:focus {
        text-style: bold reverse;
    }
    Tabs:focus .underline--bar { color: $accent; }
    /* A compact footer too narrow for its keys: the palette key reaches the last column
       (its margin would show a letter of a key cut off below it). */
    Footer.-compact FooterKey.-command-palette { margin-right: 0; padding-right: 1; }
    #output-on { dock: bottom; height: 1; padding: 0 1; display: none;
        background: $error; color: $text; text-style: bold; }
    #output-on.-on { display: block; }
    """

    def __init__(
        self,
        open_backend: BackendOpener,
        limits: Limits,
        *,
        time_scale: float | None = None,
        db_path: Path | None = None,
        scan_every_s: float = SCAN_EVERY_S,
        keymap: Mapping[str, str] | None = None,
        default_site: str | None = None,
        regimen: RegimenSettings | None = None,
        clock: Callable[[], float] = time.time,
        pain_question: bool = True,
    ) -> None:
        super().__init__()
        self.open_backend = open_backend
        self.limits = limits
        self.time_scale = time_scale
        self.db_path = db_path
        self.scan_every_s = scan_every_s
        self.keymap = dict(keymap or {})
        # ``ui --site``: the site of sessions on a device the journal knows no site for.
        self.default_site = default_site
        self.regimen = regimen or RegimenSettings()
        self.clock = clock  # wall time of the Today tab (fixed in tests)
        # Ask "pain now, 0-10?" after each session that turned output on (with a journal).
        self.pain_question = pain_question
        self.pain_asks: list[PainAsk] = []  # pain questions waiting for their turn
        self.startup_error: TherapyctlError | None = None
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
        self._mqtt_said: str | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        # Kept as attributes: the app's own queries would look at a modal when one is up.
        self.tabs = TabbedContent(id="tabs", initial="devices-tab")
        self.devices_view = DevicesView()
        self.history_view = HistoryView(self.db_path)
        self.today_view = TodayView(
            self.db_path,
            self.limits,
            self.regimen,
            clock=self.clock,
            # Simulators' time runs faster, and so does their rolling day of the site limits.
            time_scale=self.time_scale or 1.0,
        )
        self.output_bar = Static("", id="output-on")
        with self.tabs:
            with TabPane("Devices", id="devices-tab"):
                yield self.devices_view
            with TabPane("Today", id="today-tab"):
                yield self.today_view
            with TabPane("History", id="history-tab"):
                yield self.history_view
        yield Footer(compact=True)
        yield self.output_bar  # above the footer: which devices have output on

    def on_mount(self) -> None:
        if self.keymap:
            self.set_keymap(self.keymap)
        self.devices_view.show([], self._note)
        # Enter connects at once. (Not App.AUTO_FOCUS: modal screens would inherit it.)
        self.devices_view.query_one(DataTable).focus()
        self._show_status()
        self.set_interval(STATUS_EVERY_S, self._every_second)
        self.call_after_refresh(self._hold_backend)  # the first screen is drawn before

    def key_for(self, action: str) -> str:
        """How the footer writes the (first) key of an action, as remapped."""
        keys = self.keymap.get(action) or ACTIONS[action].keys
        return self.get_key_display(Binding(keys.split(",")[0], action))

    # ------------------------------------------------------------------ status

    def status_line(self) -> str:
        """The header's subtitle: the radio, the journal and the MQTT bridge, as they are."""
        backend = self.backend
        if backend is None:
            return "starting the radio..."
        radio = backend.radio
        if radio.transport is not None:
            radio_text = f"radio {radio.transport}"
        elif radio.bumble is not None:
            radio_text = "simulated devices"
        else:
            radio_text = "Bluetooth adapter"
        journal = backend.journal
        journal_text = (
            "no journal"
            if journal is None
            else "journal failing"
            if journal.failure is not None
            else "journal ok"
        )
        return f"{radio_text} · {journal_text} · MQTT {_mqtt_state(backend.bridge)}"

    def _every_second(self) -> None:
        self._show_status()
        self.ask_pain()  # a pain question kept back by another question, once it is gone

    def _show_status(self) -> None:
        self.sub_title = self.status_line()
        backend = self.backend
        if backend is None or backend.bridge is None:
            return
        mqtt = _mqtt_state(backend.bridge)
        if self._mqtt_said is not None and mqtt != self._mqtt_said:  # a change: say it once
            bridge = backend.bridge
            where = f"{bridge.settings.host}:{bridge.settings.port}"
            self.notify(
                f"MQTT broker {where}: {mqtt}",
                title="MQTT",
                severity="information" if mqtt == "connected" else "warning",
            )
        self._mqtt_said = mqtt

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
        """Open the radio (and journal, bridge) and scan once; keep them until quit; then
        close them. Anything failing before the first scan is done ends the app (exit 1)."""
        try:
            async with self.open_backend() as backend:
                self.backend = backend
                self._show_status()
                await self._load_known()
                await self._scan_once(at_start=True)  # no adapter: an error now, not later
                self._backend_ready.set()
                self._show_status()
                self._scan_loop()
                await self._shutting_down.wait()
        except Exception as exc:
            if self._backend_ready.is_set():  # closing: nothing left to tell
                logger.warning("closing the radio, journal or broker: %s", exc)
                return
            error = exc if isinstance(exc, TherapyctlError) else TherapyctlError(str(exc))
            if not isinstance(exc, TherapyctlError):
                logger.error("cannot start", exc_info=exc)
            self.fail_start(error)

    def fail_start(self, error: TherapyctlError) -> None:
        """The app cannot work (no radio, no journal): end it; the command says why."""
        self.startup_error = error
        self._note = f"cannot start: {error}"
        self.devices_view.show([], self._note)
        self.exit(return_code=1)

    async def _load_known(self) -> None:
        if self.db_path is None or not self.db_path.exists():
            return
        try:
            known = await asyncio.to_thread(_known_devices, self.db_path)
        except TherapyctlError as exc:
            self.notify(f"known devices: {exc}", severity="warning")
            return
        for k, site in known:
            self.known[k.address] = DeviceRow(k.address, k.name, k.kind, alias=k.alias, site=site)

    def site_of(self, address: str) -> str | None:
        """The body site sessions on a device carry: the journal's for it (set with w), else
        ``ui --site``'s, else none."""
        known = self.known.get(address)
        return (known.site if known else None) or self.default_site

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
                site=self.site_of(address),
            )
        for address, known in self.known.items():
            rows.setdefault(
                address,
                DeviceRow(address, known.name, known.kind, known.alias, site=self.site_of(address)),
            )
        for address, panel in self.panels.items():
            row = rows.setdefault(address, DeviceRow(address, panel.label, "?", site=panel.site))
            # What a session does ("running heat") says more than "connected".
            row.state = panel.activity or ("connected" if panel.driver.connected else "link lost")
            if panel.last_status is not None:
                row.battery_pct = panel.last_status.battery_pct

        def order(row: DeviceRow) -> int:
            if row.address in self.panels:
                return 0
            return 1 if row.state == "in range" else 2

        return sorted(rows.values(), key=lambda r: (order(r), -(r.rssi or -999), r.label.lower()))

    def output_on(self) -> list[str]:
        """The devices whose output is on now, with what they do ("pad (running heat)")."""
        return [
            f"{panel.label} ({panel.activity})" if panel.activity else panel.label
            for panel in self.panels.values()
            if panel.output_on
        ]

    def commands(self) -> list[Command]:
        """Every action by name, for the palette; per device for the devices it fits."""
        on = self.output_on()
        commands = [
            Command("Keys and help", self.action_help, "every key of this screen", "help"),
            Command("Rescan for devices", self.action_rescan, "scan again now", "rescan"),
            Command("Show devices", partial(self.action_tab, 1), "the device list", "tab_1"),
            Command("Show history", self.action_history, "the journal's sessions", "history"),
            Command("Show today", self.action_today, "episodes, what is due, dose, pain", "today"),
            Command(
                "Stop all sessions",
                self.stop_all,
                f"output on: {', '.join(on)}" if on else "turn every output off",
                "stop_all",
            ),
        ]
        for row in self.device_rows():
            label, address = row.label, row.address
            if panel := self.panels.get(address):
                pane = self._pane_id(address)
                commands += [
                    Command(f"Show {label}", partial(self.show_tab, pane), "its session", None),
                    Command(
                        f"Start session on {label}", panel.start, "as set in its panel", "start"
                    ),
                    Command(
                        f"Pause session on {label}", panel.pause, "output off for now", "pause"
                    ),
                    Command(f"Resume session on {label}", panel.resume, "after a pause", "resume"),
                    Command(f"Stop session on {label}", panel.stop, "turn its output off", "stop"),
                    Command(
                        f"Disconnect {label}", partial(self.disconnect, address), "", "disconnect"
                    ),
                ]
            elif address in self.found:
                commands.append(Command(f"Connect {label}", partial(self.connect, address), ""))
            commands.append(
                Command(
                    f"Alias for {label}",
                    partial(self.ask_alias, address),
                    "a name of yours",
                    "alias",
                )
            )
            commands.append(
                Command(
                    f"Body site of {label}",
                    partial(self.ask_site, address),
                    row.site or "where on the body it is used",
                    "site",
                )
            )
            if row.bonded is False:
                commands.append(
                    Command(
                        f"Pair {label}", partial(self.pair, address), "bond with the device", "pair"
                    )
                )
        return commands

    def label_of(self, address: str) -> str:
        row = next((r for r in self.device_rows() if r.address == address), None)
        return row.label if row else address

    def _show_devices(self) -> None:
        rows = self.device_rows()
        in_range = sum(1 for r in rows if r.state == "in range")
        on = self.output_on()
        self._note = (
            f"{in_range} in range · {len(self.panels)} connected · {len(self.known)} remembered"
            + (f" · output on: {', '.join(on)}" if on else "")
            + f"\nEnter: connect   {self.key_for('stop_all')}: stop all sessions"
            f"   {self.key_for('help')}: all keys   ctrl+p: all actions"
        )
        self.devices_view.show(rows, self._note)
        self._show_output_bar(on)

    def _show_output_bar(self, on: list[str]) -> None:
        """The line above the footer while any output is on: which, and how to stop them."""
        bar = self.output_bar
        if on:
            bar.update(f"output on: {', '.join(on)} — {self.key_for('stop_all')} stops all")
        bar.set_class(bool(on), "-on")

    @work(group="scan", exit_on_error=False)
    async def _scan_loop(self) -> None:
        """Scan again every ``scan_every_s`` (the first scan was the start's)."""
        while not self._shutting_down.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._shutting_down.wait(), self.scan_every_s)
            if not self._shutting_down.is_set():
                await self._scan_once()

    async def _scan_once(self, *, at_start: bool = False) -> None:
        async with self._radio_lock:
            try:
                found = await scan(self.radio, timeout_s=SCAN_S)
            except TherapyctlError as exc:
                if at_start:
                    raise
                self.notify(str(exc), title="scan", severity="error")
                self.devices_view.show(self.device_rows(), f"scan failed: {exc}")
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
        panel = SessionPanel(
            driver,
            self.limits,
            backend.journal,
            self.ledger,
            label=label,
            site=self.site_of(address),
        )
        if backend.bridge is not None and driver.identity is not None:
            from device.mqtt import MqttReporter

            panel.reporter = MqttReporter(backend.bridge, driver.identity.as_json())
        self.panels[address] = panel
        if backend.journal is not None:
            backend.journal.remember_device(address, found.name, found.kind)
        known = self.known.get(address)
        self.known[address] = DeviceRow(
            address,
            found.name,
            found.kind,
            alias=known.alias if known else None,
            site=known.site if known else None,
        )
        tabs = self.tabs
        await tabs.add_pane(TabPane(label, panel, id=self._pane_id(address)), before="today-tab")
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

    def action_site(self) -> None:
        if (address := self._address_in_view()) is not None:
            self.ask_site(address)

    def ask_site(self, address: str) -> None:
        """Ask where on the body a device is used; remembered in the journal (as
        ``run --site`` does) and carried by its next sessions."""
        row = next((r for r in self.device_rows() if r.address == address), None)
        if row is None:
            return
        in_use = tuple(dict.fromkeys(k.site for k in self.known.values() if k.site))

        def chosen(site: str | None) -> None:
            if site is None:  # Esc: unchanged
                return
            new = site or None  # "": cleared
            journal = self.journal
            if journal is not None:
                try:
                    journal.remember_device(address, row.name, row.kind)
                    journal.set_site(address, new)
                except TherapyctlError as exc:
                    self.notify(str(exc), title="body site", severity="error")
                    return
            known = self.known.setdefault(address, DeviceRow(address, row.name, row.kind))
            known.site = new
            if panel := self.panels.get(address):
                panel.set_site(self.site_of(address))
            self._show_devices()
            where = self.site_of(address)
            self.notify(
                f"{row.label}: sessions on {where}" if where else f"{row.label}: no body site",
                title="body site",
            )

        self.push_screen(SitePrompt(row.label, row.site, in_use), chosen)

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

    def action_stop_all(self) -> None:
        """Every running session, whichever tab or question is on screen."""
        self.stop_all()

    def stop_all(self) -> None:
        running = [panel for panel in self.panels.values() if panel.runner is not None]
        for panel in running:
            panel.stop()  # the runner's request_stop: output off, through its supervisor
        if not running:
            self.notify("no session is running", title="Stop all")

    def running(self) -> list[str]:
        """The devices with a session (running, paused, resting or stopping)."""
        return [panel.label for panel in self.panels.values() if panel.runner is not None]

    def action_today(self) -> None:
        self.show_tab("today-tab")
        self.today_view.reload()

    def action_history(self) -> None:
        self.show_tab("history-tab")
        self.history_view.focus_table()
        self.history_view.reload()

    def tab_ids(self) -> list[str]:
        """The tabs in their order on screen: devices, each connected device, today, history."""
        return [
            "devices-tab",
            *(self._pane_id(a) for a in self.panels),
            "today-tab",
            "history-tab",
        ]

    def action_tab(self, number: int) -> None:
        """1..9: the tab of that number (1: Devices; the last two: Today, History)."""
        tabs = self.tab_ids()
        if 1 <= number <= len(tabs):
            if tabs[number - 1] == "history-tab":
                self.action_history()
            elif tabs[number - 1] == "today-tab":
                self.action_today()
            else:
                self.show_tab(tabs[number - 1])

    def action_help(self) -> None:
        """The keys of the screen on top, from its live bindings."""
        if isinstance(self.screen, HelpScreen):
            return
        where = self.screen
        title = "Keys here" if where is self.screen_stack[0] else f"Keys of {type(where).__name__}"
        self.push_screen(HelpScreen(help_rows(self, where.active_bindings.values()), title))

    @on(SessionChanged)
    def _session_changed(self, _event: SessionChanged) -> None:
        # While the app closes (no screen left) there is nothing to show.
        if not self._shutting_down.is_set() and self.screen_stack:
            self._show_devices()
            self.refresh_bindings()

    @on(SessionEnded)
    def _session_ended(self, event: SessionEnded) -> None:
        if self._shutting_down.is_set():
            return
        self._show_devices()
        if self.journal is not None:
            self._reload_history_after_write()
            # Not after a refusal (nothing was on), nor before a resume question.
            if self.pain_question and event.started and not event.resumable:
                panel = event.panel
                what = event.summary.plan or event.summary.mode
                about = panel.label + (f", {what}" if what else "")
                about += f" on {event.site}" if event.site else ""
                self.pain_asks.append(PainAsk(event.session_id, event.site, about))
                self.ask_pain()

    @work(group="history-barrier", exit_on_error=False)
    async def _reload_history_after_write(self) -> None:
        if self.journal is not None:
            await self.journal.barrier()
        self.history_view.reload()
        self.today_view.reload()

    # ------------------------------------------------------------------ the pain diary

    def ask_pain(self) -> None:
        """The next waiting pain question, if nothing else is on screen: never over the
        attended-use check, a resume or quit question, help or another modal (the ones
        that matter more are answered first; ctrl+x works over this one as everywhere)."""
        if not self.pain_asks or self._shutting_down.is_set() or len(self.screen_stack) != 1:
            return
        ask = self.pain_asks.pop(0)
        self.push_screen(PainPrompt(ask.about), partial(self._pain_answered, ask))

    def _pain_answered(self, ask: PainAsk, rating: int | None) -> None:
        if rating is not None:
            self.record_pain_after(ask, rating)
        self.call_later(self.ask_pain)  # the next one, if several sessions ended

    @work(group="pain", exit_on_error=False)
    async def record_pain_after(self, ask: PainAsk, rating: int) -> bool:
        """Write the rating (moment "after", with the session's id and site)."""
        journal = self.journal
        if journal is None:
            return False
        await journal.barrier()  # the session's row first: the rating refers to it
        try:
            await asyncio.to_thread(
                record_pain,
                journal.path,
                rating,
                site=ask.site,
                session_id=ask.session_id,
                moment="after",
            )
        except TherapyctlError as exc:
            self.notify(str(exc), title="pain not recorded", severity="error")
            return False
        self.notify(f"pain {rating}/10 after {ask.about}: recorded", title="pain diary")
        self.today_view.reload()
        return True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Footer: device keys on the device list, session keys on a device's tab; stop all,
        help, history, tabs and quit everywhere."""
        tabs = getattr(self, "tabs", None)  # None: not composed yet
        tab = tabs.active if tabs is not None else ""
        device_actions = (
            "rescan",
            "disconnect",
            "alias",
            "site",
            "pair",
            "start",
            "pause",
            "resume",
        )
        stack = self.screen_stack  # empty while the app closes
        if stack and isinstance(stack[-1], SessionDetail) and action in device_actions:
            return False  # a recorded session is on screen: back (esc), history, stop, quit
        on_device = tab.startswith("dev-")
        if action in ("start", "pause", "resume", "stop"):
            return on_device
        if action == "rescan":
            return tab == "devices-tab"
        if action in ("disconnect", "alias", "site", "pair"):
            return on_device or tab == "devices-tab"
        return True

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        if not self.screen_stack:
            return
        self.refresh_bindings()
        # Where the keys go next: the list of the tab (Enter opens at once), else the app.
        if self.tabs.active == "devices-tab":
            self.devices_view.query_one(DataTable).focus()
        elif self.tabs.active == "history-tab":
            self.history_view.focus_table()
        elif self.tabs.active == "today-tab":
            self.screen_stack[0].set_focus(None)
            self.today_view.reload()
        else:
            self.screen_stack[0].set_focus(None)

    # ------------------------------------------------------------------ quit

    async def action_quit(self) -> None:
        """Quit; with sessions running, ask first. Every output is stopped (and confirmed
        off) before the app closes."""
        running = self.running()
        if not running:
            await self._quit_now()
            return
        if isinstance(self.screen, QuitPrompt):
            return

        async def answered(stop_and_quit: bool | None) -> None:
            if stop_and_quit:
                await self._quit_now()

        self.push_screen(QuitPrompt(running), answered)

    async def _quit_now(self) -> None:
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


def _known_devices(path: Path) -> list[tuple[KnownDevice, str | None]]:
    """The devices the journal knows, each with its remembered body site."""
    with JournalReader(path) as reader:
        return [(k, reader.device_site(k.address)) for k in reader.known_devices()]
