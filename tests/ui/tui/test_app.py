"""The Textual UI against the simulator, driven by Pilot: the same controller as `run`."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Digits, Footer, Input, Label, ProgressBar, Select, Static

import device.sessions.runner
import ui.tui.app as app_module
from device.journal import JournalReader, JournalWriter
from device.link import AdapterUnavailableError, Radio
from device.mqtt import MqttAuthError, MqttBridge, MqttSettings
from device.safety import DEFAULT_LIMITS, Limits
from protocols import TherapyctlError
from simulator import DeviceSpec, SimulatorWorld, parse_fault
from ui.cli.compose import tui_backend
from ui.tui.app import (
    AttendedPrompt,
    Backend,
    HelpScreen,
    QuitPrompt,
    ResumePrompt,
    SessionPanel,
    TherapyApp,
)
from ui.tui.keys import KEY_ACTIONS
from ui.tui.widgets.chart import PAUSED_MARK, LimitLine, SessionChart, temperature_extremes
from ui.tui.widgets.history import SHORT_ID, HistoryView, SessionDetail
from ui.tui.widgets.prompts import AliasPrompt

SCALE = 60.0
# The attended-use check after one simulated minute, not ten: the question comes at once.
EARLY_CHECK = dataclasses.replace(DEFAULT_LIMITS, attended_check_s=60.0)


@asynccontextmanager
async def ui(
    *specs: tuple[str, str],
    faults: dict[str, list[str]] | None = None,
    scale: float = SCALE,
    size: tuple[int, int] = (120, 40),
    limits: Limits = DEFAULT_LIMITS,
    keymap: dict[str, str] | None = None,
    bridge: MqttBridge | None = None,
    pain_question: bool = False,
    default_site: str | None = None,
) -> AsyncIterator[tuple[TherapyApp, Pilot[None], SimulatorWorld]]:
    """The app on simulated devices and a private journal. The pain question after each
    session is off unless a test is about it (it would take the keys of the next steps)."""
    world = SimulatorWorld(
        [DeviceSpec(kind, name) for kind, name in specs],
        faults={n: [parse_fault(f) for f in fs] for n, fs in (faults or {}).items()},
        time_scale=scale,
    )
    db_path = Path(os.environ["THERAPYCTL_DB"])  # a private journal per test (conftest)
    async with world, await Radio.attach(world.controller()) as radio:
        journal = await asyncio.to_thread(JournalWriter, db_path)

        @asynccontextmanager
        async def backend() -> AsyncIterator[Backend]:
            yield Backend(radio, journal, bridge)

        app = TherapyApp(
            backend,
            limits,
            time_scale=scale,
            db_path=db_path,
            keymap=keymap,
            pain_question=pain_question,
            default_site=default_site,
        )
        try:
            async with app.run_test(size=size) as pilot:
                yield app, pilot, world
        finally:
            await asyncio.to_thread(journal.close)


async def until(
    pilot: Pilot[None], condition: Callable[[], object], timeout_s: float = 20.0
) -> None:
    """Let the app run until ``condition`` holds (bounded). A plain sleep, not
    ``pilot.pause``: that waits for every widget's queue, and a closed command palette's
    leaves it waiting out its 30 s timeout."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - polls app state, bounded above
            await asyncio.sleep(0.02)


async def connect(
    app: TherapyApp, pilot: Pilot[None], world: SimulatorWorld, name: str
) -> SessionPanel:
    address = str(world.devices[name].address).split("/")[0]
    await until(pilot, lambda: address in app.found)
    # The connect worker's end, not the panel's mount: its tab becomes the active one last.
    panel = await app.connect(address).wait()
    assert panel is not None and app.tabs.active == f"dev-{address.replace(':', '')}"
    return panel


async def test_start_heat_and_watch_the_temperature_rise() -> None:
    """Start heat from the keyboard, stop it with the mouse: the chart fills and the
    temperature goes up on the way."""
    async with ui(("heat-pad", "pad")) as (app, pilot, world):
        panel = await connect(app, pilot, world, "pad")
        await pilot.press("s")
        await until(pilot, lambda: len(panel.temperatures) > 30)
        assert panel.temperatures[-1] > panel.temperatures[0] + 1
        chart = panel.query_one(SessionChart)
        assert chart.values[-1] == panel.temperatures[-1]
        assert chart.limits == (LimitLine(43.0, "heat limit 43 °C"),)
        drawn = chart.render().plain
        assert "heat limit 43 °C" in drawn  # the limit line's legend
        assert any("\u2801" <= ch <= "\u28ff" for ch in drawn)  # the braille curve
        assert world.devices["pad"].firmware.output_on
        await pilot.click("#stop")  # the mouse works too
        await until(pilot, lambda: panel.summaries)
        assert panel.summaries[0].end_reason.value == "user_stopped"
        assert not world.devices["pad"].firmware.output_on


