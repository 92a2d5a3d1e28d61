"""What earlier sessions used, per device, kept in this process's memory.

:class:`device.sessions.recording.JournalLedger` keeps the same in the journal instead.
"""

from __future__ import annotations

from dataclasses import replace

from device.safety import Usage
from device.sessions.runner import SessionResult
from protocols import Mode

DAY_S = 24 * 3600.0  # the daily limits hold over any 24 hours (a rolling day)


class UsageLedger:
    """What sessions used, per device: light time in the last 24 hours, when heat output was
    last on, when the last cold session started; and per body site (every device on it):
    heat sessions and their CEM43, light time, the last cold start.

    In memory, in simulated seconds of this process's clock. :class:`JournalLedger` keeps it
    in the journal as well, across restarts and processes.
    """

    def __init__(self) -> None:
        self._light: dict[str, list[tuple[float, float]]] = {}
        self._heat_end: dict[str, float] = {}
        self._cold_start: dict[str, float] = {}
        # per body site: heat sessions (start, CEM43), light (end, on-time), last cold start
        self._site_heat: dict[str, list[tuple[float, float]]] = {}
        self._site_light: dict[str, list[tuple[float, float]]] = {}
        self._site_cold_start: dict[str, float] = {}

    async def usage_for(self, device_key: str, now_s: float, site: str | None = None) -> Usage:
        return self.usage(device_key, now_s, site)

    async def recorded(
        self, device_key: str, session_id: str, result: SessionResult, site: str | None = None
    ) -> None:
        self.record(device_key, result, site)

    def usage(self, device_key: str, now_s: float, site: str | None = None) -> Usage:
        window_start = now_s - DAY_S
        light_s = sum(s for at, s in self._light.get(device_key, []) if at >= window_start)
        heat_end = self._heat_end.get(device_key)
        cold_start = self._cold_start.get(device_key)
        usage = Usage(
            light_s,
            None if heat_end is None else now_s - heat_end,
            None if cold_start is None else now_s - cold_start,
        )
        if site is None:
            return usage
        heat = [(at, dose) for at, dose in self._site_heat.get(site, []) if at >= window_start]
        site_cold = self._site_cold_start.get(site)
        return replace(
            usage,
            site=site,
            site_heat_sessions_24h=len(heat),
            site_heat_cem43_24h_min=sum(dose for _, dose in heat),
            site_light_s_24h=sum(
                s for at, s in self._site_light.get(site, []) if at >= window_start
            ),
            s_since_site_cold_start=None if site_cold is None else now_s - site_cold,
        )

    def record(self, device_key: str, result: SessionResult, site: str | None = None) -> None:
        if result.started_s is None or result.ended_s is None:
            return
        if site is not None:
            if result.mode == Mode.HEAT:
                self._site_heat.setdefault(site, []).append(
                    (result.started_s, result.tally.cem43_min)
                )
            elif result.mode == Mode.LIGHT:
                self._site_light.setdefault(site, []).append(
                    (result.ended_s, result.tally.running_s)
                )
            elif result.mode == Mode.COLD:
                self._site_cold_start[site] = result.started_s
        if result.mode == Mode.LIGHT:
            self._light.setdefault(device_key, []).append((result.ended_s, result.tally.running_s))
        elif result.mode == Mode.HEAT:
            self._heat_end[device_key] = result.ended_s
        elif result.mode == Mode.COLD:
            self._cold_start[device_key] = result.started_s


def strictest(a: Usage, b: Usage) -> Usage:
    """The usage that limits more: the larger light time, the shorter rests."""

    def sooner(x: float | None, y: float | None) -> float | None:
        return y if x is None else x if y is None else min(x, y)

    return replace(
        a,
        light_s_24h=max(a.light_s_24h, b.light_s_24h),
        s_since_heat=sooner(a.s_since_heat, b.s_since_heat),
        s_since_cold_start=sooner(a.s_since_cold_start, b.s_since_cold_start),
        site=a.site or b.site,
        site_heat_sessions_24h=max(a.site_heat_sessions_24h, b.site_heat_sessions_24h),
        site_heat_cem43_24h_min=max(a.site_heat_cem43_24h_min, b.site_heat_cem43_24h_min),
        site_light_s_24h=max(a.site_light_s_24h, b.site_light_s_24h),
        s_since_site_cold_start=sooner(a.s_since_site_cold_start, b.s_since_site_cold_start),
    )
