"""The controller's clock: simulated seconds, running ``time_scale`` times faster than wall
time (1.0 for real devices). Every limit and event time is in these seconds."""

from __future__ import annotations

import asyncio
import time


class Clock:
    def __init__(self, time_scale: float = 1.0) -> None:
        if not time_scale > 0:
            raise ValueError(f"time scale must be positive, got {time_scale}")
        self.time_scale = time_scale
        self._t0 = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._t0) * self.time_scale

    def wall_s(self, sim_s: float) -> float:
        return max(0.0, sim_s) / self.time_scale

    async def sleep(self, sim_s: float) -> None:
        await asyncio.sleep(self.wall_s(sim_s))
