"""Heating pad and hot/cold thermal pad: physics and firmware rules.

Physics: one lumped thermal mass (pad plus the skin under it) coupled to the room and to
the body, driven by a heater (and, on the thermal pad, a Peltier cooler) of limited power:

    C dT/dt = P_heat - P_cool - k_room (T - T_room) - k_skin (T - T_body)

With C = 300 J/K and k_room + k_skin = 0.6 W/K the time constant is 500 s, so warming from
29 °C to 43 °C takes about five minutes at full heater power, as a real pad does.
The firmware runs a PI thermostat on its (noisy, fallible) sensor reading.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols import DeviceKind, Feature, Level, Mode, ModeSupport
from simulator.firmware import (
    LEASE_MAX_MS,
    LEASE_MIN_MS,
    Firmware,
    Physics,
    Session,
)

ROOM_C = 22.0
BODY_C = 34.0  # skin surface under a covered pad
HEAT_CAPACITY_J_PER_K = 300.0
K_ROOM_W_PER_K = 0.25
K_SKIN_W_PER_K = 0.35
HEATER_MAX_W = 15.0
COOLER_MAX_W = 30.0
COOLER_COP = 0.6  # a Peltier module moves 0.6 W of heat per W drawn

# Guidance: heat at "low or moderate temperature" for up to 20 min; the device itself allows
# setpoints to 45 °C and cuts out at 47 °C, above the controller's hard cap of 45 °C.
HEAT_MIN_C, HEAT_MAX_C = 30.0, 45.0
COLD_MIN_C, COLD_MAX_C = 8.0, 20.0
CUTOUT_HIGH_C = 47.0
CUTOUT_LOW_C = 4.0
MAX_SESSION_S = 30 * 60  # the device's own session timer limit (controller: 20 min)

_KP_W_PER_K = 4.0
_KI_W_PER_K_S = 0.02


@dataclass(slots=True)
class PadPhysics(Physics):
    true_temperature_c: float = (K_ROOM_W_PER_K * ROOM_C + K_SKIN_W_PER_K * BODY_C) / (
        K_ROOM_W_PER_K + K_SKIN_W_PER_K
    )
    skin_contact: bool = True
    stuck_on: bool = False
    stuck_cold: bool = False
    can_cool: bool = False

    def step(self, dt_s: float, mode: Mode, power_mw: int) -> float:
        heat_w = cool_w = 0.0
        if self.stuck_cold and self.can_cool:
            cool_w = COOLER_MAX_W * COOLER_COP
        elif self.stuck_on:
            heat_w = HEATER_MAX_W
        elif mode == Mode.HEAT:
            heat_w = min(power_mw / 1000, HEATER_MAX_W)
        elif mode == Mode.COLD and self.can_cool:
            cool_w = min(power_mw / 1000, COOLER_MAX_W) * COOLER_COP
        t = self.true_temperature_c
        k_skin = K_SKIN_W_PER_K if self.skin_contact else 0.0
        flow_w = heat_w - cool_w - K_ROOM_W_PER_K * (t - ROOM_C) - k_skin * (t - BODY_C)
        self.true_temperature_c = t + flow_w * dt_s / HEAT_CAPACITY_J_PER_K
        return heat_w + (cool_w / COOLER_COP if cool_w else 0.0)


def pad_feature(kind: DeviceKind, status_interval_ms: int, *, time_scale: float = 1.0) -> Feature:
    heat_levels = tuple(Level(Mode.HEAT, 0, c) for c in (37.0, 39.0, 41.0, 43.0))
    cold_levels = tuple(Level(Mode.COLD, 0, c) for c in (18.0, 15.0, 12.0))
    thermal = kind == DeviceKind.THERMAL_PAD
    return Feature(
        kind=kind,
        modes=ModeSupport.HEAT | (ModeSupport.COLD if thermal else ModeSupport(0)),
        heat_min_c=HEAT_MIN_C,
        heat_max_c=HEAT_MAX_C,
        cold_min_c=COLD_MIN_C if thermal else None,
        cold_max_c=COLD_MAX_C if thermal else None,
        cutout_high_c=CUTOUT_HIGH_C,
        cutout_low_c=CUTOUT_LOW_C if thermal else None,
        max_session_s=MAX_SESSION_S,
        status_interval_ms=status_interval_ms,
        lease_min_ms=LEASE_MIN_MS,
        lease_max_ms=LEASE_MAX_MS,
        max_power_mw=int((COOLER_MAX_W if thermal else HEATER_MAX_W) * 1000),
        levels=heat_levels + (cold_levels if thermal else ()),
        time_scale=time_scale,
    )


class PadFirmware(Firmware):
    """A pad's firmware: a PI thermostat on the sensor reading, output limited to its range."""

    battery_capacity_wh = 40.0
    physics: PadPhysics

    def __init__(
        self,
        kind: DeviceKind,
        status_interval_ms: int,
        *,
        time_scale: float = 1.0,
        **kwargs: object,
    ) -> None:
        physics = PadPhysics(can_cool=kind == DeviceKind.THERMAL_PAD)
        feature = pad_feature(kind, status_interval_ms, time_scale=time_scale)
        super().__init__(feature, physics, **kwargs)  # type: ignore[arg-type]
        self._integral_w = 0.0

    def _on_start(self) -> None:
        self._integral_w = 0.0

    def _control(self, session: Session, dt_s: float) -> int:
        reading = self.temperature_c
        if reading is None or session.setpoint_c is None:
            return 0
        error_k = session.setpoint_c - reading
        if session.mode == Mode.COLD:
            error_k = -error_k
        max_w = HEATER_MAX_W if session.mode == Mode.HEAT else COOLER_MAX_W
        demand_w = _KP_W_PER_K * error_k + self._integral_w
        if 0.0 < demand_w < max_w or (demand_w >= max_w) != (error_k > 0):
            # integrate only while not saturated in the error's direction (anti-windup)
            self._integral_w += _KI_W_PER_K_S * error_k * dt_s
            self._integral_w = min(max(self._integral_w, 0.0), max_w)
        return int(min(max(demand_w, 0.0), max_w) * 1000)