async def test_attended_prompt_answered_keeps_the_heat_on() -> None:
    """Heat's check, answered with Enter: the modal goes, the session goes on."""
    async with ui(("heat-pad", "pad"), limits=EARLY_CHECK) as (app, pilot, world):
        panel = await connect(app, pilot, world, "pad")
        panel.query_one("#minutes").value = "20"
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, AttendedPrompt), 30)
        asked = app.screen
        await pilot.press("enter")
        # This question gone (the next check may follow a simulated minute later).
        await until(pilot, lambda: not asked.is_attached)
        assert panel.runner is not None, (panel.summaries, [n.message for n in app._notifications])
        assert world.devices["pad"].firmware.output_on
        assert any(e.kind == "attended" for e in panel.runner.current.events)
        panel.stop()  # not a key: each Pilot key press waits up to 2 s for an idle process
        await until(pilot, lambda: panel.summaries)
        assert panel.summaries[0].end_reason.value == "user_stopped"


async def test_attended_prompt_missed_stops_the_heat(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nobody answers the check: the heat stops as unattended (after the person's answer
    window of wall time), the modal goes away."""
    # The window is at least MIN_ANSWER_WALL_S of wall time (30 s): 2 s here, so the test
    # does not wait half a minute; at 30x that is one simulated minute, well within 20.
    monkeypatch.setattr(device.sessions.runner, "MIN_ANSWER_WALL_S", 2.0)
    async with ui(("heat-pad", "pad"), scale=30, limits=EARLY_CHECK) as (app, pilot, world):
        panel = await connect(app, pilot, world, "pad")
        panel.query_one("#minutes").value = "20"
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, AttendedPrompt), 30)
        await until(pilot, lambda: panel.summaries, 60)
        assert panel.summaries[0].end_reason.value == "unattended"
        assert not world.devices["pad"].firmware.output_on
        await until(pilot, lambda: not isinstance(app.screen, AttendedPrompt))


async def test_injected_fault_alerts_and_stops() -> None:
    """An overheating pad: a safety stop, said in an alert, device output off."""
    async with ui(("heat-pad", "pad"), faults={"pad": ["overheat@30"]}, scale=60) as (
        app,
        pilot,
        world,
    ):
        panel = await connect(app, pilot, world, "pad")
        await pilot.press("s")
        await until(pilot, lambda: panel.summaries, 30)
        assert panel.summaries[0].end_reason.value == "over_temperature"
        messages = [n.message for n in app._notifications]
        assert any("above the 43 °C limit" in m for m in messages)
        assert not world.devices["pad"].firmware.output_on


async def test_pause_and_resume_and_two_devices_at_once() -> None:
    """Two devices, each its own panel; pause and resume one while the other runs."""
    async with ui(("heat-pad", "pad"), ("light-belt-800", "belt")) as (app, pilot, world):
        pad = await connect(app, pilot, world, "pad")
        belt = await connect(app, pilot, world, "belt")  # the belt's tab is now active
        target = belt.query_one("#target", Input)
        cases = (("400 mW", (0, 400)), ("400", (0, 400)), ("L2", (2, None)), ("", (0, None)))
        for text, wanted in cases:
            target.value = text
            assert (belt.request().level, belt.request().power_mw) == wanted
        target.value = "warm"
        with pytest.raises(TherapyctlError, match="not 'warm'"):
            belt.request()
        target.value = "L4"
        await pilot.press("s")
        await until(pilot, lambda: world.devices["belt"].firmware.output_on)
        pad.start()
        await until(pilot, lambda: world.devices["pad"].firmware.output_on)
        pad.pause()
        await until(pilot, lambda: not world.devices["pad"].firmware.output_on)
        assert world.devices["belt"].firmware.output_on
        pad.resume()
        await until(pilot, lambda: world.devices["pad"].firmware.output_on)
        pad.stop()
        belt.stop()
        await until(pilot, lambda: pad.summaries and belt.summaries)
        assert {pad.summaries[0].end_reason.value, belt.summaries[0].end_reason.value} == {
            "user_stopped"
        }
        assert belt.last_status is not None and belt.last_status.mode.name == "LIGHT"


async def test_a_plan_runs_across_a_step_change() -> None:
    """acute-cold on a thermal pad: cold 15 min, then the rest step turns the output off and
    the panel shows the new step, its countdown and the whole plan's progress."""
    async with ui(("thermal-pad", "pad")) as (app, pilot, world):
        panel = await connect(app, pilot, world, "pad")
        panel.query_one("#plan", Select).value = "acute-cold"
        await pilot.pause()
        assert panel.query_one("#minutes", Input).disabled  # the plan sets the steps
        await pilot.press("s")
        await until(pilot, lambda: world.devices["pad"].firmware.output_on)
        assert panel.step_text == "step 1/5: cold 15 min 15 °C"
        chart = panel.query_one(SessionChart)
        assert chart.limits == (LimitLine(10.0, "cold limit 10 °C"),)
        assert chart.span_min == 255
        await until(pilot, lambda: panel.step_text.startswith("step 2/5"), 40)
        assert panel.step_text == "step 2/5: rest 105 min"
        await until(pilot, lambda: not world.devices["pad"].firmware.output_on)
        await pilot.pause(1.0)
        countdown = str(panel.query_one("#countdown", Digits).value)
        assert countdown.startswith("10")  # 104:xx of the rest left
        # The state says it rests, and for how long: not "ended" (issue #12, finding 6).
        state = str(panel.query_one("#state", Static).render())
        assert re.fullmatch(r"rest, 10\d:\d\d left", state), state
        assert app.device_rows()[0].state == "resting"
        plan_bar = panel.query_one("#plan-progress", ProgressBar)
        assert plan_bar.total == 255 * 60 and 15 * 60 < (plan_bar.progress or 0) < 17 * 60
        assert panel.runner is not None
        assert [e.kind for e in panel.runner.events].count("step") == 2
        await pilot.press("x")
        await until(pilot, lambda: panel.summaries)
        summary = panel.summaries[0]
        assert summary.plan == "acute-cold" and summary.end_reason.value == "user_stopped"
        assert 14.5 < summary.actual_minutes <= 15.1


async def test_a_lost_link_offers_resume_and_never_resumes_by_itself() -> None:
    """link-drop at 2 min: a link_lost alert; once reconnected, a question; nothing is
    turned on until the user presses r; then the rest of the 10 minutes runs."""
    async with ui(("heat-pad", "pad"), faults={"pad": ["link-drop@120"]}) as (app, pilot, world):
        panel = await connect(app, pilot, world, "pad")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ResumePrompt), 40)
        summary = panel.summaries[0]
        assert summary.end_reason.value == "link_lost"
        assert any(n.title and "link lost" in n.title for n in app._notifications)
        await pilot.pause(2.0)  # a while with the question open: the pad stays off
        assert not world.devices["pad"].firmware.output_on and panel.runner is None
        assert panel.resume_offer is not None and 7 < panel.resume_offer.minutes < 9
        await pilot.press("r")
        await until(pilot, lambda: world.devices["pad"].firmware.output_on)
        assert panel.runner is not None and panel.runner.resuming is not None
        await pilot.press("x")
        await until(pilot, lambda: len(panel.summaries) == 2)
        assert panel.summaries[1].end_reason.value == "user_stopped"
        assert any(e.kind == "resumed" for e in panel.summaries[1].events)
        assert not world.devices["pad"].firmware.output_on


