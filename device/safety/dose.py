"""Thermal dose arithmetic: cumulative equivalent minutes at 43 °C (CEM43)."""

from __future__ import annotations


def cem43_minutes(temperature_c: float, dt_s: float) -> float:
    """Cumulative equivalent minutes at 43 °C for ``dt_s`` at ``temperature_c``.

    CEM43 = sum of dt * R^(43 - T), with R = 0.5 at T >= 43 °C and 0.25 below
    (Sapareto and Dewey, 1984).
    """
    r = 0.5 if temperature_c >= 43.0 else 0.25
    return float(dt_s / 60 * r ** (43.0 - temperature_c))
