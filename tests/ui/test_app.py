"""The Textual UI against the simulator, driven by Pilot: the same controller as `run`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from device import Radio
from device.limits import DEFAULT_LIMITS
from simulator import DeviceSpec, SimulatorWorld, parse_fault
from ui.app import AttendedPrompt, SessionPanel, TherapyApp

SCALE = 60.0


@asynccontextmanager
async def ui(
    *specs: tuple[str, str], faults: dict[str, list[str]] | None = None, scale: float = SCALE
) -> AsyncIterator[tuple[TherapyApp, object, SimulatorWorld]]:
    world = SimulatorWorld(
        [DeviceSpec(kind, name) for kind, name in specs],
        faults={n: [parse_fault(f) for f in fs] for n, fs in (faults or {}).items()},
        time_scale=scale,
    )
    async with world, await Radio.attach(world.controller()) as radio:
        app = TherapyApp(radio, DEFAULT_LIMITS, time_scale=scale)
        async with app.run_test(size=(120, 40)) as pilot:
            yield app, pilot, world


async def until(pilot, condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Let the app run until ``condition`` holds (bounded)."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await pilot.pause(0.02)


async def connect(app: TherapyApp, pilot, world: SimulatorWorld, name: str) -> SessionPanel:
    address = str(world.devices[name].address).split("/")[0]
    await until(pilot, lambda: address in app.found)
    app.connect(address)
    await until(pilot, lambda: address in app.panels and app.panels[address].is_mounted)
    return app.panels[address]


async def test_start_heat_and_watch_the_temperature_rise() -> None:
    """Start heat from the keyboard: the chart fills and the temperature goes up."""
    async with ui(("heat-pad", "pad")) as (app, pilot, world):
        panel = await connect(app, pilot, world, "pad")
        await pilot.press("s")
        await until(pilot, lambda: len(panel.temperatures) > 30)
        assert panel.temperatures[-1] > panel.temperatures[0] + 1
        assert panel.query_one("#chart").data[-1] == panel.temperatures[-1]
        assert world.devices["pad"].firmware.output_on
        await pilot.press("x")
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
        await pilot.press("x")
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
        belt.query_one("#target").value = "4"
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
