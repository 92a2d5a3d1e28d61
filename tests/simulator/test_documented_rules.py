"""The firmware rules docs/protocol.md spells out for client and firmware authors, pinned on
the simulator: the idle Status, the ignored setpoint, the duration range, the lease flag and
the lease that outlives a connection."""

from __future__ import annotations

import pytest

from device.link import Radio, TherapyLink, scan
from protocols import (
    DeviceKind,
    Fault,
    Mode,
    RenewLease,
    ResultCode,
    Start,
    State,
    StatusFlag,
    Stop,
    StopCause,
)
from simulator import DeviceSpec, SimulatorWorld
from simulator.pad import MAX_SESSION_S
from tests.simulator.helpers import belt, pad


def test_idle_status_after_power_on_is_all_zero_but_the_stop_cause() -> None:
    """Idle after power-on: no mode, level, setpoint or times; stop cause power on; lease active."""
    status = pad().fw.status()
    assert (status.state, status.mode, status.level, status.setpoint_c) == (
        State.IDLE,
        Mode.NONE,
        0,
        None,
    )
    assert (status.power_mw, status.elapsed_s, status.remaining_s) == (0, 0, 0)
    assert (status.faults, status.stop_cause) == (Fault(0), StopCause.POWER_ON)
    assert status.flags == StatusFlag.SKIN_CONTACT | StatusFlag.LEASE_ACTIVE
    assert status.temperature_c is not None


def test_idle_status_after_a_session_keeps_the_last_sessions_values() -> None:
    """Idle after a session keeps its mode, level, setpoint and frozen times till the next Start."""
    bench = pad()
    bench.send(Start(Mode.HEAT, 2, None, 100))
    bench.run(30)
    bench.send(Stop())
    stopped = bench.fw.status()
    assert (stopped.state, stopped.mode, stopped.level, stopped.setpoint_c) == (
        State.IDLE,
        Mode.HEAT,
        2,
        39.0,
    )
    assert (stopped.power_mw, stopped.elapsed_s, stopped.remaining_s) == (0, 30, 70)
    assert stopped.stop_cause == StopCause.STOP_COMMAND
    assert StatusFlag.OUTPUT_ON not in stopped.flags
    bench.run(20)
    assert bench.fw.status().elapsed_s == 30  # frozen while idle
    bench.send(Start(Mode.HEAT, 0, 40.0, 5))
    bench.run(10)
    completed = bench.fw.status()
    assert (completed.level, completed.setpoint_c) == (0, 40.0)
    assert (completed.elapsed_s, completed.remaining_s) == (5, 0)
    assert completed.stop_cause == StopCause.COMPLETED


def test_a_level_makes_the_setpoint_field_ignored_but_it_must_decode() -> None:
    """With a level the setpoint is ignored, but the reserved FLOAT is still invalid."""
    bench = pad()
    assert bench.send(Start(Mode.HEAT, 2, 99.0, 600)).result == ResultCode.SUCCESS
    assert bench.fw.status().setpoint_c == 39.0
    light = belt(800)
    assert light.send(Start(Mode.LIGHT, 4, 41.0, 600)).result == ResultCode.SUCCESS
    assert (light.fw.status().setpoint_c, light.fw.status().power_mw) == (None, 800)
    reserved = bytes([0x01, Mode.HEAT, 2]) + bytes.fromhex("01008000") + (600).to_bytes(2, "little")
    assert pad().fw.handle_request(reserved, 0.0).result == ResultCode.INVALID_PARAMETER


@pytest.mark.parametrize(
    ("duration_s", "result"),
    [
        (0, ResultCode.INVALID_PARAMETER),
        (1, ResultCode.SUCCESS),
        (MAX_SESSION_S, ResultCode.SUCCESS),
        (MAX_SESSION_S + 1, ResultCode.INVALID_PARAMETER),
    ],
)
def test_duration_runs_from_1_to_the_features_longest_session(
    duration_s: int, result: ResultCode
) -> None:
    """Durations 1 .. Feature max_session_s start; 0 and one more are invalid parameters."""
    bench = pad(DeviceKind.HEAT_PAD)
    assert bench.fw.feature.max_session_s == MAX_SESSION_S
    assert bench.send(Start(Mode.HEAT, 1, None, duration_s)).result == result


def test_lease_active_means_renewed_within_the_lease_time_in_every_state() -> None:
    """Lease active is set within the lease time of the last renewal and clear after, idle too."""
    bench = pad()
    bench.run(10, renew_every_s=None)
    assert StatusFlag.LEASE_ACTIVE in bench.fw.status().flags
    bench.run(1, renew_every_s=None)
    assert StatusFlag.LEASE_ACTIVE not in bench.fw.status().flags
    assert bench.send(RenewLease()).result == ResultCode.SUCCESS
    assert StatusFlag.LEASE_ACTIVE in bench.fw.status().flags


async def test_the_lease_outlives_the_connection() -> None:
    """A session survives a reconnect within the lease and the new connection keeps it going."""
    world = SimulatorWorld([DeviceSpec("heat-pad", "pad")], time_scale=20.0)
    async with world, await Radio.attach(world.controller()) as radio:
        link = await TherapyLink.connect(radio, (await scan(radio, 0.2))[0])
        await link.set_lease(60_000)  # 3 s of wall time
        assert (await link.request(Start(Mode.HEAT, 1, None, 600))).result == ResultCode.SUCCESS
        await link.disconnect()
        again = await TherapyLink.connect(radio, (await scan(radio, 0.2))[0])
        status = await again.read_status()
        assert status.state == State.RUNNING and StatusFlag.LEASE_ACTIVE in status.flags
        assert (await again.request(RenewLease())).result == ResultCode.SUCCESS
        assert (await again.read_lease()).lease_ms == 60_000
        await again.disconnect()
