"""Sessions against the simulator, through the full BLE path: every fault and every limit
ends with the right reason and the output off."""

from __future__ import annotations

import asyncio
import re
import time
from contextlib import asynccontextmanager

import pytest

from device.link import Clock, DeviceDriver, Radio
from device.safety import DEFAULT_LIMITS, EndReason, Limits, SessionRequest
from device.sessions import (
    BUILTIN_PLANS,
    PlanMismatchError,
    PlanRunner,
    RunnerState,
    RunSummary,
    SessionListener,
    Step,
    TherapyPlan,
    UsageLedger,
)
from protocols import Mode
from simulator import DeviceSpec, SimulatorWorld, parse_fault

SCALE = 300.0


@asynccontextmanager
async def devices(
    *specs: tuple[str, str], faults: dict[str, list[str]] | None = None, scale: float = SCALE
):
    world = SimulatorWorld(
        [DeviceSpec(kind, name) for kind, name in specs],
        faults={n: [parse_fault(f) for f in fs] for n, fs in (faults or {}).items()},
        time_scale=scale,
    )
    async with world, await Radio.attach(world.controller()) as radio:
        clock = Clock(scale)
        drivers = {}
        for _kind, name in specs:
            driver = DeviceDriver(radio, name, clock)
            await driver.connect()
            drivers[name] = driver
        try:
            yield world, drivers
        finally:
            for driver in drivers.values():
                await driver.close()


def single(request: SessionRequest) -> TherapyPlan:
    return TherapyPlan(request.mode.name.lower(), (Step(request),))


async def run_one(
    kind: str,
    request: SessionRequest | TherapyPlan,
    *,
    faults: list[str] = (),
    limits: Limits = DEFAULT_LIMITS,
    attended_auto: bool = True,
    scale: float = SCALE,
) -> tuple[RunSummary, SimulatorWorld]:
    plan = request if isinstance(request, TherapyPlan) else single(request)
    async with devices((kind, "dev"), faults={"dev": list(faults)}, scale=scale) as (
        world,
        drivers,
    ):
        summary = await PlanRunner(
            drivers["dev"],
            plan,
            limits,
            attended_auto=attended_auto,
            single_session=not isinstance(request, TherapyPlan),
        ).run()
        firmware = world.devices["dev"].firmware
        firmware.advance(world.clock.now())
        assert not firmware.output_on, "the simulated device's output must be off at the end"
        return summary, world


HEAT = SessionRequest(Mode.HEAT, 20 * 60, setpoint_c=40.0)


def kinds(summary: RunSummary) -> list[str]:
    return [e.kind for e in summary.events]


async def test_heat_over_the_limits_is_clamped_and_completes_within_them() -> None:
    """45 °C for 30 min: run at 42.5 °C for 20 min, both clamps said; peak under 43 °C."""
    summary, _ = await run_one("heat-pad", SessionRequest(Mode.HEAT, 1800, setpoint_c=45.0))
    assert summary.end_reason == EndReason.COMPLETED
    assert summary.limits_applied == [
        "heat sessions are limited to 20 min — running 20",
        "heat is limited to 43 °C — setpoint 42.5 °C instead of 45 °C",
    ]
    assert summary.planned_minutes == 20 and 19.5 < summary.actual_minutes <= 20.1
    assert summary.max_temperature_c is not None and 42.0 < summary.max_temperature_c <= 43.0
    assert summary.cem43_minutes > 1
    assert kinds(summary).count("attended_check") >= 1  # at 10 min (20 min races the end)


def reached_c(summary: RunSummary) -> float:
    """The reading the safety stop named ("the pad reached 43.1 °C, ...")."""
    stop = next(e for e in summary.events if e.kind == "safety_stop")
    match = re.search(r"reached (-?[\d.]+) °C", stop.detail)
    assert match is not None, stop.detail
    return float(match.group(1))


