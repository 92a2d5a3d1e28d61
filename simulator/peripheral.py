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
from simulator.security import PairingWindow, require_bond, secure, watch_pairing

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


# Advertising: legacy PDUs (ADV_IND: connectable, scannable, undirected) that every scanner
# sees, Bluetooth 4.x adapters and ESP32 proxies included, plus an extended set with it all
# in one PDU, for Bluetooth 5 scanners (passive ones too: no scan request needed) - and for
# the virtual radio, whose emulated controllers (bumble 0.0.236) send no scan responses.
LEGACY_DATA_MAX = 31  # Core Vol 6 Part B 2.3.1: a legacy PDU's AdvData or ScanRspData
_LEGACY_ADVERTISING = AdvertisingEventProperties(
    is_connectable=True, is_scannable=True, is_legacy=True
)
_EXTENDED_ADVERTISING = AdvertisingEventProperties(  # connectable, so not scannable
    is_connectable=True, is_scannable=False, is_legacy=False
)
_FLAGS = (AdvertisingData.FLAGS, bytes([0x06]))  # LE General Discoverable, no BR/EDR
_THERAPY_SERVICE = (
    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    bytes(UUID(uuids.THERAPY_SERVICE)),
)


@dataclass(frozen=True, slots=True)
class AdvertisingPayloads:
    """What a device advertises, as AD structures (docs/protocol.md, Advertising)."""

    legacy_data: bytes  # flags, Therapy service, kind: what a passive scanner needs (29 B)
    scan_response: bytes  # the name and, when it fits after the name, the battery level
    extended_data: bytes  # all of it in one extended advertisement, no scan response


def advertising_payloads(
    name: str, advertisement: Advertisement, battery_pct: int
) -> AdvertisingPayloads:
    """The advertising data of a device named ``name``; the battery as Battery Service
    (0x180F) service data, one byte in %."""
    kind = (
        AdvertisingData.MANUFACTURER_SPECIFIC_DATA,
        uuids.COMPANY_ID.to_bytes(2, "little") + advertisement.encode(),
    )
    battery = (
        AdvertisingData.SERVICE_DATA_16_BIT_UUID,
        _BATTERY_SERVICE_UUID16.to_bytes(2, "little") + bytes([battery_pct]),
    )
    scan_response = [_legacy_name(name)]
    if len(bytes(AdvertisingData([*scan_response, battery]))) <= LEGACY_DATA_MAX:
        scan_response.append(battery)
    return AdvertisingPayloads(
        legacy_data=bytes(AdvertisingData([_FLAGS, _THERAPY_SERVICE, kind])),
        scan_response=bytes(AdvertisingData(scan_response)),
        extended_data=bytes(
            AdvertisingData(
                [
                    _FLAGS,
                    _THERAPY_SERVICE,
                    (AdvertisingData.COMPLETE_LOCAL_NAME, name.encode()),
                    kind,
                    battery,
                ]
            )
        ),
    )


