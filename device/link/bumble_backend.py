"""A bleak backend on Google's bumble: bleak's own API over bumble's ATT/GATT stack.

Code above this module uses ``BleakScanner`` and ``BleakClient`` unchanged; only the backend
differs::

    radio = await BumbleRadio.open("tcp-client:127.0.0.1:9001")   # or .attach(controller)
    scanner = BleakScanner(service_uuids=[...], backend=BleakScannerBumble, radio=radio)
    client = BleakClient(address, backend=BleakClientBumble, radio=radio)

A :class:`BumbleRadio` is one bumble host (a central) shared by every scanner and client of a
process. It reaches a virtual radio either in-process (``attach`` as the host of a
controller on a simulator's radio) or through any bumble HCI transport (``open``), such
as the TCP controllers that ``therapyctl sim serve --hci`` offers.

bleak internals this relies on are pinned by tests/device/test_bleak_contract.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import core as bumble_core
from bumble.att import ATT_Error
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt_client import CharacteristicProxy, ServiceProxy
from bumble.hci import Address
from bumble.host import Host
from bumble.keys import JsonKeyStore, MemoryKeyStore, PairingKeys
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink, Transport

from device.link.bonds import BondStoreError, bonds_dir, host_address, random_static_address
from protocols import TherapyctlError

logger = logging.getLogger(__name__)

PREFERRED_MTU = 247
DEFAULT_GATT_TIMEOUT_S = 10.0

_PROPERTY_NAMES: tuple[tuple[int, CharacteristicPropertyName], ...] = (
    (0x01, "broadcast"),
    (0x02, "read"),
    (0x04, "write-without-response"),
    (0x08, "write"),
    (0x10, "notify"),
    (0x20, "indicate"),
    (0x40, "authenticated-signed-writes"),
    (0x80, "extended-properties"),
)


class RadioError(TherapyctlError):
    """A bumble radio that cannot be opened (bad transport moniker, nothing listening)."""

    def __init__(self, transport: str, reason: str) -> None:
        self.transport = transport
        self.reason = reason
        super().__init__(f"cannot open radio {transport!r}: {reason}")


class BondStore(JsonKeyStore):
    """bumble's JSON key store, with errors in plain words."""

    async def load(self) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, Any]]:
        try:
            return await super().load()
        except (OSError, ValueError, TypeError) as exc:
            raise BondStoreError(
                Path(self.filename), f"it is damaged ({exc}); remove it and pair again"
            ) from exc

    async def save(self, db: dict[str, dict[str, dict[str, Any]]]) -> None:
        try:
            await super().save(db)
        except OSError as exc:
            raise BondStoreError(Path(self.filename), f"it cannot be written: {exc}") from exc

    async def bonded(self, address: str) -> bool:
        keys: PairingKeys | None = await self.get(address)
        return keys is not None


def pairing_config() -> PairingConfig:
    """How this controller pairs: LE Secure Connections, bonding, Just Works (a therapy
    device has no display or keypad), distributing our identity so the bond survives."""
    return PairingConfig(
        sc=True,
        mitm=False,
        bonding=True,
        delegate=PairingDelegate(io_capability=PairingDelegate.NO_OUTPUT_NO_INPUT),
        identity_address_type=PairingConfig.AddressType.RANDOM,
    )


class BumbleRadio:
    """One bumble host shared by the scanners and clients of this process."""

    def __init__(
        self,
        device: Device,
        description: str,
        transport: Transport | None,
        *,
        auto_pair: bool = False,
    ) -> None:
        self.device = device
        self.description = description
        self._transport = transport
        # In-process simulated devices are yours: pair with them without being asked.
        self.auto_pair = auto_pair
        device.pairing_config_factory = lambda _connection: pairing_config()
        self._scanners = 0
        self.connect_lock = asyncio.Lock()  # bumble allows one pending LE connection
        self.address_types: dict[str, Any] = {}

    @classmethod
    async def open(cls, transport: str) -> BumbleRadio:
        """Use the HCI controller behind a bumble transport moniker."""
        try:
            opened = await open_transport(transport)
        except Exception as exc:  # bumble raises many kinds; all mean "cannot open"
            raise RadioError(transport, str(exc) or type(exc).__name__) from exc
        try:
            directory = bonds_dir()
            address = host_address(directory)
        except BondStoreError:
            await opened.close()
            raise
        device = Device.with_hci(
            "therapyctl",
            Address(address, Address.RANDOM_DEVICE_ADDRESS),
            opened.source,
            opened.sink,
        )
        device.keystore = BondStore(address, str(directory / "keys.json"))
        radio = cls(device, transport, opened)
        try:
            async with asyncio.timeout(10):
                await device.power_on()
        except Exception as exc:
            await opened.close()
            raise RadioError(transport, f"the controller did not answer: {exc}") from exc
        return radio

    @classmethod
    async def attach(cls, controller: Controller) -> BumbleRadio:
        """Be the host of an in-process controller (one on a simulator's virtual radio)."""
        address = Address(random_static_address(), Address.RANDOM_DEVICE_ADDRESS)
        device = Device(
            name="therapyctl", address=address, host=Host(controller, AsyncPipeSink(controller))
        )
        device.keystore = MemoryKeyStore()
        await device.power_on()
        return cls(device, "in-process link", None, auto_pair=True)

    async def is_bonded(self, address: str) -> bool:
        """Whether this radio holds a bond with the device at ``address``."""
        keystore = self.device.keystore
        return keystore is not None and await keystore.get(address.upper()) is not None

    async def start_scanning(self) -> None:
        self._scanners += 1
        if self._scanners == 1:
            await self.device.start_scanning(filter_duplicates=False)

    async def stop_scanning(self) -> None:
        self._scanners = max(0, self._scanners - 1)
        if self._scanners == 0 and self.device.is_scanning:
            await self.device.stop_scanning()

    async def close(self) -> None:
        for connection in list(self.device.connections.values()):
            try:
                await connection.disconnect()
            except Exception as exc:
                logger.debug("disconnect on close failed: %s", exc)
        if self._transport is not None:
            await self._transport.close()

    async def __aenter__(self) -> BumbleRadio:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


