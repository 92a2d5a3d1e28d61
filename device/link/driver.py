"""A therapy device driver: a typed async API over the BLE link, with reconnects.

Capabilities come from the Feature characteristic; every GATT operation is serialized
and under a timeout (``TherapyLink``); the lease is set here and renewed by the runner.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from device.link.clock import Clock
from device.link.errors import ConnectionFailedError, DeviceError, LinkLostError
from device.link.gatt import TherapyLink
from device.link.radio import FoundDevice, Radio, find_device
from protocols import (
    Feature,
    Pause,
    RenewLease,
    Request,
    Response,
    ResultCode,
    Resume,
    SetTarget,
    Start,
    Status,
    Stop,
    kind_name,
)

logger = logging.getLogger(__name__)

MIN_LEASE_WALL_S = 1.0  # at high time scales the lease spans at least this much wall time
MIN_STATUS_WALL_S = 0.25  # ... and staleness is judged on at least this period (a busy UI)


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """Who the device is, for summaries and the journal."""

    kind: str
    name: str
    address: str
    model: str
    firmware: str
    serial: str

    def as_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "name": self.name,
            "address": self.address,
            "model": self.model,
            "firmware": self.firmware,
        }


class DeviceDriver:
    """One therapy device, connected over a :class:`Radio`."""

    def __init__(
        self,
        radio: Radio,
        target: FoundDevice | str,
        clock: Clock,
        *,
        operation_timeout_s: float = 5.0,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.radio = radio
        self.target = target
        self.clock = clock
        self.operation_timeout_s = operation_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._link: TherapyLink | None = None
        self.feature: Feature | None = None
        self.identity: DeviceIdentity | None = None
        self.lease_s = 0.0

    @property
    def link(self) -> TherapyLink:
        if self._link is None:
            raise LinkLostError(self._address, "not connected")
        return self._link

    @property
    def _address(self) -> str:
        return self.target.address if isinstance(self.target, FoundDevice) else self.target

    @property
    def connected(self) -> bool:
        return self._link is not None and not self._link.lost.is_set()

    async def connect(self) -> None:
        """Connect, read Device Information and Feature."""
        if isinstance(self.target, str):
            self.target = await find_device(self.radio, self.target, self.connect_timeout_s)
        self._link = await TherapyLink.connect(
            self.radio,
            self.target,
            timeout_s=self.connect_timeout_s,
            operation_timeout_s=self.operation_timeout_s,
        )
        if self.feature is None:
            self.feature = await self._link.read_feature()
            info = await self._link.read_device_info()
            self.identity = DeviceIdentity(
                kind=kind_name(self.feature.kind, self.feature.max_power_mw),
                name=self.target.name,
                address=self.target.address,
                model=info.model,
                firmware=info.firmware,
                serial=info.serial,
            )

    async def reconnect(self, give_up_after_s: float) -> bool:
        """Try to connect again for ``give_up_after_s`` simulated seconds."""
        await self.close()
        deadline = self.clock.now() + give_up_after_s
        while self.clock.now() < deadline:
            try:
                found = await find_device(
                    self.radio,
                    self._address,
                    max(0.2, min(2.0, self.clock.wall_s(deadline - self.clock.now()))),
                )
                self.target = found
                self._link = await TherapyLink.connect(
                    self.radio,
                    found,
                    timeout_s=self.connect_timeout_s,
                    operation_timeout_s=self.operation_timeout_s,
                    max_attempts=2,
                )
                return True
            except (ConnectionFailedError, DeviceError) as exc:
                logger.info("%s: reconnect failed: %s", self._address, exc)
                await self.clock.sleep(min(1.0, deadline - self.clock.now()))
        return False

    def lease_for(self, lease_s: float) -> float:
        """The lease to ask for: ``lease_s`` of device time, stretched at high time scales so
        it spans at least MIN_LEASE_WALL_S of wall time, within the device's range."""
        assert self.feature is not None
        wanted = max(lease_s, MIN_LEASE_WALL_S * self.clock.time_scale)
        low, high = self.feature.lease_min_ms / 1000, self.feature.lease_max_ms / 1000
        return min(max(wanted, low), high)

    async def set_lease(self, lease_s: float) -> None:
        await self.link.set_lease(round(lease_s * 1000))
        self.lease_s = lease_s

    def status_period_s(self) -> float:
        """The Status period to judge staleness on, in simulated seconds."""
        assert self.feature is not None
        return max(
            self.feature.status_interval_ms / 1000, MIN_STATUS_WALL_S * self.clock.time_scale
        )

    async def read_status(self) -> Status:
        return await self.link.read_status()

    async def read_battery(self) -> int:
        return await self.link.read_battery()

    async def request(self, request: Request) -> Response:
        return await self.link.request(request)

    async def start(self, start: Start) -> ResultCode:
        return (await self.request(start)).result

    async def stop(self) -> ResultCode:
        return (await self.request(Stop())).result

    async def pause(self) -> ResultCode:
        return (await self.request(Pause())).result

    async def resume(self) -> ResultCode:
        return (await self.request(Resume())).result

    async def set_target(self, level: int, setpoint_c: float | None) -> ResultCode:
        return (await self.request(SetTarget(level, setpoint_c))).result

    async def renew_lease(self) -> ResultCode:
        return (await self.request(RenewLease())).result

    async def close(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await link.disconnect()