async def test_history_lists_sessions_newest_first_and_opens_one() -> None:
    """Heat then cold for a minute each, then h: both listed newest first with their ids,
    the table has the focus, so Enter at once shows the chart (with the cold limit line),
    the events and the id of the newest."""
    async with ui(("thermal-pad", "pad")) as (app, pilot, world):
        panel = await connect(app, pilot, world, "pad")
        panel.query_one("#minutes", Input).value = "1"
        for count, mode in ((1, "heat"), (2, "cold")):
            panel.query_one("#mode", Select).value = mode
            await pilot.press("s")
            await until(pilot, lambda count=count: len(panel.summaries) == count, 30)
        await pilot.press("h")
        history = app.query_one(HistoryView)
        await until(pilot, lambda: len(history.rows) == 2)
        assert [r.session_id for r in history.rows] == [s.session_id for s in panel.summaries][::-1]
        table = history.query_one("#history", DataTable)
        newest = panel.summaries[1].session_id
        assert [str(c.label) for c in table.columns.values()][-1] == "ID"
        # The minutes the output was on (a loaded machine may lose a reading or two).
        ran = [f"{s.actual_minutes:.1f}" for s in panel.summaries]
        assert table.get_row_at(0)[2:] == ["cold", "--", ran[1], "completed", newest[:SHORT_ID]]
        assert table.get_row_at(1)[2:] == [
            "heat",
            "--",
            ran[0],
            "completed",
            panel.summaries[0].session_id[:SHORT_ID],
        ]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", table.get_row_at(0)[0])
        assert app.focused is table  # after h: Enter opens the highlighted session
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SessionDetail))
        detail = app.screen
        assert isinstance(detail, SessionDetail)
        summary = detail.query_one("#summary", Static)
        await until(pilot, lambda: f"session {newest}" in str(summary.render()))
        await until(pilot, lambda: len(detail.query_one(SessionChart).values) > 10)
        events = detail.query_one("#events", DataTable)
        await until(pilot, lambda: events.row_count > 0)
        kinds = [events.get_row_at(i)[1] for i in range(events.row_count)]
        assert "started" in kinds and "ended" in kinds, kinds
        assert "cold limit 10 °C" in detail.query_one(SessionChart).render().plain
        await pilot.press("escape")
        assert not isinstance(app.screen, SessionDetail)