def _radio(kwargs: dict[str, Any]) -> BumbleRadio:
    radio = kwargs.get("radio")
    if not isinstance(radio, BumbleRadio):
        raise BleakError("the bumble backend needs radio=BumbleRadio(...)")
    return radio


def _advertisement_data(adv: Advertisement) -> AdvertisementData:
    name: str | None = None
    manufacturer: dict[int, bytes] = {}
    service_data: dict[str, bytes] = {}
    service_uuids: list[str] = []
    tx_power: int | None = None
    for ad_type, raw in adv.data.ad_structures:
        if ad_type in (AdvertisingData.COMPLETE_LOCAL_NAME, AdvertisingData.SHORTENED_LOCAL_NAME):
            name = name or raw.decode("utf-8", errors="replace")
        elif ad_type == AdvertisingData.MANUFACTURER_SPECIFIC_DATA and len(raw) >= 2:
            manufacturer[int.from_bytes(raw[:2], "little")] = bytes(raw[2:])
        elif ad_type in _UUID_LISTS:
            width = _UUID_LISTS[ad_type]
            for offset in range(0, len(raw) - width + 1, width):
                service_uuids.append(_full_uuid(raw[offset : offset + width]))
        elif ad_type in _SERVICE_DATA and len(raw) >= _SERVICE_DATA[ad_type]:
            width = _SERVICE_DATA[ad_type]
            service_data[_full_uuid(raw[:width])] = bytes(raw[width:])
        elif ad_type == AdvertisingData.TX_POWER_LEVEL and raw:
            tx_power = int.from_bytes(raw[:1], "little", signed=True)
    return AdvertisementData(
        local_name=name,
        manufacturer_data=manufacturer,
        service_data=service_data,
        service_uuids=list(dict.fromkeys(service_uuids)),
        tx_power=tx_power,
        rssi=adv.rssi,
        platform_data=(adv,),
    )


def _full_uuid(raw: bytes) -> str:
    """A UUID from advertising bytes (little-endian) as bleak spells it."""
    return _uuid_str(UUID.from_bytes(raw))


_UUID_LISTS = {
    AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
    AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
    AdvertisingData.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS: 4,
    AdvertisingData.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS: 4,
    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
    AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
}
_SERVICE_DATA = {
    AdvertisingData.SERVICE_DATA_16_BIT_UUID: 2,
    AdvertisingData.SERVICE_DATA_32_BIT_UUID: 4,
    AdvertisingData.SERVICE_DATA_128_BIT_UUID: 16,
}


