"""Resuming after a lost link: only what is left, only when asked, the caps hold across it."""

from __future__ import annotations

from device.safety import DEFAULT_LIMITS, EndReason, SessionRequest, Supervisor, Usage
from device.sessions import BUILTIN_PLANS, PlanRunner
from protocols import Mode
from tests.device.helpers import HEAT_PAD, running, status
from tests.device.safety.test_supervisor import stops
from tests.device.sessions.test_sessions import HEAT, devices, kinds

HEAT_20 = SessionRequest(Mode.HEAT, 1200, 40.0)


def test_a_resumed_heat_session_gets_only_what_is_left_of_20_minutes() -> None:
    """8 min ran before the link went: the resumed part may run 12, no rest demanded."""
    usage = Usage(s_since_heat=30, continuing_s=480)
    plan = Supervisor(DEFAULT_LIMITS, HEAT_PAD, usage).plan(HEAT_20)
    assert plan.start is not None and plan.start.duration_s == 720
    assert "8.0 ran before the link was lost — running 12.0" in plan.clamps[0].message
    # Without the continuation the same request right after heat is refused for rest.
    fresh = Supervisor(DEFAULT_LIMITS, HEAT_PAD, Usage(s_since_heat=30)).plan(HEAT_20)
    assert fresh.refused == EndReason.REST_REQUIRED


def test_a_resumed_session_with_under_a_minute_left_is_refused() -> None:
    """19.5 of 20 min ran: nothing is turned on for the last half minute."""
    plan = Supervisor(DEFAULT_LIMITS, HEAT_PAD, Usage(continuing_s=1170)).plan(HEAT_20)
    assert plan.start is None and "less than a minute" in plan.message


def test_the_thermal_dose_counts_across_the_interruption() -> None:
    """The interrupted part's CEM43 counts toward the resumed part's cap."""
    limits = DEFAULT_LIMITS.tightened(heat_dose_cem43_min=2.0)
    usage = Usage(continuing_s=60, continuing_cem43_min=1.9)
    sup = running(SessionRequest(Mode.HEAT, 600, 42.5), limits=limits, usage=usage)
    reasons: list[EndReason] = []
    for t in range(1, 400):
        reasons += stops(sup.on_status(status(temperature_c=42.9 + 0.01 * (t % 2)), t))
        if reasons:
            break
    assert reasons == [EndReason.THERMAL_DOSE]
    assert 0.1 <= sup.tally.cem43_min < 0.2  # this part's own dose; the cap counted both


async def test_a_lost_link_offers_the_rest_and_resuming_completes_it() -> None:
    """link-drop at 4 min of 20: the session ends link_lost with the output off; resuming
    runs the remaining ~16 min, and both parts together stay within 20 min."""
    async with devices(("heat-pad", "dev"), faults={"dev": ["link-drop@240"]}) as (
        world,
        drivers,
    ):
        plan = BUILTIN_PLANS["heat"]
        first = PlanRunner(drivers["dev"], plan, DEFAULT_LIMITS, attended_auto=True)
        summary = await first.run()
        assert summary.end_reason == EndReason.LINK_LOST, summary.events
        assert {"link_lost", "reconnected", "output_off"} <= set(kinds(summary))
        assert not world.devices["dev"].firmware.output_on
        resumption = first.resumption(summary)
        assert resumption is not None
        assert 15 < resumption.minutes < 16.5 and 3.5 < resumption.continuing_s / 60 < 5
        again = PlanRunner(
            drivers["dev"],
            plan,
            DEFAULT_LIMITS,
            attended_auto=True,
            ledger=first.ledger,
            resuming=resumption,
        )
        rest = await again.run()
        assert rest.end_reason == EndReason.COMPLETED, rest.events
        assert "resumed" in kinds(rest)
        assert summary.actual_minutes + rest.actual_minutes <= 20.2
        assert again.resumption(rest) is None  # completed: nothing to resume
        firmware = world.devices["dev"].firmware
        firmware.advance(world.clock.now())
        assert not firmware.output_on


async def test_nothing_to_resume_after_a_stop_that_was_not_a_lost_link() -> None:
    """A safety stop (here, the device rebooted) is never offered for resuming."""
    async with devices(("heat-pad", "dev"), faults={"dev": ["reboot@60"]}) as (_world, drivers):
        runner = PlanRunner(
            drivers["dev"], BUILTIN_PLANS["heat"], DEFAULT_LIMITS, attended_auto=True
        )
        summary = await runner.run()
        assert summary.end_reason == EndReason.DEVICE_FAULT
        assert runner.resumption(summary) is None
        assert HEAT.duration_s == 1200
