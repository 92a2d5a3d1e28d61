"""Bonding and the pairing window on the reference firmware (NimBLE): the controller pairs
in the window and keeps its bond across reboots; a stranger's client cannot start the
output, and a bond made outside the window does not survive (docs/protocol.md, "Security
and pairing"; the Python simulator's rules are in tests/simulator/test_security.py)."""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pairing
import pytest
from bumble.att import ATT_Error, ErrorCode
from bumble.core import UUID
from bumble.device import Connection, Device, Peer
from bumble.hci import HCI_PIN_OR_KEY_MISSING_ERROR, Address, HCI_Error
from bumble.host import Host
from bumble.keys import MemoryKeyStore
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport.common import AsyncPipeSink

from device.link import NotPairedError, Radio, TherapyLink, bonds_dir, find_device
from device.link.bonds import host_address
from protocols import Mode, ResultCode, Start, State, Status, Stop, StopCause, uuids
from simulator import DeviceSpec
from simulator.firmware_host import FirmwareDevice, FirmwareWorld

pytestmark = pytest.mark.slow

TIME_SCALE = 20.0
START = Start(Mode.HEAT, 0, 40.0, 600)


@asynccontextmanager
async def firmware_world(
    micropython: Path, pairing_window_s: float | None
) -> AsyncIterator[tuple[FirmwareWorld, FirmwareDevice]]:
    world = FirmwareWorld(
        [DeviceSpec("heat-pad", "pad")],
        micropython=micropython,
        time_scale=TIME_SCALE,
        pairing_window_s=pairing_window_s,
    )
    async with world:
        yield world, world.firmware["pad"]


@asynccontextmanager
async def stranger(
    world: FirmwareWorld,
    address: str,
    *,
    bonding: bool = True,
    keystore: MemoryKeyStore | None = None,
) -> AsyncIterator[tuple[Connection, Peer]]:
    """A bumble central that holds no bond with the device (a phone, a laptop); its keys in
    ``keystore`` (a new one if None)."""
    controller = world.controller()
    central = Device(
        name="stranger",
        address=Address(address, Address.RANDOM_DEVICE_ADDRESS),
        host=Host(controller, AsyncPipeSink(controller)),
    )
    central.keystore = keystore if keystore is not None else MemoryKeyStore()
    central.pairing_config_factory = lambda _c: PairingConfig(
        sc=True,
        mitm=False,
        bonding=bonding,
        delegate=PairingDelegate(io_capability=PairingDelegate.NO_OUTPUT_NO_INPUT),
    )
    await central.power_on()
    connection = await central.connect(world.firmware["pad"].address, timeout=5)
    peer = Peer(connection)
    await peer.request_mtu(247)
    await peer.discover_all()
    try:
        yield connection, peer
    finally:
        if connection.handle in central.connections:
            await connection.disconnect()


def char(peer: Peer, uuid: str):  # type: ignore[no-untyped-def]
    (found,) = peer.get_characteristics_by_uuid(UUID(uuid))
    return found


async def att_error(awaitable) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(ATT_Error) as caught:
        await asyncio.wait_for(awaitable, 5)
    return int(caught.value.error_code)


async def read_status(peer: Peer) -> Status:
    return Status.decode(await peer.read_value(char(peer, uuids.STATUS)))


async def close_window(device: FirmwareDevice) -> None:
    device.inject("pairing=0")
    await device.wait_for(5, event="pairing_window", open_s=0)


def bonded_peers(device: FirmwareDevice) -> set[str]:
    """The peers in the firmware's own bond store (its file, replaced whole on each save),
    as ``aa:bb:..``."""
    path = device.workdir / "bonds.json"
    if not path.exists():
        return set()
    peers = set()
    for key_type, key, _value in json.loads(path.read_text()):
        if key_type in pairing.BOND_KEY_TYPES:
            raw = binascii.a2b_base64(key)
            peers.add(":".join(f"{b:02x}" for b in reversed(raw[1:])))
    return peers


async def test_the_controller_pairs_in_the_window_and_keeps_its_bond_across_a_reboot(
    micropython: Path,
) -> None:
    """The window closed at boot; the button opens it; the controller (device.link, its
    bonds on disk) pairs and runs a session; after the window closed and a reboot the
    firmware still holds the bond: the controller encrypts with it and starts again."""
    async with firmware_world(micropython, 0) as (world, device):
        moniker = await world.offer_hci("tcp-server:127.0.0.1:0")
        async with await Radio.open(moniker) as radio:
            found = await find_device(radio, "pad", 5)
            link = await TherapyLink.connect(radio, found)
            with pytest.raises(NotPairedError):  # NimBLE: 0x05 without a bond
                await link.request(START)
            world.open_pairing(30)  # the button held
            await device.wait_for(5, event="pairing_window", open_s=30)
            mark = len(device.events)
            await link.pair()
            await device.wait_for(5, since=mark, event="paired")
            await device.wait_for(5, since=mark, event="bonds_saved", peers=1)
            assert (await link.request(START)).result == ResultCode.SUCCESS
            assert (await link.read_status()).output_on
            assert (await link.request(Stop())).result == ResultCode.SUCCESS
            await link.disconnect()
            assert host_address(bonds_dir()).lower() in bonded_peers(device)

            await close_window(device)
            device.inject("reboot")
            await device.wait_for(15, event="advertising", boot=2)
            again = await TherapyLink.connect(radio, await find_device(radio, "pad", 5))
            await device.wait_for(5, event="encryption", verdict=pairing.RESTORED, boot=2)
            assert (await again.request(START)).result == ResultCode.SUCCESS
            assert (await again.read_status()).state == State.RUNNING
            assert (await again.request(Stop())).result == ResultCode.SUCCESS
            await again.disconnect()


