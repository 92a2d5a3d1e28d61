"""The safety supervisor as a pure state machine: status and time in, actions out."""

from __future__ import annotations

import math

import pytest

from device.safety import (
    DEFAULT_LIMITS,
    AskAttended,
    EndReason,
    LimitsError,
    Phase,
    SessionRequest,
    StopOutput,
    Supervisor,
    Usage,
    cem43_minutes,
)
from protocols import Mode, State, StopCause
from tests.device.helpers import BELT_800, HEAT_PAD, THERMAL_PAD, running, status

HEAT_10 = SessionRequest(Mode.HEAT, 600, setpoint_c=40.0)


def stops(actions) -> list[EndReason]:
    return [a.reason for a in actions if isinstance(a, StopOutput)]


# ---------------------------------------------------------------------- limits


def test_configuration_may_only_tighten_the_values_in_force() -> None:
    """A stricter limit is taken; a looser one is refused, naming the value in force."""
    assert DEFAULT_LIMITS.tightened(heat_ceiling_c=41.0).heat_ceiling_c == 41.0
    assert DEFAULT_LIMITS.tightened(cold_floor_c=12.0).cold_floor_c == 12.0
    with pytest.raises(LimitsError, match="44 is looser than the 43 in force"):
        DEFAULT_LIMITS.tightened(heat_ceiling_c=44.0)
    with pytest.raises(LimitsError, match="9 is looser than the 10 in force"):
        DEFAULT_LIMITS.tightened(cold_floor_c=9.0)
    with pytest.raises(LimitsError, match="1500 is looser than the 1200 in force"):
        DEFAULT_LIMITS.tightened(heat_max_session_s=1500)
    with pytest.raises(LimitsError, match="30 is looser than the 10 in force"):
        DEFAULT_LIMITS.tightened(lease_s=30)
    with pytest.raises(LimitsError, match="900 is looser than the 600 in force"):
        DEFAULT_LIMITS.tightened(attended_check_s=900)  # past the end of a 20-min session
    with pytest.raises(LimitsError, match="no such limit"):
        DEFAULT_LIMITS.tightened(heat_ceiling=40)
    with pytest.raises(LimitsError, match="must be a plain finite number"):
        DEFAULT_LIMITS.tightened(heat_ceiling_c="40")
    with pytest.raises(LimitsError, match="finite"):
        DEFAULT_LIMITS.tightened(heat_ceiling_c=math.nan)


def test_a_tightened_limit_cannot_be_loosened_again() -> None:
    """Tightening composes: a second file may go further, never back past the first."""
    first = DEFAULT_LIMITS.tightened(heat_ceiling_c=41.0, heat_dose_cem43_min=10.0)
    assert first.tightened(heat_ceiling_c=40.0).heat_ceiling_c == 40.0
    with pytest.raises(LimitsError, match="42 is looser than the 41 in force"):
        first.tightened(heat_ceiling_c=42.0)
    with pytest.raises(LimitsError, match="15 is looser than the 10 in force"):
        first.tightened(heat_dose_cem43_min=15.0)


def test_huge_and_odd_numbers_are_refused_before_any_arithmetic() -> None:
    """A 400-digit integer, 1e308, infinity or a bool is one LimitsError, not an overflow."""
    for bad in (10**400, -(10**400), 1e308, math.inf, True):
        with pytest.raises(LimitsError, match="plain finite number"):
            DEFAULT_LIMITS.tightened(heat_ceiling_c=bad)
    with pytest.raises(LimitsError, match="about 401 digits"):
        DEFAULT_LIMITS.tightened(heat_rest_s=10**400)


def test_defaults_follow_the_guidance_and_are_the_loosest() -> None:
    """Heat 20 min / 43 °C / CEM43 20 / rest 20; cold 20 min / 10 °C / every 2 h; light 30
    min a day; every default passes its own check, so nothing looser exists."""
    d = DEFAULT_LIMITS
    assert (d.heat_max_session_s, d.heat_ceiling_c, d.heat_dose_cem43_min) == (1200, 43.0, 20.0)
    assert (d.heat_rest_s, d.cold_max_session_s, d.cold_floor_c) == (1200, 1200, 10.0)
    assert d.cold_rest_s == 2 * 3600
    assert (d.light_max_session_s, d.light_daily_s, d.lease_s) == (1800, 1800, 10.0)
    assert (d.attended_check_s, d.attended_ack_s) == (600, 60)
    DEFAULT_LIMITS.tightened(**DEFAULT_LIMITS.as_dict())


