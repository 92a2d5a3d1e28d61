"""The Textual UI against the simulator, driven by Pilot: the same controller as `run`."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Digits, Input, ProgressBar, Select

from device.journal import JournalReader, JournalWriter
from device.link import Radio
from device.safety import DEFAULT_LIMITS
from protocols import TherapyctlError
from simulator import DeviceSpec, SimulatorWorld, parse_fault
from ui.tui.app import AttendedPrompt, Backend, ResumePrompt, SessionPanel, TherapyApp
from ui.tui.widgets.chart import LimitLine, SessionChart
from ui.tui.widgets.history import HistoryView, SessionDetail
from ui.tui.widgets.prompts import AliasPrompt

SCALE = 60.0


@asynccontextmanager
async def ui(
    *specs: tuple[str, str],
    faults: dict[str, list[str]] | None = None,
    scale: float = SCALE,
    size: tuple[int, int] = (120, 40),
) -> AsyncIterator[tuple[TherapyApp, Pilot[None], SimulatorWorld]]:
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
            yield Backend(radio, journal)

        app = TherapyApp(backend, DEFAULT_LIMITS, time_scale=scale, db_path=db_path)
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
    """Heat's 10-minute check, answered with Enter: the modal goes, the session goes on."""
    async with ui(("heat-pad", "pad"), scale=60) as (app, pilot, world):
        panel = await connect(app, pilot, world, "pad")
        panel.query_one("#minutes").value = "20"
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, AttendedPrompt), 30)
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, AttendedPrompt))
        assert panel.runner is not None, (panel.summaries, [n.message for n in app._notifications])
        assert world.devices["pad"].firmware.output_on
        assert any(e.kind == "attended" for e in panel.runner.current.events)
        panel.stop()  # not a key: each Pilot key press waits up to 2 s for an idle process
        await until(pilot, lambda: panel.summaries)
        assert panel.summaries[0].end_reason.value == "user_stopped"


async def test_attended_prompt_missed_stops_the_heat() -> None:
    """Nobody answers the check: the heat stops as unattended, the modal goes away."""
    async with ui(("heat-pad", "pad"), scale=60) as (app, pilot, world):
        panel = await connect(app, pilot, world, "pad")
        panel.query_one("#minutes").value = "20"
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, AttendedPrompt), 30)
        await until(pilot, lambda: panel.summaries, 30)
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
        for text, wanted in (("400 mW", (0, 400)), ("L2", (2, None)), ("", (1, None))):
            target.value = text
            assert (belt.request().level, belt.request().power_mw) == wanted
        target.value = "warm"
        with pytest.raises(TherapyctlError, match="not 'warm'"):
            belt.request()
        target.value = "4"
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
    """Heat then cold for a minute each, then h: both listed newest first; Enter shows the
    chart (with the cold limit line) and the events of the newest."""
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
        assert table.get_row_at(0)[2:] == ["cold", "1.0", "completed"]
        assert table.get_row_at(1)[2:] == ["heat", "1.0", "completed"]
        table.focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SessionDetail))
        detail = app.screen
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
