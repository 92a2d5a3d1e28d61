"""Safety limits: the defaults are the loosest values there are; configuration may only
tighten the values in force (a ``[limits]`` table tightens the defaults, a limits file
tightens further), never loosen them.

Every number that comes from therapy guidance says so. Guidance followed:
- Heat: up to 20 min at a time, low or moderate temperature; shut it off after use;
  falling asleep on a heating pad causes burns (so sessions end on their own and
  unattended heat stops).
- Cold: 10-20 min, never over 20; may repeat every 2 h in the first 48-72 h of a spasm.
- Contrast: heat 20 min, rest 20 min, cold 20 min.
- Light (laser) belts: about 30 min a day.
- Heat and cold "a few times per day"; repeated thermal exposure is where the science has
  the least data, so the dose per body site (every device on it added up) is limited too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from protocols import TherapyctlError

# A number from a file or the network larger than this is not a limit but a mistake (and
# would overflow float arithmetic); it is refused before any conversion.
MAX_MAGNITUDE = 1e12


class LimitsError(TherapyctlError):
    """A configured limit that is malformed or looser than the value in force."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"limit {name}: {reason}")


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits a session runs under. The defaults are the loosest allowed."""

    heat_max_session_s: float = 20 * 60  # guidance: heat up to 20 min at a time
    # The ceiling holds in every mode while output is on (a cold session whose heater
    # sticks stops here too): guidance, heat at "low or moderate temperature".
    heat_ceiling_c: float = 43.0
    heat_dose_cem43_min: float = 20.0  # thermal dose per session (CEM43)
    heat_rest_s: float = 20 * 60  # rest between heat sessions (contrast: rest 20 min)
    cold_max_session_s: float = 20 * 60  # guidance: cold 10-20 min, never over 20
    # The floor holds in every mode too (a heat session whose cooler sticks stops here).
    cold_floor_c: float = 10.0
    cold_rest_s: float = 2 * 3600  # guidance: cold may repeat every 2 h (start to start)
    light_max_session_s: float = 30 * 60  # guidance: light belts about 30 min a day
    light_daily_s: float = 30 * 60  # guidance: about 30 min a day, per device, rolling 24 h
    # A belt is not a heater: its skin side stays below a pad's heat ceiling.
    light_ceiling_c: float = 41.0
    # Output on while the temperature moves the wrong way (cooling in heat, heating in
    # cold) this far beyond where it started or the setpoint: a runaway.
    runaway_margin_c: float = 3.0
    # After a stop, keep watching the temperature up to this long (device time) ...
    after_stop_watch_s: float = 120.0
    # ... and raise the alarm if it keeps moving the wrong way this far with output off.
    after_stop_drift_c: float = 1.0
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
    # Per body site, every device on it added up, over any 24 hours (a rolling day):
    site_heat_sessions_24h: float = 4.0  # guidance: heat "a few times per day"
    site_heat_cem43_24h_min: float = 60.0  # thermal dose per site: 3 full-dose sessions
    site_light_daily_s: float = 30 * 60  # guidance: light belts about 30 min a day
    site_cold_rest_s: float = 2 * 3600  # guidance: cold every 2 h (start to start), per site

    # Which direction tightens each limit: "max" caps (smaller is tighter); every other
    # limit is a floor or a wait (larger is tighter).
    _TIGHTER_IS_SMALLER = frozenset(
        {
            "heat_max_session_s",
            "heat_ceiling_c",
            "heat_dose_cem43_min",
            "cold_max_session_s",
            "light_max_session_s",
            "light_daily_s",
            "light_ceiling_c",
            "runaway_margin_c",
            "after_stop_drift_c",
            "lease_s",
            "attended_check_s",
            "attended_ack_s",
            "sensor_max_c",
            "sensor_max_rate_c_per_s",
            "sensor_stuck_s",
            "stale_factor",
            "site_heat_sessions_24h",
            "site_heat_cem43_24h_min",
            "site_light_daily_s",
        }
    )

    def tightened(self, **changes: Any) -> Limits:
        """A copy with ``changes`` applied; raises LimitsError for anything looser than the
        value in force (or not a plain, finite, sensible number)."""
        known = {f.name for f in fields(self)}
        applied: dict[str, float] = {}
        for name, value in changes.items():
            if name not in known:
                raise LimitsError(name, "no such limit")
            number = plain_number(value)
            if number is None:
                raise LimitsError(name, f"must be a plain finite number, got {describe(value)}")
            current: float = getattr(self, name)
            if name in self._TIGHTER_IS_SMALLER:
                if number <= 0:
                    raise LimitsError(name, f"must be positive, got {number:g}")
                if number > current:
                    raise LimitsError(
                        name,
                        f"{number:g} is looser than the {current:g} in force (it may only go down)",
                    )
            elif number < current:
                raise LimitsError(
                    name, f"{number:g} is looser than the {current:g} in force (it may only go up)"
                )
            applied[name] = number
        return replace(self, **applied)

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


DEFAULT_LIMITS = Limits()


def plain_number(value: object) -> float | None:
    """``value`` as a float if it is an ordinary number: not a bool, finite, and of a
    magnitude arithmetic can hold (a 400-digit integer is refused before any conversion)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return float(value) if -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE else None
    if isinstance(value, float) and math.isfinite(value) and abs(value) <= MAX_MAGNITUDE:
        return value
    return None


def describe(value: object) -> str:
    """A short, safe description of a bad value for an error message (never a 4000-digit
    repr, which Python itself refuses to make)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_MAGNITUDE:
        digits = int(value.bit_length() * math.log10(2)) + 1
        return f"an integer of about {digits} digits"
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