def test_cem43_follows_the_sapareto_dewey_formula() -> None:
    """One minute at 43 °C is one CEM43 minute; 44 °C doubles it; 42 °C quarters it."""
    assert cem43_minutes(43.0, 60) == pytest.approx(1.0)
    assert cem43_minutes(44.0, 60) == pytest.approx(2.0)
    assert cem43_minutes(42.0, 60) == pytest.approx(0.25)
    assert cem43_minutes(41.0, 120) == pytest.approx(2 * 0.0625)


# ---------------------------------------------------------------------- planning


def test_over_long_heat_is_clamped_with_a_plain_message() -> None:
    """Heat 30 min becomes 20, and the clamp says so."""
    plan = Supervisor(DEFAULT_LIMITS, HEAT_PAD).plan(SessionRequest(Mode.HEAT, 1800, 40.0))
    assert plan.start is not None and plan.start.duration_s == 1200
    assert [c.message for c in plan.clamps] == ["heat sessions are limited to 20 min — running 20"]


def test_setpoint_over_the_ceiling_is_clamped_inside_it() -> None:
    """45 °C asked, 42.5 °C sent: half a degree inside the 43 °C ceiling."""
    plan = Supervisor(DEFAULT_LIMITS, HEAT_PAD).plan(SessionRequest(Mode.HEAT, 600, 45.0))
    assert plan.start is not None and plan.start.setpoint_c == 42.5
    assert "heat is limited to 43 °C" in plan.clamps[0].message


def test_cold_below_the_floor_and_level_are_clamped() -> None:
    """A cold setpoint under the floor is raised inside it; levels map to setpoints."""
    limits = DEFAULT_LIMITS.tightened(cold_floor_c=14.0)
    plan = Supervisor(limits, THERMAL_PAD).plan(SessionRequest(Mode.COLD, 600, level=3))
    assert plan.start is not None and plan.start.setpoint_c == 14.5  # level 3 is 12 °C
    assert "cold is limited to 14 °C" in plan.clamps[0].message


def test_heat_needs_rest_since_the_last_heat_session() -> None:
    """Heat again 5 min after heat: refused as rest_required, saying how long to wait."""
    plan = Supervisor(DEFAULT_LIMITS, HEAT_PAD, Usage(s_since_heat=300)).plan(HEAT_10)
    assert plan.start is None and plan.refused == EndReason.REST_REQUIRED
    assert "15 min to go" in plan.message
    assert Supervisor(DEFAULT_LIMITS, HEAT_PAD, Usage(s_since_heat=1200)).plan(HEAT_10).start


def test_light_is_cut_to_what_is_left_today_and_refused_when_used_up() -> None:
    """20 min used: a 30 min request runs 10 (clamped); 30 used: refused as daily_limit."""
    request = SessionRequest(Mode.LIGHT, 1800, level=4)
    plan = Supervisor(DEFAULT_LIMITS, BELT_800, Usage(light_s_24h=1200)).plan(request)
    assert plan.start is not None and plan.start.duration_s == 600
    assert "10 min left, running 10" in plan.clamps[0].message
    refused = Supervisor(DEFAULT_LIMITS, BELT_800, Usage(light_s_24h=1800)).plan(request)
    assert refused.refused == EndReason.DAILY_LIMIT


def test_light_power_is_clamped_to_the_levels_the_belt_has() -> None:
    """700 mW on an 800 mW belt runs its 600 mW level, and says so."""
    plan = Supervisor(DEFAULT_LIMITS, BELT_800).plan(SessionRequest(Mode.LIGHT, 600, power_mw=700))
    assert plan.start is not None and plan.start.level == 3 and plan.power_mw == 600
    assert "running 600 mW instead of 700" in plan.clamps[0].message


def test_low_battery_and_unsupported_modes_are_refused() -> None:
    """A start below the battery threshold, or cold on a heat-only pad, does not happen."""
    assert Supervisor(DEFAULT_LIMITS, HEAT_PAD).plan(HEAT_10, 5).refused == EndReason.BATTERY_LOW
    cold = SessionRequest(Mode.COLD, 600, 15.0)
    assert Supervisor(DEFAULT_LIMITS, HEAT_PAD).plan(cold).start is None


# ---------------------------------------------------------------------- running


def test_over_the_ceiling_stops_at_once() -> None:
    """A reading above 43 °C while heating: stop as over_temperature."""
    sup = running(HEAT_10)
    assert stops(sup.on_status(status(temperature_c=43.0), 1)) == []
    assert stops(sup.on_status(status(temperature_c=43.05), 2)) == [EndReason.OVER_TEMPERATURE]


