"""Low-level light-therapy (laser) belts of 420, 800 and 1000 mW: physics and firmware rules.

Guidance: light belts are used about 30 min a day; common models emit 420, 800 and 1000 mW.
The belt warms from its emitters' losses (about 40 % wall-plug efficiency) and is cooled by
room and skin; the optical output is on only while the belt senses skin contact.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols import DeviceKind, Feature, Level, Mode, ModeSupport
from simulator.firmware import LEASE_MAX_MS, LEASE_MIN_MS, Firmware, Physics, Session

BELT_POWERS_MW = (420, 800, 1000)  # common models (guidance)
# The emitting area of each simulated model, cm², sent in Feature so the controller can give
# J/cm². These are the simulator's own documented numbers, not a vendor's: a 15 x 10 cm pad
# for 420 mW, 20 x 10 cm for 800 mW, 30 x 10 cm for 1000 mW (2.8, 4.0 and 3.3 mW/cm²; 30 min
# gives 5.0, 7.2 and 6.0 J/cm²). firmware/kinds.py has the same numbers.
BELT_AREAS_CM2: dict[int, float] = {420: 150.0, 800: 200.0, 1000: 300.0}
ROOM_C = 22.0
BODY_C = 34.0
HEAT_CAPACITY_J_PER_K = 150.0
K_ROOM_W_PER_K = 0.1
K_SKIN_W_PER_K = 0.3
WALL_PLUG_EFFICIENCY = 0.4
RUNAWAY_W = 8.0  # the overheat fault: a driver stuck at full current
CUTOUT_HIGH_C = 45.0
MAX_SESSION_S = 60 * 60  # the device's own timer limit (controller: 30 min a day)
LEVEL_FRACTIONS = (0.25, 0.5, 0.75, 1.0)


@dataclass(slots=True)
class BeltPhysics(Physics):
    true_temperature_c: float = (K_ROOM_W_PER_K * ROOM_C + K_SKIN_W_PER_K * BODY_C) / (
        K_ROOM_W_PER_K + K_SKIN_W_PER_K
    )
    skin_contact: bool = True
    stuck_on: bool = False
    stuck_cold: bool = False  # a belt has no cooler

    def step(self, dt_s: float, mode: Mode, power_mw: int) -> float:
        electrical_w = power_mw / 1000 / WALL_PLUG_EFFICIENCY
        loss_w = electrical_w - power_mw / 1000
        if self.stuck_on:
            loss_w += RUNAWAY_W
            electrical_w += RUNAWAY_W
        t = self.true_temperature_c
        k_skin = K_SKIN_W_PER_K if self.skin_contact else 0.0
        flow_w = loss_w - K_ROOM_W_PER_K * (t - ROOM_C) - k_skin * (t - BODY_C)
        self.true_temperature_c = t + flow_w * dt_s / HEAT_CAPACITY_J_PER_K
        return electrical_w


def belt_feature(max_power_mw: int, status_interval_ms: int, *, time_scale: float = 1.0) -> Feature:
    return Feature(
        kind=DeviceKind.LIGHT_BELT,
        modes=ModeSupport.LIGHT,
        heat_min_c=None,
        heat_max_c=None,
        cold_min_c=None,
        cold_max_c=None,
        cutout_high_c=CUTOUT_HIGH_C,
        cutout_low_c=None,
        max_session_s=MAX_SESSION_S,
        status_interval_ms=status_interval_ms,
        lease_min_ms=LEASE_MIN_MS,
        lease_max_ms=LEASE_MAX_MS,
        max_power_mw=max_power_mw,
        levels=tuple(Level(Mode.LIGHT, round(max_power_mw * f), None) for f in LEVEL_FRACTIONS),
        time_scale=time_scale,
        emitting_area_cm2=BELT_AREAS_CM2.get(max_power_mw),
    )


class BeltFirmware(Firmware):
    """A belt's firmware: constant optical power at the chosen level while in contact."""

    battery_capacity_wh = 20.0
    physics: BeltPhysics

    def __init__(
        self,
        max_power_mw: int,
        status_interval_ms: int,
        *,
        time_scale: float = 1.0,
        **kwargs: object,
    ) -> None:
        feature = belt_feature(max_power_mw, status_interval_ms, time_scale=time_scale)
        super().__init__(feature, BeltPhysics(), **kwargs)  # type: ignore[arg-type]

    def _control(self, session: Session, dt_s: float) -> int:
        return session.power_mw
