"""A real bleak.BleakClient and BleakScanner, through the bumble backend, in-process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from device.link import ConnectionFailedError, LinkLostError, Radio, TherapyLink, scan
from device.link.bumble_backend import BleakScannerBumble
from device.link.radio import _found
from protocols import (
    Advertisement,
    DeviceKind,
    LeaseConfig,
    Mode,
    ResultCode,
    Start,
    State,
    Stop,
    StopCause,
    uuids,
)
from simulator import DEVICE_KINDS, DeviceSpec, SimulatorWorld, parse_fault
from tests.device.link.conformance import Probe, exercise

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


async def test_scan_reports_the_advertised_battery_of_a_fresh_device(
    every_kind: tuple[SimulatorWorld, Radio],
) -> None:
    """A fresh device advertises Battery Service data 100 %; the scan reports it."""
    _world, radio = every_kind
    found = await scan(radio, timeout_s=0.3)
    assert len(found) == len(DEVICE_KINDS)
    assert all(f.battery_pct == 100 for f in found)
    assert all(f.as_json()["battery_pct"] == 100 for f in found)


async def test_battery_drained_in_a_session_is_advertised_after_disconnect() -> None:
    """battery-drain during a session: after disconnect the advertisement carries the lower
    level, not the 100 % the device first advertised."""
    world = SimulatorWorld(
        [DeviceSpec("heat-pad", "pad")],
        faults={"pad": [parse_fault("battery-drain@0")]},  # 1 % per simulated second
        time_scale=TIME_SCALE,
    )
    async with world, await Radio.attach(world.controller()) as radio:
        (fresh,) = await scan(radio, 0.2)
        assert fresh.battery_pct == 100
        link = await TherapyLink.connect(radio, fresh)
        await link.set_lease(60_000)
        assert (await link.request(Start(Mode.HEAT, 0, 40.0, 600))).result == ResultCode.SUCCESS
        async with link.statuses() as statuses:
            while (status := await asyncio.wait_for(statuses.get(), 5)) and status.battery_pct > 90:
                pass
        assert status is not None
        in_session = await link.read_battery()  # what Battery Level reads in the session
        await link.request(Stop())
        await link.disconnect()
        (drained,) = await scan(radio, 0.3)
        assert drained.battery_pct is not None
        # It keeps draining while advertising: no higher than in the session, no lower than now.
        now = world.devices["pad"].firmware.status().battery_pct
        assert now <= drained.battery_pct <= in_session < 100


def _advertised(service_data: dict[str, bytes]) -> AdvertisementData:
    return AdvertisementData(
        local_name="pad",
        manufacturer_data={uuids.COMPANY_ID: Advertisement(DeviceKind.HEAT_PAD, 0).encode()},
        service_data=service_data,
        service_uuids=[uuids.THERAPY_SERVICE],
        tx_power=None,
        rssi=-40,
        platform_data=(),
    )


@pytest.mark.parametrize(
    ("service_data", "battery_pct"),
    [
        ({uuids.BATTERY_SERVICE: b"\x00"}, 0),
        ({uuids.BATTERY_SERVICE: b"\x64"}, 100),
        ({uuids.BATTERY_SERVICE: b"\x65"}, None),  # 101 %
        ({uuids.BATTERY_SERVICE: b""}, None),
        ({uuids.BATTERY_SERVICE: b"\x50\x00"}, None),  # two bytes
        ({"0000180d-0000-1000-8000-00805f9b34fb": b"\x50"}, None),  # another service
        ({}, None),
    ],
)
def test_advertised_battery_must_be_one_byte_of_0_to_100(
    service_data: dict[str, bytes], battery_pct: int | None
) -> None:
    """Battery Service data counts only as exactly one byte 0..100; else no battery."""
    found = _found(BLEDevice("C1:22:33:44:55:66", "pad", None), _advertised(service_data))
    assert found is not None
    assert found.battery_pct == battery_pct


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
