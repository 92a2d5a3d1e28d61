"""What the simulated devices advertise, and who hears it: legacy and extended scanners."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from bumble.core import AdvertisingData
from bumble.device import Advertisement as BumbleAdvertisement
from bumble.device import Device
from bumble.hci import Address
from bumble.host import Host
from bumble.transport.common import AsyncPipeSink

from device.link import Radio, scan
from protocols import Advertisement, DeviceKind, uuids
from simulator import DEVICE_KINDS, DeviceSpec, SimulatorWorld
from simulator.peripheral import LEGACY_DATA_MAX, advertising_payloads
from tests.simulator.legacy_radio import LegacyController

DOC = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()
THERAPY_UUID_LE = "701a4b8e6d2c3a9f8e4b1c5d01009e7a"  # the Therapy service UUID, as on air
WAIT_S = 5.0  # devices advertise every 20 ms; this is only a bound on a broken radio


def _every_kind() -> SimulatorWorld:
    return SimulatorWorld([DeviceSpec(k, k) for k in DEVICE_KINDS])


async def _listen(
    world: SimulatorWorld, controller: object, *, legacy: bool, active: bool
) -> dict[str, AdvertisingData]:
    """Scan until every device of ``world`` was heard (its name too, if ``active``)."""
    host = Host(controller, AsyncPipeSink(controller))  # type: ignore[arg-type]
    scanner = Device(name="scanner", address=Address("F0:11:22:33:44:66"), host=host)
    addresses = {str(d.address): name for name, d in world.devices.items()}
    heard: dict[str, AdvertisingData] = {}
    complete = asyncio.Event()

    def on_advertisement(advertisement: BumbleAdvertisement) -> None:
        name = addresses.get(str(advertisement.address))
        if name is None or (
            active and advertisement.data.get(AdvertisingData.COMPLETE_LOCAL_NAME) is None
        ):
            return
        heard[name] = advertisement.data
        if len(heard) == len(addresses):
            complete.set()

    scanner.on(scanner.EVENT_ADVERTISEMENT, on_advertisement)
    await scanner.power_on()
    await scanner.start_scanning(legacy=legacy, active=active)
    try:
        await asyncio.wait_for(complete.wait(), WAIT_S)
    finally:
        await scanner.stop_scanning()
    return heard


def _advertised_kind(data: AdvertisingData) -> Advertisement:
    raw = data.get(AdvertisingData.MANUFACTURER_SPECIFIC_DATA, raw=True)
    assert isinstance(raw, bytes)
    assert int.from_bytes(raw[:2], "little") == uuids.COMPANY_ID
    return Advertisement.decode(raw[2:])


async def test_a_legacy_active_scanner_finds_every_kind_with_name_and_kind() -> None:
    """A Bluetooth 4.x active scanner hears every kind with its name, service and kind."""
    async with _every_kind() as world:
        controller = LegacyController("legacy-4.2", link=world.link)
        heard = await _listen(world, controller, legacy=True, active=True)
        assert sorted(heard) == sorted(DEVICE_KINDS)
        for name, data in heard.items():
            assert data.get(AdvertisingData.COMPLETE_LOCAL_NAME) == name
            assert _advertised_kind(data).kind_name == name
            service_uuids = data.get(AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS)
            assert [str(u).lower() for u in service_uuids] == [uuids.THERAPY_SERVICE]  # type: ignore[union-attr]


async def test_a_legacy_passive_scanner_still_recognises_every_kind() -> None:
    """A passive legacy scanner gets the service and the kind from the advertising data alone."""
    async with _every_kind() as world:
        controller = LegacyController("legacy-4.2", link=world.link)
        heard = await _listen(world, controller, legacy=True, active=False)
        assert sorted(heard) == sorted(DEVICE_KINDS)
        for name, data in heard.items():
            assert _advertised_kind(data).kind_name == name
            assert data.get(AdvertisingData.COMPLETE_LOCAL_NAME) is None


async def test_scan_through_the_bleak_backend_on_a_legacy_adapter_lists_every_kind() -> None:
    """`scan` via bleak on a Bluetooth 4.x controller lists every kind with name and battery."""
    async with _every_kind() as world:
        controller = LegacyController("legacy-4.2", link=world.link)
        async with await Radio.attach(controller) as radio:
            found = await scan(radio, timeout_s=0.3)
    assert sorted(f.kind for f in found) == sorted(DEVICE_KINDS)
    assert all(f.name == f.kind and f.battery_pct == 100 for f in found)


async def test_pads_advertise_no_optical_power() -> None:
    """On air pads advertise 0 mW of optical power and belts their Feature maximum."""
    async with _every_kind() as world:
        heard = await _listen(world, world.controller(), legacy=False, active=True)
    powers = {name: _advertised_kind(data).max_power_mw for name, data in heard.items()}
    assert powers == {
        "heat-pad": 0,
        "thermal-pad": 0,
        "light-belt-420": 420,
        "light-belt-800": 800,
        "light-belt-1000": 1000,
    }


async def test_a_connected_device_stops_both_advertising_sets() -> None:
    """A connection through one set stops the other: a connected device advertises nothing."""
    async with SimulatorWorld([DeviceSpec("heat-pad", "pad")]) as world:
        device = world.devices["pad"]
        assert len(device._advertising_sets) == 2
        assert all(s.enabled for s in device._advertising_sets)
        controller = world.controller()
        central = Device(
            name="central",
            address=Address("F0:11:22:33:44:55"),
            host=Host(controller, AsyncPipeSink(controller)),
        )
        await central.power_on()
        stopped = asyncio.Event()

        def check(*_: object) -> None:
            if not any(s.enabled for s in device._advertising_sets):
                stopped.set()

        for advertising_set in device._advertising_sets:
            advertising_set.on(advertising_set.EVENT_STOP, check)
            advertising_set.on(advertising_set.EVENT_TERMINATION, check)
        connection = await central.connect(device.address, timeout=WAIT_S)
        check()
        await asyncio.wait_for(stopped.wait(), WAIT_S)
        await connection.disconnect()


@pytest.mark.parametrize("name_length", [1, 24, 25, 29])
def test_legacy_payloads_fit_31_bytes(name_length: int) -> None:
    """Both legacy payloads fit 31 bytes; the battery rides along while the name leaves room."""
    name = "n" * name_length
    for info in (
        Advertisement(DeviceKind.HEAT_PAD),
        Advertisement(DeviceKind.THERMAL_PAD),
        Advertisement(DeviceKind.LIGHT_BELT, 1000),
    ):
        payloads = advertising_payloads(name, info, 100)
        assert len(payloads.legacy_data) == 29 <= LEGACY_DATA_MAX
        assert len(payloads.scan_response) <= LEGACY_DATA_MAX
        response = AdvertisingData.from_bytes(payloads.scan_response)
        assert response.get(AdvertisingData.COMPLETE_LOCAL_NAME) == name
        battery = response.get(AdvertisingData.SERVICE_DATA_16_BIT_UUID, raw=True)
        assert (battery is not None) == (name_length <= 24)


def test_a_name_too_long_for_the_scan_response_is_shortened_on_a_character_boundary() -> None:
    """A name over 29 bytes is shortened to whole UTF-8 characters; extended keeps it whole."""
    name = "é" * 20  # 40 bytes of UTF-8
    payloads = advertising_payloads(name, Advertisement(DeviceKind.HEAT_PAD), 50)
    response = AdvertisingData.from_bytes(payloads.scan_response)
    assert response.get(AdvertisingData.SHORTENED_LOCAL_NAME) == "é" * 14  # 28 bytes
    assert len(payloads.scan_response) <= LEGACY_DATA_MAX
    extended = AdvertisingData.from_bytes(payloads.extended_data)
    assert extended.get(AdvertisingData.COMPLETE_LOCAL_NAME) == name


def test_documented_advertising_examples_are_what_a_heat_pad_sends() -> None:
    """protocol.md's advertising data and scan response are the bytes a heat pad sends."""
    payloads = advertising_payloads("heat-pad", Advertisement(DeviceKind.HEAT_PAD), 87)
    assert payloads.legacy_data.hex() == f"0201061107{THERAPY_UUID_LE}07ffffff01010000"
    assert payloads.scan_response.hex() == "0909686561742d7061640416" + "0f1857"
    squashed = "".join(DOC.split()).lower()
    assert payloads.legacy_data.hex() in squashed
    assert payloads.scan_response.hex() in squashed
