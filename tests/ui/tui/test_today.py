"""Issue 14 in the UI: the body site (w), the pain question after a session, the Today tab.

The Pilot tests run the app against the simulator and a real journal file; the Today tab's
journal is written by the test with fixed times and read at a fixed clock, and every number
it should show is worked out here from what was written, not from the code under test.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Label, Static

from device.journal import JournalReader, JournalWriter, record_pain, start_episode
from device.link import Radio
from device.safety import DEFAULT_LIMITS, Awake
from device.sessions import RegimenSettings
from protocols import Mode
from simulator import DeviceSpec, SimulatorWorld
from tests.ui.tui.test_app import connect, ui, until
from ui.tui.app import Backend, TherapyApp
from ui.tui.keys import ACTIONS
from ui.tui.widgets.devices import COLUMNS
from ui.tui.widgets.prompts import AttendedPrompt, PainPrompt, SitePrompt
from ui.tui.widgets.today import (
    TodayView,
    bar,
    cold_text,
    countdown,
    daily_pain,
    pain_chart,
)

NOW = 1_795_000_000.0  # 2026-11-18 11:06:40 UTC: the Today tab's fixed "now"
HOUR = 3600.0
ALWAYS_AWAKE = RegimenSettings(Awake(0, 24 * 60), UTC)  # no night: due times stay put
SITE_COLUMN = COLUMNS.index("SITE")


def hhmm(at: float) -> str:
    return time.strftime("%H:%M", time.gmtime(at))


# ---------------------------------------------------------------------- pure pieces


def test_countdown_and_bars_say_the_numbers() -> None:
    """1:20:05 as hours:minutes:seconds; a bar fills in proportion, full at the limit."""
    assert countdown(4805) == "1:20:05" and countdown(0) == "0:00:00"
    assert countdown(-5) == "0:00:00" and countdown(30 * 3600) == "30:00:00"
    assert bar(2, 4, 12).plain == "█" * 6 + "░" * 6
    assert bar(0, 4, 12).plain == "░" * 12
    assert bar(0.01, 60, 12).plain == "█" + "░" * 11  # a little shows
    assert bar(9, 4, 12).plain == "█" * 12
    assert bar(float("inf"), 4, 12).plain == "█" * 12  # a damaged row reads as over


def test_cold_waits_two_hours_between_starts_on_a_site() -> None:
    """guidance: cold every 2 h (start to start): the next start is 2 h after the last."""
    last = NOW - 40 * 60
    assert cold_text(last, DEFAULT_LIMITS, NOW, UTC) == (
        f"allowed from {hhmm(last + 2 * HOUR)} (2 h apart)"
    )
    assert cold_text(NOW - 3 * HOUR, DEFAULT_LIMITS, NOW, UTC).startswith("may start now")
    assert cold_text(None, DEFAULT_LIMITS, NOW, UTC).startswith("may start now")


def test_the_pain_chart_keeps_a_fixed_scale_and_tells_no_rating_from_zero() -> None:
    """Seven days, the day's mean on a 0-10 scale: 10 fills the column, 0 is a sliver, a day
    without a rating is blank with a dash under it."""
    from device.journal import PainRating

    def rating(at: float, value: int) -> PainRating:
        return PainRating(0, at, value, None, None, "any", None)

    ratings = [rating(NOW - 6 * 24 * HOUR, 10), rating(NOW - 3 * HOUR, 4), rating(NOW, 6)]
    ratings.append(rating(NOW - 2 * 24 * HOUR, 0))
    days = daily_pain(ratings, NOW, UTC)
    assert [name for name, _ in days] == ["Th", "Fr", "Sa", "Su", "Mo", "Tu", "We"]
    assert [mean for _, mean in days] == [10, None, None, None, 0, None, 5]
    lines = pain_chart(days)
    columns = [[line[3 + 3 * day] for line in lines[:5]] for day in range(7)]
    assert columns[0] == ["█"] * 5  # 10 of 10
    assert columns[1] == [" "] * 5  # no rating
    assert columns[4] == [" "] * 4 + ["▁"]  # 0: a sliver
    assert columns[6] == [" ", " ", "▄", "█", "█"]  # 5 of 10: two and a half rows
    assert lines[5].split() == ["10", "-", "-", "-", "0", "-", "5"]


# ---------------------------------------------------------------------- a fixed journal


def build_journal(path: Path) -> dict[str, str]:
    """An open spasm on lower-back (10 h ago), cold 40 min ago, two heat sessions and some
    light there, heat on the neck; pain ratings over the week. Returns the session ids."""
    writer = JournalWriter(path)
    identity = {"kind": "thermal-pad", "name": "pad", "address": "D6:7C:BE:E0:42:E5"}
    identity |= {"model": "sim", "firmware": "1.0", "serial": "0001"}
    # (id, site, mode, started ago, on minutes, CEM43)
    uses = (
        ("cold1", "lower-back", Mode.COLD, 40 * 60, 15, 0.0),
        ("heat1", "lower-back", Mode.HEAT, 3 * HOUR, 20, 12.5),
        ("heat2", "lower-back", Mode.HEAT, 5 * HOUR, 20, 8.0),
        ("light1", "lower-back", Mode.LIGHT, 6 * HOUR, 10, 0.0),
        ("neck1", "neck", Mode.HEAT, 2 * HOUR, 20, 31.0),
    )
    for sid, site, mode, _ago, minutes, _cem43 in uses:
        writer.begin(
            sid,
            identity,
            mode=mode.name.lower(),
            plan=None,
            requested_minutes=minutes,
            time_scale=1.0,
            limits=DEFAULT_LIMITS.as_dict(),
            site=site,
        )
        writer.use_begins(sid, mode)
        writer.use_ends(sid, minutes * 60)
        writer.end(sid, actual_minutes=minutes, end_reason="completed")
    writer.close()
    with sqlite3.connect(path) as conn:
        for sid, _site, _mode, ago, minutes, cem43 in uses:
            start = NOW - ago
            conn.execute(
                "UPDATE uses SET started_at = ?, last_on_at = ?, cem43_min = ?"
                " WHERE session_id = ?",
                (start, start + minutes * 60, cem43, sid),
            )
            conn.execute(
                "UPDATE sessions SET started_at = ?, ended_at = ? WHERE id = ?",
                (start, start + minutes * 60, sid),
            )
    start_episode(path, "lower-back", at=NOW - 10 * HOUR, kind="spasm", acute_h=72)
    for ago, value, moment in ((6 * 24, 7, "any"), (3 * 24, 5, "any"), (24, 4, "before")):
        record_pain(path, value, site="lower-back", moment=moment, at=NOW - ago * HOUR)
    record_pain(path, 3, site="lower-back", session_id="cold1", moment="after", at=NOW - 0.3 * HOUR)
    return {sid: sid for sid, *_ in uses}


def today_app(db_path: Path) -> TherapyApp:
    """The app on one simulated pad, its Today tab at the fixed clock and waking hours."""

    @asynccontextmanager
    async def backend() -> AsyncIterator[Backend]:
        world = SimulatorWorld([DeviceSpec("thermal-pad", "pad")], time_scale=60)
        async with world, await Radio.attach(world.controller()) as radio:
            yield Backend(radio)

    return TherapyApp(
        backend,
        DEFAULT_LIMITS,
        db_path=db_path,
        scan_every_s=600,
        regimen=ALWAYS_AWAKE,
        clock=lambda: NOW,
    )


def pain_rows(path: Path) -> int:
    with JournalReader(path) as reader:
        return len(reader.pain())


def text_of(view: TodayView, part: str) -> str:
    return str(view.query_one(f"#today-{part}", Static).render())


async def test_today_shows_the_episode_what_is_due_the_dose_and_the_pain() -> None:
    """An episode 10 h in, cold done 40 min ago: "cold on lower-back in 1:20:00"; the site's
    dose against its limits (2 of 4 heat sessions, 20.5 of 60 CEM43, 10 of 30 light
    minutes, cold again at +1:20); the neck's heat counted apart; the pain trend."""
    db_path = Path(os.environ["THERAPYCTL_DB"])
    build_journal(db_path)
    app = today_app(db_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.scans >= 1)
        await pilot.press(ACTIONS["today"].keys)
        assert app.tabs.active == "today-tab"
        view = app.today_view
        await until(pilot, lambda: view.reloads >= 2 and view.data.read)
        await pilot.pause()
        episodes = text_of(view, "episodes")
        assert "lower-back spasm: acute, 10 h of 72" in episodes, episodes
        due = text_of(view, "next")
        # The last cold start + 2 h (guidance: cold every 2 h in the acute phase).
        assert f"cold on lower-back in 1:20:00 (at {hhmm(NOW + 80 * 60)})" in due, due
        assert "cold 15 min: the first 72 h of a spasm" in due, due
        dose = text_of(view, "dose")
        lines = [line.strip() for line in dose.splitlines()]
        back = lines.index("lower-back")
        assert lines[back + 1] == "heat  " + "█" * 6 + "░" * 6 + " 2 of 4 sessions", dose
        cem43 = round(20.5 / 60 * 12)
        assert lines[back + 2] == "CEM43 " + "█" * cem43 + "░" * (12 - cem43) + " 20.5 of 60 min"
        assert lines[back + 3] == "light " + "█" * 4 + "░" * 8 + " 10 of 30 min"
        assert lines[back + 4] == (
            f"cold  allowed from {hhmm(NOW - 40 * 60 + 2 * HOUR)} (2 h apart)"
        )
        neck = lines.index("neck")
        assert lines[neck + 1].endswith(" 1 of 4 sessions") and "31 of 60" in lines[neck + 2]
        assert lines[neck + 4].startswith("cold  may start now")
        pain = text_of(view, "pain")
        assert "last: 3/10 after a session on lower-back" in pain, pain
        assert pain.splitlines()[6].split() == ["7", "-", "-", "5", "-", "4", "3"], pain
        # A minute later (the clock moves; the countdown with it, without a read).
        reads = view.reloads
        view.clock = lambda: NOW + 65
        view.show()
        assert f"cold on lower-back in 1:18:55 (at {hhmm(NOW + 80 * 60)})" in text_of(view, "next")
        assert view.reloads == reads