async def test_overheat_stops_as_over_temperature_within_half_a_degree() -> None:
    """Heater stuck on (it ignores STOP): stopped as over_temperature within 0.5 °C of 43 °C;
    then, still heating with its output off, an alarm in plain words and the true peak in
    the summary, not the 43 °C of the stop (issue: the record kept 43.0 as the peak)."""
    # A lower time scale: a stall of the process lets simulated heating run on meanwhile.
    summary, world = await run_one("heat-pad", HEAT, faults=["overheat@60"], scale=100)
    assert summary.end_reason == EndReason.OVER_TEMPERATURE
    assert 43.0 < reached_c(summary) <= 43.5
    assert "safety_stop" in kinds(summary) and "output_off" in kinds(summary)
    assert len(summary.alarms) == 1
    assert "pad keeps heating although its output is off" in summary.alarms[0]
    assert "unplug it and take it off" in summary.alarms[0]
    assert "alarm" in kinds(summary) and "alarm_peak" in kinds(summary)
    true_c = world.devices["dev"].firmware.physics.true_temperature_c
    assert summary.max_temperature_c is not None and summary.max_temperature_c > 44.0
    assert abs(summary.max_temperature_c - true_c) < 0.5


async def test_overcool_stops_as_under_temperature_within_half_a_degree() -> None:
    """Cooler stuck on: under_temperature; the low peak within 0.5 °C of the 10 °C floor."""
    summary, _ = await run_one(
        "thermal-pad",
        SessionRequest(Mode.COLD, 1200, setpoint_c=15.0),
        faults=["overcool@30"],
        scale=100,
    )
    assert summary.end_reason == EndReason.UNDER_TEMPERATURE
    assert 9.5 <= reached_c(summary) < 10.0
    assert summary.alarms and "pad keeps cooling although its output is off" in summary.alarms[0]
    assert summary.min_temperature_c is not None and summary.min_temperature_c < 9.0


@pytest.mark.parametrize(
    ("kind", "request_", "fault", "reason"),
    [
        ("heat-pad", HEAT, "sensor-stuck@120", EndReason.SENSOR_FAULT),
        ("heat-pad", HEAT, "sensor-open@60", EndReason.SENSOR_FAULT),
        ("heat-pad", HEAT, "battery-drain@30", EndReason.BATTERY_LOW),
        (
            "light-belt-800",
            SessionRequest(Mode.LIGHT, 1200, level=4),
            "contact-lost@60",
            EndReason.CONTACT_LOST,
        ),
        ("heat-pad", HEAT, "link-drop@60", EndReason.LINK_LOST),
        ("heat-pad", HEAT, "reboot@60", EndReason.DEVICE_FAULT),
        ("heat-pad", HEAT, "nack@60", EndReason.DEVICE_FAULT),
    ],
)
async def test_each_fault_ends_with_the_right_reason(kind, request_, fault, reason) -> None:
    """Every injectable fault ends the session with its end reason, output off."""
    summary, _ = await run_one(kind, request_, faults=[fault])
    assert summary.end_reason == reason, summary.events
    assert summary.actual_minutes < 10
    if fault.startswith("link-drop"):
        assert {"link_lost", "reconnected", "output_off"} <= set(kinds(summary))
    if fault.startswith("nack"):
        assert "alarm" in kinds(summary)  # stop not acknowledged: disconnected, lease did it
    if fault.startswith("reboot"):
        assert "reconnected" in kinds(summary)


async def test_thermal_dose_cap_stops_heat() -> None:
    """A tightened CEM43 cap (1 min) ends a hot session as thermal_dose."""
    limits = DEFAULT_LIMITS.tightened(heat_dose_cem43_min=1.0)
    summary, _ = await run_one(
        "heat-pad", SessionRequest(Mode.HEAT, 1200, setpoint_c=42.5), limits=limits
    )
    assert summary.end_reason == EndReason.THERMAL_DOSE
    assert 1.0 <= summary.cem43_minutes < 1.3


async def test_unanswered_attended_check_stops_heat(monkeypatch: pytest.MonkeyPatch) -> None:
    """Headless without --attended-ack auto: the 10-minute check goes unanswered (the
    wall-time floor of the answer window lowered so the test need not wait 30 s)."""
    import device.sessions.runner

    monkeypatch.setattr(device.sessions.runner, "MIN_ANSWER_WALL_S", 0.1)
    summary, _ = await run_one("heat-pad", HEAT, attended_auto=False)
    assert summary.end_reason == EndReason.UNATTENDED
    assert 10.9 < summary.actual_minutes < 12.0