async def test_the_device_list_shows_battery_and_remembers_an_alias() -> None:
    """The scan row shows the advertised battery; a (alias) names the device in the list,
    the tab and the journal."""
    async with ui(("heat-pad", "pad")) as (app, pilot, world):
        address = str(world.devices["pad"].address).split("/")[0]
        await until(pilot, lambda: address in app.found)
        table = app.query_one("#devices", DataTable)
        await until(pilot, lambda: table.row_count == 1)
        assert table.get_row_at(0)[:5] == [
            "pad",
            "heat-pad",
            table.get_row_at(0)[2],
            "100 %",
            "in range",
        ]
        table.focus()
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AliasPrompt))
        await pilot.press(*"left knee", "enter")
        await until(pilot, lambda: table.get_row_at(0)[0] == "left knee (pad)")
        panel = await connect(app, pilot, world, "pad")
        assert panel.label == "left knee"
        assert app.journal is not None
        await app.journal.barrier()
        with JournalReader(Path(os.environ["THERAPYCTL_DB"])) as reader:
            known = reader.known_devices()
        assert [(k.address, k.alias, k.kind) for k in known] == [(address, "left knee", "heat-pad")]
        await until(pilot, lambda: table.get_row_at(0)[4] == "connected")


async def test_the_command_palette_connects_and_starts_by_name() -> None:
    """ctrl+p, "connect pad", Enter: connected; ctrl+p, "start session", Enter: running."""
    async with ui(("heat-pad", "pad"), size=(80, 24)) as (app, pilot, world):
        address = str(world.devices["pad"].address).split("/")[0]
        await until(pilot, lambda: address in app.found)
        await pilot.press("ctrl+p")
        await pilot.press(*"connect pad")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: address in app.panels and app.panels[address].is_mounted)
        await pilot.press("ctrl+p")
        await pilot.press(*"start session")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: world.devices["pad"].firmware.output_on)
        await pilot.press("x")
        panel = app.panels[address]
        await until(pilot, lambda: panel.summaries)
        assert panel.summaries[0].end_reason.value == "user_stopped"


@pytest.mark.slow
async def test_an_unpaired_device_is_marked_and_paired_from_the_list() -> None:
    """Issue #11: a served device this controller holds no bond with shows "not paired" in
    the list; connecting says how to pair; `b` pairs it (within its window) and it then
    connects."""
    from tests.simserve import sim_serve

    db_path = Path(os.environ["THERAPYCTL_DB"])
    async with (
        sim_serve("--device", "heat-pad:pad", time_scale=SCALE) as serve,
        await Radio.open(serve.radio) as radio,
    ):
        journal = await asyncio.to_thread(JournalWriter, db_path)

        @asynccontextmanager
        async def backend() -> AsyncIterator[Backend]:
            yield Backend(radio, journal)

        app = TherapyApp(backend, DEFAULT_LIMITS, db_path=db_path, scan_every_s=0.5)
        address = serve.address("pad")
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                await until(pilot, lambda: address in app.found)
                (row,) = [r for r in app.device_rows() if r.address == address]
                assert row.bonded is False and "not paired (b: pair)" in row.cells()[4]
                assert await app.connect(address).wait() is None  # refused: not paired
                assert address not in app.panels
                await pilot.press("b")  # the list has the focus, the device highlighted
                await until(pilot, lambda: app.found[address].bonded is True)
                (row,) = [r for r in app.device_rows() if r.address == address]
                assert "not paired" not in row.cells()[4]
                panel = await app.connect(address).wait()
                assert panel is not None and panel.driver.connected
                await panel.driver.close()
        finally:
            await asyncio.to_thread(journal.close)


# ---------------------------------------------------------------------- issue #12


async def test_attended_countdown_counts_wall_seconds_one_at_a_time() -> None:
    """Finding 2: the question's countdown is the runner's deadline in wall seconds (not the
    simulated ones), then one second less each wall second, never a jump."""
    async with ui(("heat-pad", "pad"), limits=EARLY_CHECK) as (app, pilot, world):
        panel = await connect(app, pilot, world, "pad")
        panel.query_one("#minutes", Input).value = "20"
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, AttendedPrompt), 30)
        prompt = app.screen
        assert isinstance(prompt, AttendedPrompt)
        session = panel.session
        assert session is not None and session.prompt_deadline_s is not None
        wall_left_s = session.clock.wall_s(session.prompt_deadline_s - session.now())
        label = prompt.query_one("#left", Label)

        def shown() -> int:
            match = re.search(r"within (\d+) s", str(label.render()))
            assert match is not None, label.render()
            return int(match[1])

        assert abs(shown() - wall_left_s) <= 1, (shown(), wall_left_s)
        changes: list[tuple[float, int]] = [(time.monotonic(), shown())]
        async with asyncio.timeout(10):
            while len(changes) < 4:  # three changes, about a second apart
                await asyncio.sleep(0.02)
                if (value := shown()) != changes[-1][1]:
                    changes.append((time.monotonic(), value))
        steps = [b[1] - a[1] for a, b in itertools.pairwise(changes)]
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(changes[1:])]
        assert steps == [-1, -1, -1], changes
        assert all(0.7 < gap < 1.3 for gap in gaps), changes
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, AttendedPrompt))
        panel.stop()
        await until(pilot, lambda: panel.summaries)