def test_under_the_floor_stops_cold() -> None:
    """A reading below 10 °C while cooling: stop as under_temperature."""
    sup = running(SessionRequest(Mode.COLD, 600, 12.0), feature=THERMAL_PAD)
    assert stops(sup.on_status(status(mode=Mode.COLD, temperature_c=9.9), 1)) == [
        EndReason.UNDER_TEMPERATURE
    ]


def _ramp(sup, mode: Mode, start_c: float, step_c: float, n: int, t0: int = 1) -> list:
    """Feed ``n`` readings moving ``step_c`` a second, output on; the stops asked for."""
    asked: list = []
    for i in range(n):
        reading = round(start_c + step_c * i, 2)
        asked += stops(sup.on_status(status(mode=mode, temperature_c=reading), t0 + i))
        if asked:
            break
    return asked


def test_a_cold_session_whose_heater_sticks_is_a_runaway_long_before_the_ceiling() -> None:
    """Cold mode, output on, the pad warming 0.2 °C/s from 25 °C: runaway at 28 °C (issue:
    a thermal pad in a cold session reached 47 °C with output on)."""
    sup = running(SessionRequest(Mode.COLD, 1200, 15.0), feature=THERMAL_PAD)
    assert _ramp(sup, Mode.COLD, 25.0, 0.2, 100) == [EndReason.RUNAWAY]
    assert sup.tally.max_temperature_c is not None and sup.tally.max_temperature_c <= 28.2


def test_the_ceiling_holds_in_cold_mode_too() -> None:
    """Cold mode with a reading over 43 °C (no runaway reference yet): over_temperature."""
    sup = running(SessionRequest(Mode.COLD, 600, 15.0), feature=THERMAL_PAD)
    assert stops(sup.on_status(status(mode=Mode.COLD, temperature_c=43.5), 1)) == [
        EndReason.OVER_TEMPERATURE
    ]


def test_a_heat_session_whose_cooler_sticks_is_a_runaway_and_the_floor_holds() -> None:
    """Heat mode, the pad cooling: runaway 3 °C under where it started; a reading under
    10 °C in heat mode is under_temperature (issue: a heat session reached 4 °C)."""
    sup = running(SessionRequest(Mode.HEAT, 1200, 40.0), feature=THERMAL_PAD)
    assert _ramp(sup, Mode.HEAT, 30.0, -0.2, 100) == [EndReason.RUNAWAY]
    cold = running(SessionRequest(Mode.HEAT, 600, 40.0), feature=THERMAL_PAD)
    assert stops(cold.on_status(status(temperature_c=9.5), 1)) == [EndReason.UNDER_TEMPERATURE]


def test_a_belt_has_its_own_lower_ceiling() -> None:
    """A belt at 41.5 °C with its light on: over_temperature (issue: a belt reached 45 °C)."""
    sup = running(SessionRequest(Mode.LIGHT, 600, level=2), feature=BELT_800)
    light = {"mode": Mode.LIGHT, "power_mw": 400, "setpoint_c": None}
    assert stops(sup.on_status(status(temperature_c=40.9, **light), 1)) == []
    assert stops(sup.on_status(status(temperature_c=41.2, **light), 2)) == [
        EndReason.OVER_TEMPERATURE
    ]


def test_heat_that_settles_below_where_it_started_is_no_runaway() -> None:
    """A warm pad given a lower setpoint cools to it with output on: not a runaway."""
    sup = running(SessionRequest(Mode.HEAT, 1200, 37.0), feature=HEAT_PAD)
    assert _ramp(sup, Mode.HEAT, 41.0, -0.1, 45) == []  # 41 -> 36.6: within 3 °C of 37


def test_a_wild_reading_never_reaches_the_dose_or_the_peak() -> None:
    """One reading of 1068 °C (or 900, or 1e308): a sensor fault, no overflow, and neither
    the CEM43 nor the peak takes it (issue: a traceback with the heater left on)."""
    for wild in (1068.0, 900.0, 1e308, -1e308):
        sup = running(HEAT_10)
        assert stops(sup.on_status(status(temperature_c=40.0), 1)) == []
        assert stops(sup.on_status(status(temperature_c=wild), 2)) == [EndReason.SENSOR_FAULT]
        assert sup.tally.max_temperature_c == 40.0
        assert sup.tally.cem43_min < 0.01


