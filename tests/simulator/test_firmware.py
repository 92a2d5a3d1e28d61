"""The simulated firmware's rules, as a pure state machine in simulated time."""

from __future__ import annotations

import pytest

from protocols import (
    DeviceKind,
    Fault,
    LeaseConfig,
    Mode,
    Opcode,
    Pause,
    ProtocolError,
    ResultCode,
    Resume,
    SetTarget,
    Start,
    State,
    Status,
    Stop,
    StopCause,
)
from simulator.firmware import (
    BATTERY_CRITICAL_PCT,
    SENSOR_NOISE_C,
    SENSOR_SPIKE_C,
    SENSOR_SPIKE_S,
    STATUS_GARBAGE_S,
    FaultKind,
    LinkDrop,
    Rebooted,
)
from simulator.specs import FAULT_KINDS, parse_fault
from tests.simulator.helpers import belt, pad


def test_session_timer_ends_the_session_without_a_controller_command() -> None:
    """The device's own timer stops output at the end of the requested duration."""
    bench = pad()
    assert bench.send(Start(Mode.HEAT, 0, 40.0, 120)).result == ResultCode.SUCCESS
    bench.run(119)
    assert bench.fw.output_on
    bench.run(2)
    assert not bench.fw.output_on
    assert bench.fw.stop_cause == StopCause.COMPLETED
    assert bench.fw.state == State.IDLE


def test_lease_expiry_turns_output_off_within_the_lease() -> None:
    """With no renewal, output goes off no later than the lease time after the last command."""
    bench = pad()
    assert bench.fw.set_lease(LeaseConfig(5000), 0.0) == ResultCode.SUCCESS
    bench.send(Start(Mode.HEAT, 0, 40.0, 600))
    bench.run(4.5, renew_every_s=None, step_s=0.5)
    assert bench.fw.output_on
    bench.run(1.0, renew_every_s=None, step_s=0.5)
    assert not bench.fw.output_on
    assert bench.fw.stop_cause == StopCause.LEASE_EXPIRED
    assert Fault.LEASE_EXPIRED in bench.fw.faults


def test_renewed_lease_keeps_the_session_running() -> None:
    """A controller that renews keeps output on past many lease periods."""
    bench = pad()
    bench.fw.set_lease(LeaseConfig(3000), 0.0)
    bench.send(Start(Mode.HEAT, 0, 40.0, 600))
    bench.run(60, renew_every_s=1.0)
    assert bench.fw.output_on


@pytest.mark.parametrize("lease_ms", [0, 999, 60_001])
def test_lease_outside_the_feature_range_is_refused(lease_ms: int) -> None:
    """Lease times outside Feature's range are refused and leave the lease unchanged."""
    bench = pad()
    assert bench.fw.set_lease(LeaseConfig(lease_ms), 0.0) == ResultCode.INVALID_PARAMETER
    assert bench.fw.lease_ms == 10_000


@pytest.mark.parametrize(
    ("request_", "result"),
    [
        (Start(Mode.HEAT, 0, 46.0, 600), ResultCode.INVALID_PARAMETER),  # above heat range
        (Start(Mode.HEAT, 0, 29.0, 600), ResultCode.INVALID_PARAMETER),  # below heat range
        (Start(Mode.HEAT, 0, None, 600), ResultCode.INVALID_PARAMETER),  # no setpoint
        (Start(Mode.HEAT, 5, None, 600), ResultCode.INVALID_PARAMETER),  # no level 5
        (Start(Mode.HEAT, 0, 40.0, 0), ResultCode.INVALID_PARAMETER),  # zero duration
        (Start(Mode.HEAT, 0, 40.0, 1801), ResultCode.INVALID_PARAMETER),  # over device max
        (Start(Mode.COLD, 0, 15.0, 600), ResultCode.INVALID_PARAMETER),  # heat pad: no cold
        (Start(Mode.LIGHT, 1, None, 600), ResultCode.INVALID_PARAMETER),  # no light
        (Start(Mode.NONE, 0, 40.0, 600), ResultCode.INVALID_PARAMETER),
        (Start(Mode.HEAT, 3, None, 600), ResultCode.SUCCESS),  # level 3 = 41 °C
        (Start(Mode.HEAT, 0, 45.0, 1800), ResultCode.SUCCESS),
    ],
)
def test_start_parameters_are_checked(request_: Start, result: ResultCode) -> None:
    """Out-of-range START parameters get INVALID_PARAMETER and change nothing."""
    bench = pad()
    assert bench.send(request_).result == result
    assert bench.fw.output_on == (result == ResultCode.SUCCESS)