class BleakScannerBumble(BaseBleakScanner):
    """bleak scanner backend over a :class:`BumbleRadio` (pass ``radio=`` to BleakScanner)."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._radio = _radio(kwargs)
        self._scanning = False
        self._advertised: dict[str, AdvertisementData] = {}

    async def start(self) -> None:
        self.seen_devices = {}
        self._advertised = {}
        self._radio.device.on(self._radio.device.EVENT_ADVERTISEMENT, self._on_advertisement)
        self._scanning = True
        await self._radio.start_scanning()

    async def stop(self) -> None:
        if not self._scanning:
            return
        self._scanning = False
        self._radio.device.remove_listener(
            self._radio.device.EVENT_ADVERTISEMENT, self._on_advertisement
        )
        await self._radio.stop_scanning()

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        address = str(advertisement.address).split("/")[0]
        data = self._merged(address, _advertisement_data(advertisement))
        if not self.is_allowed_uuid(data.service_uuids):
            return
        self._radio.address_types[address] = advertisement.address.address_type
        device = self.create_or_update_device(
            address, address, data.local_name, (self._radio, advertisement.address), data
        )
        self.call_detection_callbacks(device, data)

    def _merged(self, address: str, data: AdvertisementData) -> AdvertisementData:
        """What ``address`` advertised so far in this scan, each field at its newest value:
        a device's advertising sets (legacy and extended) each carry a part, as BlueZ, which
        reports a device's fields merged, shows it."""
        old = self._advertised.get(address)
        if old is not None:
            data = AdvertisementData(
                local_name=data.local_name or old.local_name,
                manufacturer_data={**old.manufacturer_data, **data.manufacturer_data},
                service_data={**old.service_data, **data.service_data},
                service_uuids=list(dict.fromkeys([*old.service_uuids, *data.service_uuids])),
                tx_power=old.tx_power if data.tx_power is None else data.tx_power,
                rssi=data.rssi,
                platform_data=data.platform_data,
            )
        self._advertised[address] = data
        return data


def _translate(exc: Exception, what: str) -> BleakError:
    if isinstance(exc, BleakError):
        return exc
    if isinstance(exc, ATT_Error):
        return BleakGATTProtocolError(exc.error_code)
    if isinstance(exc, bumble_core.TimeoutError | TimeoutError):
        return BleakError(f"{what}: timed out")
    return BleakError(f"{what}: {exc or type(exc).__name__}")