def test_cem43_is_overflow_safe() -> None:
    """The dose formula itself never overflows or goes negative, whatever it is given."""
    assert math.isfinite(cem43_minutes(1e6, 60))
    assert cem43_minutes(math.nan, 60) == 0.0
    assert cem43_minutes(45.0, -5.0) == 0.0


def test_cold_may_be_repeated_every_two_hours_start_to_start() -> None:
    """A cold start 90 min after the last one is refused with the minutes to go; at 2 h it
    runs (issue: 4 x 20 min of cold with 6-second rests ran)."""
    request = SessionRequest(Mode.COLD, 900, 15.0)
    early = Supervisor(DEFAULT_LIMITS, THERMAL_PAD, Usage(s_since_cold_start=5400)).plan(request)
    assert early.start is None and early.refused == EndReason.REST_REQUIRED
    assert "every 2 h" in early.message and "30 min to go" in early.message
    assert (
        Supervisor(DEFAULT_LIMITS, THERMAL_PAD, Usage(s_since_cold_start=7200)).plan(request).start
    )


@pytest.mark.parametrize(
    ("readings", "reason"),
    [
        ([None], EndReason.SENSOR_FAULT),  # no reading
        ([75.0], EndReason.SENSOR_FAULT),  # implausible
        ([35.0, 39.0], EndReason.SENSOR_FAULT),  # 4 °C in a second: too fast
    ],
)
def test_sensor_faults_stop_the_output(readings, reason) -> None:
    """Invalid, out-of-range or jumping readings stop as sensor_fault."""
    sup = running(HEAT_10)
    actions = []
    for i, t in enumerate(readings):
        actions += sup.on_status(status(temperature_c=t), 1 + i)
    assert stops(actions) == [reason]


def test_a_stuck_reading_with_output_on_is_a_sensor_fault() -> None:
    """The same reading to the hundredth for 30 s with output on: stuck sensor."""
    sup = running(HEAT_10)
    for t in range(1, 40):
        actions = sup.on_status(status(temperature_c=36.12), t)
        if actions:
            break
    assert t == 31
    assert stops(actions) == [EndReason.SENSOR_FAULT]
    assert "stuck" in actions[0].detail


def test_a_noisy_steady_reading_is_not_stuck() -> None:
    """A settled pad whose reading wobbles by 0.01 °C is fine."""
    sup = running(HEAT_10)
    for t in range(1, 200):
        assert stops(sup.on_status(status(temperature_c=40.0 + 0.01 * (t % 3)), t)) == []


def test_thermal_dose_over_the_cap_stops() -> None:
    """Heat at 42.9 °C accumulates CEM43; past the (tightened) 2 min cap it stops."""
    sup = running(HEAT_10, limits=DEFAULT_LIMITS.tightened(heat_dose_cem43_min=2.0))
    reasons = []
    for t in range(1, 400):
        reasons += stops(sup.on_status(status(temperature_c=42.9 + 0.01 * (t % 2)), t))
        if reasons:
            break
    assert reasons == [EndReason.THERMAL_DOSE]
    assert 2.0 <= sup.tally.cem43_min < 2.1


def test_low_battery_while_running_stops_cleanly() -> None:
    """Battery under 10 % mid-session: stop as battery_low."""
    sup = running(HEAT_10)
    assert stops(sup.on_status(status(battery_pct=9), 1)) == [EndReason.BATTERY_LOW]


def test_light_without_contact_stops() -> None:
    """A belt reporting output on without skin contact: stop as contact_lost."""
    sup = running(SessionRequest(Mode.LIGHT, 600, level=2), feature=BELT_800)
    reading = status(mode=Mode.LIGHT, temperature_c=33.0, contact=False)
    assert stops(sup.on_status(reading, 1)) == [EndReason.CONTACT_LOST]


