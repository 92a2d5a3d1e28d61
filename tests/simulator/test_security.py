"""The device's security and GATT permissions, against software nobody here wrote: bumble's
own central (``Device`` / ``Peer``) and its profile proxies, not our driver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from bumble.att import ATT_Error, ErrorCode
from bumble.core import UUID
from bumble.device import Connection, Device, Peer
from bumble.gatt import GATT_DEVICE_NAME_CHARACTERISTIC
from bumble.hci import Address
from bumble.host import Host
from bumble.keys import MemoryKeyStore
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.profiles.battery_service import BatteryServiceProxy
from bumble.profiles.device_information_service import DeviceInformationServiceProxy
from bumble.transport.common import AsyncPipeSink

from protocols import Mode, Start, State, uuids
from simulator import DeviceSpec, SimulatorWorld

START = Start(Mode.HEAT, 0, 40.0, 600).encode()


@asynccontextmanager
async def stranger(
    world: SimulatorWorld, name: str = "pad", address: str = "F0:11:22:33:44:55"
) -> AsyncIterator[tuple[Connection, Peer]]:
    """A bumble central (a phone, a laptop) connected to ``name``, with services found."""
    controller = world.controller()
    central = Device(
        name="stranger",
        address=Address(address, Address.RANDOM_DEVICE_ADDRESS),
        host=Host(controller, AsyncPipeSink(controller)),
    )
    central.keystore = MemoryKeyStore()
    central.pairing_config_factory = lambda _c: PairingConfig(
        sc=True,
        mitm=False,
        bonding=True,
        delegate=PairingDelegate(io_capability=PairingDelegate.NO_OUTPUT_NO_INPUT),
    )
    await central.power_on()
    connection = await central.connect(world.devices[name].address, timeout=5)
    peer = Peer(connection)
    await peer.request_mtu(247)
    await peer.discover_all()
    try:
        yield connection, peer
    finally:
        await connection.disconnect()


def char(peer: Peer, uuid: str | UUID):  # type: ignore[no-untyped-def]
    (found,) = peer.get_characteristics_by_uuid(UUID(uuid) if isinstance(uuid, str) else uuid)
    return found


async def att_error(awaitable) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(ATT_Error) as caught:
        await awaitable
    return int(caught.value.error_code)


async def test_a_stranger_cannot_start_output_or_touch_the_lease() -> None:
    """Issue #11: anyone in radio range could heat the pad. An unbonded client's Control
    Point and Lease writes get Insufficient Encryption, and nothing changes."""
    async with SimulatorWorld([DeviceSpec("heat-pad", "pad")]) as world:
        firmware = world.devices["pad"].firmware
        async with stranger(world) as (_connection, peer):
            control_point, lease = char(peer, uuids.CONTROL_POINT), char(peer, uuids.LEASE)
            await peer.subscribe(control_point, lambda _v: None, prefer_notify=False)
            before = await peer.read_value(lease)
            assert await att_error(peer.write_value(control_point, START, True)) == (
                ErrorCode.INSUFFICIENT_ENCRYPTION
            )
            assert await att_error(peer.write_value(lease, b"\x60\xea", True)) == (
                ErrorCode.INSUFFICIENT_ENCRYPTION
            )
            await asyncio.sleep(0.05)
            firmware.advance(world.clock.now())
            assert firmware.state == State.IDLE and not firmware.output_on
            assert await peer.read_value(lease) == before
            # Reading Feature and Status needs no bond.
            assert await peer.read_value(char(peer, uuids.FEATURE))
            assert await peer.read_value(char(peer, uuids.STATUS))


async def test_a_bond_made_in_the_window_may_start_and_none_outside_it() -> None:
    """Pairing while the window is open bonds, and the Control Point then takes START; with
    the window closed a new bond is refused and the Control Point stays shut."""
    world = SimulatorWorld([DeviceSpec("heat-pad", "pad")], pairing_window_s=60)
    async with world:
        firmware = world.devices["pad"].firmware
        async with stranger(world) as (connection, peer):
            await connection.pair()
            control_point = char(peer, uuids.CONTROL_POINT)
            answers: asyncio.Queue[bytes] = asyncio.Queue()
            await peer.subscribe(control_point, answers.put_nowait, prefer_notify=False)
            await peer.write_value(control_point, START, True)
            await asyncio.wait_for(answers.get(), 5)
            firmware.advance(world.clock.now())
            assert firmware.output_on
        world.devices["pad"].pairing.close()
        async with stranger(world, address="F0:11:22:33:44:66") as (connection, peer):
            with pytest.raises(Exception, match=r"PAIRING_NOT_SUPPORTED|pairing"):
                await connection.pair()
            control_point = char(peer, uuids.CONTROL_POINT)
            await peer.subscribe(control_point, lambda _v: None, prefer_notify=False)
            assert await att_error(peer.write_value(control_point, START, True)) in (
                ErrorCode.INSUFFICIENT_ENCRYPTION,
                ErrorCode.INSUFFICIENT_AUTHENTICATION,
            )
        world.open_pairing()  # the button held again: a new bond is taken
        async with stranger(world, address="F0:11:22:33:44:66") as (connection, _peer):
            await connection.pair()
            assert connection.is_encrypted


READ_ONLY = [
    uuids.FEATURE,
    uuids.STATUS,
    uuids.MANUFACTURER_NAME,
    uuids.MODEL_NUMBER,
    uuids.SERIAL_NUMBER,
    uuids.FIRMWARE_REVISION,
    uuids.BATTERY_LEVEL,
]


@pytest.mark.parametrize("uuid", READ_ONLY)
async def test_a_read_only_characteristic_refuses_writes_and_keeps_its_value(uuid: str) -> None:
    """A write to Feature, Status, the Device Information strings or Battery Level gets
    Write Not Permitted (never silence), and the next client reads the same value."""
    async with SimulatorWorld([DeviceSpec("heat-pad", "pad")]) as world:
        async with stranger(world) as (connection, peer):
            await connection.pair()  # even a bonded peer may not
            target = char(peer, uuid)
            before = await peer.read_value(target)
            code = await asyncio.wait_for(att_error(peer.write_value(target, b"\x00\x01", True)), 5)
            assert code == ErrorCode.WRITE_NOT_PERMITTED
        if uuid == uuids.STATUS:
            return  # Status changes by itself; what matters is that the write was refused
        async with stranger(world, address="F0:11:22:33:44:77") as (_connection, peer):
            assert await peer.read_value(char(peer, uuid)) == before


async def test_the_device_name_refuses_writes() -> None:
    """The GAP Device Name is read-only too: Write Not Permitted, the name unchanged."""
    async with (
        SimulatorWorld([DeviceSpec("heat-pad", "pad")]) as world,
        stranger(world) as (_connection, peer),
    ):
        name = char(peer, GATT_DEVICE_NAME_CHARACTERISTIC)
        code = await att_error(peer.write_value(name, b"pwned", True))
        assert code == ErrorCode.WRITE_NOT_PERMITTED
        assert await peer.read_value(name) == b"pad"


async def test_a_write_command_start_does_nothing() -> None:
    """The Control Point does not offer write-without-response: a Write Command Start, even
    from a bonded peer, is ignored and never acted on (issue #11: it turned the heater on)."""
    async with SimulatorWorld([DeviceSpec("heat-pad", "pad")]) as world:
        firmware = world.devices["pad"].firmware
        async with stranger(world) as (connection, peer):
            await connection.pair()
            control_point = char(peer, uuids.CONTROL_POINT)
            await peer.subscribe(control_point, lambda _v: None, prefer_notify=False)
            await peer.write_value(control_point, START, False)  # a Write Command
            await peer.read_value(char(peer, uuids.FEATURE))  # the command was processed
            firmware.advance(world.clock.now())
            assert firmware.state == State.IDLE and not firmware.output_on


async def test_bumbles_own_profile_proxies_read_the_right_values() -> None:
    """bumble's Device Information and Battery proxies read what the device says."""
    async with (
        SimulatorWorld([DeviceSpec("light-belt-800", "belt")]) as world,
        stranger(world, "belt") as (_connection, peer),
    ):
        info = peer.create_service_proxy(DeviceInformationServiceProxy)
        battery = peer.create_service_proxy(BatteryServiceProxy)
        assert info is not None and battery is not None
        assert await info.model_number.read_value() == "light-belt-800"
        assert (await info.serial_number.read_value()).startswith("SIM-")
        assert await battery.battery_level.read_value() == 100
