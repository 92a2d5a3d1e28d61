"""Snapshots of the main screens at 80x24 and 120x40 (pytest-textual-snapshot).

The devices come from the simulator over its real GATT stack; what changes from run to run
(live readings, times of day) is fed in fixed: a session's readings as Status values shown
by the panel, a journal written with fixed timestamps. Update after a deliberate change with
``pytest tests/ui/tui/test_snapshots.py --snapshot-update`` and look at the report.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from device.journal import JournalWriter
from device.link import Radio
from device.safety import DEFAULT_LIMITS, Tally
from protocols import Mode, State
from simulator import DeviceSpec, SimulatorWorld
from tests.device.helpers import status
from ui.tui.app import Backend, TherapyApp
from ui.tui.widgets.help import HelpScreen
from ui.tui.widgets.history import SessionDetail
from ui.tui.widgets.prompts import AttendedPrompt, QuitPrompt

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
FIXED_AT = 1_795_000_000.0  # 2026-11-18 11:06:40 UTC: the journal's fixed time of day
SnapCompare = Callable[..., bool]


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Times of day are shown in local time: make that UTC for every machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def make_app(db_path: Path | None = None) -> TherapyApp:
    """The app on a simulated heat pad and 800 mW belt, opened in the app's own loop."""

    @asynccontextmanager
    async def backend() -> AsyncIterator[Backend]:
        world = SimulatorWorld(
            [DeviceSpec("heat-pad", "heat-pad"), DeviceSpec("light-belt-800", "belt")],
            time_scale=60,
        )
        async with world, await Radio.attach(world.controller()) as radio:
            yield Backend(radio)

    return TherapyApp(backend, DEFAULT_LIMITS, time_scale=60, db_path=db_path, scan_every_s=600)


async def until(pilot: Pilot[Any], condition: Callable[[], object]) -> None:
    async with asyncio.timeout(20):
        while not condition():
            await pilot.pause(0.02)


async def scanned(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, TherapyApp)
    await until(pilot, lambda: app.scans >= 1)
    await pilot.pause()


