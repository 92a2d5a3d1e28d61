"""After a stop: keep watching until the temperature is back inside the band and settling,
or a bounded time has passed. Still moving the wrong way with the output reported off
means the output stage ignores the firmware (a stuck heater or cooler): an alarm in plain
words. Pure: Status and time in, a verdict out."""

from __future__ import annotations

import enum
import math

from device.safety.limits import Limits
from device.safety.model import EndReason
from protocols import Mode, Status

SETTLE_S = 15.0  # at least this long (device time) before a stop counts as settled
SETTLE_DRIFT_C = 0.2  # ... moving the wrong way by no more than this (sensor noise is 0.03)
OUT_DRIFT_C = 0.3  # outside the band and this much further out since the stop: an alarm


class Verdict(enum.Enum):
    WATCHING = "watching"  # keep reading Status
    SETTLED = "settled"  # back inside the band and not moving the wrong way: done
    ALARM = "alarm"  # moving the wrong way with the output off: tell the user now
    OUTPUT_ON = "output_on"  # the device reports its output on again: stop it again
    TIMED_OUT = "timed_out"  # the bounded time passed


def danger_is_up(mode: Mode, reason: EndReason | None, start_c: float | None, t: float) -> bool:
    """True if rising is the danger after a session of ``mode`` stopped for ``reason`` at
    ``t`` (its output having started at ``start_c``): a heater that may be stuck on."""
    if reason == EndReason.OVER_TEMPERATURE:
        return True
    if reason == EndReason.UNDER_TEMPERATURE:
        return False
    if reason == EndReason.RUNAWAY and start_c is not None:
        return t > start_c  # it ran away upwards (cold, heater stuck) or downwards
    return mode != Mode.COLD  # heat and light warm; cold cools


class AfterStop:
    """Judges the readings after a stop of one session."""

    def __init__(
        self,
        limits: Limits,
        *,
        ceiling_c: float,
        floor_c: float,
        danger_up: bool,
        thing: str,
        stopped_at_s: float,
        stop_c: float | None,
    ) -> None:
        self.limits = limits
        self.ceiling_c = ceiling_c
        self.floor_c = floor_c
        self.danger_up = danger_up
        self.thing = thing
        self.stopped_at_s = stopped_at_s
        self.stop_c = stop_c  # the reading when the stop was confirmed (None: not yet known)
        self.peak_c = stop_c  # the furthest reading in the dangerous direction
        self.alarmed = False
        self.message = ""

    @property
    def deadline_s(self) -> float:
        return self.stopped_at_s + self.limits.after_stop_watch_s

    def on_status(self, status: Status, now_s: float) -> Verdict:
        """A Status after the stop; what to do next."""
        if status.output_on:
            return Verdict.OUTPUT_ON
        t = status.temperature_c
        if t is None or not math.isfinite(t):
            return Verdict.TIMED_OUT if now_s >= self.deadline_s else Verdict.WATCHING
        if not self.limits.sensor_min_c <= t <= self.limits.sensor_max_c:
            return Verdict.TIMED_OUT if now_s >= self.deadline_s else Verdict.WATCHING
        if self.stop_c is None:
            self.stop_c = self.peak_c = t
        assert self.peak_c is not None
        worse = t > self.peak_c if self.danger_up else t < self.peak_c
        if worse:
            self.peak_c = t
        drift = (t - self.stop_c) if self.danger_up else (self.stop_c - t)
        outside = t > self.ceiling_c if self.danger_up else t < self.floor_c
        if not self.alarmed and (
            drift > self.limits.after_stop_drift_c or (outside and drift > OUT_DRIFT_C)
        ):
            self.alarmed = True
            way = "heating" if self.danger_up else "cooling"
            self.message = (
                f"the {self.thing} keeps {way} although its output is off ({t:.1f} °C, from"
                f" {self.stop_c:.1f} °C at the stop): unplug it and take it off"
            )
            return Verdict.ALARM
        inside = self.floor_c <= t <= self.ceiling_c
        coming_back = (self.peak_c - t) if self.danger_up else (t - self.peak_c)
        long_enough = now_s - self.stopped_at_s >= SETTLE_S
        if inside and long_enough and (drift <= SETTLE_DRIFT_C or coming_back > SETTLE_DRIFT_C):
            return Verdict.SETTLED
        if now_s >= self.deadline_s:
            return Verdict.TIMED_OUT
        return Verdict.WATCHING
