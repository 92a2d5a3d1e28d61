"""Finding devices: which Bluetooth stack to use (:class:`Radio`), and scans.

Everything here uses bleak's public API (``BleakScanner``, ``BleakClient``); a
:class:`Radio` only chooses the backend - the system's (BlueZ on Linux) or bumble.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from bleak_retry_connector import BleakClientWithServiceCache

from device.link.errors import AdapterUnavailableError, ConnectionFailedError, DeviceError
from protocols import Advertisement, ProtocolError, uuids

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from device.link.bumble_backend import BumbleRadio

# bumble (about half a second to import) is loaded only when a bumble radio is used, so a
# command that does not need it, and the UI's first screen, do not wait for it.


class Radio:
    """Which Bluetooth stack a scanner or client uses: the system's, or a bumble radio."""

    def __init__(self, bumble: BumbleRadio | None = None) -> None:
        self.bumble = bumble

    @classmethod
    async def open(cls, transport: str | None) -> Radio:
        """``None``: the system's adapter; else a bumble transport moniker."""
        if transport is None:
            return cls()
        from device.link.bumble_backend import BumbleRadio

        return cls(await BumbleRadio.open(transport))

    @classmethod
    async def attach(cls, controller: object) -> Radio:
        """Host an in-process bumble controller (``SimulatorWorld.controller()``)."""
        from device.link.bumble_backend import BumbleRadio

        return cls(await BumbleRadio.attach(controller))  # type: ignore[arg-type]

    @property
    def transport(self) -> str | None:
        """The bumble transport moniker (None: the system's adapter or in-process)."""
        if self.bumble is None or self.bumble.description == "in-process link":
            return None
        return self.bumble.description

    @property
    def pairs_automatically(self) -> bool:
        """In-process simulated devices are yours: they are paired without asking."""
        return self.bumble is not None and self.bumble.auto_pair

    async def is_bonded(self, found: FoundDevice) -> bool | None:
        """Whether this controller holds a bond with ``found`` (None: cannot tell)."""
        if self.bumble is not None:
            if self.bumble.auto_pair:
                return None  # in-process devices are paired as they connect
            return await self.bumble.is_bonded(found.address)
        details = found.ble_device.details
        props = details.get("props") if isinstance(details, dict) else None
        paired = props.get("Paired") if isinstance(props, dict) else None
        return paired if isinstance(paired, bool) else None

    @property
    def description(self) -> str:
        return self.bumble.description if self.bumble else "system Bluetooth adapter"

    def _scanner_kwargs(self) -> dict[str, Any]:
        if self.bumble is None:
            return {}
        from device.link.bumble_backend import BleakScannerBumble

        return {"backend": BleakScannerBumble, "radio": self.bumble}

    def _client_kwargs(self) -> dict[str, Any]:
        if self.bumble is None:
            return {}
        from device.link.bumble_backend import BleakClientBumble

        return {"backend": BleakClientBumble, "radio": self.bumble}

    async def close(self) -> None:
        if self.bumble is not None:
            await self.bumble.close()

    async def __aenter__(self) -> Radio:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


@dataclass(frozen=True, slots=True)
class FoundDevice:
    """A supported device seen in a scan."""

    name: str
    address: str
    kind: str
    rssi: int
    ble_device: BLEDevice
    battery_pct: int | None = None  # advertised Battery Service data; None if not advertised
    bonded: bool | None = None  # this controller holds a bond with it (None: cannot tell)

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "address": self.address,
            "kind": self.kind,
            "rssi": self.rssi,
            "battery_pct": self.battery_pct,
            "bonded": self.bonded,
        }


def _advertised_battery_pct(adv: AdvertisementData) -> int | None:
    """The Battery Service (0x180F) service data: one byte, 0..100 %, as Battery Level."""
    data = adv.service_data.get(uuids.BATTERY_SERVICE)
    if data is None or len(data) != 1 or data[0] > 100:
        return None
    return data[0]


def _found(device: BLEDevice, adv: AdvertisementData) -> FoundDevice | None:
    payload = adv.manufacturer_data.get(uuids.COMPANY_ID)
    if payload is None:
        return None
    try:
        info = Advertisement.decode(payload)
    except ProtocolError as exc:
        logger.debug("ignoring %s: %s", device.address, exc)
        return None
    return FoundDevice(
        name=adv.local_name or device.name or device.address,
        address=device.address,
        kind=info.kind_name,
        rssi=adv.rssi,
        ble_device=device,
        battery_pct=_advertised_battery_pct(adv),
    )


async def scan(radio: Radio, timeout_s: float = 5.0) -> list[FoundDevice]:
    """Supported devices advertising the Therapy service, strongest signal first."""
    try:
        seen = await BleakScanner.discover(
            timeout=timeout_s,
            service_uuids=[uuids.THERAPY_SERVICE],
            return_adv=True,
            **radio._scanner_kwargs(),
        )
    except (BleakError, OSError, ImportError) as exc:
        if radio.bumble is None:
            raise AdapterUnavailableError(str(exc) or type(exc).__name__) from exc
        raise DeviceError(f"scan failed on {radio.description}: {exc}") from exc
    found = [f for d, a in seen.values() if (f := _found(d, a)) is not None]
    found = [replace(f, bonded=await radio.is_bonded(f)) for f in found]
    return sorted(found, key=lambda f: (-f.rssi, f.name))


async def find_device(radio: Radio, name_or_address: str, timeout_s: float = 5.0) -> FoundDevice:
    """Scan until a supported device with this name or address shows up."""
    wanted = name_or_address.strip()
    match: FoundDevice | None = None

    def matches(device: BLEDevice, adv: AdvertisementData) -> bool:
        nonlocal match
        found = _found(device, adv)
        if found is None:
            return False
        if found.name == wanted or found.address.upper() == wanted.upper():
            match = found
            return True
        return False

    try:
        await BleakScanner.find_device_by_filter(
            matches,
            timeout=timeout_s,
            service_uuids=[uuids.THERAPY_SERVICE],
            **radio._scanner_kwargs(),
        )
    except (BleakError, OSError, ImportError) as exc:
        if radio.bumble is None:
            raise AdapterUnavailableError(str(exc) or type(exc).__name__) from exc
        raise DeviceError(f"scan failed on {radio.description}: {exc}") from exc
    if match is None:
        raise ConnectionFailedError(
            wanted, f"device {wanted} was not found in {timeout_s:g} s of scanning"
        )
    return match


def client_class(radio: Radio) -> type[BleakClient]:
    """The BleakClient class bleak-retry-connector builds: bleak's own, on our backend."""
    if radio.bumble is None:
        return BleakClientWithServiceCache
    from device.link.bumble_backend import BleakClientBumble

    bumble = radio.bumble

    class BumbleBleakClient(BleakClient):
        def __init__(
            self, address_or_ble_device: BLEDevice | str, *args: Any, **kwargs: Any
        ) -> None:
            super().__init__(
                address_or_ble_device, *args, backend=BleakClientBumble, radio=bumble, **kwargs
            )

    return BumbleBleakClient
