"""The typed GATT link to one connected therapy device, through bleak.

One GATT operation at a time (a lock), each under a timeout; the control point's answer is
awaited as its indication; notify callbacks only decode and ``put_nowait``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from bleak import BleakClient
from bleak.exc import BleakError, BleakGATTProtocolError
from bleak_retry_connector import establish_connection

from device.link.errors import (
    CommandTimeoutError,
    ConnectionFailedError,
    DeviceError,
    LinkLostError,
    NotPairedError,
)
from device.link.radio import FoundDevice, Radio, client_class, find_device
from protocols import Feature, LeaseConfig, ProtocolError, Request, Response, Status, uuids

logger = logging.getLogger(__name__)

DEFAULT_OPERATION_TIMEOUT_S = 5.0


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
        self._responses: asyncio.Queue[Response | None] = asyncio.Queue()  # None: link lost
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
                client_class(radio),
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
        self._responses.put_nowait(None)  # a request waiting for its indication ends now
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
                    if _needs_bond(exc):
                        name = self.found.name if self.found else self.address
                        raise NotPairedError(self.address, name) from exc
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
            if response is None:
                raise LinkLostError(self.address, f"{name}: the link was lost before the answer")
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

    async def pair(self) -> None:
        """Pair and bond with the device (its pairing window must be open)."""
        try:
            async with asyncio.timeout(self.operation_timeout_s * 6):
                await self.client.pair()
        except (BleakError, TimeoutError) as exc:
            raise DeviceError(f"{self.address}: {exc}") from exc

    async def unpair(self) -> None:
        """Forget the bond with the device."""
        try:
            async with asyncio.timeout(self.operation_timeout_s * 2):
                await self.client.unpair()
        except (BleakError, TimeoutError) as exc:
            raise DeviceError(f"{self.address}: forgetting the bond failed: {exc}") from exc

    async def disconnect(self) -> None:
        with contextlib.suppress(BleakError, TimeoutError, OSError):
            async with asyncio.timeout(self.operation_timeout_s):
                await self.client.disconnect()


# ATT errors that mean "only a bonded, encrypted peer may do this".
_BOND_ERRORS = (0x05, 0x08, 0x0C, 0x0F)  # authentication, authorization, key size, encryption


def _needs_bond(exc: BleakError) -> bool:
    if isinstance(exc, BleakGATTProtocolError) and int(exc.args[0]) in _BOND_ERRORS:
        return True
    text = str(exc).lower()  # BlueZ says it in words
    return "insufficient authentication" in text or "insufficient encryption" in text
