"""Planning a session: a request checked against the limits, the device and earlier usage,
then clamped (with a message a person can read) or refused. Pure: no I/O, no clock."""

from __future__ import annotations

import math

from device.safety.limits import Limits
from device.safety.model import Clamp, EndReason, Plan, SessionRequest, Usage
from protocols import DeviceKind, Feature, Mode, Start


def plan_session(
    limits: Limits,
    feature: Feature,
    usage: Usage,
    request: SessionRequest,
    battery_pct: int | None = None,
) -> Plan:
    """The plan for ``request``: what to START, with the clamps that shortened or lowered
    it (a session cut to what is left of a daily limit simply completes when it ends)."""
    return _Planner(limits, feature, usage).plan(request, battery_pct)


def request_problem(request: SessionRequest, feature: Feature) -> str | None:
    """What is wrong with ``request`` for this device as asked (a typo, not a limit): a mode
    it cannot do, a duration that is not positive, a level it does not have (with the ones
    it has), a power below its lowest. None: it can be planned (and then clamped)."""
    mode = request.mode
    name = mode.name.lower()
    levels = feature.levels_for(mode)
    supported = {
        Mode.HEAT: feature.heat_max_c is not None or bool(levels),
        Mode.COLD: feature.cold_min_c is not None or bool(levels),
        Mode.LIGHT: bool(levels),
    }
    if not supported.get(mode, False):
        return f"this {_kind(feature)} cannot do {name}"
    if not (math.isfinite(request.duration_s) and request.duration_s > 0):
        return "the minutes must be more than 0"
    if request.level and not 1 <= request.level <= len(levels):
        if not levels:
            return f"this {_kind(feature)} has no {name} levels: give a setpoint"
        return (
            f"this {_kind(feature)} has {name} levels 1 to {len(levels)}"
            f" ({', '.join(_describe_level(lv.setpoint_c, lv.power_mw) for lv in levels)}),"
            f" not {request.level}"
        )
    if (
        mode == Mode.LIGHT
        and request.power_mw is not None
        and request.power_mw < levels[0].power_mw
    ):
        return (
            f"this belt's lowest output is {levels[0].power_mw} mW"
            f" (it has {', '.join(str(lv.power_mw) for lv in levels)} mW), not {request.power_mw}"
        )
    if request.setpoint_c is not None and not math.isfinite(request.setpoint_c):
        return "the setpoint must be a number"
    return None


def _describe_level(setpoint_c: float | None, power_mw: int) -> str:
    return f"{setpoint_c:g} °C" if setpoint_c is not None else f"{power_mw} mW"


def max_session_s(limits: Limits, mode: Mode) -> float:
    """The longest one session of ``mode`` may run."""
    return {
        Mode.HEAT: limits.heat_max_session_s,
        Mode.COLD: limits.cold_max_session_s,
        Mode.LIGHT: limits.light_max_session_s,
    }.get(mode, 0.0)


