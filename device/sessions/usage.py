"""What earlier sessions used, per device, kept in this process's memory.

:class:`device.sessions.recording.JournalLedger` keeps the same in the journal instead.
"""

from __future__ import annotations

from device.safety import Usage
from device.sessions.runner import SessionResult
from protocols import Mode

DAY_S = 24 * 3600.0


class UsageLedger:
    """What sessions used, per device: light time per day, the end of the last heat session.

    In memory, in simulated seconds of this process's clock. :class:`JournalLedger` keeps it
    in the journal instead, across restarts and processes.
    """

    async def usage_for(self, device_key: str, now_s: float) -> Usage:
        return self.usage(device_key, now_s)

    async def recorded(self, device_key: str, session_id: str, result: SessionResult) -> None:
        self.record(device_key, result)

    def __init__(self) -> None:
        self._light: dict[str, list[tuple[float, float]]] = {}
        self._heat_end: dict[str, float] = {}

    def usage(self, device_key: str, now_s: float) -> Usage:
        day_start = now_s - now_s % DAY_S
        light_s = sum(s for at, s in self._light.get(device_key, []) if at >= day_start)
        heat_end = self._heat_end.get(device_key)
        return Usage(light_s, None if heat_end is None else now_s - heat_end)

    def record(self, device_key: str, result: SessionResult) -> None:
        if result.started_s is None or result.ended_s is None:
            return
        if result.mode == Mode.LIGHT:
            self._light.setdefault(device_key, []).append((result.ended_s, result.tally.running_s))
        elif result.mode == Mode.HEAT:
            self._heat_end[device_key] = result.ended_s
