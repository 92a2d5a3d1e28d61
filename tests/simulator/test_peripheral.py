"""The GATT peripheral's own rules, on bumble's real GATT server."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from bumble.att import ATT_Error, ErrorCode
from bumble.core import UUID
from bumble.device import Device, Peer
from bumble.hci import Address
from bumble.host import Host
from bumble.keys import MemoryKeyStore, PairingKeys
from bumble.transport.common import AsyncPipeSink

from protocols import (
    Feature,
    LeaseConfig,
    Mode,
    ProtocolError,
    Response,
    ResultCode,
    Start,
    Status,
    Stop,
    uuids,
)
from simulator import DEVICE_KINDS, DeviceSpec, SimulatorWorld, parse_fault
from simulator.peripheral import SimClock, SimulatedDevice, address_for, status_interval_ms


@dataclass(frozen=True)
class BondedLink:
    """Stands in for an encrypted connection from a bonded peer (the callbacks' view)."""

    peer_address: str = "C0:FF:EE:00:00:01"
    is_encrypted: bool = True


async def bonded(device: SimulatedDevice) -> BondedLink:
    link = BondedLink()
    await device.device.keystore.update(link.peer_address, PairingKeys())
    return link


async def test_control_point_takes_one_procedure_at_a_time() -> None:
    """A second write before the first one's indication goes out: Procedure Already In Progress."""
    async with SimulatorWorld([DeviceSpec("heat-pad", "pad")]) as world:
        device = world.devices["pad"]
        link = await bonded(device)  # a bonded subscriber with indications on (CCCD 0x0002)
        server = device.device.gatt_server
        server.subscribers[link] = {device.control_point_char.handle: b"\x02\x00"}  # type: ignore[index]
        await device._on_control_point_write(link, Stop().encode())  # type: ignore[arg-type]
        with pytest.raises(ATT_Error) as busy:
            await device._on_control_point_write(link, Stop().encode())  # type: ignore[arg-type]
        assert busy.value.error_code == ErrorCode.PROCEDURE_ALREADY_IN_PROGRESS


async def test_lease_write_of_the_wrong_length_is_an_att_error() -> None:
    """Three bytes to the 2-byte Lease: Invalid Attribute Value Length; lease unchanged."""
    async with SimulatorWorld([DeviceSpec("heat-pad", "pad")]) as world:
        device = world.devices["pad"]
        link = await bonded(device)
        with pytest.raises(ATT_Error) as wrong:
            await device._on_lease_write(link, b"\x10\x27\x00")  # type: ignore[arg-type]
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


async def test_feature_reports_the_worlds_time_scale() -> None:
    """Every kind's Feature characteristic decodes to the time scale its world runs at."""
    world = SimulatorWorld([DeviceSpec(k, k) for k in DEVICE_KINDS], time_scale=60.0)
    async with world:
        for device in world.devices.values():
            value = device.feature_char.value
            assert isinstance(value, bytes)
            assert Feature.decode(value).time_scale == 60.0
    async with SimulatorWorld([DeviceSpec("heat-pad", "pad")]) as real_time:
        value = real_time.devices["pad"].feature_char.value
        assert isinstance(value, bytes)
        assert Feature.decode(value).time_scale == 1.0
        assert len(value) == 37 + 7 * 4  # at 1x the optional field is left off


async def test_status_garbage_reaches_a_client_as_bytes_that_fail_to_decode() -> None:
    """status-garbage through the real GATT server: a subscribed client receives Status
    notifications of a wrong length that raise ProtocolError, then valid ones again."""
    world = SimulatorWorld(
        [DeviceSpec("heat-pad", "pad")],
        faults={"pad": [parse_fault("status-garbage@0")]},
        time_scale=10.0,  # 3 s of garbage is 0.3 s of wall time, 3 notifications
    )
    async with world:
        controller = world.controller()
        central = Device(
            name="central",
            address=Address("F0:11:22:33:44:55"),
            host=Host(controller, AsyncPipeSink(controller)),
        )
        central.keystore = MemoryKeyStore()
        await central.power_on()
        connection = await central.connect(world.devices["pad"].address, timeout=5)
        await connection.pair()  # only a bonded peer may start a session
        peer = Peer(connection)
        await peer.request_mtu(247)  # a Status is 24 bytes: more than the default MTU allows
        await peer.discover_all()
        (control_point,) = peer.get_characteristics_by_uuid(UUID(uuids.CONTROL_POINT))
        (status_char,) = peer.get_characteristics_by_uuid(UUID(uuids.STATUS))
        responses: asyncio.Queue[bytes] = asyncio.Queue()
        notified: asyncio.Queue[bytes] = asyncio.Queue()
        await peer.subscribe(control_point, responses.put_nowait, prefer_notify=False)
        await peer.subscribe(status_char, notified.put_nowait)
        await peer.write_value(control_point, Start(Mode.HEAT, 0, 40.0, 600).encode(), True)
        response = Response.decode(await asyncio.wait_for(responses.get(), 5))
        assert response.result == ResultCode.SUCCESS
        bad: list[bytes] = []
        async with asyncio.timeout(10):
            while True:  # the garbage, then the first valid Status after it
                data = await notified.get()
                try:
                    status = Status.decode(data)
                except ProtocolError:
                    bad.append(data)
                    continue
                if bad:
                    break
        assert bad and all(len(data) != 24 for data in bad)
        assert status.output_on
        await connection.disconnect()
