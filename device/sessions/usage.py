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
    last on, when the last cold session started.

    In memory, in simulated seconds of this process's clock. :class:`JournalLedger` keeps it
    in the journal as well, across restarts and processes.
    """

    def __init__(self) -> None:
        self._light: dict[str, list[tuple[float, float]]] = {}
        self._heat_end: dict[str, float] = {}
        self._cold_start: dict[str, float] = {}

    async def usage_for(self, device_key: str, now_s: float) -> Usage:
        return self.usage(device_key, now_s)

    async def recorded(self, device_key: str, session_id: str, result: SessionResult) -> None:
        self.record(device_key, result)

    def usage(self, device_key: str, now_s: float) -> Usage:
        window_start = now_s - DAY_S
        light_s = sum(s for at, s in self._light.get(device_key, []) if at >= window_start)
        heat_end = self._heat_end.get(device_key)
        cold_start = self._cold_start.get(device_key)
        return Usage(
            light_s,
            None if heat_end is None else now_s - heat_end,
            None if cold_start is None else now_s - cold_start,
        )

    def record(self, device_key: str, result: SessionResult) -> None:
        if result.started_s is None or result.ended_s is None:
            return
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
    )