class _Planner:
    def __init__(self, limits: Limits, feature: Feature, usage: Usage) -> None:
        self.limits = limits
        self.feature = feature
        self.usage = usage

    @property
    def continuing(self) -> bool:
        return self.usage.continuing_s > 0

    def max_session_s(self, mode: Mode) -> float:
        return max_session_s(self.limits, mode)

    def plan(self, request: SessionRequest, battery_pct: int | None) -> Plan:
        """Check and clamp a request. Over a limit: clamped with a message, or refused."""
        mode = request.mode
        feature = self.feature
        clamps: list[Clamp] = []
        supported = {
            Mode.HEAT: feature.heat_max_c is not None or bool(feature.levels_for(Mode.HEAT)),
            Mode.COLD: feature.cold_min_c is not None or bool(feature.levels_for(Mode.COLD)),
            Mode.LIGHT: bool(feature.levels_for(Mode.LIGHT)),
        }
        if not supported.get(mode, False):
            return self._refuse(
                EndReason.DEVICE_FAULT, f"this {_kind(feature)} cannot do {mode.name.lower()}"
            )
        if not request.duration_s > 0 or not math.isfinite(request.duration_s):
            return self._refuse(EndReason.DEVICE_FAULT, "a session needs a positive duration")
        if battery_pct is not None and battery_pct < self.limits.battery_low_pct:
            return self._refuse(
                EndReason.BATTERY_LOW,
                f"the battery is at {battery_pct} %, below {self.limits.battery_low_pct:g} %:"
                " charge the device first",
            )
        if mode == Mode.HEAT and self.usage.s_since_heat is not None and not self.continuing:
            wait_s = self.limits.heat_rest_s - self.usage.s_since_heat
            if wait_s > 0:
                return self._refuse(
                    EndReason.REST_REQUIRED,
                    f"rest at least {self.limits.heat_rest_s / 60:g} min between heat sessions:"
                    f" {math.ceil(wait_s / 60)} min to go",
                )
        since_cold = self.usage.s_since_cold_start
        if mode == Mode.COLD and since_cold is not None and not self.continuing:
            # Guidance: cold may be repeated every 2 hours (start to start).
            wait_s = self.limits.cold_rest_s - since_cold
            if wait_s > 0:
                return self._refuse(
                    EndReason.REST_REQUIRED,
                    f"cold may be repeated every {_duration(self.limits.cold_rest_s)}"
                    f" (start to start): {math.ceil(wait_s / 60)} min to go",
                )

        site_refusal = self._site_refusal(mode)
        if site_refusal is not None:
            return site_refusal

        duration_s = float(request.duration_s)
        limit_s = self.max_session_s(mode)
        if self.continuing:
            limit_s -= self.usage.continuing_s
            if limit_s < 60:
                return self._refuse(
                    EndReason.COMPLETED,
                    f"the interrupted {mode.name.lower()} session had less than a minute of its"
                    f" {self.max_session_s(mode) / 60:g} min left",
                )
        if duration_s > limit_s:
            clamps.append(
                Clamp(
                    f"{mode.name.lower()}_max_session",
                    duration_s / 60,
                    limit_s / 60,
                    f"{mode.name.lower()} sessions are limited to {limit_s / 60:g} min"
                    f" — running {limit_s / 60:g}"
                    if not self.continuing
                    else f"{mode.name.lower()} sessions are limited to"
                    f" {self.max_session_s(mode) / 60:g} min and"
                    f" {self.usage.continuing_s / 60:.1f} ran before the link was lost"
                    f" — running {limit_s / 60:.1f}",
                )
            )
            duration_s = limit_s
        if mode == Mode.LIGHT:
            left_s = self.limits.light_daily_s - self.usage.light_s_24h
            if left_s < 60:
                return self._refuse(
                    EndReason.DAILY_LIMIT,
                    f"the light treatment of the last 24 hours"
                    f" ({self.limits.light_daily_s / 60:g} min in any 24 hours) is used up",
                )
            if duration_s > left_s:
                clamps.append(
                    Clamp(
                        "light_daily",
                        duration_s / 60,
                        left_s / 60,
                        f"light is limited to {self.limits.light_daily_s / 60:g} min in any 24"
                        f" hours — {left_s / 60:.0f} min left, running {left_s / 60:.0f}",
                    )
                )
                duration_s = left_s
        site = self.usage.site
        if mode == Mode.LIGHT and site is not None:
            # The body takes the dose: every belt on this site adds up.
            site_limit_s = self.limits.site_light_daily_s
            left_s = site_limit_s - max(0.0, self.usage.site_light_s_24h)
            if left_s < 60:
                return self._refuse(
                    EndReason.DAILY_LIMIT,
                    f"the light treatment of {site} in the last 24 hours"
                    f" ({site_limit_s / 60:g} min in any 24 hours, every device on it added up)"
                    " is used up",
                )
            if duration_s > left_s:
                clamps.append(
                    Clamp(
                        "site_light_daily",
                        duration_s / 60,
                        left_s / 60,
                        f"light on {site} is limited to {site_limit_s / 60:g} min in any 24"
                        f" hours, every device on it added up — {left_s / 60:.0f} min left,"
                        f" running {left_s / 60:.0f}",
                    )
                )
                duration_s = left_s
        if duration_s > feature.max_session_s:
            clamps.append(
                Clamp(
                    "device_max_session",
                    duration_s / 60,
                    feature.max_session_s / 60,
                    f"this device's own timer allows {feature.max_session_s / 60:g} min",
                )
            )
            duration_s = float(feature.max_session_s)

        if mode == Mode.LIGHT:
            level, power_mw, message = self._light_level(request, clamps)
            if level == 0:
                return self._refuse(EndReason.DEVICE_FAULT, message)
            start = Start(Mode.LIGHT, level, None, max(1, int(duration_s)))
            plan = Plan(start, tuple(clamps), power_mw=power_mw)
        else:
            setpoint = self._setpoint(request, clamps)
            if setpoint is None:
                return self._refuse(
                    EndReason.DEVICE_FAULT,
                    "give a setpoint or a level the device has, within the limits and the"
                    " device's own range",
                )
            start = Start(mode, 0, setpoint, max(1, int(duration_s)))
            plan = Plan(start, tuple(clamps), setpoint_c=setpoint)
        return plan

    def _site_refusal(self, mode: Mode) -> Plan | None:
        """The per-site limits at start (every device on the site added up); None: fine.
        A resumed session is the same session, so it is not counted again."""
        usage, limits, site = self.usage, self.limits, self.usage.site
        if site is None or self.continuing:
            return None
        if mode == Mode.HEAT:
            if usage.site_heat_sessions_24h >= limits.site_heat_sessions_24h:
                return self._refuse(
                    EndReason.DAILY_LIMIT,
                    f"heat on {site} is limited to {limits.site_heat_sessions_24h:g} sessions in"
                    f" any 24 hours, every device on it added up: {usage.site_heat_sessions_24h}"
                    " ran; treat another site or wait",
                )
            if usage.site_heat_cem43_24h_min >= limits.site_heat_cem43_24h_min:
                return self._refuse(
                    EndReason.DAILY_LIMIT,
                    f"the thermal dose on {site} in the last 24 hours"
                    f" ({usage.site_heat_cem43_24h_min:.1f} CEM43 min) has reached its"
                    f" {limits.site_heat_cem43_24h_min:g} CEM43 min limit",
                )
        since = usage.s_since_site_cold_start
        if mode == Mode.COLD and since is not None:
            wait_s = limits.site_cold_rest_s - max(0.0, since)
            if wait_s > 0:
                return self._refuse(
                    EndReason.REST_REQUIRED,
                    f"cold on {site} may be repeated every {_duration(limits.site_cold_rest_s)}"
                    f" (start to start, whichever device): {math.ceil(wait_s / 60)} min to go",
                )
        return None

    def _refuse(self, reason: EndReason, message: str) -> Plan:
        return Plan(None, (), reason, message)

    def _setpoint(self, request: SessionRequest, clamps: list[Clamp]) -> float | None:
        mode = request.mode
        feature = self.feature
        setpoint = request.setpoint_c
        if request.level:
            levels = feature.levels_for(mode)
            if not 1 <= request.level <= len(levels):
                return None
            setpoint = levels[request.level - 1].setpoint_c
        if setpoint is None or not math.isfinite(setpoint):
            return None
        margin = self.limits.setpoint_margin_c
        if mode == Mode.HEAT:
            high = self.limits.heat_ceiling_c - margin
            if feature.heat_max_c is not None:
                high = min(high, feature.heat_max_c)
            if setpoint > high:
                clamps.append(
                    Clamp(
                        "heat_ceiling",
                        setpoint,
                        high,
                        f"heat is limited to {self.limits.heat_ceiling_c:g} °C —"
                        f" setpoint {high:g} °C instead of {setpoint:g} °C",
                    )
                )
                setpoint = high
            if feature.heat_min_c is not None and high < feature.heat_min_c:
                return None  # the ceiling is below anything this pad can be set to
            if feature.heat_min_c is not None and setpoint < feature.heat_min_c:
                clamps.append(
                    Clamp(
                        "device_heat_min",
                        setpoint,
                        feature.heat_min_c,
                        f"this device heats from {feature.heat_min_c:g} °C",
                    )
                )
                setpoint = feature.heat_min_c
        else:
            low = self.limits.cold_floor_c + margin
            if feature.cold_min_c is not None:
                low = max(low, feature.cold_min_c)
            if setpoint < low:
                clamps.append(
                    Clamp(
                        "cold_floor",
                        setpoint,
                        low,
                        f"cold is limited to {self.limits.cold_floor_c:g} °C —"
                        f" setpoint {low:g} °C instead of {setpoint:g} °C",
                    )
                )
                setpoint = low
            if feature.cold_max_c is not None and low > feature.cold_max_c:
                return None  # the floor is above anything this pad can be set to
            if feature.cold_max_c is not None and setpoint > feature.cold_max_c:
                clamps.append(
                    Clamp(
                        "device_cold_max",
                        setpoint,
                        feature.cold_max_c,
                        f"this device cools to {feature.cold_max_c:g} °C at most",
                    )
                )
                setpoint = feature.cold_max_c
        return round(setpoint, 2)

    def _light_level(self, request: SessionRequest, clamps: list[Clamp]) -> tuple[int, int, str]:
        levels = self.feature.levels_for(Mode.LIGHT)
        if request.level:
            if not 1 <= request.level <= len(levels):
                return 0, 0, f"this belt has levels 1 to {len(levels)}, not {request.level}"
            return request.level, levels[request.level - 1].power_mw, ""
        wanted = request.power_mw if request.power_mw is not None else levels[-1].power_mw
        fitting = [(i + 1, lv.power_mw) for i, lv in enumerate(levels) if lv.power_mw <= wanted]
        if not fitting:
            return 0, 0, f"this belt's lowest output is {levels[0].power_mw} mW, above {wanted}"
        level, power = fitting[-1]
        if power != wanted:
            clamps.append(
                Clamp(
                    "light_power",
                    wanted,
                    power,
                    f"this belt emits {', '.join(str(lv.power_mw) for lv in levels)} mW —"
                    f" running {power} mW instead of {wanted}",
                )
            )
        return level, power, ""

    # ------------------------------------------------------------------ running


def _kind(feature: Feature) -> str:
    return {
        DeviceKind.HEAT_PAD: "heat pad",
        DeviceKind.THERMAL_PAD: "thermal pad",
        DeviceKind.LIGHT_BELT: "light belt",
    }[feature.kind]


def _duration(seconds: float) -> str:
    """``7200`` -> ``2 h``, ``5400`` -> ``90 min``."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:g} min"