async def test_ctrl_x_stops_every_session_from_another_tab_and_a_question() -> None:
    """Finding 3: with a pad and a belt running, the device list says which have output on
    (not "connected"), so do the bar above the footer and the palette; ctrl+x pressed on
    the Devices tab with the help open stops both."""
    async with ui(("heat-pad", "pad"), ("light-belt-800", "belt")) as (app, pilot, world):
        pad = await connect(app, pilot, world, "pad")
        belt = await connect(app, pilot, world, "belt")
        pad.start()
        belt.start()
        firmware = {name: world.devices[name].firmware for name in ("pad", "belt")}
        await until(pilot, lambda: all(f.output_on for f in firmware.values()))
        await until(pilot, lambda: pad.output_on and belt.output_on)
        await pilot.press("1")  # the Devices tab
        assert app.tabs.active == "devices-tab"
        table = app.query_one("#devices", DataTable)
        await until(
            pilot,
            lambda: (
                {table.get_row_at(i)[4] for i in (0, 1)}
                == {
                    "running heat",
                    "running light",
                }
            ),
        )
        bar = str(app.output_bar.render())
        assert app.output_bar.display and "pad (running heat)" in bar and "belt" in bar, bar
        (stop_all,) = [c for c in app.commands() if c.action == "stop_all"]
        assert "pad (running heat)" in stop_all.help and "belt (running light)" in stop_all.help
        footer_keys = [key.key for key in app.query_one(Footer).query("FooterKey")]
        assert "ctrl+x" in footer_keys  # shown, not hidden
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("ctrl+x")
        await until(pilot, lambda: pad.summaries and belt.summaries)
        assert not any(f.output_on for f in firmware.values())
        assert {pad.summaries[0].end_reason.value, belt.summaries[0].end_reason.value} == {
            "user_stopped"
        }
        await until(pilot, lambda: not app.output_bar.display)


async def test_q_with_a_session_running_asks_first() -> None:
    """Finding 6: q while the pad heats asks "stop it and quit?"; n stays (still heating);
    q then y stops the output and quits."""
    async with ui(("heat-pad", "pad")) as (app, pilot, world):
        panel = await connect(app, pilot, world, "pad")
        await pilot.press("s")
        await until(pilot, lambda: world.devices["pad"].firmware.output_on)
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitPrompt))
        question = app.screen.query_one("#question", Label)
        assert str(question.render()) == "1 session is running (pad); stop it and quit?"
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, QuitPrompt))
        assert panel.runner is not None and world.devices["pad"].firmware.output_on
        assert app.return_code is None
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitPrompt))
        await pilot.press("y")
        await until(pilot, lambda: app.return_code is not None)
        assert app.return_code == 0
        assert not world.devices["pad"].firmware.output_on


async def test_a_safety_stop_is_told_once_with_what_to_do() -> None:
    """Finding 6: an overheating pad gives one notification for its stop, saying what
    happened, that the output is off and what to do (not 2-3 near-identical ones)."""
    async with ui(("heat-pad", "pad"), faults={"pad": ["overheat@30"]}) as (app, pilot, world):
        panel = await connect(app, pilot, world, "pad")
        app.clear_notifications()
        await pilot.press("s")
        await until(pilot, lambda: panel.summaries, 30)
        await pilot.pause()
        assert panel.summaries[0].end_reason.value == "over_temperature"
        told = [n for n in app._notifications if n.title.startswith("pad")]
        about_the_stop = [n for n in told if "over temperature" in n.title]
        assert len(about_the_stop) == 1, [(n.title, n.message) for n in told]
        message = about_the_stop[0].message
        assert "above the 43 °C limit" in message and "The output is off." in message
        assert "Take the pad off" in message
        assert not any("session ended" in n.message for n in told)


async def test_pause_stops_the_plan_progress_and_is_shaded_on_a_chart_spanning_it() -> None:
    """Finding 5: while paused the plan's progress stands still; the paused time is shaded
    and the chart's x axis spans the whole session (its minutes plus the pause), also in
    the history."""
    async with ui(("heat-pad", "pad")) as (app, pilot, world):
        panel = await connect(app, pilot, world, "pad")
        panel.query_one("#minutes", Input).value = "2"
        await pilot.press("s")
        await until(
            pilot, lambda: panel.last_status is not None and panel.last_status.elapsed_s > 20
        )
        await pilot.press("p")
        await until(pilot, lambda: panel.session is not None and panel.session.state == "paused")
        bar = panel.query_one("#plan-progress", ProgressBar)
        await pilot.pause(0.6)
        paused_at = bar.progress
        await pilot.pause(2.0)  # two simulated minutes paused
        assert bar.progress == paused_at, (paused_at, bar.progress)
        await pilot.press("u")
        await until(pilot, lambda: panel.summaries, 30)
        chart = panel.chart
        assert len(chart.pauses) == 1 and chart.pauses[0][1] is not None
        start, end = chart.pauses[0]
        assert end - start > 1.5
        assert chart.minutes[-1] > 3.5  # two minutes running and two paused
        assert chart.x_max() >= chart.minutes[-1]
        assert f"{PAUSED_MARK} paused" in chart.render().plain
        await pilot.press("h")
        history = app.history_view
        await until(pilot, lambda: len(history.rows) == 1)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SessionDetail))
        detail_chart = app.screen.query_one(SessionChart)
        await until(pilot, lambda: len(detail_chart.pauses) == 1)
        assert detail_chart.x_max() >= detail_chart.minutes[-1] > 3.5
        drawn = detail_chart.render().plain
        assert PAUSED_MARK in drawn