async def test_a_stranger_without_a_bond_cannot_start_the_output(micropython: Path) -> None:
    """Not encrypted: NimBLE answers the Control Point and the Lease with 0x05 and drops a
    Write Command Start. Encrypted without a bond (pairing with bonding off): the firmware
    ignores the Start and indicates Not Permitted. Output stays off; reading needs no bond."""
    async with firmware_world(micropython, 30) as (world, device):
        async with stranger(world, "F0:11:22:33:44:55") as (_connection, peer):
            control_point, lease = char(peer, uuids.CONTROL_POINT), char(peer, uuids.LEASE)
            answers: asyncio.Queue[bytes] = asyncio.Queue()
            await peer.subscribe(control_point, answers.put_nowait, prefer_notify=False)
            before = await peer.read_value(lease)
            start = START.encode()
            assert await att_error(peer.write_value(control_point, start, True)) == (
                ErrorCode.INSUFFICIENT_AUTHENTICATION
            )
            assert await att_error(peer.write_value(lease, b"\x60\xea", True)) == (
                ErrorCode.INSUFFICIENT_AUTHENTICATION
            )
            await peer.write_value(control_point, start, False)  # a Write Command
            await peer.read_value(char(peer, uuids.FEATURE))  # processed after the command
            status = await read_status(peer)
            assert (status.state, status.output_on) == (State.IDLE, False)
            assert await peer.read_value(lease) == before
            assert answers.empty()

        async with stranger(world, "F0:11:22:33:44:66", bonding=False) as (connection, peer):
            await connection.pair()
            assert connection.is_encrypted
            await device.wait_for(5, event="encryption", verdict=pairing.UNBONDED)
            control_point = char(peer, uuids.CONTROL_POINT)
            answers = asyncio.Queue()
            await peer.subscribe(control_point, answers.put_nowait, prefer_notify=False)
            await peer.write_value(control_point, START.encode(), True)
            assert (await asyncio.wait_for(answers.get(), 5)).hex() == "800105"
            status = await read_status(peer)
            assert (status.state, status.output_on, status.stop_cause) == (
                State.IDLE,
                False,
                StopCause.POWER_ON,
            )
        assert not bonded_peers(device)
        assert not any(e.get("event") == "state" and e.get("output_on") for e in device.events)


async def test_pairing_outside_the_window_leaves_no_bond_and_the_button_reopens_it(
    micropython: Path,
) -> None:
    """With the window closed a pairing is refused: the firmware forgets the keys and drops
    the link; encrypting with them later fails and the Control Point stays shut. Once the
    window is reopened (FirmwareWorld.open_pairing, as `sim serve` on SIGUSR1) the same
    client pairs and may start."""
    async with firmware_world(micropython, 30) as (world, device):
        await close_window(device)
        keys = MemoryKeyStore()
        async with stranger(world, "F0:11:22:33:44:77", keystore=keys) as (connection, _peer):
            dropped = asyncio.Event()
            connection.on(connection.EVENT_DISCONNECTION, lambda *_: dropped.set())
            with contextlib.suppress(Exception):  # the link may go before bumble is done
                await asyncio.wait_for(connection.pair(), 10)
            await asyncio.wait_for(dropped.wait(), 5)
        refused = await device.wait_for(5, event="pairing_refused")
        await device.wait_for(5, since=device.events.index(refused), event="bonds_saved")
        assert refused["peer"] == "f0:11:22:33:44:77"
        assert not bonded_peers(device)

        assert await keys.get(str(device.address)) is not None  # the stranger kept them
        async with stranger(world, "F0:11:22:33:44:77", keystore=keys) as (connection, peer):
            # The keys the stranger kept are worth nothing: the device has none to match.
            with pytest.raises(HCI_Error) as failed:
                await asyncio.wait_for(connection.encrypt(), 5)
            assert failed.value.error_code == HCI_PIN_OR_KEY_MISSING_ERROR
            assert not connection.is_encrypted
            control_point = char(peer, uuids.CONTROL_POINT)
            await peer.subscribe(control_point, lambda _v: None, prefer_notify=False)
            assert await att_error(peer.write_value(control_point, START.encode(), True)) == (
                ErrorCode.INSUFFICIENT_AUTHENTICATION
            )
            assert (await read_status(peer)).output_on is False

        world.open_pairing(30)
        await device.wait_for(5, event="pairing_window", open_s=30)
        async with stranger(world, "F0:11:22:33:44:88") as (connection, peer):
            mark = len(device.events)
            await connection.pair()
            await device.wait_for(5, since=mark, event="paired", peer="f0:11:22:33:44:88")
            await device.wait_for(5, since=mark, event="bonds_saved", peers=1)
            control_point = char(peer, uuids.CONTROL_POINT)
            answers: asyncio.Queue[bytes] = asyncio.Queue()
            await peer.subscribe(control_point, answers.put_nowait, prefer_notify=False)
            await peer.write_value(control_point, START.encode(), True)
            assert (await asyncio.wait_for(answers.get(), 5)).hex() == "800101"
            assert (await read_status(peer)).output_on
        assert bonded_peers(device) == {"f0:11:22:33:44:88"}
