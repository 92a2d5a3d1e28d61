"""One device exercised through a real bleak.BleakClient: used in-process, across processes
and against the reference firmware on NimBLE (tests/firmware/test_conformance.py).

The checks are the same on every stack; where a stack's documented behaviour differs
(:class:`Stack`), the check is that documented behaviour, never a skip.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from bleak import BleakClient
from bleak.exc import BleakGATTProtocolError

from device.link import FoundDevice, Radio
from protocols import (
    DeviceKind,
    Feature,
    LeaseConfig,
    Mode,
    Pause,
    RenewLease,
    Response,
    ResultCode,
    Resume,
    SetTarget,
    Start,
    State,
    Status,
    Stop,
    uuids,
)


@dataclass(frozen=True, slots=True)
class Stack:
    """What a device implementation's stack documents where it differs from the profile."""

    name: str
    # docs/protocol.md: a Control Point write with indications off fails with 0xFD, a Lease
    # out of range with 0xFF. MicroPython's GATT server answers every write with success
    # before the firmware sees it (docs/diy.md): the write is acted on (one indication
    # each), a Lease out of range changes nothing and reads back as the lease in force.
    att_errors_on_writes: bool
    # Unsubscribing (a CCCD written 0) on a bonded link: MicroPython's bond store answers
    # NimBLE's "forget this CCCD" with ENOENT, which NimBLE sends as ATT error 0x05; the
    # subscription has ended all the same (docs/diy.md). None: it succeeds.
    unsubscribe_error: int | None


BUMBLE = Stack("bumble (the Python simulator)", att_errors_on_writes=True, unsubscribe_error=None)
NIMBLE = Stack(
    "NimBLE (the reference firmware on MicroPython)",
    att_errors_on_writes=False,
    unsubscribe_error=0x05,
)


class Probe:
    """A BleakClient plus queues for Status notifications and control-point indications."""

    def __init__(self, client: BleakClient) -> None:
        self.client = client
        self.statuses: asyncio.Queue[Status] = asyncio.Queue()
        self.responses: asyncio.Queue[Response] = asyncio.Queue()
        # Opcodes of requests written with indications off (acted on where the stack cannot
        # refuse them): their one indication may still come, and is skipped once.
        self.unanswered: list[int] = []

    async def subscribe(self) -> None:
        await self.client.start_notify(
            uuids.STATUS, lambda _c, data: self.statuses.put_nowait(Status.decode(bytes(data)))
        )
        await self.client.start_notify(
            uuids.CONTROL_POINT,
            lambda _c, data: self.responses.put_nowait(Response.decode(bytes(data))),
        )

    async def send(self, payload: bytes) -> Response:
        await self.client.write_gatt_char(uuids.CONTROL_POINT, payload, response=True)
        while True:
            response = await asyncio.wait_for(self.responses.get(), 5)
            if response.request_opcode != payload[0] and response.request_opcode in self.unanswered:
                self.unanswered.remove(response.request_opcode)
                continue
            return response

    async def result(self, payload: bytes) -> ResultCode:
        response = await self.send(payload)
        assert response.request_opcode == payload[0]
        return response.result

    async def next_status(self, predicate=lambda s: True, timeout_s: float = 10) -> Status:
        async with asyncio.timeout(timeout_s):
            while True:
                status = await self.statuses.get()
                if predicate(status):
                    return status


def start_for(feature: Feature) -> Start:
    """A valid session start for this device kind."""
    if feature.kind == DeviceKind.LIGHT_BELT:
        return Start(Mode.LIGHT, len(feature.levels), None, 600)
    return Start(Mode.HEAT, 0, 40.0, 600)


def invalid_start_for(feature: Feature) -> Start:
    if feature.kind == DeviceKind.LIGHT_BELT:
        return Start(Mode.LIGHT, 9, None, 600)  # no level 9
    return Start(Mode.HEAT, 0, 60.0, 600)  # above the heat range