def test_level_maps_to_the_feature_setpoint() -> None:
    """A level request runs at the setpoint that Feature lists for that level."""
    bench = pad()
    bench.send(Start(Mode.HEAT, 3, None, 600))
    status = bench.fw.status()
    assert (status.level, status.setpoint_c) == (3, 41.0)


def test_commands_in_the_wrong_state_are_not_permitted() -> None:
    """Pause/resume/set-target need a session; a second start needs idle; stop always works."""
    bench = pad()
    assert bench.send(Pause()).result == ResultCode.NOT_PERMITTED
    assert bench.send(Resume()).result == ResultCode.NOT_PERMITTED
    assert bench.send(SetTarget(0, 40.0)).result == ResultCode.NOT_PERMITTED
    assert bench.send(Stop()).result == ResultCode.SUCCESS
    assert bench.send(Start(Mode.HEAT, 0, 40.0, 600)).result == ResultCode.SUCCESS
    assert bench.send(Start(Mode.HEAT, 0, 40.0, 600)).result == ResultCode.NOT_PERMITTED
    assert bench.send(Resume()).result == ResultCode.NOT_PERMITTED
    assert bench.send(Pause()).result == ResultCode.SUCCESS
    assert bench.send(Pause()).result == ResultCode.NOT_PERMITTED
    assert not bench.fw.output_on
    assert bench.send(SetTarget(0, 42.0)).result == ResultCode.SUCCESS
    assert bench.send(SetTarget(0, 50.0)).result == ResultCode.INVALID_PARAMETER
    assert bench.send(Resume()).result == ResultCode.SUCCESS
    assert bench.fw.output_on
    assert bench.fw.status().setpoint_c == 42.0
    assert bench.send(Stop()).result == ResultCode.SUCCESS
    assert bench.fw.stop_cause == StopCause.STOP_COMMAND
    assert not bench.fw.output_on


def test_pause_stops_the_session_timer() -> None:
    """Paused time does not count towards the session's duration."""
    bench = pad()
    bench.send(Start(Mode.HEAT, 0, 40.0, 100))
    bench.run(50)
    bench.send(Pause())
    bench.run(200)
    assert bench.fw.state == State.PAUSED
    bench.send(Resume())
    bench.run(45)
    assert bench.fw.output_on
    bench.run(10)
    assert bench.fw.stop_cause == StopCause.COMPLETED


def test_malformed_and_unknown_requests_get_result_codes() -> None:
    """Unknown opcodes: OPCODE_NOT_SUPPORTED; wrong parameter length: INVALID_PARAMETER."""
    bench = pad()
    response = bench.fw.handle_request(b"\x42", 0.0)
    assert (response.request_opcode, response.result) == (0x42, ResultCode.OPCODE_NOT_SUPPORTED)
    response = bench.fw.handle_request(b"\x01\x01", 0.0)
    assert (response.request_opcode, response.result) == (
        Opcode.START,
        ResultCode.INVALID_PARAMETER,
    )


