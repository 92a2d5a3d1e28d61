"""Sessions into the journal: a listener that records, and usage read back from it."""

from __future__ import annotations

import asyncio
import logging
import time

from device.journal import JournalError, JournalReader, JournalWriter
from device.safety import Usage
from device.sessions.runner import SessionEvent, SessionListener, SessionResult, SessionRunner
from device.sessions.usage import UsageLedger, strictest
from protocols import Mode, Status

logger = logging.getLogger(__name__)


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
    """The rest after heat, cold every 2 h and light per 24 h from the journal (per device,
    and per body site for every device on it), across restarts and processes - and from
    this process's memory as well, so a journal that fails never loosens them (the stricter
    of the two counts)."""

    def __init__(self, journal: JournalWriter, time_scale: float) -> None:
        super().__init__()
        self.journal = journal
        self.time_scale = time_scale

    async def usage_for(self, device_key: str, now_s: float, site: str | None = None) -> Usage:
        remembered = self.usage(device_key, now_s, site)
        if not await self.journal.barrier():  # this process's own last session is committed
            return remembered  # failing: starts are refused anyway until it works
        path = self.journal.path

        def read() -> Usage:
            with JournalReader(path) as reader:
                return reader.usage(device_key, time.time(), self.time_scale, site)

        try:
            recorded = await asyncio.to_thread(read)
        except JournalError as exc:
            logger.warning("usage from the journal is unavailable (%s); using memory", exc)
            return remembered
        return strictest(remembered, recorded)

    async def recorded(
        self, device_key: str, session_id: str, result: SessionResult, site: str | None = None
    ) -> None:
        self.record(device_key, result, site)
        if result.refused_by_device:
            self.journal.use_cancelled(session_id)
        else:
            self.journal.use_ends(session_id, result.tally.running_s)

    async def before_start(self, session_id: str, mode: Mode, lease_s: float) -> None:
        """Record the step's use durably before START; JournalError refuses the start."""
        self.journal.use_begins(session_id, mode, lease_s)
        await self.journal.commit()


async def remembered_site(journal: JournalWriter, address: str) -> str | None:
    """The body site the journal remembers for a device (None if none, or unreadable): read
    after what is queued for the journal is written, off the event loop."""
    await journal.barrier()
    path = journal.path

    def read() -> str | None:
        with JournalReader(path) as reader:
            return reader.device_site(address)

    try:
        return await asyncio.to_thread(read)
    except JournalError as exc:
        logger.warning("the device's remembered body site is unavailable (%s)", exc)
        return None