async def test_a_person_gets_30_seconds_of_real_time_to_answer() -> None:
    """Issue #12, finding 2: at 60x "answer within 60 s" was one second of wall time. Now the
    window is at least 30 s of wall time whatever the time scale, and says so."""
    prompts: list[tuple[float, float]] = []

    class Asked(SessionListener):
        def on_prompt(self, runner, deadline_s: float) -> None:  # type: ignore[no-untyped-def]
            prompts.append(
                (deadline_s - runner.now(), runner.clock.wall_s(deadline_s - runner.now()))
            )
            runner.request_stop()

    limits = DEFAULT_LIMITS.tightened(attended_check_s=60.0)
    async with devices(("heat-pad", "dev"), scale=60.0) as (_world, drivers):
        summary = await PlanRunner(
            drivers["dev"], single(HEAT), limits, listener=Asked(), single_session=True
        ).run()
    assert summary.end_reason == EndReason.USER_STOPPED
    ((device_s, wall_s),) = prompts
    assert wall_s >= 29.5 and device_s >= 60 * 29.5
    check = next(e for e in summary.events if e.kind == "attended_check")
    assert "answer within 30 s" in check.detail and "at 60x" in check.detail


async def test_cold_longer_than_20_minutes_is_clamped() -> None:
    """Cold 25 min runs 20 ('never over 20')."""
    summary, _ = await run_one("thermal-pad", SessionRequest(Mode.COLD, 1500, setpoint_c=15.0))
    assert summary.end_reason == EndReason.COMPLETED
    assert summary.limits_applied == ["cold sessions are limited to 20 min — running 20"]
    assert summary.min_temperature_c is not None and summary.min_temperature_c >= 14.5


async def test_light_session_reports_energy() -> None:
    """An 800 mW belt for 10 min delivers about 480 J."""
    summary, _ = await run_one("light-belt-800", SessionRequest(Mode.LIGHT, 600, power_mw=800))
    assert summary.end_reason == EndReason.COMPLETED
    assert summary.energy_j == pytest.approx(480, rel=0.05)


async def test_rest_and_daily_limits_hold_across_sessions() -> None:
    """Heat twice in a row: the second is refused (rest); light 20 + 30 min: cut at 30 a day."""
    ledger = UsageLedger()
    async with devices(("heat-pad", "pad"), ("light-belt-420", "belt")) as (_world, drivers):
        heat = single(SessionRequest(Mode.HEAT, 300, setpoint_c=40.0))
        first = await PlanRunner(
            drivers["pad"], heat, DEFAULT_LIMITS, ledger=ledger, attended_auto=True
        ).run()
        second = await PlanRunner(
            drivers["pad"], heat, DEFAULT_LIMITS, ledger=ledger, attended_auto=True
        ).run()
        assert first.end_reason == EndReason.COMPLETED
        assert second.end_reason == EndReason.REST_REQUIRED
        assert "between heat sessions" in second.end_detail
        light = lambda minutes: single(SessionRequest(Mode.LIGHT, minutes * 60, level=4))  # noqa: E731
        a = await PlanRunner(drivers["belt"], light(20), DEFAULT_LIMITS, ledger=ledger).run()
        b = await PlanRunner(drivers["belt"], light(30), DEFAULT_LIMITS, ledger=ledger).run()
        c = await PlanRunner(drivers["belt"], light(5), DEFAULT_LIMITS, ledger=ledger).run()
    assert a.end_reason == EndReason.COMPLETED
    assert b.end_reason == EndReason.COMPLETED  # cut to what was left, then run in full
    assert "10 min left, running 10" in b.limits_applied[0]
    assert a.actual_minutes + b.actual_minutes == pytest.approx(30, abs=0.3)
    assert c.end_reason == EndReason.DAILY_LIMIT and c.actual_minutes == 0


class StateWatcher(SessionListener):
    """Turns the runner's state changes into something a test can await."""

    def __init__(self) -> None:
        self.changed = asyncio.Condition()
        self.states: list[RunnerState] = []

    def on_state(self, runner, state) -> None:
        self.states.append(state)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def reach(self, state: RunnerState) -> None:
        async with asyncio.timeout(10), self.changed:
            await self.changed.wait_for(lambda: self.states and self.states[-1] == state)


