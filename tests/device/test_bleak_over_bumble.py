"""A real bleak.BleakClient and BleakScanner, through the bumble backend, in-process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from bleak import BleakClient, BleakScanner

from device import ConnectionFailedError, LinkLostError, Radio, TherapyLink, scan
from device.bumble_backend import BleakScannerBumble
from protocols import LeaseConfig, Mode, ResultCode, Start, State, StopCause, uuids
from simulator import DEVICE_KINDS, DeviceSpec, SimulatorWorld, parse_fault
from tests.device.conformance import Probe, exercise

TIME_SCALE = 20.0  # Status every 50 ms of wall time


@pytest.fixture
async def every_kind() -> AsyncIterator[tuple[SimulatorWorld, Radio]]:
    world = SimulatorWorld([DeviceSpec(k, k) for k in DEVICE_KINDS], time_scale=TIME_SCALE)
    async with world, await Radio.attach(world.controller()) as radio:
        yield world, radio


async def test_scan_with_service_filter_finds_every_kind(every_kind) -> None:
    """BleakScanner (bumble backend) with the Therapy service filter sees all five kinds."""
    _world, radio = every_kind
    found = await scan(radio, timeout_s=0.3)
    assert sorted(f.kind for f in found) == sorted(DEVICE_KINDS)
    assert all(f.name == f.kind and f.rssi < 0 for f in found)


async def test_scan_filter_excludes_other_services(every_kind) -> None:
    """A service filter that no device advertises finds nothing."""
    _world, radio = every_kind
    seen = await BleakScanner.discover(
        timeout=0.2,
        service_uuids=["0000180d-0000-1000-8000-00805f9b34fb"],
        backend=BleakScannerBumble,
        radio=radio.bumble,
    )
    assert seen == []


@pytest.mark.parametrize("kind", DEVICE_KINDS)
async def test_bleak_client_exercises_every_kind(every_kind, kind: str) -> None:
    """Reads, Feature, Status notifications and every control-point command per kind."""
    _world, radio = every_kind
    found = {f.kind: f for f in await scan(radio, timeout_s=0.3)}
    await exercise(radio, found[kind])


async def test_connect_by_address_string(every_kind) -> None:
    """BleakClient also connects from a plain address string, once scanned."""
    world, radio = every_kind
    await scan(radio, timeout_s=0.2)
    address = str(world.devices["heat-pad"].address).split("/")[0]
    async with BleakClient(address, **radio._client_kwargs()) as client:
        assert (await client.read_gatt_char(uuids.MODEL_NUMBER)).decode() == "heat-pad"


async def test_connect_to_an_absent_device_fails_cleanly_and_the_radio_stays_usable(
    every_kind,
) -> None:
    """An address nobody advertises: ConnectionFailedError; the next connect still works."""
    _world, radio = every_kind
    for _ in range(2):
        with pytest.raises(ConnectionFailedError, match="was not found"):
            await TherapyLink.connect(radio, "C1:22:33:44:55:66", timeout_s=0.3)
    found = {f.kind: f for f in await scan(radio, timeout_s=0.3)}
    link = await TherapyLink.connect(radio, found["heat-pad"])
    assert (await link.read_device_info()).model == "heat-pad"
    await link.disconnect()


async def test_lease_expiry_over_ble_turns_output_off() -> None:
    """A silent controller: the device's lease turns the output off by itself."""
    world = SimulatorWorld([DeviceSpec("heat-pad", "pad")], time_scale=TIME_SCALE)
    async with world, await Radio.attach(world.controller()) as radio:
        link = await TherapyLink.connect(radio, (await scan(radio, 0.2))[0])
        await link.set_lease(1000)
        assert (await link.request(Start(Mode.HEAT, 0, 40.0, 600))).result == ResultCode.SUCCESS
        async with link.statuses() as statuses:
            while (status := await asyncio.wait_for(statuses.get(), 5)) and status.output_on:
                pass
        assert status is not None and status.stop_cause == StopCause.LEASE_EXPIRED
        # The device's own session clock: output ran no longer than the 1 s lease (+ one
        # 0.5 s physics step), however late the notification reached us.
        assert status.elapsed_s <= 1
        await link.disconnect()


