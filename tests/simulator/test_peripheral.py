"""The GATT peripheral's own rules, on bumble's real GATT server."""

from __future__ import annotations

import pytest
from bumble.att import ATT_Error, ErrorCode

from protocols import LeaseConfig, Stop
from simulator import DeviceSpec, SimulatorWorld
from simulator.peripheral import SimClock, address_for, status_interval_ms


async def test_control_point_takes_one_procedure_at_a_time() -> None:
    """A second write before the first one's indication goes out: Procedure Already In Progress."""
    async with SimulatorWorld([DeviceSpec("heat-pad", "pad")]) as world:
        device = world.devices["pad"]
        bearer = object()  # a subscriber with indications on (CCCD 0x0002)
        server = device.device.gatt_server
        server.subscribers[bearer] = {device.control_point_char.handle: b"\x02\x00"}  # type: ignore[index]
        device._on_control_point_write(bearer, Stop().encode())  # type: ignore[arg-type]
        with pytest.raises(ATT_Error) as busy:
            device._on_control_point_write(bearer, Stop().encode())  # type: ignore[arg-type]
        assert busy.value.error_code == ErrorCode.PROCEDURE_ALREADY_IN_PROGRESS


async def test_lease_write_of_the_wrong_length_is_an_att_error() -> None:
    """Three bytes to the 2-byte Lease: Invalid Attribute Value Length; lease unchanged."""
    async with SimulatorWorld([DeviceSpec("heat-pad", "pad")]) as world:
        device = world.devices["pad"]
        with pytest.raises(ATT_Error) as wrong:
            device._on_lease_write(object(), b"\x10\x27\x00")  # type: ignore[arg-type]
        assert wrong.value.error_code == ErrorCode.INVALID_ATTRIBUTE_LENGTH
        assert LeaseConfig(device.firmware.lease_ms) == LeaseConfig(10_000)


def test_status_period_is_what_the_device_can_really_do() -> None:
    """1 s of device time, or 5 ms of wall time at high time scales, as Feature reports."""
    assert status_interval_ms(1.0) == 1000
    assert status_interval_ms(100.0) == 1000
    assert status_interval_ms(600.0) == 3000


def test_clock_runs_time_scale_times_faster() -> None:
    """The simulated clock converts simulated seconds to wall seconds by the scale."""
    clock = SimClock(50.0)
    assert clock.wall_s(10.0) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="positive"):
        SimClock(0.0)


def test_addresses_are_stable_random_static_addresses() -> None:
    """The same name always gets the same address, with the two top bits set."""
    assert address_for("pad1") == address_for("pad1")
    assert address_for("pad1") != address_for("pad2")
    assert int(str(address_for("pad1"))[:2], 16) & 0xC0 == 0xC0
