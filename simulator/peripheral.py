"""A simulated device as a bumble GATT peripheral on a virtual radio.

Wraps one :class:`~simulator.firmware.Firmware` in the standard Device Information (0x180A)
and Battery (0x180F) services plus the Therapy service, advertises its name, the Therapy
service UUID, its kind and its battery level, and drives the firmware in simulated time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TextIO

from bumble import gatt
from bumble.att import ATT_Error, ErrorCode
from bumble.core import UUID, AdvertisingData
from bumble.device import (
    AdvertisingEventProperties,
    AdvertisingParameters,
    AdvertisingSet,
    Connection,
    Device,
)
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.profiles.battery_service import BatteryService
from bumble.profiles.device_information_service import DeviceInformationService
from bumble.transport.common import AsyncPipeSink

from protocols import LeaseConfig, ProtocolError, ResultCode, kind_name, uuids
from protocols.therapy import Advertisement
from simulator.firmware import Firmware, FirmwareEvent, LinkDrop, Rebooted, StateChanged
from simulator.radio import RadioController

logger = logging.getLogger(__name__)

MIN_TICK_WALL_S = 0.005  # the firmware loop never runs faster than 200 Hz of wall time
STATUS_INTERVAL_S = 1.0  # a Status notification each simulated second, when time allows
ADVERTISING_INTERVAL_MS = 20.0
MANUFACTURER = "therapyctl simulator"
FIRMWARE_REVISION = "sim-1.0.0"
_INDICATIONS = 0x0002  # CCCD bit: indications enabled
_BATTERY_SERVICE_UUID16 = 0x180F  # Bluetooth SIG Assigned Numbers: Battery Service


class SimClock:
    """Simulated seconds since creation, running ``time_scale`` times faster than wall time."""

    def __init__(self, time_scale: float = 1.0) -> None:
        if not time_scale > 0:
            raise ValueError(f"time scale must be positive, got {time_scale}")
        self.time_scale = time_scale
        self._t0 = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._t0) * self.time_scale

    def wall_s(self, sim_s: float) -> float:
        return sim_s / self.time_scale


def status_interval_ms(time_scale: float) -> int:
    """The Status period a device really achieves at ``time_scale``, in simulated ms."""
    return min(0xFFFF, round(max(STATUS_INTERVAL_S, MIN_TICK_WALL_S * time_scale) * 1000))


def address_for(name: str) -> Address:
    """A stable random static address (two top bits set) derived from the device name."""
    digest = bytearray(hashlib.sha256(name.encode()).digest()[:6])
    digest[0] |= 0xC0
    text = ":".join(f"{b:02X}" for b in digest)
    return Address(text, Address.RANDOM_DEVICE_ADDRESS)


@dataclass(frozen=True, slots=True)
class EventLog:
    """Where a device reports its state changes as JSON lines (``sim serve --json``)."""

    stream: TextIO = sys.stdout

    def write(self, **fields: object) -> None:
        self.stream.write(json.dumps(fields) + "\n")
        self.stream.flush()


class SimulatedDevice:
    """One simulated device: controller on the link, host, GATT server, firmware loop."""

    def __init__(
        self,
        name: str,
        firmware: Firmware,
        clock: SimClock,
        link: LocalLink,
        *,
        serial_number: str,
        event_log: EventLog | None = None,
    ) -> None:
        self.name = name
        self.firmware = firmware
        self.clock = clock
        self.address = address_for(name)
        feature = firmware.feature
        self.kind_name = kind_name(feature.kind, feature.max_power_mw)
        self._event_log = event_log
        self._controller = RadioController(f"sim-{name}", link=link)
        self.device = Device(
            name=name,
            address=self.address,
            host=Host(self._controller, AsyncPipeSink(self._controller)),
        )
        self.ready = asyncio.Event()
        self._cp_busy = False
        self._down_until_s = 0.0
        self._advertising_set: AdvertisingSet | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_battery = -1
        self._build_services(serial_number)
        self.device.on(self.device.EVENT_CONNECTION, self._on_connection)

    # ------------------------------------------------------------------ GATT

    def _build_services(self, serial_number: str) -> None:
        self.battery_service = BatteryService(lambda _conn: self.firmware.status().battery_pct)
        rw = gatt.Characteristic.Properties
        self.feature_char = gatt.Characteristic(
            uuids.FEATURE, rw.READ, gatt.Characteristic.READABLE, self.firmware.feature.encode()
        )
        self.control_point_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            uuids.CONTROL_POINT,
            rw.WRITE | rw.INDICATE,
            gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(read=self._refuse_read, write=self._on_control_point_write),
        )
        self.status_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            uuids.STATUS,
            rw.READ | rw.NOTIFY,
            gatt.Characteristic.READABLE,
            gatt.CharacteristicValue(read=lambda _conn: self.firmware.status().encode()),
        )
        self.lease_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            uuids.LEASE,
            rw.READ | rw.WRITE,
            gatt.Characteristic.READABLE | gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(
                read=lambda _conn: LeaseConfig(self.firmware.lease_ms).encode(),
                write=self._on_lease_write,
            ),
        )
        self.device.add_services(
            [
                DeviceInformationService(
                    manufacturer_name=MANUFACTURER,
                    model_number=self.kind_name,
                    serial_number=serial_number,
                    firmware_revision=FIRMWARE_REVISION,
                ),
                self.battery_service,
                gatt.Service(
                    UUID(uuids.THERAPY_SERVICE),
                    [self.feature_char, self.control_point_char, self.status_char, self.lease_char],
                ),
            ]
        )

    def _refuse_read(self, _connection: Connection) -> bytes:
        raise ATT_Error(ErrorCode.READ_NOT_PERMITTED, self.control_point_char.handle)

    def _on_control_point_write(self, connection: Connection, value: bytes) -> None:
        # As the Fitness Machine Control Point: indications must be on, one procedure at a time.
        cccd = self.device.gatt_server.read_cccd(connection, self.control_point_char)
        if not int.from_bytes(cccd or b"\0\0", "little") & _INDICATIONS:
            raise ATT_Error(ErrorCode.CCCD_IMPROPERLY_CONFIGURED, self.control_point_char.handle)
        if self._cp_busy:
            raise ATT_Error(ErrorCode.PROCEDURE_ALREADY_IN_PROGRESS, self.control_point_char.handle)
        self._cp_busy = True
        response = self.firmware.handle_request(bytes(value), self.clock.now())
        self._spawn(self._indicate(connection, response.encode()))

    async def _indicate(self, connection: Connection, payload: bytes) -> None:
        try:
            await asyncio.sleep(0)  # the write response goes out before the indication
        finally:
            # The result is decided: a client may send its next request once it has it.
            self._cp_busy = False
        try:
            await self.device.indicate_subscriber(connection, self.control_point_char, payload)
        except Exception as exc:  # the link may be gone; the firmware has acted already
            logger.debug("indication to %s failed: %s", connection, exc)

    def _on_lease_write(self, _connection: Connection, value: bytes) -> None:
        try:
            config = LeaseConfig.decode(bytes(value))
        except ProtocolError as exc:
            raise ATT_Error(ErrorCode.INVALID_ATTRIBUTE_LENGTH, self.lease_char.handle) from exc
        result = self.firmware.set_lease(config, self.clock.now())
        if result == ResultCode.INVALID_PARAMETER:
            raise ATT_Error(ErrorCode.OUT_OF_RANGE, self.lease_char.handle)
        if result != ResultCode.SUCCESS:
            raise ATT_Error(ErrorCode.WRITE_REQUEST_REJECTED, self.lease_char.handle)

    # ------------------------------------------------------------------ radio

    def advertising_data(self) -> bytes:
        """Flags, the Therapy service, name, kind (manufacturer data) and, as Battery Service
        (0x180F) service data, the battery level in % - what Battery Level reads."""
        feature = self.firmware.feature
        info = Advertisement(feature.kind, feature.max_power_mw)
        return bytes(
            AdvertisingData(
                [
                    (AdvertisingData.FLAGS, bytes([0x06])),  # LE General Discoverable, no BR/EDR
                    (
                        AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                        bytes(UUID(uuids.THERAPY_SERVICE)),
                    ),
                    (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()),
                    (
                        AdvertisingData.MANUFACTURER_SPECIFIC_DATA,
                        uuids.COMPANY_ID.to_bytes(2, "little") + info.encode(),
                    ),
                    (
                        AdvertisingData.SERVICE_DATA_16_BIT_UUID,
                        _BATTERY_SERVICE_UUID16.to_bytes(2, "little")
                        + bytes([self.firmware.status().battery_pct]),
                    ),
                ]
            )
        )

    async def _start_advertising(self) -> None:
        """Advertise (again) unless connected or down, with the current advertising data:
        the battery level may have changed since the set was created."""
        if self.device.connections or self.clock.now() < self._down_until_s:
            return
        data = self.advertising_data()
        if self._advertising_set is None:
            properties = AdvertisingEventProperties(
                is_connectable=True, is_scannable=False, is_legacy=False
            )
            self._advertising_set = await self.device.create_advertising_set(
                advertising_parameters=AdvertisingParameters(
                    advertising_event_properties=properties,
                    primary_advertising_interval_min=ADVERTISING_INTERVAL_MS,
                    primary_advertising_interval_max=ADVERTISING_INTERVAL_MS,
                ),
                advertising_data=data,
            )
            return
        if self._advertising_set.advertising_data != data:
            await self._advertising_set.set_advertising_data(data)
        if not self._advertising_set.enabled:
            await self._advertising_set.start()

    async def _stop_advertising(self) -> None:
        if self._advertising_set is not None and self._advertising_set.enabled:
            await self._advertising_set.stop()

    def _on_connection(self, connection: Connection) -> None:
        self._log(event="connected", peer=str(connection.peer_address))
        connection.on(connection.EVENT_DISCONNECTION, lambda *_: self._on_disconnection())

    def _on_disconnection(self) -> None:
        self._log(event="disconnected")
        self._cp_busy = False
        self._spawn(self._start_advertising())

    async def _drop_links(self, down_s: float) -> None:
        self._down_until_s = self.clock.now() + down_s
        await self._stop_advertising()
        for connection in list(self.device.connections.values()):
            try:
                await connection.disconnect()
            except Exception as exc:
                logger.debug("disconnect failed: %s", exc)

    # ------------------------------------------------------------------ loop

    async def run(self, stop: asyncio.Event) -> None:
        """Power on, advertise and run the firmware until ``stop`` is set."""
        await self.device.power_on()
        await self._start_advertising()
        self._log(event="advertising", address=str(self.address), kind=self.kind_name)
        self.ready.set()
        tick_wall_s = self.clock.wall_s(status_interval_ms(self.clock.time_scale) / 1000)
        try:
            while not stop.is_set():
                await self.tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), tick_wall_s)
        finally:
            for task in list(self._tasks):
                task.cancel()
            await self._stop_advertising()

    async def tick(self) -> None:
        """Advance the firmware to now, act on its events, notify Status and battery."""
        events = self.firmware.advance(self.clock.now())
        for event in events:
            await self._on_event(event)
        if self.clock.now() >= self._down_until_s and not self.device.connections:
            await self._start_advertising()
        if self.device.connections:
            status = self.firmware.status()
            # The notification may be malformed (the status-garbage fault); reads never are.
            await self.device.notify_subscribers(
                self.status_char, self.firmware.status_notification(status)
            )
            if status.battery_pct != self._last_battery:
                self._last_battery = status.battery_pct
                await self.device.notify_subscribers(
                    self.battery_service.battery_level_characteristic, status.battery_pct
                )

    async def _on_event(self, event: FirmwareEvent) -> None:
        match event:
            case StateChanged():
                self._log(
                    event="state",
                    state=event.state.name.lower(),
                    output_on=event.output_on,
                    stop_cause=event.stop_cause.name.lower(),
                    faults=event.faults.value,
                )
            case LinkDrop(down_s=down_s):
                self._log(event="link-drop", down_s=down_s)
                await self._drop_links(down_s)
            case Rebooted(down_s=down_s):
                self._log(event="reboot", down_s=down_s)
                await self._drop_links(down_s)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _log(self, **fields: object) -> None:
        if self._event_log is not None:
            self._event_log.write(t_s=round(self.clock.now(), 3), device=self.name, **fields)
