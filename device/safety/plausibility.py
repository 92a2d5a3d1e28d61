"""Is a temperature reading believable? Its range, how fast it changes, and whether it is
stuck. Pure: readings and their times in, a plain-words finding (or None) out."""

from __future__ import annotations

import math

from device.safety.limits import Limits


class SensorCheck:
    """Remembers the last reading of one session's sensor and judges the next one."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.last_value: float | None = None
        self.last_at_s: float | None = None
        self.last_elapsed_s: int | None = None
        self.same_since_s: float | None = None

    def observe(
        self,
        t: float | None,
        now_s: float,
        elapsed_s: int,
        *,
        output_on: bool,
        judge: bool,
    ) -> str | None:
        """Take the reading ``t`` (the device's session clock at ``elapsed_s``); with
        ``judge``, return why it is implausible (None: it is plausible)."""
        limits = self.limits
        previous_value, previous_at = self.last_value, self.last_at_s
        previous_elapsed = self.last_elapsed_s
        self.last_value, self.last_at_s = t, now_s
        self.last_elapsed_s = elapsed_s
        if not judge:
            return None
        if t is None or not math.isfinite(t):
            return "the temperature sensor gives no reading"
        if not limits.sensor_min_c <= t <= limits.sensor_max_c:
            return f"the sensor reads an implausible {t:g} °C"
        if previous_value is not None and previous_at is not None and now_s > previous_at:
            # Time between the readings: as they arrived here, or as the device's own
            # session clock says, whichever is longer (a backlog of notifications
            # arrives close together although the device took them far apart).
            span_s = now_s - previous_at
            if previous_elapsed is not None and elapsed_s >= previous_elapsed:
                span_s = max(span_s, float(elapsed_s - previous_elapsed))
            rate = abs(t - previous_value) / span_s
            if rate > limits.sensor_max_rate_c_per_s and span_s >= 0.5:
                return (
                    f"the temperature jumped {abs(t - previous_value):.1f} °C in"
                    f" {span_s:.0f} s, faster than a pad can change"
                )
        if output_on and previous_value == t:
            if self.same_since_s is None:
                self.same_since_s = previous_at
            if self.same_since_s is not None and now_s - self.same_since_s >= limits.sensor_stuck_s:
                return (
                    f"the sensor has read exactly {t:g} °C for"
                    f" {now_s - self.same_since_s:.0f} s with the output on: it is stuck"
                )
        else:
            self.same_since_s = None
        return None