class BleakClientBumble(BaseBleakClient):
    """bleak client backend over a :class:`BumbleRadio` (pass ``radio=`` to BleakClient)."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        services: set[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        if isinstance(address_or_ble_device, BLEDevice) and isinstance(
            address_or_ble_device.details, tuple
        ):
            self._radio, self._peer_address = cast(
                tuple[BumbleRadio, Address], address_or_ble_device.details
            )
            self._name = address_or_ble_device.name
        else:
            self._radio = _radio(kwargs)
            address = self.address.upper()
            address_type = self._radio.address_types.get(address, Address.RANDOM_DEVICE_ADDRESS)
            try:
                self._peer_address = Address(address, address_type)
            except Exception as exc:
                raise BleakError(f"{self.address!r} is not a Bluetooth address") from exc
            self._name = None
        self._services_filter = services
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._gatt_timeout_s = float(kwargs.get("gatt_timeout", DEFAULT_GATT_TIMEOUT_S))

    @property
    def name(self) -> str:
        return self._name or str(self._peer_address).replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        timeout = float(kwargs.get("timeout", self._timeout))
        try:
            async with self._radio.connect_lock:
                connection = await self._create_connection(timeout_s=timeout)
            self._connection = connection
            connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
            self._peer = Peer(connection)
            async with asyncio.timeout(self._gatt_timeout_s * 4):
                await self._peer.request_mtu(PREFERRED_MTU)
                await self._secure(connection, pair or self._radio.auto_pair)
                self.services = await self._discover()
        except BleakError:
            await self._abandon()
            raise
        except Exception as exc:
            await self._abandon()
            raise _translate(exc, f"connecting to {self.address}") from exc

    async def _create_connection(self, *, timeout_s: float) -> Connection:
        """Connect with bumble's own timeout; a timed-out or cancelled attempt is cancelled
        at the controller too, so the next attempt is not refused as already pending."""
        device = self._radio.device
        try:
            return await device.connect(self._peer_address, timeout=timeout_s)
        except (bumble_core.TimeoutError, TimeoutError) as exc:
            await self._cancel_pending()
            raise BleakDeviceNotFoundError(
                self.address,
                f"device {self.address} was not found or did not answer in {timeout_s:g} s",
            ) from exc
        except asyncio.CancelledError:
            await asyncio.shield(self._cancel_pending())
            raise

    async def _cancel_pending(self) -> None:
        try:
            async with asyncio.timeout(self._gatt_timeout_s):
                await self._radio.device.cancel_connection()  # type: ignore[no-untyped-call]
        except Exception as exc:  # nothing pending any more, or the radio is gone
            logger.debug("cancelling a pending connection: %s", exc)

    async def _abandon(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.remove_listener(connection.EVENT_DISCONNECTION, self._on_disconnection)
            try:
                await connection.disconnect()
            except Exception as exc:
                logger.debug("disconnect after failed connect: %s", exc)

    async def _discover(self) -> BleakGATTServiceCollection:
        assert self._peer is not None
        filters = [UUID(u) for u in self._services_filter] if self._services_filter else []
        await self._peer.discover_services(filters)
        collection = BleakGATTServiceCollection()
        for service in self._peer.services:
            await service.discover_characteristics()
            bleak_service = BleakGATTService(service, service.handle, _uuid_str(service.uuid))
            collection.add_service(bleak_service)
            for characteristic in service.characteristics:
                await characteristic.discover_descriptors()
                bleak_char = BleakGATTCharacteristic(
                    characteristic,
                    characteristic.handle,
                    _uuid_str(characteristic.uuid),
                    [name for bit, name in _PROPERTY_NAMES if characteristic.properties & bit],
                    lambda: self.mtu_size - 3,
                    bleak_service,
                )
                collection.add_characteristic(bleak_char)
                for descriptor in characteristic.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor, descriptor.handle, _uuid_str(descriptor.type), bleak_char
                        )
                    )
        return collection

    def _on_disconnection(self, _reason: int) -> None:
        self._connection = None
        self._peer = None
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        try:
            async with asyncio.timeout(self._gatt_timeout_s):
                await connection.disconnect()
        except Exception as exc:
            raise _translate(exc, f"disconnecting from {self.address}") from exc

    async def _secure(self, connection: Connection, pair: bool) -> None:
        """Encrypt with the bond we hold; without one, pair if asked to."""
        keystore = self._radio.device.keystore
        if keystore is not None and await keystore.get(str(connection.peer_address)):
            try:
                await connection.encrypt()
                return
            except Exception as exc:  # the device no longer has our bond
                logger.info("%s: encrypting with the stored bond failed: %s", self.address, exc)
                if not pair:
                    return
        if pair:
            await self._pair(connection)

    async def _pair(self, connection: Connection) -> None:
        try:
            async with asyncio.timeout(self._gatt_timeout_s * 3):
                await connection.pair()
        except Exception as exc:
            raise BleakError(
                f"the device did not accept pairing ({exc or type(exc).__name__}): open its"
                " pairing window (hold its button; for `sim serve`, restart it or send it"
                " SIGUSR1) and pair again"
            ) from exc

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Pair and bond (LE Secure Connections, Just Works); the keys are kept."""
        connection = self._connection
        if connection is None:
            raise BleakError(f"not connected to {self.address}")
        await self._pair(connection)

    async def unpair(self) -> None:
        """Forget the bond (this side) and disconnect."""
        keystore = self._radio.device.keystore
        if keystore is not None:
            with contextlib.suppress(KeyError):
                await keystore.delete(str(self._peer_address))
        await self.disconnect()

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError(f"not connected to {self.address}")
        return self._peer

    async def _gatt(self, what: str, operation: Any) -> Any:
        try:
            async with asyncio.timeout(self._gatt_timeout_s):
                return await operation
        except asyncio.CancelledError:
            # bumble cancels a pending ATT request when its link goes (a device that drops
            # the link, e.g. NimBLE refusing a bond): a lost link, not our cancellation.
            task = asyncio.current_task()
            if self._connection is not None or (task is not None and task.cancelling()):
                raise
            raise BleakError(f"{what}: the link was lost") from None
        except Exception as exc:
            raise _translate(exc, what) from exc

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        value = await self._gatt(
            f"reading {characteristic.uuid}", peer.read_value(characteristic.handle)
        )
        return bytearray(value)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        value = await self._gatt(f"reading {descriptor.uuid}", peer.read_value(descriptor.handle))
        return bytearray(value)

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        peer = self._require_peer()
        await self._gatt(
            f"writing {characteristic.uuid}",
            peer.write_value(characteristic.handle, bytes(data), with_response=response),
        )

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        peer = self._require_peer()
        await self._gatt(
            f"writing {descriptor.uuid}",
            peer.write_value(descriptor.handle, bytes(data), with_response=True),
        )

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        peer = self._require_peer()
        proxy = cast(CharacteristicProxy[bytes], characteristic.obj)
        await self._gatt(
            f"subscribing to {characteristic.uuid}",
            peer.subscribe(proxy, lambda value: callback(bytearray(value)), prefer_notify=True),
        )

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require_peer()
        proxy = cast(CharacteristicProxy[bytes], characteristic.obj)
        await self._gatt(f"unsubscribing from {characteristic.uuid}", peer.unsubscribe(proxy))


def _uuid_str(uuid: UUID) -> str:
    """bleak's spelling of a UUID: 128-bit, lower case, with dashes."""
    return (
        str(uuid.to_hex_str("-")).lower()
        if len(uuid.uuid_bytes) == 16
        else (f"{int.from_bytes(uuid.uuid_bytes, 'little'):08x}-0000-1000-8000-00805f9b34fb")
    )


__all__ = [
    "BleakClientBumble",
    "BleakScannerBumble",
    "BumbleRadio",
    "RadioError",
    "ServiceProxy",
]