async def exercise(radio: Radio, found: FoundDevice, stack: Stack = BUMBLE) -> None:
    """Everything the foundation promises, against one device, through bleak's public API;
    ``stack``: the implementation's documented differences."""
    disconnected = asyncio.Event()
    client = BleakClient(
        found.ble_device,
        disconnected_callback=lambda _c: disconnected.set(),
        **radio._client_kwargs(),
    )
    async with client:
        assert client.is_connected
        assert client.mtu_size == 247
        if not radio.pairs_automatically:
            await client.pair()  # bleak's public API: only a bonded controller may command

        # Standard services: Device Information and Battery.
        service_uuids = {s.uuid for s in client.services}
        assert {
            uuids.DEVICE_INFORMATION_SERVICE,
            uuids.BATTERY_SERVICE,
            uuids.THERAPY_SERVICE,
        } <= service_uuids
        model = (await client.read_gatt_char(uuids.MODEL_NUMBER)).decode()
        assert model == found.kind
        assert (await client.read_gatt_char(uuids.MANUFACTURER_NAME)).decode()
        assert (await client.read_gatt_char(uuids.SERIAL_NUMBER)).decode().startswith("SIM-")
        assert (await client.read_gatt_char(uuids.FIRMWARE_REVISION)).decode()
        battery = await client.read_gatt_char(uuids.BATTERY_LEVEL)
        assert len(battery) == 1 and 0 < battery[0] <= 100

        # Feature describes the kind.
        feature = Feature.decode(await client.read_gatt_char(uuids.FEATURE))
        assert feature.kind.name.lower().replace("_", "-") in found.kind
        if feature.kind == DeviceKind.LIGHT_BELT:
            assert feature.max_power_mw == int(found.kind.rsplit("-", 1)[1])

        probe = Probe(client)

        # The control point refuses writes until indications are enabled (as FTMS does).
        if stack.att_errors_on_writes:
            with pytest.raises(BleakGATTProtocolError) as refused:
                await client.write_gatt_char(uuids.CONTROL_POINT, Stop().encode(), response=True)
            assert refused.value.code == 0xFD
        else:  # acted on: a Stop while idle, so nothing changes
            await client.write_gatt_char(uuids.CONTROL_POINT, Stop().encode(), response=True)
            probe.unanswered.append(Stop.OPCODE)

        await probe.subscribe()
        first = await probe.next_status()
        assert first.state == State.IDLE and not first.output_on

        # Lease: readable, writable within range, Out of Range outside it.
        await client.write_gatt_char(uuids.LEASE, LeaseConfig(60_000).encode(), response=True)
        assert LeaseConfig.decode(await client.read_gatt_char(uuids.LEASE)).lease_ms == 60_000
        if stack.att_errors_on_writes:
            with pytest.raises(BleakGATTProtocolError) as out_of_range:
                await client.write_gatt_char(uuids.LEASE, LeaseConfig(10).encode(), response=True)
            assert out_of_range.value.code == 0xFF
        else:
            await client.write_gatt_char(uuids.LEASE, LeaseConfig(10).encode(), response=True)
        assert LeaseConfig.decode(await client.read_gatt_char(uuids.LEASE)).lease_ms == 60_000

        # Every command, with the right result codes, in and out of the right state.
        assert await probe.result(Pause().encode()) == ResultCode.NOT_PERMITTED
        assert await probe.result(Resume().encode()) == ResultCode.NOT_PERMITTED
        assert await probe.result(SetTarget(1, None).encode()) == ResultCode.NOT_PERMITTED
        assert (
            await probe.result(invalid_start_for(feature).encode()) == ResultCode.INVALID_PARAMETER
        )
        assert await probe.result(b"\x01\x01") == ResultCode.INVALID_PARAMETER
        assert await probe.result(b"\x42") == ResultCode.OPCODE_NOT_SUPPORTED
        assert await probe.result(start_for(feature).encode()) == ResultCode.SUCCESS
        running = await probe.next_status(lambda s: s.state == State.RUNNING)
        assert running.output_on
        assert await probe.result(start_for(feature).encode()) == ResultCode.NOT_PERMITTED
        assert await probe.result(RenewLease().encode()) == ResultCode.SUCCESS
        assert await probe.result(SetTarget(1, None).encode()) == ResultCode.SUCCESS
        assert await probe.result(SetTarget(99, None).encode()) == ResultCode.INVALID_PARAMETER
        assert await probe.result(Pause().encode()) == ResultCode.SUCCESS
        paused = await probe.next_status(lambda s: s.state == State.PAUSED)
        assert not paused.output_on and paused.level == 1
        assert await probe.result(Resume().encode()) == ResultCode.SUCCESS
        await probe.next_status(lambda s: s.state == State.RUNNING)
        assert await probe.result(Stop().encode()) == ResultCode.SUCCESS
        stopped = await probe.next_status(lambda s: s.state == State.IDLE)
        assert not stopped.output_on

        # Status is also readable; stop_notify ends the notifications.
        assert Status.decode(await client.read_gatt_char(uuids.STATUS)).state == State.IDLE
        if stack.unsubscribe_error is None:
            await client.stop_notify(uuids.STATUS)
        else:
            with pytest.raises(BleakGATTProtocolError) as unsubscribed:
                await client.stop_notify(uuids.STATUS)
            assert unsubscribed.value.code == stack.unsubscribe_error
        await asyncio.sleep(0.05)
        while not probe.statuses.empty():
            probe.statuses.get_nowait()
        await asyncio.sleep(0.3)
        assert probe.statuses.empty()
    assert disconnected.is_set()
    assert not client.is_connected
