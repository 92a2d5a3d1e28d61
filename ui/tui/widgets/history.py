"""The journal in the UI: sessions newest first; open one to see its chart and events.

Times are local, ``YYYY-MM-DD HH:MM``, as ``therapyctl history`` and ``show`` print them; each
session shows its id (what ``show`` takes). Reads go to a thread (``asyncio.to_thread``) so
the UI never waits on SQLite.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from device.journal import JournalReader, SessionRow
from protocols import TherapyctlError
from ui.tui.widgets.chart import Pause, SessionChart, limit_lines, temperature_extremes

HISTORY_ROWS = 500
SHORT_ID = 12  # the table's id column: ``therapyctl show`` takes any unique prefix
SAFETY_KINDS = frozenset({"safety_stop", "alarm", "link_lost", "device_fault", "clamp"})


def _when(at: float) -> str:
    return datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M")


def _minutes(value: float | None) -> str:
    return "--" if value is None else f"{value:.1f}"


def pauses_of(events: list[dict[str, Any]]) -> list[Pause]:
    """The paused stretches of a recorded session (minutes), from its paused/resumed events;
    one the session ended in closes at its end."""
    pauses: list[Pause] = []
    start: float | None = None
    for event in events:
        minute = float(event["t_s"]) / 60
        if event["kind"] == "paused" and start is None:
            start = minute
        elif start is not None and event["kind"] in ("resumed", "stop", "safety_stop", "ended"):
            pauses.append((start, minute))
            start = None
    if start is not None:
        pauses.append((start, None))
    return pauses


class HistoryView(Vertical):
    """The journal's sessions, newest first; Enter opens one."""

    DEFAULT_CSS = """
    HistoryView { height: 1fr; }
    HistoryView #history-note { height: auto; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, db_path: Path | None) -> None:
        super().__init__()
        self.db_path = db_path
        self.rows: list[SessionRow] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="history-note")
        yield DataTable(id="history", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#history", DataTable)
        table.add_columns("WHEN", "DEVICE", "WHAT", "SITE", "MIN", "ENDED", "ID")
        self.reload()

    def focus_table(self) -> None:
        """The keys go to the table: Enter opens the highlighted session at once."""
        self.query_one("#history", DataTable).focus()

    @work(exclusive=True, group="history", exit_on_error=False)
    async def reload(self) -> None:
        note = self.query_one("#history-note", Static)
        if self.db_path is None:
            note.update("No journal: sessions are not recorded (give --db).")
            return
        try:
            self.rows = await asyncio.to_thread(_read_sessions, self.db_path)
        except TherapyctlError as exc:
            note.update(str(exc))
            return
        table = self.query_one("#history", DataTable)
        table.clear()
        for row in self.rows:
            table.add_row(
                _when(row.started_at),
                row.device_name,
                row.what,
                row.site or "--",
                _minutes(row.actual_minutes),
                (row.end_reason or "running").replace("_", " "),
                row.session_id[:SHORT_ID],
                key=row.session_id,
            )
        shown = f"{len(self.rows)} session{'s' if len(self.rows) != 1 else ''}"
        note.update(f"{shown}, newest first. Enter: chart and events.")

    @on(DataTable.RowSelected, "#history")
    def open_session(self, event: DataTable.RowSelected) -> None:
        if self.db_path is not None:
            self.app.push_screen(SessionDetail(self.db_path, str(event.row_key.value)))


def _read_sessions(path: Path) -> list[SessionRow]:
    with JournalReader(path) as reader:
        return reader.sessions(limit=HISTORY_ROWS)


def _read_detail(path: Path, session_id: str) -> dict[str, Any]:
    with JournalReader(path) as reader:
        return {
            "session": reader.session(session_id),
            "samples": reader.samples(session_id),
            "events": reader.events(session_id),
            "limits": reader.limits(session_id),
        }


class SessionDetail(Screen[None]):
    """One recorded session: what it was, its chart with limit lines, its events."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "app.pop_screen", "Back")]
    DEFAULT_CSS = """
    SessionDetail #summary { height: auto; padding: 0 1; }
    SessionDetail SessionChart { height: 1fr; }
    SessionDetail #events { height: 8; }
    """

    def __init__(self, db_path: Path, session_id: str) -> None:
        super().__init__()
        self.db_path = db_path
        self.session_id = session_id

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("loading...", id="summary")
        yield SessionChart(id="detail-chart")
        yield DataTable(id="events", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#events", DataTable).add_columns("AT", "EVENT", "WHAT HAPPENED")
        self.load()

    @work(exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        try:
            data = await asyncio.to_thread(_read_detail, self.db_path, self.session_id)
        except TherapyctlError as exc:
            self.query_one("#summary", Static).update(str(exc))
            return
        self.show(data)

    def show(self, data: dict[str, Any]) -> None:
        row: SessionRow = data["session"]
        samples, limits = data["samples"], data["limits"]
        light = row.mode == "light" or any(s["mode"] == "light" for s in samples)
        self.sub_title = f"{row.device_name}: {row.what} · session {row.session_id}"
        modes = {s["mode"] for s in samples} | ({row.mode} if row.mode else set())
        extremes = temperature_extremes(modes, row.max_temperature_c, row.min_temperature_c)
        dose = (
            f"  energy {row.energy_j or 0:.0f} J"
            if light
            else f"  CEM43 {row.cem43_minutes or 0:.2f} min"
        )
        self.query_one("#summary", Static).update(
            f"session {row.session_id}  {_when(row.started_at)}  {row.device_name}"
            f" ({row.device_kind})  {row.what}" + (f" on {row.site}" if row.site else "") + "\n"
            f"{_minutes(row.actual_minutes)} of {_minutes(row.planned_minutes)} min"
            f"  ended: {(row.end_reason or 'running').replace('_', ' ')}"
            + (f" — {row.end_detail}" if row.end_detail else "")
            + (f"  {extremes}" if extremes else "")
            + dose
        )
        chart = self.query_one(SessionChart)
        # The x axis spans the whole session (its last sample, paused time included), not
        # only its planned minutes.
        chart.configure(limit_lines(modes, limits), row.planned_minutes or None, show_power=light)
        chart.set_points(
            [s["t_s"] / 60 for s in samples],
            [s["temperature_c"] for s in samples],
            [s["power_mw"] if s["output_on"] else 0 for s in samples] if light else None,
        )
        chart.set_pauses(pauses_of(data["events"]))
        chart.refresh()
        table = self.query_one("#events", DataTable)
        table.clear()
        for event in data["events"]:
            t = int(event["t_s"])
            marker = "! " if event["kind"] in SAFETY_KINDS else ""
            table.add_row(
                f"{t // 60:02d}:{t % 60:02d}",
                marker + event["kind"].replace("_", " "),
                event["detail"],
            )
