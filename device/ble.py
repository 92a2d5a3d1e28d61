"""The one module above the backends that touches bleak: scan and a typed therapy link.

Everything here uses bleak's public API (``BleakScanner``, ``BleakClient``); a
:class:`Radio` only chooses the backend - the system's (BlueZ on Linux) or bumble.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from bleak_retry_connector import BleakClientWithServiceCache, establish_connection

from device.errors import (
    AdapterUnavailableError,
    CommandTimeoutError,
    ConnectionFailedError,
    DeviceError,
    LinkLostError,
)
from protocols import (
    Advertisement,
    Feature,
    LeaseConfig,
    ProtocolError,
    Request,
    Response,
    Status,
    uuids,
)

logger = logging.getLogger(__name__)

DEFAULT_OPERATION_TIMEOUT_S = 5.0


if TYPE_CHECKING:
    from device.bumble_backend import BumbleRadio

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
        from device.bumble_backend import BumbleRadio

        return cls(await BumbleRadio.open(transport))

    @classmethod
    async def attach(cls, controller: object) -> Radio:
        """Host an in-process bumble controller (``SimulatorWorld.controller()``)."""
        from device.bumble_backend import BumbleRadio

        return cls(await BumbleRadio.attach(controller))  # type: ignore[arg-type]

    @property
    def description(self) -> str:
        return self.bumble.description if self.bumble else "system Bluetooth adapter"

    def _scanner_kwargs(self) -> dict[str, Any]:
        if self.bumble is None:
            return {}
        from device.bumble_backend import BleakScannerBumble

        return {"backend": BleakScannerBumble, "radio": self.bumble}

    def _client_kwargs(self) -> dict[str, Any]:
        if self.bumble is None:
            return {}
        from device.bumble_backend import BleakClientBumble

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

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "address": self.address,
            "kind": self.kind,
            "rssi": self.rssi,
            "battery_pct": self.battery_pct,
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


def _client_class(radio: Radio) -> type[BleakClient]:
    """The BleakClient class bleak-retry-connector builds: bleak's own, on our backend."""
    if radio.bumble is None:
        return BleakClientWithServiceCache
    from device.bumble_backend import BleakClientBumble

    bumble = radio.bumble

    class BumbleBleakClient(BleakClient):
        def __init__(
            self, address_or_ble_device: BLEDevice | str, *args: Any, **kwargs: Any
        ) -> None:
            super().__init__(
                address_or_ble_device, *args, backend=BleakClientBumble, radio=bumble, **kwargs
            )

    return BumbleBleakClient


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """The Device Information service (0x180A) of a connected device."""

    manufacturer: str
    model: str
    serial: str
    firmware: str


