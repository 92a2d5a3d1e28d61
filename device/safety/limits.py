"""Safety limits: hard caps in code, configuration that may only tighten them.

Every number that comes from therapy guidance says so. Guidance followed:
- Heat: up to 20 min at a time, low or moderate temperature; shut it off after use;
  falling asleep on a heating pad causes burns (so sessions end on their own and
  unattended heat stops).
- Cold: 10-20 min, never over 20; may repeat every 2 h in the first 48-72 h of a spasm.
- Light (laser) belts: about 30 min a day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from protocols import TherapyctlError


class LimitsError(TherapyctlError):
    """A configured limit that is malformed or looser than its hard cap."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"limit {name}: {reason}")


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits a session runs under. ``HARD_LIMITS`` is the loosest allowed."""

    heat_max_session_s: float = 20 * 60  # guidance: heat up to 20 min at a time
    heat_ceiling_c: float = 43.0  # "low or moderate temperature"; hard cap 45 °C
    heat_dose_cem43_min: float = 20.0  # thermal dose per session (CEM43)
    heat_rest_s: float = 20 * 60  # rest between heat sessions (contrast: rest 20 min)
    cold_max_session_s: float = 20 * 60  # guidance: cold 10-20 min, never over 20
    cold_floor_c: float = 10.0  # hard floor 5 °C
    light_max_session_s: float = 30 * 60  # guidance: light belts about 30 min a day
    light_daily_s: float = 30 * 60  # guidance: about 30 min a day, per device
    battery_low_pct: float = 10.0  # stop cleanly below this charge
    lease_s: float = 10.0  # the device turns output off if not renewed within this
    attended_check_s: float = 10 * 60  # heat: ask "are you awake?" this often
    attended_ack_s: float = 60.0  # ... and stop if not answered within this
    setpoint_margin_c: float = 0.5  # setpoints stay this far inside ceiling / floor
    sensor_min_c: float = -5.0  # a reading outside [min, max] is implausible
    sensor_max_c: float = 60.0
    sensor_max_rate_c_per_s: float = 0.5  # faster change is implausible for a pad
    sensor_stuck_s: float = 30.0  # an identical reading this long with output on: stuck
    stale_factor: float = 3.0  # no Status for this many periods counts as link lost

    # Which direction tightens each limit: "max" caps (smaller is tighter), "min" floors
    # (larger is tighter).
    _TIGHTER_IS_SMALLER = frozenset(
        {
            "heat_max_session_s",
            "heat_ceiling_c",
            "heat_dose_cem43_min",
            "cold_max_session_s",
            "light_max_session_s",
            "light_daily_s",
            "lease_s",
            "attended_check_s",
            "attended_ack_s",
            "sensor_max_c",
            "sensor_max_rate_c_per_s",
            "sensor_stuck_s",
            "stale_factor",
        }
    )

    def tightened(self, **changes: Any) -> Limits:
        """A copy with ``changes`` applied; raises LimitsError for anything looser."""
        known = {f.name for f in fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise LimitsError(name, "no such limit")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise LimitsError(name, f"must be a number, got {value!r}")
            if not math.isfinite(value):
                raise LimitsError(name, f"must be a finite number, got {value!r}")
            cap = getattr(HARD_LIMITS, name)
            if name in self._TIGHTER_IS_SMALLER:
                if value > cap:
                    raise LimitsError(name, f"{value:g} is above the hard cap of {cap:g}")
                if value <= 0:
                    raise LimitsError(name, f"must be positive, got {value:g}")
            elif value < cap:
                raise LimitsError(name, f"{value:g} is below the hard floor of {cap:g}")
        return replace(self, **changes)

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# The loosest values configuration may choose. Stricter values are fine; looser are refused.
HARD_LIMITS = Limits(
    heat_max_session_s=20 * 60,
    heat_ceiling_c=45.0,  # hard cap 45 °C
    heat_dose_cem43_min=40.0,
    heat_rest_s=20 * 60,
    cold_max_session_s=20 * 60,  # never over 20 min
    cold_floor_c=5.0,  # hard floor 5 °C
    light_max_session_s=30 * 60,
    light_daily_s=30 * 60,
    battery_low_pct=5.0,
    lease_s=10.0,  # default lease <= 10 s
    attended_check_s=20 * 60,
    attended_ack_s=120.0,
    setpoint_margin_c=0.2,
    sensor_min_c=-10.0,
    sensor_max_c=70.0,
    sensor_max_rate_c_per_s=1.0,
    sensor_stuck_s=60.0,
    stale_factor=5.0,
)
DEFAULT_LIMITS = Limits()