def test_light_counts_energy_and_stops_at_the_daily_limit() -> None:
    """Energy is power times time; running past the day's 30 min (a device whose timer
    does not end a session cut to what was left) stops as daily_limit."""
    sup = Supervisor(DEFAULT_LIMITS, BELT_800, Usage(light_s_24h=1700))
    sup.plan(SessionRequest(Mode.LIGHT, 1800, level=4), 90)  # cut to 100 s
    sup.started(0)
    reasons = []
    for t in range(1, 200):
        reasons += stops(
            sup.on_status(
                status(mode=Mode.LIGHT, temperature_c=33 + (t % 2) / 100, power_mw=800), t
            )
        )
        if reasons:
            break
    assert reasons == [EndReason.DAILY_LIMIT]
    assert sup.tally.energy_j == pytest.approx(0.8 * sup.tally.running_s)


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        (StopCause.COMPLETED, EndReason.COMPLETED),
        (StopCause.LEASE_EXPIRED, EndReason.LINK_LOST),
        (StopCause.OVER_TEMPERATURE_CUTOUT, EndReason.OVER_TEMPERATURE),
        (StopCause.SENSOR_INVALID, EndReason.SENSOR_FAULT),
        (StopCause.BATTERY_CRITICAL, EndReason.BATTERY_LOW),
        (StopCause.CONTACT_LOST, EndReason.CONTACT_LOST),
        (StopCause.POWER_ON, EndReason.DEVICE_FAULT),
    ],
)
def test_a_stop_by_the_device_maps_to_an_end_reason(cause, reason) -> None:
    """When the device ends the session itself, its stop cause gives the reason."""
    sup = running(HEAT_10)
    reading = status(state=State.IDLE, output_on=False, stop_cause=cause)
    assert stops(sup.on_status(reading, 5)) == [reason]


def test_silence_longer_than_three_status_periods_is_a_lost_link() -> None:
    """No Status for more than 3 periods: stop as link_lost (by the timer)."""
    sup = running(HEAT_10)
    sup.on_status(status(), 1.0)
    assert sup.next_deadline() == pytest.approx(4.0)
    assert stops(sup.on_timer(3.9)) == []
    assert stops(sup.on_timer(4.1)) == [EndReason.LINK_LOST]


def test_attended_use_check_asks_and_stops_when_unanswered() -> None:
    """Heat: at 10 min ask; no answer in 60 s stops as unattended."""
    sup = running(SessionRequest(Mode.HEAT, 1200, 40.0))
    for t in range(1, 600):
        sup.on_status(status(temperature_c=40 + (t % 2) / 100), t)
    asked = sup.on_timer(600.0)
    assert asked == [AskAttended(660.0)]
    sup.on_status(status(temperature_c=40.01), 630)
    assert stops(sup.on_timer(630.0)) == []
    sup.on_status(status(temperature_c=40.02), 659)
    assert stops(sup.on_timer(660.0)) == [EndReason.UNATTENDED]


def test_an_answered_check_schedules_the_next() -> None:
    """Acknowledged at 620 s: the next check comes 10 min later."""
    sup = running(SessionRequest(Mode.HEAT, 1200, 40.0))
    sup.on_status(status(), 599)
    assert sup.on_timer(600.0)
    sup.acknowledge(620.0)
    sup.on_status(status(temperature_c=35.01), 1219)
    assert sup.next_deadline() == pytest.approx(1220.0)
    assert isinstance(sup.on_timer(1220.0)[0], AskAttended)


def test_output_on_without_a_session_is_stopped() -> None:
    """Output on when nothing is running here: stop it."""
    sup = Supervisor(DEFAULT_LIMITS, HEAT_PAD)
    assert stops(sup.on_status(status(), 1)) == [EndReason.DEVICE_FAULT]


def test_while_stopping_output_on_is_stopped_again_and_off_ends() -> None:
    """A stop not yet effective is asked again; output off ends the session."""
    sup = running(HEAT_10)
    sup.stopping(EndReason.USER_STOPPED, "stopped by the user")
    assert stops(sup.on_status(status(), 1)) == [EndReason.USER_STOPPED]
    sup.on_status(status(state=State.IDLE, output_on=False), 2)
    assert sup.phase == Phase.ENDED
    assert sup.end_reason == EndReason.USER_STOPPED


def test_a_ceiling_below_what_the_pad_can_do_refuses_instead_of_clamping_above_it() -> None:
    """Ceiling 29 °C on a pad that heats from 30 °C: no setpoint fits, so no session."""
    limits = DEFAULT_LIMITS.tightened(heat_ceiling_c=29.0)
    plan = Supervisor(limits, HEAT_PAD).plan(HEAT_10)
    assert plan.start is None and "within the limits" in plan.message


def test_a_backlog_of_notifications_is_not_a_jumping_sensor() -> None:
    """Readings 20 s apart on the device's clock but arriving 0.5 s apart are no jump."""
    sup = running(HEAT_10)
    assert stops(sup.on_status(status(temperature_c=38.0, elapsed_s=10), 10.0)) == []
    assert stops(sup.on_status(status(temperature_c=39.0, elapsed_s=30), 10.5)) == []
    assert stops(sup.on_status(status(temperature_c=43.0, elapsed_s=31), 11.5)) == [
        EndReason.SENSOR_FAULT
    ]