async def test_a_site_set_with_w_is_remembered_and_the_pain_question_follows_a_session() -> None:
    """w on the device list: a name that is not a site is said in the question, "Lower Back"
    is stored as lower-back (list, journal, panel); the next sessions' rows have the site.
    When it ends: "Pain now, 0-10?"; "12" is refused in the prompt, 3 is recorded (after,
    with the session's id and site); after a second session Esc records nothing."""
    db_path = Path(os.environ["THERAPYCTL_DB"])
    async with ui(("thermal-pad", "pad"), pain_question=True) as (app, pilot, world):
        address = str(world.devices["pad"].address).split("/")[0]
        await until(pilot, lambda: address in app.found)
        table = app.query_one("#devices", DataTable)
        await until(pilot, lambda: table.row_count == 1)
        assert table.get_row_at(0)[SITE_COLUMN] == "--"
        table.focus()
        await pilot.press(ACTIONS["site"].keys)
        await until(pilot, lambda: isinstance(app.screen, SitePrompt))
        prompt = app.screen
        await until(pilot, lambda: len(prompt.query("#site-error")) == 1)
        await pilot.press(*"x" * 41, "enter")
        error = str(prompt.query_one("#site-error", Label).render())
        assert "at most 40 characters" in error and app.screen is prompt, error
        prompt.query_one("#site", Input).value = ""
        await pilot.press(*"Lower Back", "enter")
        await until(pilot, lambda: table.get_row_at(0)[SITE_COLUMN] == "lower-back")
        assert app.journal is not None
        await app.journal.barrier()
        with JournalReader(db_path) as reader:
            assert reader.device_site(address) == "lower-back"

        panel = await connect(app, pilot, world, "pad")
        assert str(panel.query_one("#site", Static).render()) == "on lower-back"
        panel.query_one("#mode").value = "cold"  # type: ignore[attr-defined]
        panel.start()
        await until(pilot, lambda: world.devices["pad"].firmware.output_on)
        session_id = panel.runner.session_id  # type: ignore[union-attr]
        panel.stop()
        await until(pilot, lambda: isinstance(app.screen, PainPrompt))
        question = app.screen
        await until(pilot, lambda: len(question.query("#pain-question")) == 1)
        assert str(question.query_one("#pain-question", Label).render()) == (
            "Pain now, 0-10? (Enter or Esc to skip)"
        )
        await pilot.press("1", "2", "enter")
        error = str(question.query_one("#pain-error", Label).render())
        assert "'12' is not a rating" in error and app.screen is question, error
        question.query_one("#pain", Input).value = ""
        await pilot.press("3", "enter")
        await until(pilot, lambda: not isinstance(app.screen, PainPrompt))
        await until(pilot, lambda: pain_rows(db_path))
        # The Today tab is read again: its pain trend has the rating.
        await until(pilot, lambda: [p.rating for p in app.today_view.data.pain] == [3])
        with JournalReader(db_path) as reader:
            (row,) = reader.sessions(include_refused=True)
            ratings = reader.pain()
        assert (row.session_id, row.site) == (session_id, "lower-back")
        assert [(p.rating, p.moment, p.session_id, p.site) for p in ratings] == [
            (3, "after", session_id, "lower-back")
        ]

        # A second session; Esc skips its question: nothing more is written.
        panel.query_one("#mode").value = "heat"  # type: ignore[attr-defined]
        panel.start()
        await until(pilot, lambda: world.devices["pad"].firmware.output_on)
        panel.stop()
        await until(pilot, lambda: isinstance(app.screen, PainPrompt))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, PainPrompt))
        await app.journal.barrier()
        with JournalReader(db_path) as reader:
            assert len(reader.pain()) == 1
            assert [r.site for r in reader.sessions()] == ["lower-back", "lower-back"]
        await pilot.press("h")  # and the history says where
        history = app.history_view.query_one("#history", DataTable)
        await until(pilot, lambda: history.row_count == 2)
        assert [history.get_row_at(i)[3] for i in (0, 1)] == ["lower-back", "lower-back"]


