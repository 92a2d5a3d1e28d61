"""Driving a firmware model in simulated time, with no radio."""

from __future__ import annotations

from protocols import DeviceKind, RenewLease, Request, Response
from simulator.belt import BeltFirmware
from simulator.firmware import FaultKind, Firmware, FirmwareEvent, ScheduledFault
from simulator.pad import PadFirmware


class Bench:
    """A firmware and its simulated clock."""

    def __init__(self, firmware: Firmware) -> None:
        self.fw = firmware
        self.now = 0.0
        self.events: list[FirmwareEvent] = []
        self.max_true_c = firmware.physics.true_temperature_c
        self.min_true_c = firmware.physics.true_temperature_c
        self.last_renew = 0.0

    def send(self, request: Request) -> Response:
        response = self.fw.handle_request(request.encode(), self.now)
        self.last_renew = self.now
        return response

    def run(
        self, seconds: float, *, renew_every_s: float | None = 2.0, step_s: float = 1.0
    ) -> None:
        """Advance ``seconds``, renewing the lease like a live controller (None: silent)."""
        end = self.now + seconds
        while self.now < end:
            self.now = min(end, self.now + step_s)
            if renew_every_s is not None and self.now - self.last_renew >= renew_every_s:
                self.send(RenewLease())
                self.last_renew = self.now
            self.events += self.fw.advance(self.now)
            t = self.fw.physics.true_temperature_c
            self.max_true_c = max(self.max_true_c, t)
            self.min_true_c = min(self.min_true_c, t)


def pad(kind: DeviceKind = DeviceKind.HEAT_PAD, *faults: tuple[FaultKind, float]) -> Bench:
    return Bench(
        PadFirmware(kind, 1000, now_s=0.0, faults=tuple(ScheduledFault(k, t) for k, t in faults))
    )


def belt(max_mw: int = 800, *faults: tuple[FaultKind, float]) -> Bench:
    return Bench(
        BeltFirmware(max_mw, 1000, now_s=0.0, faults=tuple(ScheduledFault(k, t) for k, t in faults))
    )
