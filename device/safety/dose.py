"""Thermal dose arithmetic: cumulative equivalent minutes at 43 °C (CEM43)."""

from __future__ import annotations

import math

MAX_DOSE_TEMPERATURE_C = 100.0


def cem43_minutes(temperature_c: float, dt_s: float) -> float:
    """Cumulative equivalent minutes at 43 °C for ``dt_s`` at ``temperature_c``.

    CEM43 = sum of dt * R^(43 - T), with R = 0.5 at T >= 43 °C and 0.25 below
    (Sapareto and Dewey, 1984).
    """
    if not (math.isfinite(temperature_c) and math.isfinite(dt_s)) or dt_s <= 0:
        return 0.0
    # Overflow-safe: readings are plausibility-checked before they get here, and whatever
    # arrives is clamped to where the formula means something (2^57 at most).
    t = min(max(temperature_c, -50.0), MAX_DOSE_TEMPERATURE_C)
    r = 0.5 if t >= 43.0 else 0.25
    return float(dt_s / 60 * r ** (43.0 - t))