async def test_the_pain_question_waits_behind_the_attended_check() -> None:
    """ui --site neck: the pad's sessions are on the neck; heat there in a spasm's acute
    phase is warned about. A session ends while another device's "are you awake?" is up:
    the pain question is not put over it; it comes once the check is answered."""
    db_path = Path(os.environ["THERAPYCTL_DB"])
    JournalWriter(db_path).close()
    start_episode(db_path, "neck", at=time.time() - 5 * HOUR)
    async with ui(("heat-pad", "pad"), pain_question=True, default_site="neck") as (
        app,
        pilot,
        world,
    ):
        panel = await connect(app, pilot, world, "pad")
        assert panel.site == "neck"  # ui --site: a device without a site of its own
        attended = AttendedPrompt("belt", 600.0)
        await app.push_screen(attended)
        panel.start()
        await until(pilot, lambda: world.devices["pad"].firmware.output_on)
        await until(
            pilot, lambda: any(n.title == "pad: heat while acute" for n in app._notifications)
        )
        (warning,) = [n.message for n in app._notifications if n.title == "pad: heat while acute"]
        assert warning.startswith("heat on neck, 5 h into a spasm: the guidance is cold"), warning
        panel.stop()
        await until(pilot, lambda: panel.summaries)
        await until(pilot, lambda: app.pain_asks)
        await pilot.pause(1.5)  # the once-a-second retry ran: still kept back
        assert app.screen is attended and app.pain_asks
        attended.dismiss(True)
        await until(pilot, lambda: isinstance(app.screen, PainPrompt))
        question = app.screen
        assert isinstance(question, PainPrompt) and question.about == "pad, heat on neck"
        await pilot.press("escape")


def test_ui_site_is_checked_and_given_to_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ui --site "Lower Back"`: the app gets lower-back; a name that is not a site is one
    line and exit 2, before anything starts."""
    from click.testing import CliRunner

    from ui.cli.main import cli

    given: list[str | None] = []

    async def run_async(self: TherapyApp) -> None:
        given.append(self.default_site)

    monkeypatch.setattr(TherapyApp, "run_async", run_async)
    runner = CliRunner()
    result = runner.invoke(cli, ["ui", "--sim", "heat-pad", "--site", "Lower Back"])
    assert result.exit_code == 0, result.output
    assert given == ["lower-back"]
    for bad in ("", "x" * 41, "neck\x07"):
        result = runner.invoke(cli, ["ui", "--sim", "heat-pad", "--site", bad])
        assert result.exit_code == 2, result.output
        assert result.output.startswith("therapyctl: error: --site: "), result.output
        assert "Traceback" not in result.output
    assert given == ["lower-back"]