async def test_link_drop_calls_the_disconnected_callback_and_device_comes_back() -> None:
    """link-drop: bleak's disconnected callback fires; the device advertises again later."""
    world = SimulatorWorld(
        [DeviceSpec("heat-pad", "pad")],
        faults={"pad": [parse_fault("link-drop@2")]},
        time_scale=5.0,  # the 5 s silence is 1 s of wall time
    )
    async with world, await Radio.attach(world.controller()) as radio:
        link = await TherapyLink.connect(radio, (await scan(radio, 0.2))[0])
        await link.request(Start(Mode.HEAT, 0, 40.0, 600))
        await asyncio.wait_for(link.lost.wait(), 5)
        with pytest.raises(LinkLostError):
            await link.read_status()
        assert await scan(radio, 0.1) == []  # silent while the link is down
        found = await scan(radio, 1.5)  # back after 5 simulated seconds
        assert [f.name for f in found] == ["pad"]
        again = await TherapyLink.connect(radio, found[0])
        async with again.statuses() as statuses:
            status = await again.read_status()
            while status.output_on:  # nobody renews: the 10 s lease runs out
                status = await asyncio.wait_for(statuses.get(), 5) or status
        assert status.stop_cause == StopCause.LEASE_EXPIRED
        await again.disconnect()


async def test_reboot_drops_the_link_and_comes_back_idle() -> None:
    """reboot: the link drops; reconnected, the device is idle with stop cause power-on."""
    world = SimulatorWorld(
        [DeviceSpec("light-belt-800", "belt")],
        faults={"belt": [parse_fault("reboot@3")]},
        time_scale=TIME_SCALE,
    )
    async with world, await Radio.attach(world.controller()) as radio:
        link = await TherapyLink.connect(radio, (await scan(radio, 0.2))[0])
        await link.request(Start(Mode.LIGHT, 2, None, 600))
        await asyncio.wait_for(link.lost.wait(), 5)
        found = await scan(radio, 0.5)
        again = await TherapyLink.connect(radio, found[0])
        status = await again.read_status()
        assert (status.state, status.output_on, status.stop_cause) == (
            State.IDLE,
            False,
            StopCause.POWER_ON,
        )
        assert LeaseConfig(10_000) == await again.read_lease()
        await again.disconnect()


async def test_therapy_link_reads_typed_values(every_kind) -> None:
    """The typed link decodes device information, battery and Feature."""
    _world, radio = every_kind
    found = {f.kind: f for f in await scan(radio, timeout_s=0.3)}
    link = await TherapyLink.connect(radio, found["thermal-pad"])
    info = await link.read_device_info()
    assert info.model == "thermal-pad" and info.firmware == "sim-1.0.0"
    assert 0 < await link.read_battery() <= 100
    feature = await link.read_feature()
    assert feature.cold_min_c == 8.0 and feature.cutout_low_c == 4.0
    assert (await link.request(Start(Mode.COLD, 0, 12.0, 300))).result == ResultCode.SUCCESS
    await link.disconnect()


async def test_two_clients_run_two_devices_at_once(every_kind) -> None:
    """One radio, two connections, two sessions, each with its own notifications."""
    _world, radio = every_kind
    found = {f.kind: f for f in await scan(radio, timeout_s=0.3)}
    clients = [
        BleakClient(found[k].ble_device, **radio._client_kwargs())
        for k in ("heat-pad", "light-belt-1000")
    ]
    await asyncio.gather(*(c.connect() for c in clients))
    probes = [Probe(c) for c in clients]
    for probe in probes:
        await probe.subscribe()
    assert await probes[0].result(Start(Mode.HEAT, 0, 41.0, 600).encode()) == ResultCode.SUCCESS
    assert await probes[1].result(Start(Mode.LIGHT, 4, None, 600).encode()) == ResultCode.SUCCESS
    heat = await probes[0].next_status(lambda s: s.output_on)
    light = await probes[1].next_status(lambda s: s.output_on)
    assert (heat.mode, light.mode, light.power_mw) == (Mode.HEAT, Mode.LIGHT, 1000)
    for client in clients:
        await client.disconnect()