def test_overheat_trips_the_hard_cutout_and_latches() -> None:
    """Heater stuck on: the true temperature reaches the cut-out, output latches off (FAULT)."""
    bench = pad(DeviceKind.HEAT_PAD, (FaultKind.OVERHEAT, 60))
    bench.send(Start(Mode.HEAT, 0, 38.0, 1800))
    while bench.fw.state == State.RUNNING and bench.now < 1800:
        bench.run(1)
    assert 300 < bench.now < 1200  # minutes of heating at full power, not seconds
    assert bench.fw.state == State.FAULT
    assert bench.fw.stop_cause == StopCause.OVER_TEMPERATURE_CUTOUT
    assert Fault.OVER_TEMPERATURE_CUTOUT in bench.fw.faults
    cutout = bench.fw.feature.cutout_high_c
    assert cutout is not None
    assert cutout - 0.2 <= bench.max_true_c < cutout + 0.2  # sampled each second
    assert bench.send(Start(Mode.HEAT, 0, 38.0, 600)).result == ResultCode.NOT_PERMITTED
    bench.send(Stop())
    assert bench.fw.state == State.FAULT  # still too hot to clear
    bench.run(1200)
    bench.send(Stop())
    assert bench.fw.state == State.IDLE


def test_sensor_stuck_freezes_the_reading_while_the_pad_keeps_heating() -> None:
    """A stuck sensor repeats one value; the firmware trusts it; the cut-out still protects."""
    bench = pad(DeviceKind.HEAT_PAD, (FaultKind.SENSOR_STUCK, 30))
    bench.send(Start(Mode.HEAT, 0, 43.0, 1800))
    bench.run(40)
    readings = {bench.fw.status().temperature_c for _ in range(5)}
    bench.run(60)
    readings |= {bench.fw.status().temperature_c for _ in range(5)}
    assert len(readings) == 1
    bench.run(1500)
    assert bench.fw.stop_cause == StopCause.OVER_TEMPERATURE_CUTOUT


def test_sensor_open_reports_no_reading_and_stops_output() -> None:
    """An open sensor reads as NaN; the firmware stops and refuses to start again."""
    bench = pad(DeviceKind.HEAT_PAD, (FaultKind.SENSOR_OPEN, 20))
    bench.send(Start(Mode.HEAT, 0, 40.0, 600))
    bench.run(25)
    status = bench.fw.status()
    assert status.temperature_c is None
    assert not status.output_on
    assert status.stop_cause == StopCause.SENSOR_INVALID
    assert bench.send(Start(Mode.HEAT, 0, 40.0, 600)).result == ResultCode.OPERATION_FAILED


def test_live_sensor_readings_are_never_perfectly_flat() -> None:
    """A healthy sensor has a little noise, unlike a stuck one."""
    bench = pad()
    bench.send(Start(Mode.HEAT, 0, 40.0, 600))
    bench.run(10)
    assert len({bench.fw.status().temperature_c for _ in range(20)}) > 1


def test_battery_drain_stops_output_at_the_critical_level() -> None:
    """A failing cell drains fast; output stops at the critical level and start is refused."""
    bench = pad(DeviceKind.HEAT_PAD, (FaultKind.BATTERY_DRAIN, 10))
    bench.send(Start(Mode.HEAT, 0, 40.0, 1800))
    bench.run(150)
    assert not bench.fw.output_on
    assert bench.fw.stop_cause == StopCause.BATTERY_CRITICAL
    assert bench.fw.battery_pct <= BATTERY_CRITICAL_PCT
    assert bench.send(Start(Mode.HEAT, 0, 40.0, 600)).result == ResultCode.NOT_PERMITTED


def test_normal_use_drains_the_battery_a_little() -> None:
    """A 20-minute heat session uses some battery, far from empty."""
    bench = pad()
    bench.send(Start(Mode.HEAT, 0, 43.0, 1200))
    bench.run(1200)
    assert 50 < bench.fw.battery_pct < 99


