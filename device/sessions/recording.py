"""Sessions into the journal: a listener that records, and usage read back from it."""

from __future__ import annotations

import asyncio
import time

from device.journal import JournalReader, JournalWriter
from device.safety import Usage
from device.sessions.runner import SessionEvent, SessionListener, SessionResult, SessionRunner
from device.sessions.usage import UsageLedger
from protocols import Mode, Status


class JournalRecorder(SessionListener):
    """Every Status as a sample and every event, into the journal (never blocks)."""

    def __init__(self, journal: JournalWriter, session_id: str) -> None:
        self.journal = journal
        self.session_id = session_id

    def on_status(self, runner: SessionRunner, status: Status) -> None:
        self.journal.sample(self.session_id, runner.now() - runner.t0_s, status)

    def on_event(self, runner: SessionRunner | None, event: SessionEvent) -> None:
        self.journal.event(self.session_id, event.t_s, event.kind, event.detail)


class JournalLedger(UsageLedger):
    """Daily light time and heat rest from the journal: across restarts and processes."""

    def __init__(self, journal: JournalWriter, time_scale: float) -> None:
        super().__init__()
        self.journal = journal
        self.time_scale = time_scale

    async def usage_for(self, device_key: str, now_s: float) -> Usage:
        await self.journal.barrier()  # this process's own last session is committed
        path = self.journal.path

        def read() -> Usage:
            with JournalReader(path) as reader:
                return reader.usage(device_key, time.time(), self.time_scale)

        return await asyncio.to_thread(read)

    async def recorded(self, device_key: str, session_id: str, result: SessionResult) -> None:
        if result.started_s is None:
            return
        light = result.tally.running_s / 60 if result.mode == Mode.LIGHT else 0.0
        self.journal.used(session_id, light, heat_ended=result.mode == Mode.HEAT)