class TherapyLink:
    """One connected device through bleak: typed reads, the control point and Status stream.

    One GATT operation at a time (a lock), each under a timeout; the control point's answer
    is awaited as its indication.
    """

    def __init__(
        self, client: BleakClient, operation_timeout_s: float, found: FoundDevice | None = None
    ) -> None:
        self.client = client
        self.found = found
        self.operation_timeout_s = operation_timeout_s
        self._gatt_lock = asyncio.Lock()
        self._responses: asyncio.Queue[Response] = asyncio.Queue()
        self._status_queues: list[asyncio.Queue[Any]] = []
        self.bad_packets = 0
        self.lost = asyncio.Event()
        # Instrumentation (bench/): called with each decoded Status and its arrival time.
        self.on_status_arrival: Callable[[Status, float], None] | None = None

    @classmethod
    async def connect(
        cls,
        radio: Radio,
        target: FoundDevice | str,
        *,
        timeout_s: float = 10.0,
        operation_timeout_s: float = DEFAULT_OPERATION_TIMEOUT_S,
        max_attempts: int = 3,
    ) -> TherapyLink:
        """Find (if given a name or address), connect with bleak-retry-connector's classified
        retries and backoff, and subscribe to the control point and Status."""
        found = (
            target
            if isinstance(target, FoundDevice)
            else await find_device(radio, target, timeout_s)
        )
        link: TherapyLink | None = None

        def on_disconnect(_client: BleakClient) -> None:
            if link is not None:
                link._on_lost()

        try:
            client = await establish_connection(
                _client_class(radio),
                found.ble_device,
                found.name,
                disconnected_callback=on_disconnect,
                max_attempts=max_attempts,
            )
        except (BleakError, TimeoutError, OSError) as exc:
            raise ConnectionFailedError(found.address, str(exc) or type(exc).__name__) from exc
        link = cls(client, operation_timeout_s, found)
        try:
            async with asyncio.timeout(operation_timeout_s * 2):
                await client.start_notify(uuids.CONTROL_POINT, link._on_response)
                await client.start_notify(uuids.STATUS, link._on_status)
        except (BleakError, TimeoutError, OSError) as exc:
            with contextlib.suppress(BleakError, TimeoutError, OSError):
                await client.disconnect()
            raise ConnectionFailedError(found.address, str(exc) or type(exc).__name__) from exc
        if link.client.is_connected is False:
            link._on_lost()
        return link

    @property
    def address(self) -> str:
        return str(self.client.address)

    @property
    def mtu(self) -> int:
        return int(self.client.mtu_size)

    # ------------------------------------------------------------------ callbacks

    def _on_response(self, _char: object, data: bytearray) -> None:
        try:
            self._responses.put_nowait(Response.decode(bytes(data)))
        except ProtocolError as exc:
            self.bad_packets += 1
            logger.warning("%s: %s", self.address, exc)

    def _on_status(self, _char: object, data: bytearray) -> None:
        try:
            status = Status.decode(bytes(data))
        except ProtocolError as exc:
            self.bad_packets += 1
            logger.warning("%s: %s", self.address, exc)
            return
        if self.on_status_arrival is not None:
            self.on_status_arrival(status, time.perf_counter())
        for queue in self._status_queues:
            queue.put_nowait(status)

    def _on_lost(self) -> None:
        self.lost.set()
        for queue in self._status_queues:
            queue.put_nowait(None)

    # ------------------------------------------------------------------ operations

    async def _operation(self, what: str, coro: Any) -> Any:
        try:
            if self.lost.is_set():
                raise LinkLostError(self.address, f"cannot {what}: the link is lost")
            async with self._gatt_lock:
                try:
                    async with asyncio.timeout(self.operation_timeout_s):
                        return await coro
                except TimeoutError as exc:
                    raise CommandTimeoutError(self.address, what, self.operation_timeout_s) from exc
                except BleakError as exc:
                    if self.lost.is_set() or not self.client.is_connected:
                        raise LinkLostError(self.address, f"{what}: {exc}") from exc
                    raise DeviceError(f"{self.address}: {what} failed: {exc}") from exc
        finally:
            coro.close()  # a no-op once it ran; frees it if we never got to run it

    async def _read(self, uuid: str, what: str) -> bytes:
        return bytes(await self._operation(f"read {what}", self.client.read_gatt_char(uuid)))

    async def read_device_info(self) -> DeviceInfo:
        values = [
            (await self._read(uuid, name)).decode("utf-8", errors="replace")
            for uuid, name in (
                (uuids.MANUFACTURER_NAME, "manufacturer"),
                (uuids.MODEL_NUMBER, "model number"),
                (uuids.SERIAL_NUMBER, "serial number"),
                (uuids.FIRMWARE_REVISION, "firmware revision"),
            )
        ]
        return DeviceInfo(*values)

    async def read_battery(self) -> int:
        data = await self._read(uuids.BATTERY_LEVEL, "battery level")
        if len(data) != 1 or data[0] > 100:
            raise ProtocolError("Battery Level", data, "expected one byte 0..100")
        return data[0]

    async def read_feature(self) -> Feature:
        return Feature.decode(await self._read(uuids.FEATURE, "Feature"))

    async def read_status(self) -> Status:
        return Status.decode(await self._read(uuids.STATUS, "Status"))

    async def read_lease(self) -> LeaseConfig:
        return LeaseConfig.decode(await self._read(uuids.LEASE, "Lease"))

    async def set_lease(self, lease_ms: int) -> None:
        """Set the lease time (and renew it). Out of range raises DeviceError."""
        await self._operation(
            "set the lease",
            self.client.write_gatt_char(uuids.LEASE, LeaseConfig(lease_ms).encode(), response=True),
        )

    async def request(self, request: Request) -> Response:
        """Write one control-point request and wait for its indicated response."""
        name = type(request).__name__.lower()

        async def exchange() -> Response:
            while not self._responses.empty():  # a late answer to an abandoned request
                self._responses.get_nowait()
            await self.client.write_gatt_char(uuids.CONTROL_POINT, request.encode(), response=True)
            response = await self._responses.get()
            if response.request_opcode != request.OPCODE:
                raise DeviceError(
                    f"{self.address}: answer to opcode {response.request_opcode:#04x}"
                    f" while waiting for {name}"
                )
            return response

        result: Response = await self._operation(f"send {name}", exchange())
        return result

    @contextlib.asynccontextmanager
    async def statuses(
        self, queue: asyncio.Queue[Any] | None = None
    ) -> AsyncIterator[asyncio.Queue[Any]]:
        """A queue of decoded Status notifications (or ``queue``, shared with other
        producers); ``None`` marks the link lost."""
        queue = queue if queue is not None else asyncio.Queue()
        self._status_queues.append(queue)
        if self.lost.is_set():
            queue.put_nowait(None)
        try:
            yield queue
        finally:
            self._status_queues.remove(queue)

    async def disconnect(self) -> None:
        with contextlib.suppress(BleakError, TimeoutError, OSError):
            async with asyncio.timeout(self.operation_timeout_s):
                await self.client.disconnect()