def test_contact_lost_stops_light_output() -> None:
    """A belt stops its light when skin contact is lost, and refuses to start without it."""
    bench = belt(800, (FaultKind.CONTACT_LOST, 30))
    assert bench.send(Start(Mode.LIGHT, 4, None, 1800)).result == ResultCode.SUCCESS
    assert bench.fw.status().power_mw == 800
    bench.run(31)
    status = bench.fw.status()
    assert not status.output_on and not status.skin_contact
    assert status.stop_cause == StopCause.CONTACT_LOST
    assert Fault.NO_SKIN_CONTACT in status.faults
    assert bench.send(Start(Mode.LIGHT, 1, None, 600)).result == ResultCode.NOT_PERMITTED


def test_contact_lost_on_a_pad_only_changes_the_flag_and_the_physics() -> None:
    """Pads keep heating without contact (the controller decides); the flag reports it."""
    bench = pad(DeviceKind.HEAT_PAD, (FaultKind.CONTACT_LOST, 10))
    bench.send(Start(Mode.HEAT, 0, 40.0, 600))
    bench.run(20)
    assert bench.fw.output_on
    assert not bench.fw.status().skin_contact


def test_nack_rejects_every_command_and_the_lease_then_expires() -> None:
    """A device that rejects commands cannot be stopped by command; its lease turns it off."""
    bench = pad(DeviceKind.HEAT_PAD, (FaultKind.NACK, 5))
    bench.send(Start(Mode.HEAT, 0, 40.0, 600))
    bench.run(6)
    assert bench.send(Stop()).result == ResultCode.OPERATION_FAILED
    assert bench.fw.set_lease(LeaseConfig(5000), bench.now) == ResultCode.OPERATION_FAILED
    assert bench.fw.output_on
    bench.run(15)  # renewals are rejected too
    assert not bench.fw.output_on
    assert bench.fw.stop_cause == StopCause.LEASE_EXPIRED


def test_link_drop_is_an_event_and_the_lease_then_stops_output() -> None:
    """A link drop asks the radio layer to disconnect; with no controller the lease expires."""
    bench = pad(DeviceKind.HEAT_PAD, (FaultKind.LINK_DROP, 10))
    bench.send(Start(Mode.HEAT, 0, 40.0, 600))
    bench.run(10)
    assert any(isinstance(e, LinkDrop) for e in bench.events)
    bench.run(11, renew_every_s=None)
    assert not bench.fw.output_on
    assert bench.fw.stop_cause == StopCause.LEASE_EXPIRED


def test_reboot_comes_back_idle_with_output_off() -> None:
    """A firmware restart mid-session: idle, output off, stop cause power-on, seq restarts."""
    bench = pad(DeviceKind.HEAT_PAD, (FaultKind.REBOOT, 30))
    bench.send(Start(Mode.HEAT, 0, 42.0, 600))
    bench.run(20)
    for _ in range(10):
        bench.fw.status()
    bench.run(15)
    assert any(isinstance(e, Rebooted) for e in bench.events)
    status = bench.fw.status()
    assert status.state == State.IDLE
    assert not status.output_on
    assert status.stop_cause == StopCause.POWER_ON
    assert status.seq == 1
    assert bench.send(Start(Mode.HEAT, 0, 42.0, 600)).result == ResultCode.SUCCESS


def test_faults_count_from_the_first_session_start() -> None:
    """A fault at 30 s fires 30 simulated seconds after the first START, not at power-on."""
    bench = pad(DeviceKind.HEAT_PAD, (FaultKind.SENSOR_OPEN, 30))
    bench.run(100)
    assert bench.fw.status().temperature_c is not None
    bench.send(Start(Mode.HEAT, 0, 40.0, 600))
    bench.run(29)
    assert bench.fw.output_on
    bench.run(2)
    assert not bench.fw.output_on


