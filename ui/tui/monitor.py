"""``therapyctl monitor``: every controller and session reporting to one broker (Textual).

What it shows comes from anyone who can publish there: every cell is plain text, never markup.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from device.mqtt import MonitorModel, MqttAuthError, MqttConfigError, MqttSettings, watch_broker

COLUMNS = ("NODE", "LINK", "DEVICE", "KIND", "STATE", "°C", "LEFT s", "BAT %", "LAST EVENT")


class MonitorApp(App[str | None]):
    """A live table of controllers, devices and sessions on an MQTT broker."""

    TITLE = "therapyctl monitor"
    BINDINGS: ClassVar[list[Binding | tuple[str, str] | tuple[str, str, str]]] = [
        Binding("q", "quit", "Quit")
    ]
    CSS = "#status { height: 1; padding: 0 1; }"

    def __init__(self, settings: MqttSettings) -> None:
        super().__init__()
        self.settings = settings
        self.model = MonitorModel(settings.prefix)
        self.connected = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("connecting...", id="status")
        yield DataTable(id="devices", zebra_stripes=True, cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        self.sub_title = f"{self.settings.host}:{self.settings.port} ({self.settings.prefix}/#)"
        self.run_worker(self._watch(), name="broker", exclusive=True)

    async def _watch(self) -> None:
        try:
            await watch_broker(self.settings, self._broker_message, self._broker_connection)
        except (MqttAuthError, MqttConfigError) as exc:
            self.exit(str(exc))  # credentials and TLS files do not fix themselves: say so, leave

    def _broker_message(self, topic: str, payload: bytes) -> None:
        if self.model.ingest(topic, payload):
            self._refresh()

    def _broker_connection(self, connected: bool, text: str) -> None:
        self.connected = connected
        self.query_one("#status", Static).update(Text(text))

    def _refresh(self) -> None:
        table: DataTable[Any] = self.query_one(DataTable)
        table.clear()
        for row in self.model.rows():
            table.add_row(*(Text(cell, no_wrap=True) for cell in row))