def test_a_chart_is_never_cut_at_the_planned_length() -> None:
    """Finding 5: a 10-minute session paused until 14:32 spans 0-14.5 min, not 0-10."""
    chart = SessionChart()
    chart.configure((), 10.0)
    minutes = [m / 10 for m in range(0, 146)]
    chart.set_points(minutes, [35.0] * len(minutes))
    chart.set_pauses([(3.0, 7.5)])
    assert chart.x_max() >= 14.5


async def test_the_header_shows_radio_journal_and_mqtt_state() -> None:
    """Findings 7 and 13: the header's subtitle says the radio, the journal and the broker:
    unreachable, then connected, then refused."""
    bridge = MqttBridge(MqttSettings.from_url("mqtt://127.0.0.1:9"))
    async with ui(("heat-pad", "pad"), bridge=bridge) as (app, pilot, _world):
        await until(pilot, lambda: app.backend is not None)
        await until(pilot, lambda: "MQTT unreachable" in app.sub_title)
        assert app.sub_title == "simulated devices · journal ok · MQTT unreachable"
        bridge.connected.set()
        await until(pilot, lambda: app.sub_title.endswith("MQTT connected"))
        bridge.connected.clear()
        bridge.auth_error = MqttAuthError("not authorized")
        await until(pilot, lambda: app.sub_title.endswith("MQTT refused"))


@asynccontextmanager
async def failing_backend() -> AsyncIterator[Backend]:
    raise TherapyctlError("journal /tmp/x: cannot open it")
    yield  # pragma: no cover


async def test_a_journal_that_cannot_be_opened_ends_the_app_with_exit_1() -> None:
    """Finding 10: a start-up error ends the app (exit code 1, the error kept for the one
    line the command prints), not a toast inside a full app."""
    app = TherapyApp(failing_backend, DEFAULT_LIMITS)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 1
    assert str(app.startup_error) == "journal /tmp/x: cannot open it"


async def test_no_bluetooth_adapter_ends_the_app_instead_of_starting_forever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding 10: a radio that cannot scan (no adapter) ends the app with exit code 1 and
    the reason, not "starting the radio..." for ever."""

    async def no_adapter(_radio: Radio, timeout_s: float = 5.0) -> list[object]:
        raise AdapterUnavailableError("No Bluetooth adapters found.")

    monkeypatch.setattr(app_module, "scan", no_adapter)
    async with ui(("heat-pad", "pad")) as (app, pilot, _world):
        await until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 1
    assert "No Bluetooth adapters found" in str(app.startup_error)


async def test_a_journal_path_that_is_a_directory_says_so(tmp_path: Path) -> None:
    """Finding 10: --db pointing at a directory is named as such, not "disk I/O error"."""
    with pytest.raises(TherapyctlError, match="is a directory: give --db a file"):
        async with tui_backend([], None, 1.0, tmp_path, None):
            pass  # pragma: no cover


async def test_a_belt_defaults_to_its_highest_output_in_mw_as_run_does() -> None:
    """Finding 10: an empty target on a belt means what `run --mode light` means, the belt's
    highest output (800 mW here, shown as such), not level 1 (200 mW)."""
    async with ui(("light-belt-800", "belt")) as (app, pilot, world):
        belt = await connect(app, pilot, world, "belt")
        target = belt.query_one("#target", Input)
        assert target.placeholder == "800 mW"
        target.value = ""
        await pilot.press("s")
        await until(pilot, lambda: belt.output_on)
        assert belt.last_status is not None and belt.last_status.power_mw == 800
        belt.stop()
        await until(pilot, lambda: belt.summaries)


async def test_help_lists_the_live_bindings_and_f1_opens_it_too() -> None:
    """Finding 13: ? opens a help modal listing the keys of the screen with what they do
    (ctrl+x: stop all, q: quit, the device list's Enter); Esc closes it; F1 opens it."""
    async with ui(("heat-pad", "pad")) as (app, pilot, _world):
        await until(pilot, lambda: app.scans >= 1)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        # One row per action, its keys together ("^q, q": Textual's quit key and ours).
        rows = {key: what for keys, what in app.screen.rows for key in keys.split(", ")}
        assert rows["^x"] == "Stop all" and rows["q"] == "Quit" and rows["r"] == "Rescan"
        assert rows["1…9"] == "Go to that tab"
        assert "⏎" in rows  # the focused device list's Enter
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))