def test_overcool_trips_the_under_temperature_cutout() -> None:
    """Cooler stuck on (thermal pad): the true temperature falls to the low cut-out, latched."""
    bench = pad(DeviceKind.THERMAL_PAD, (FaultKind.OVERCOOL, 30))
    bench.send(Start(Mode.COLD, 0, 15.0, 1800))
    while bench.fw.state == State.RUNNING and bench.now < 1800:
        bench.run(1)
    assert bench.fw.state == State.FAULT
    assert bench.fw.stop_cause == StopCause.UNDER_TEMPERATURE_CUTOUT
    cutout = bench.fw.feature.cutout_low_c
    assert cutout is not None and cutout - 0.2 <= bench.min_true_c <= cutout + 0.2


def test_sensor_spike_reads_wild_for_a_second_while_the_true_temperature_stays() -> None:
    """sensor-spike: the reading (firmware and Status) is 2000 °C for about a second (1.5
    Status periods, so one Status carries it), then normal again; the pad's true temperature
    never leaves its normal course, and the session goes on."""
    bench = pad(DeviceKind.HEAT_PAD, (FaultKind.SENSOR_SPIKE, 10))
    spike_s = max(SENSOR_SPIKE_S, 1.5 * bench.fw.feature.status_interval_ms / 1000)
    bench.send(Start(Mode.HEAT, 0, 40.0, 600))
    bench.run(9.5, step_s=0.5)
    assert bench.fw.status().temperature_c != SENSOR_SPIKE_C
    bench.run(0.5, step_s=0.5)
    true_c = bench.fw.physics.true_temperature_c
    assert bench.fw.temperature_c == SENSOR_SPIKE_C
    assert bench.fw.status().temperature_c == SENSOR_SPIKE_C
    assert 25.0 < true_c < 40.0
    bench.run(spike_s - 0.5, step_s=0.5)
    assert bench.fw.status().temperature_c == SENSOR_SPIKE_C
    bench.run(0.5, step_s=0.5)
    reading = bench.fw.status().temperature_c
    assert reading is not None
    assert abs(reading - bench.fw.physics.true_temperature_c) <= SENSOR_NOISE_C + 0.01
    assert abs(bench.fw.physics.true_temperature_c - true_c) < 0.5
    assert bench.max_true_c < 41.0
    bench.run(60)
    assert bench.fw.output_on and bench.fw.faults == Fault(0)
    assert bench.fw.status().temperature_c != SENSOR_SPIKE_C


def test_status_garbage_notifies_malformed_bytes_for_three_seconds() -> None:
    """status-garbage: Status notifications are bytes of a wrong length that fail to decode
    for 3 s, then valid again; Status reads and the session are unaffected meanwhile."""
    bench = pad(DeviceKind.HEAT_PAD, (FaultKind.STATUS_GARBAGE, 5))
    bench.send(Start(Mode.HEAT, 0, 40.0, 600))
    bench.run(4.5, step_s=0.5)
    assert Status.decode(bench.fw.status_notification(bench.fw.status())).state == State.RUNNING
    garbage = []
    while bench.now < 5 + STATUS_GARBAGE_S:
        bench.run(0.5, step_s=0.5)
        status = bench.fw.status()  # a read: always valid
        assert status.output_on
        data = bench.fw.status_notification(status)
        if bench.now < 5 + STATUS_GARBAGE_S:
            garbage.append(data)
    assert len(garbage) == 6
    for data in garbage:
        assert len(data) != len(status.encode())
        with pytest.raises(ProtocolError):
            Status.decode(data)
    assert Status.decode(bench.fw.status_notification(status)) == status
    bench.run(30)
    status = bench.fw.status()
    assert bench.fw.status_notification(status) == status.encode()
    assert status.output_on


@pytest.mark.parametrize(
    ("text", "kind"),
    [("sensor-spike@30", FaultKind.SENSOR_SPIKE), ("status-garbage@5", FaultKind.STATUS_GARBAGE)],
)
def test_new_faults_parse_like_the_others(text: str, kind: FaultKind) -> None:
    """--fault sensor-spike@S and status-garbage@S parse to scheduled faults, and are listed."""
    fault = parse_fault(text)
    assert fault.kind == kind
    assert kind.value in FAULT_KINDS
