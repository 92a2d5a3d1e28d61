"""The seams of issue #10, through the full BLE path: runaways against the mode, errors that
must turn the output off first, wild readings, garbled notifications, repeated link drops,
cold rests - every one ends with the output off and a recorded reason."""

from __future__ import annotations

import pytest

from device.safety import DEFAULT_LIMITS, EndReason, SessionRequest, Supervisor
from device.sessions import PlanRunner, RunSummary, Step, TherapyPlan, UsageLedger
from protocols import Mode, ProtocolError
from tests.device.sessions.test_sessions import devices, kinds, run_one, single

COLD_20 = SessionRequest(Mode.COLD, 1200, setpoint_c=15.0)
HEAT_20 = SessionRequest(Mode.HEAT, 1200, setpoint_c=40.0)
LIGHT_20 = SessionRequest(Mode.LIGHT, 1200, level=4)


async def test_a_cold_session_whose_heater_sticks_stops_as_a_runaway_far_below_the_ceiling() -> (
    None
):
    """Issue #10, finding 1: a thermal pad in a cold session with its heater stuck on went
    to 47 °C with output on. Now: runaway within 3 °C of where it started, then the alarm
    (the stuck heater ignores STOP), and the true peak on record."""
    summary, world = await run_one("thermal-pad", COLD_20, faults=["overheat@60"], scale=100)
    assert summary.end_reason == EndReason.RUNAWAY, summary.end_detail
    assert "warming with its cold on" in summary.end_detail
    assert summary.alarms and "keeps heating although its output is off" in summary.alarms[0]
    firmware = world.devices["dev"].firmware
    assert not firmware.output_on


async def test_a_heat_session_whose_cooler_sticks_stops_as_a_runaway() -> None:
    """Finding 1: a heat session with the cooler stuck reached 4 °C. Now: a runaway."""
    summary, _ = await run_one("thermal-pad", HEAT_20, faults=["overcool@60"], scale=100)
    assert summary.end_reason == EndReason.RUNAWAY, summary.end_detail
    assert "cooling with its heat on" in summary.end_detail


async def test_a_belt_whose_driver_runs_away_stops_at_its_own_ceiling() -> None:
    """Finding 1: a belt whose driver ran away reached 45 °C in light mode. Now: stopped at
    the belt's 41 °C ceiling."""
    summary, _ = await run_one("light-belt-800", LIGHT_20, faults=["overheat@120"], scale=100)
    assert summary.end_reason == EndReason.OVER_TEMPERATURE, summary.end_detail
    assert "above the 41 °C limit" in summary.end_detail


async def test_a_sensor_spike_is_a_sensor_fault_and_never_reaches_the_dose_or_the_peak() -> None:
    """Finding 3: one reading of >= 1068 °C overflowed the CEM43 arithmetic (traceback, heater
    left on). Now: the 2000 °C spike is a sensor fault, the output goes off, and neither the
    dose nor the peak takes the wild value."""
    summary, world = await run_one("heat-pad", HEAT_20, faults=["sensor-spike@90"])
    assert summary.end_reason == EndReason.SENSOR_FAULT, summary.end_detail
    assert summary.max_temperature_c is not None and summary.max_temperature_c < 60
    assert summary.cem43_minutes < 1
    assert not world.devices["dev"].firmware.output_on


async def test_garbled_status_notifications_end_with_the_output_off_and_a_reason() -> None:
    """status-garbage: seconds of malformed notifications never crash the runner; the session
    ends (or completes) with a recorded reason and the output off."""
    summary, world = await run_one(
        "heat-pad", SessionRequest(Mode.HEAT, 300, setpoint_c=40.0), faults=["status-garbage@60"]
    )
    assert summary.end_reason in (EndReason.COMPLETED, EndReason.LINK_LOST), summary.end_detail
    assert kinds(summary)[-1] == "ended"
    assert not world.devices["dev"].firmware.output_on


async def test_an_unexpected_error_in_the_supervision_turns_the_output_off_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding 3: an unexpected exception left the heater on until the lease ran out, with no
    reason recorded. Now: STOP first, end reason controller_fault, a summary."""
    calls = {"n": 0}
    original = Supervisor.on_status

    def failing(self: Supervisor, status, now_s):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 20:
            raise RuntimeError("a bug in the supervision")
        return original(self, status, now_s)

    monkeypatch.setattr(Supervisor, "on_status", failing)
    summary, world = await run_one("heat-pad", HEAT_20)
    assert summary.end_reason == EndReason.CONTROLLER_FAULT
    assert "RuntimeError: a bug in the supervision" in summary.end_detail
    assert "output_off" in kinds(summary)
    assert not world.devices["dev"].firmware.output_on


async def test_a_malformed_status_right_after_start_is_a_device_fault_with_output_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding 3: a malformed Status read right after START (ProtocolError is not a
    DeviceError) left the output on. Now: device_fault, output off."""
    from device.link import TherapyLink

    original = TherapyLink.read_status
    reads = {"n": 0}

    async def garbled(self: TherapyLink):  # type: ignore[no-untyped-def]
        reads["n"] += 1
        if reads["n"] == 1:  # the first read is the one right after START
            raise ProtocolError("Status", b"\x01\x02", "expected 24 bytes, got 2")
        return await original(self)

    monkeypatch.setattr(TherapyLink, "read_status", garbled)
    summary, world = await run_one("heat-pad", HEAT_20)
    assert summary.end_reason == EndReason.DEVICE_FAULT
    assert "malformed" in summary.end_detail
    assert not world.devices["dev"].firmware.output_on


async def test_repeated_link_drops_and_resumes_cannot_stretch_heat_past_20_minutes() -> None:
    """Finding 7: each drop + resume let about one lease of on-time go uncounted. Now the
    part that was cut counts up to the device's own confirmed stop: the device's on-time
    over every part together stays within 20 min, measured on the simulator."""
    drops = ["link-drop@240", "link-drop@500", "link-drop@760"]
    async with devices(("heat-pad", "dev"), faults={"dev": drops}) as (world, drivers):
        firmware = world.devices["dev"].firmware
        ledger = UsageLedger()
        on_s = 0.0
        runner = PlanRunner(
            drivers["dev"], single(HEAT_20), DEFAULT_LIMITS, attended_auto=True, ledger=ledger
        )
        summaries: list[RunSummary] = []
        while True:
            summary = await runner.run()
            summaries.append(summary)
            firmware.advance(world.clock.now())
            assert firmware.session is not None
            on_s += firmware.session.elapsed_s  # the device's own count of on-time
            offer = runner.resumption(summary)
            if summary.end_reason != EndReason.LINK_LOST or offer is None:
                break
            runner = PlanRunner(
                drivers["dev"],
                single(HEAT_20),
                DEFAULT_LIMITS,
                attended_auto=True,
                ledger=ledger,
                resuming=offer,
            )
        assert [s.end_reason for s in summaries].count(EndReason.LINK_LOST) == 3
        assert on_s <= 20 * 60 + 10, f"{on_s / 60:.2f} min of heat on the device"
        assert not firmware.output_on


async def test_cold_is_repeated_every_two_hours_at_most() -> None:
    """Finding 8: 4 x 20 min of cold with 6-second rests ran. Now the second cold start is
    refused with the time to go; the built-in contrast plan still runs."""
    plan = TherapyPlan("cold twice", (Step(COLD_20), Step(rest_s=6), Step(COLD_20), Step(rest_s=6)))
    summary, _ = await run_one("thermal-pad", plan)
    assert summary.end_reason == EndReason.REST_REQUIRED
    assert "every 2 h" in summary.end_detail
    assert summary.actual_minutes <= 20.1