def connected(name: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, TherapyApp)
        await scanned(pilot)
        address = next(a for a, f in app.found.items() if f.name == name)
        await app.connect(address).wait()  # its end: the device's tab is then the active one
        await pilot.pause()
        app.clear_notifications()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_devices_screen(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    """The device list: name, kind, signal, battery, state, address; the footer keys."""
    assert snap_compare(make_app(), terminal_size=size, run_before=scanned)


@pytest.mark.parametrize("size", SIZES)
def test_session_view_idle(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    """A connected pad: plan, mode, target, minutes, the keys, the chart with its limit."""
    assert snap_compare(make_app(), terminal_size=size, run_before=connected("heat-pad"))


@pytest.mark.parametrize("size", SIZES)
def test_session_view_running(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    """Six minutes of a heat session: countdown, readings, progress and the rising chart."""
    prepare = connected("heat-pad")

    async def run_before(pilot: Pilot[Any]) -> None:
        await prepare(pilot)
        app = pilot.app
        assert isinstance(app, TherapyApp)
        panel = next(iter(app.panels.values()))
        tally = Tally(running_s=360, cem43_min=0.12)
        for second in range(0, 361, 6):
            reading = status(
                state=State.RUNNING,
                mode=Mode.HEAT,
                temperature_c=31.0 + 9.0 * (1 - 0.995**second),
                elapsed_s=second,
                remaining_s=1200 - second,
                battery_pct=96,
            )
            panel.show_status(reading, tally, second / 60)
        panel.query_one("#chart").span_min = 20  # type: ignore[attr-defined]
        panel.query_one("#chart").flush()  # type: ignore[attr-defined]
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_attended_prompt(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    """Heat's check: the question, why, and the countdown to the stop."""
    prepare = connected("heat-pad")

    async def run_before(pilot: Pilot[Any]) -> None:
        await prepare(pilot)
        # A clock that stands still: the countdown shows 58 s, whenever it is drawn.
        await pilot.app.push_screen(AttendedPrompt("heat-pad", 58.0, now=lambda: 0.0))
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_help_screen(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    """? on the device list: every key that works there, from the live bindings."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await scanned(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_quit_question(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    """q with a session running: stop it and quit, or stay (over the pad's tab)."""
    prepare = connected("heat-pad")

    async def run_before(pilot: Pilot[Any]) -> None:
        await prepare(pilot)
        await pilot.app.push_screen(QuitPrompt(["heat-pad"]))
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


def write_journal(path: Path) -> str:
    """Two sessions with fixed readings and fixed times; returns the newer one's id."""
    writer = JournalWriter(path)
    identity = {"kind": "heat-pad", "name": "heat-pad", "address": "D6:7C:BE:E0:42:E5"}
    identity |= {"model": "sim", "firmware": "1.0", "serial": "0001"}
    limits = DEFAULT_LIMITS.as_dict()
    for index, (sid, minutes, reason) in enumerate(
        (("older", 12.0, "user_stopped"), ("newer", 20.0, "completed"))
    ):
        writer.begin(
            sid,
            identity,
            mode="heat",
            plan=None,
            requested_minutes=20,
            time_scale=60,
            limits=limits,
        )
        for second in range(0, int(minutes * 60) + 1, 10):
            reading = status(
                temperature_c=31.0 + 9.5 * (1 - 0.996**second),
                elapsed_s=second,
                remaining_s=1200 - second,
            )
            writer.sample(sid, float(second), reading)
        writer.event(sid, 0.0, "started", "heat 20 min at 40 °C")
        writer.event(sid, 600.0, "attended_check", "are you awake? (answered)")
        writer.event(sid, minutes * 60, "ended", reason.replace("_", " "))
        writer.end(
            sid,
            planned_minutes=20,
            actual_minutes=minutes,
            end_reason=reason,
            end_detail="" if reason == "completed" else "stopped by the user",
            max_temperature_c=40.2,
            min_temperature_c=31.0,
            cem43_minutes=0.31 + index,
            energy_j=0.0,
        )
    writer.close()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE sessions SET started_at = ?, ended_at = ? WHERE id = 'older'",
            (FIXED_AT, FIXED_AT + 720),
        )
        conn.execute(
            "UPDATE sessions SET started_at = ?, ended_at = ? WHERE id = 'newer'",
            (FIXED_AT + 7200, FIXED_AT + 8400),
        )
    return "newer"


@pytest.mark.parametrize("size", SIZES)
def test_history_screen(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    """The journal's sessions, newest first."""
    db_path = Path(os.environ["THERAPYCTL_DB"])
    write_journal(db_path)

    async def run_before(pilot: Pilot[Any]) -> None:
        await scanned(pilot)
        await pilot.press("h")
        app = pilot.app
        assert isinstance(app, TherapyApp)
        await until(pilot, lambda: len(app.history_view.rows) == 2)
        await pilot.pause()

    assert snap_compare(make_app(db_path), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_session_detail_screen(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    """One recorded session: summary, chart with the heat limit line, events."""
    db_path = Path(os.environ["THERAPYCTL_DB"])
    session_id = write_journal(db_path)

    async def run_before(pilot: Pilot[Any]) -> None:
        await scanned(pilot)
        screen = SessionDetail(db_path, session_id)
        await pilot.app.push_screen(screen)
        await until(pilot, lambda: screen.query_one("#events").row_count == 3)  # type: ignore[attr-defined]
        await pilot.pause()

    assert snap_compare(make_app(db_path), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_today_screen(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    """The Today tab at a fixed clock: the open episode and its phase, cold due in 1:20:00,
    the dose bars of two sites against their limits, the pain trend of the week."""
    from tests.ui.tui.test_today import build_journal, today_app

    db_path = Path(os.environ["THERAPYCTL_DB"])
    build_journal(db_path)
    app = today_app(db_path)

    async def run_before(pilot: Pilot[Any]) -> None:
        await scanned(pilot)
        await pilot.press("t")
        await until(pilot, lambda: app.today_view.reloads >= 2)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