async def test_user_stop_pause_and_resume() -> None:
    """Pause turns output off and resume back on; a user stop ends user_stopped, output off."""
    async with devices(("heat-pad", "pad"), scale=60) as (world, drivers):
        watcher = StateWatcher()
        runner = PlanRunner(
            drivers["pad"], single(HEAT), DEFAULT_LIMITS, attended_auto=True, listener=watcher
        )
        task = asyncio.create_task(runner.run())
        firmware = world.devices["pad"].firmware
        await watcher.reach(RunnerState.RUNNING)
        assert firmware.output_on
        runner.pause()
        await watcher.reach(RunnerState.PAUSED)
        assert not firmware.output_on
        runner.resume()
        await watcher.reach(RunnerState.RUNNING)
        assert firmware.output_on
        runner.request_stop()
        summary = await asyncio.wait_for(task, 10)
    assert summary.end_reason == EndReason.USER_STOPPED
    assert not firmware.output_on
    assert {"paused", "resumed", "stop", "output_off"} <= set(kinds(summary))


async def test_two_devices_at_once_one_faulting() -> None:
    """A pad overheating and a belt running side by side: only the pad stops."""
    async with devices(
        ("heat-pad", "pad"), ("light-belt-1000", "belt"), faults={"pad": ["overheat@30"]}
    ) as (_world, drivers):
        pad = PlanRunner(drivers["pad"], single(HEAT), DEFAULT_LIMITS, attended_auto=True)
        belt = PlanRunner(
            drivers["belt"], single(SessionRequest(Mode.LIGHT, 900, level=4)), DEFAULT_LIMITS
        )
        pad_summary, belt_summary = await asyncio.gather(pad.run(), belt.run())
    assert pad_summary.end_reason == EndReason.OVER_TEMPERATURE
    assert belt_summary.end_reason == EndReason.COMPLETED
    assert belt_summary.actual_minutes == pytest.approx(15, abs=0.2)
    assert belt_summary.energy_j == pytest.approx(900, rel=0.05)


async def test_sixty_minute_contrast_plan_runs_in_under_15_seconds() -> None:
    """heat 20, rest 20, cold 20: completed end to end, in well under 15 s of wall time."""
    started = time.perf_counter()
    summary, _ = await run_one("thermal-pad", BUILTIN_PLANS["contrast"], scale=600)
    wall_s = time.perf_counter() - started
    assert summary.end_reason == EndReason.COMPLETED
    assert summary.plan == "contrast" and summary.requested_minutes == 60
    assert 39.5 < summary.actual_minutes <= 40.2  # two 20-minute sessions, rest not counted
    steps = [e.detail for e in summary.events if e.kind == "step"]
    assert steps == [
        "step 1/3: heat 20 min 40 °C",
        "step 2/3: rest 20 min",
        "step 3/3: cold 20 min 15 °C",
    ]
    assert wall_s < 15


async def test_a_plan_the_device_cannot_do_is_refused() -> None:
    """Contrast needs cold: a heat-only pad says so before anything starts."""
    async with devices(("heat-pad", "pad")) as (_world, drivers):
        with pytest.raises(
            PlanMismatchError, match="needs cold and heat; a heat-pad cannot do cold"
        ):
            await PlanRunner(drivers["pad"], BUILTIN_PLANS["contrast"], DEFAULT_LIMITS).run()


class _Broken(SessionListener):
    """A UI gone wrong: every hook raises."""

    def on_state(self, runner, state) -> None:  # type: ignore[no-untyped-def]
        raise RuntimeError("state")

    def on_status(self, runner, status) -> None:  # type: ignore[no-untyped-def]
        raise RuntimeError("status")

    def on_event(self, runner, event) -> None:  # type: ignore[no-untyped-def]
        raise RuntimeError("event")


async def test_a_failing_listener_never_stops_the_supervision() -> None:
    """Every listener hook raises: the safety stop still happens, output off, reason kept."""
    async with devices(("heat-pad", "dev"), faults={"dev": ["overheat@60"]}, scale=100) as (
        world,
        drivers,
    ):
        runner = PlanRunner(
            drivers["dev"], single(HEAT), DEFAULT_LIMITS, attended_auto=True, listener=_Broken()
        )
        summary = await runner.run()
        assert summary.end_reason == EndReason.OVER_TEMPERATURE
        firmware = world.devices["dev"].firmware
        firmware.advance(world.clock.now())
        assert not firmware.output_on