async def test_every_key_action_is_in_the_command_palette() -> None:
    """Finding 13: each action a key does can also be found by name in the palette."""
    async with ui(("heat-pad", "pad"), ("heat-pad", "other")) as (app, pilot, world):
        await connect(app, pilot, world, "pad")
        other = str(world.devices["other"].address).split("/")[0]
        app.found[other] = dataclasses.replace(app.found[other], bonded=False)  # must pair
        in_palette = {c.action for c in app.commands()} | {"quit"}  # Quit: Textual's own
        keyed = {a.name for a in KEY_ACTIONS if not a.name.startswith("tab_")} - {"leave_field"}
        assert keyed <= in_palette, keyed - in_palette
        names = [c.name for c in app.commands()]
        assert "Stop all sessions" in names and "Keys and help" in names


async def test_number_keys_jump_to_tabs_and_focus_is_visible() -> None:
    """Finding 13: 1 is Devices, 2 the first device, then Today, the last number History;
    the focused field is drawn reversed, the focused list tinted."""
    async with ui(("heat-pad", "pad")) as (app, pilot, world):
        panel = await connect(app, pilot, world, "pad")
        await pilot.press("1")
        assert app.tabs.active == "devices-tab"
        devices = app.query_one("#devices", DataTable)
        assert app.focused is devices and devices.styles.background_tint.a > 0
        await pilot.press("3")
        assert app.tabs.active == "today-tab"
        await pilot.press("4")
        assert app.tabs.active == "history-tab"
        assert app.focused is app.query_one("#history", DataTable)
        await pilot.press("2")
        assert app.tabs.active == "dev-" + panel.driver.identity.address.replace(":", "")  # type: ignore[union-attr]
        minutes = panel.query_one("#minutes", Input)
        minutes.focus()
        await pilot.pause()
        assert minutes.styles.text_style.reverse


async def test_enter_and_ctrl_x_are_on_screen() -> None:
    """Finding 13: the device list's note says Enter connects and ctrl+x stops all, and the
    footer shows ctrl+x and ? help."""
    async with ui(("heat-pad", "pad")) as (app, pilot, _world):
        await until(pilot, lambda: app.scans >= 1)
        await pilot.pause()
        note = str(app.query_one("#devices-note", Static).render())
        assert "Enter: connect" in note and "^x: stop all sessions" in note, note
        footer = {key.key: key.description for key in app.query_one(Footer).query("FooterKey")}  # type: ignore[attr-defined]
        assert footer["ctrl+x"] == "Stop all" and footer["question_mark"] == "Help"


async def test_keys_remapped_from_the_config_work_and_show() -> None:
    """Finding 13: [keys] stop_all = "f5": F5 stops every session, and the footer, the note
    and the help say F5."""
    async with ui(("heat-pad", "pad"), keymap={"stop_all": "f5"}) as (app, pilot, world):
        panel = await connect(app, pilot, world, "pad")
        await pilot.press("s")
        await until(pilot, lambda: world.devices["pad"].firmware.output_on)
        assert app.key_for("stop_all") == "f5"
        footer = {key.key: key.description for key in app.query_one(Footer).query("FooterKey")}  # type: ignore[attr-defined]
        assert footer.get("f5") == "Stop all" and "ctrl+x" not in footer
        await pilot.press("f5")
        await until(pilot, lambda: panel.summaries)
        assert not world.devices["pad"].firmware.output_on


def state_of(panel: SessionPanel) -> str:
    return str(panel.query_one("#state", Static).render())


def readings_of(panel: SessionPanel) -> str:
    return str(panel.query_one("#readings", Static).render())


async def test_bad_minutes_or_a_target_the_device_lacks_is_refused_in_the_panel() -> None:
    """Finding 4: minutes -5, 0, abc, 1e308 or nan, a level the pad lacks or a setpoint out
    of its range: one warning naming the valid range, nothing started, connected to or
    journaled (not a device_fault session), the panel stays idle."""
    cases = [
        ("heat", "-5", "", "the minutes must be a number more than 0 and at most 1440, not '-5'"),
        ("heat", "0", "", "more than 0 and at most 1440, not '0'"),
        ("heat", "abc", "", "more than 0 and at most 1440, not 'abc'"),
        ("heat", "1e308", "", "more than 0 and at most 1440, not '1e308'"),
        ("heat", "nan", "", "more than 0 and at most 1440, not 'nan'"),
        ("heat", "10", "L9", "heat levels 1 to 4 (37 °C, 39 °C, 41 °C, 43 °C), not 9"),
        ("heat", "10", "L0", "levels are numbered from 1"),
        ("heat", "10", "80", "heat setpoints from 30 to 45 °C, not 80"),
        ("cold", "10", "2", "cold setpoints from 8 to 20 °C, not 2"),
    ]
    async with ui(("thermal-pad", "pad")) as (app, pilot, world):
        panel = await connect(app, pilot, world, "pad")
        for number, (mode, minutes, target, message) in enumerate(cases):
            panel.query_one("#mode", Select).value = mode
            panel.query_one("#minutes", Input).value = minutes
            panel.query_one("#target", Input).value = target
            app.clear_notifications()
            if number == 0:
                await pilot.press("s")
            else:  # the key's action: a Pilot key press waits up to 2 s for an idle app
                app.action_start()
                await pilot.pause()
            told = [(n.title, n.message, n.severity) for n in app._notifications]
            assert len(told) == 1, (minutes, target, told)
            title, said, severity = told[0]
            assert title == "pad: cannot start" and severity == "warning", told
            assert message in said, (message, said)
            assert panel.runner is None and state_of(panel) == "idle"
        assert not world.devices["pad"].firmware.output_on
        assert app.journal is not None
        await app.journal.barrier()
        with JournalReader(Path(os.environ["THERAPYCTL_DB"])) as reader:
            assert reader.sessions(include_refused=True) == []


