"""A therapy device driver: a typed async API over the BLE link, with reconnects.

Capabilities come from the Feature characteristic; so does the time base: the driver's
clock runs at the time scale the device reports (1 for real hardware, N for a simulator
running N times faster). Every GATT operation is serialized and under a timeout
(``TherapyLink``); the lease is set here and renewed by the runner.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from device.link.clock import Clock
from device.link.errors import ConnectionFailedError, DeviceError, LinkLostError, NotPairedError
from device.link.gatt import TherapyLink
from device.link.radio import FoundDevice, Radio, find_device
from protocols import (
    TIME_SCALE_RESOLUTION,
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
    """One therapy device, connected over a :class:`Radio`.

    ``clock`` None (the usual) means "the device's": from :meth:`connect` on, :attr:`clock`
    runs at the time scale the device's Feature reports. A clock given here is kept if the
    device agrees; if the device reports another scale, the device is trusted (and that
    logged), since its timers are what the lease and the staleness checks race against.
    Read :attr:`clock` after :meth:`connect`: it may be replaced there.
    """

    def __init__(
        self,
        radio: Radio,
        target: FoundDevice | str,
        clock: Clock | None = None,
        *,
        operation_timeout_s: float = 5.0,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.radio = radio
        self.target = target
        self._clock_given = clock is not None
        self.clock = clock if clock is not None else Clock()
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
        """Connect, read Device Information and Feature. A device this controller holds no
        bond with is refused at once (NotPairedError), before any command is sent."""
        if isinstance(self.target, str):
            self.target = await find_device(self.radio, self.target, self.connect_timeout_s)
        self._link = await TherapyLink.connect(
            self.radio,
            self.target,
            timeout_s=self.connect_timeout_s,
            operation_timeout_s=self.operation_timeout_s,
        )
        if not self.radio.pairs_automatically and await self.radio.is_bonded(self.target) is False:
            await self.close()
            raise NotPairedError(self.target.address, self.target.name, self.radio.transport)
        if self.feature is None:
            self.feature = await self._link.read_feature()
            self._adopt_time_scale(self.feature.time_scale)
            info = await self._link.read_device_info()
            self.identity = DeviceIdentity(
                kind=kind_name(self.feature.kind, self.feature.max_power_mw),
                name=self.target.name,
                address=self.target.address,
                model=info.model,
                firmware=info.firmware,
                serial=info.serial,
            )

    def _adopt_time_scale(self, time_scale: float) -> None:
        """Run the clock at the device's time scale (range-checked by Feature's decoder).

        A given clock within the Feature's resolution of it is the same scale, more exactly
        (an in-process simulator's own): it is kept."""
        if math.isclose(
            time_scale, self.clock.time_scale, rel_tol=1e-6, abs_tol=TIME_SCALE_RESOLUTION / 2
        ):
            return
        if self._clock_given:
            logger.warning(
                "%s: the device reports time scale %gx, not the %gx given; using the device's",
                self._address,
                time_scale,
                self.clock.time_scale,
            )
        self.clock = Clock(time_scale)

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