def _legacy_name(name: str) -> tuple[int, bytes]:
    """The Complete Local Name if it fits a scan response, else the Shortened Local Name:
    as many whole UTF-8 characters as fit."""
    raw = name.encode()
    room = LEGACY_DATA_MAX - 2  # an AD structure's length and type bytes
    if len(raw) <= room:
        return AdvertisingData.COMPLETE_LOCAL_NAME, raw
    return AdvertisingData.SHORTENED_LOCAL_NAME, raw[:room].decode(errors="ignore").encode()


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
        pairing: PairingWindow | None = None,
    ) -> None:
        self.name = name
        self.pairing = pairing or PairingWindow(None)
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
        self._advertising_sets: list[AdvertisingSet] = []  # legacy, then extended
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_battery = -1
        self._build_services(serial_number)
        secure(self.device, self.pairing, self._log)
        self.device.on(self.device.EVENT_CONNECTION, self._on_connection)

    # ------------------------------------------------------------------ GATT

    def _build_services(self, serial_number: str) -> None:
        self.battery_service = BatteryService(lambda _conn: self.firmware.status().battery_pct)
        rw = gatt.Characteristic.Properties
        self.feature_char = gatt.Characteristic(
            uuids.FEATURE, rw.READ, gatt.Characteristic.READABLE, self.firmware.feature.encode()
        )
        # The Control Point and the Lease: only a bonded peer over an encrypted link.
        bonded_write = gatt.Characteristic.WRITEABLE | gatt.Characteristic.WRITE_REQUIRES_ENCRYPTION
        self.control_point_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            uuids.CONTROL_POINT,
            rw.WRITE | rw.INDICATE,
            bonded_write,
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
            gatt.Characteristic.READABLE | bonded_write,
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

    async def _on_control_point_write(self, connection: Connection, value: bytes) -> None:
        await require_bond(self.device, self.control_point_char.handle, connection)
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

    async def _on_lease_write(self, connection: Connection, value: bytes) -> None:
        await require_bond(self.device, self.lease_char.handle, connection)
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

    def advertising_data(self) -> AdvertisingPayloads:
        """The advertising data, scan response and extended advertising data for now: the
        battery level is what Battery Level reads."""
        return advertising_payloads(
            self.name,
            Advertisement.for_feature(self.firmware.feature),
            self.firmware.status().battery_pct,
        )

    async def _start_advertising(self) -> None:
        """Advertise (again) unless connected or down, with the current data in both sets:
        the battery level may have changed since they were created."""
        if self.device.connections or self.clock.now() < self._down_until_s:
            return
        payloads = self.advertising_data()
        wanted = [
            (_LEGACY_ADVERTISING, payloads.legacy_data, payloads.scan_response),
            (_EXTENDED_ADVERTISING, payloads.extended_data, b""),
        ]
        if not self._advertising_sets:
            self._advertising_sets = [
                await self._create_advertising_set(properties, data, scan_response)
                for properties, data, scan_response in wanted
            ]
            return
        for advertising_set, (_, data, scan_response) in zip(
            self._advertising_sets, wanted, strict=True
        ):
            if advertising_set.advertising_data != data:
                await advertising_set.set_advertising_data(data)
            if advertising_set.scan_response_data != scan_response:
                await advertising_set.set_scan_response_data(scan_response)
            if not advertising_set.enabled:
                await advertising_set.start()

    async def _create_advertising_set(
        self, properties: AdvertisingEventProperties, data: bytes, scan_response: bytes
    ) -> AdvertisingSet:
        """A started advertising set; a connection through it stops the other one too, so a
        connected device advertises nothing and no second central connects."""
        advertising_set = await self.device.create_advertising_set(
            advertising_parameters=AdvertisingParameters(
                advertising_event_properties=properties,
                primary_advertising_interval_min=ADVERTISING_INTERVAL_MS,
                primary_advertising_interval_max=ADVERTISING_INTERVAL_MS,
            ),
            advertising_data=data,
            scan_response_data=scan_response,
        )
        advertising_set.on(
            advertising_set.EVENT_TERMINATION, lambda _status: self._spawn(self._stop_advertising())
        )
        return advertising_set

    async def _stop_advertising(self) -> None:
        for advertising_set in self._advertising_sets:
            if advertising_set.enabled:
                await advertising_set.stop()

    def _on_connection(self, connection: Connection) -> None:
        self._log(event="connected", peer=str(connection.peer_address))
        watch_pairing(connection, self._log)
        connection.on(connection.EVENT_DISCONNECTION, lambda *_: self._on_disconnection())

    def _on_disconnection(self) -> None:
        self._log(event="disconnected")
        self._cp_busy = False
        # The next tick advertises again. (Spawning it here raced the tick's own start and,
        # at shutdown, left bumble a cancelled HCI command to answer: InvalidStateError.)

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
            if self._tasks:  # let HCI commands in flight get their answers first
                await asyncio.wait(list(self._tasks), timeout=1.0)
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