async def test_a_refused_start_keeps_the_last_chart_and_is_told_once() -> None:
    """Finding 8: heat for a minute, then heat again (the 20-minute rest is due): refused
    with one notice, the last session's chart, temperatures and readings stay as they were
    (the refusal is on record, not a session); cold then starts and gets a chart of its own."""
    async with ui(("thermal-pad", "pad")) as (app, pilot, world):
        panel = await connect(app, pilot, world, "pad")
        panel.query_one("#minutes", Input).value = "1"
        await pilot.press("s")
        await until(pilot, lambda: panel.summaries, 30)
        await pilot.pause()
        chart = panel.chart
        shown = (
            list(chart.minutes),
            list(chart.values),
            chart.limits,
            list(panel.temperatures),
            readings_of(panel),
        )
        assert len(chart.values) > 10 and "output off — completed after" in shown[-1], shown
        app.clear_notifications()
        await pilot.press("s")
        await until(pilot, lambda: len(panel.summaries) == 2, 30)
        await pilot.pause()
        assert panel.summaries[1].end_reason.value == "rest_required"
        now = (
            list(chart.minutes),
            list(chart.values),
            chart.limits,
            list(panel.temperatures),
            readings_of(panel),
        )
        assert now == shown
        assert state_of(panel) == "not started: rest required"
        told = [(n.title, n.message) for n in app._notifications]
        assert len(told) == 1 and told[0][0] == "pad: not started", told
        assert "rest at least 20 min between heat sessions" in told[0][1], told
        assert app.journal is not None
        await app.journal.barrier()
        with JournalReader(Path(os.environ["THERAPYCTL_DB"])) as reader:
            assert len(reader.sessions()) == 1
            assert len(reader.sessions(include_refused=True)) == 2
        panel.query_one("#mode", Select).value = "cold"
        panel.query_one("#minutes", Input).value = "10"
        await pilot.press("s")
        await until(pilot, lambda: world.devices["pad"].firmware.output_on)
        await until(pilot, lambda: panel.temperatures and chart.values)
        assert chart.limits == (LimitLine(10.0, "cold limit 10 °C"),)
        # The heat's points are gone: the minutes run from the cold's start, in order.
        assert chart.minutes == sorted(chart.minutes) and chart.minutes[0] < 0.5
        assert chart.values[0] == panel.temperatures[0] != shown[1][0]
        panel.stop()
        await until(pilot, lambda: len(panel.summaries) == 3)


def test_cold_shows_its_lowest_temperature_and_heat_its_peak() -> None:
    """Finding 9: a cold session's highest reading is where it began, not a "peak"."""
    assert temperature_extremes({"cold"}, 31.0, 12.34) == "lowest 12.3 °C"
    assert temperature_extremes({"cold", "none"}, 31.0, 12.34) == "lowest 12.3 °C"
    assert temperature_extremes({"heat"}, 40.16, 31.0) == "peak 40.2 °C"
    assert temperature_extremes({"light"}, 34.0, 31.0) == "peak 34.0 °C"
    assert temperature_extremes({"heat", "cold"}, 40.0, 14.0) == "peak 40.0 °C  lowest 14.0 °C"
    assert temperature_extremes({"cold"}, None, None) == ""


async def test_a_cold_session_ends_with_its_lowest_temperature_not_a_peak() -> None:
    """Finding 9: after a cold minute the panel and the history's detail say "lowest", with
    the session's lowest reading, and nowhere "peak"."""
    async with ui(("thermal-pad", "pad")) as (app, pilot, world):
        panel = await connect(app, pilot, world, "pad")
        panel.query_one("#mode", Select).value = "cold"
        panel.query_one("#minutes", Input).value = "1"
        await pilot.press("s")
        await until(pilot, lambda: panel.summaries, 30)
        summary = panel.summaries[0]
        assert summary.min_temperature_c is not None and summary.max_temperature_c is not None
        assert summary.min_temperature_c < summary.max_temperature_c - 0.5
        lowest = f"lowest {summary.min_temperature_c:.1f} °C"
        assert lowest in readings_of(panel) and "peak" not in readings_of(panel)
        await pilot.press("h")
        await until(pilot, lambda: len(app.history_view.rows) == 1)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SessionDetail))
        text = app.screen.query_one("#summary", Static)
        await until(pilot, lambda: lowest in str(text.render()))
        assert "peak" not in str(text.render())
