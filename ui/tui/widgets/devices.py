"""The devices screen: what the scan sees and what the journal remembers (alias, body site),
one row each."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

COLUMNS = ("NAME", "KIND", "SIGNAL", "BATTERY", "STATE", "SITE", "ADDRESS")


@dataclass(slots=True)
class DeviceRow:
    """One device as the list shows it."""

    address: str
    name: str
    kind: str
    alias: str | None = None
    rssi: int | None = None
    battery_pct: int | None = None
    state: str = "not in range"
    bonded: bool | None = None  # False: this controller must pair before it may command it
    site: str | None = None  # the body site it is used on (the journal's, or ``ui --site``)

    @property
    def label(self) -> str:
        return self.alias or self.name

    def cells(self) -> tuple[str, ...]:
        name = f"{self.alias} ({self.name})" if self.alias else self.name
        return (
            name,
            self.kind,
            "--" if self.rssi is None else f"{self.rssi} dBm",
            "--" if self.battery_pct is None else f"{self.battery_pct} %",
            self.state + (", not paired (b: pair)" if self.bonded is False else ""),
            self.site or "--",
            self.address,
        )


class DevicesView(Vertical):
    """The live list; Enter connects the highlighted device."""

    DEFAULT_CSS = """
    DevicesView { height: 1fr; }
    DevicesView #devices-note { height: auto; padding: 0 1; color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        yield DataTable(id="devices", cursor_type="row", zebra_stripes=True)
        yield Static("scanning...", id="devices-note")

    def on_mount(self) -> None:
        self.query_one("#devices", DataTable).add_columns(*COLUMNS)

    def show(self, rows: list[DeviceRow], note: str) -> None:
        """Replace the rows, keeping the cursor on the same device."""
        if not self.is_attached:  # the app is closing
            return
        table = self.query_one("#devices", DataTable)
        current = self.highlighted()
        table.clear()
        for row in rows:
            table.add_row(*row.cells(), key=row.address)
        addresses = [row.address for row in rows]
        if current in addresses:
            table.move_cursor(row=addresses.index(current), animate=False)
        self.query_one("#devices-note", Static).update(note)

    def highlighted(self) -> str | None:
        table = self.query_one("#devices", DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:  # no valid cursor yet
            return None
        return None if key.value is None else str(key.value)
