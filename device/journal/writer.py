"""Writing the journal from a thread of its own, so the control loop never blocks: samples
are batched (at most 1 s per batch); session start and end, plan steps, clamps, uses and
every event are committed at once.

A journal that stops working (read-only, locked, full, gone) is said once, in plain words;
what could not be written is kept and retried every second, starts that need a durable
record are refused meanwhile (:meth:`JournalWriter.commit` raises), and the writer says so
again when the journal works again.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import queue
import sqlite3
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any

from device.journal import records
from device.journal.schema import (
    JournalError,
    close_interrupted,
    connect,
    open_for_writing,
    translate_error,
)
from device.safety import normalise_site
from protocols import Mode, Status

logger = logging.getLogger(__name__)


BATCH_MAX_AGE_S = 1.0  # samples wait at most this long before they are committed
BATCH_MAX_ROWS = 2000
ALIAS_MAX_CHARS = 40
RETRY_S = 1.0  # a failing journal is tried again this often
BACKLOG_MAX = 200_000  # records kept while it fails (a day of samples from a few devices)
COMMIT_WAIT_S = 10.0  # a durable write not confirmed within this is a failure


_STOP = object()


def _clean_alias(path: Path, alias: str | None) -> str | None:
    """Stripped; empty or whitespace means none; short and free of control characters."""
    text = (alias or "").strip()
    if not text:
        return None
    if len(text) > ALIAS_MAX_CHARS:
        raise JournalError(str(path), f"an alias is at most {ALIAS_MAX_CHARS} characters")
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise JournalError(str(path), "an alias cannot contain control characters")
    return text


def _area(area_cm2: float | None) -> float | None:
    """An emitting area worth dividing by (finite, above 0), else None: unknown."""
    if area_cm2 is None or not math.isfinite(area_cm2) or area_cm2 <= 0:
        return None
    return float(area_cm2)


class JournalWriter:
    """Writes to the journal from its own thread; the control loop only enqueues."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = open_for_writing(path)  # raises JournalError before anything runs
        self.closed_interrupted = close_interrupted(self._conn)
        self._conn.close()
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.errors: list[str] = []
        self.samples_written = 0
        self.samples_dropped = 0
        self.unwritten = 0  # records still not written when the writer was closed
        self.failure: JournalError | None = None  # the journal is failing now
        self.first_failure: JournalError | None = None  # it failed at some point
        self._uses: dict[str, records.OpenUse] = {}  # written by the writer thread only
        self._thread = threading.Thread(target=self._run, name="journal", daemon=True)
        self._thread.start()

    # -- called from the control loop: never blocks
    def begin(
        self,
        session_id: str,
        identity: dict[str, str],
        *,
        mode: str | None,
        plan: str | None,
        requested_minutes: float,
        time_scale: float,
        limits: dict[str, float],
        site: str | None = None,
        emitting_area_cm2: float | None = None,
    ) -> None:
        """A session begins (``emitting_area_cm2``: a light device's emitting area from its
        Feature, for J/cm²; None, or anything but a finite area above 0, is unknown)."""
        self._queue.put(
            records.Begin(
                session_id,
                identity,
                mode,
                plan,
                requested_minutes,
                time_scale,
                limits,
                time.time(),
                None if site is None else normalise_site(site),
                _area(emitting_area_cm2),
            )
        )

    def sample(self, session_id: str, t_s: float, status: Status) -> None:
        self._queue.put(records.Sample(session_id, t_s, time.time(), status))

    def event(self, session_id: str, t_s: float, kind: str, detail: str) -> None:
        self._queue.put(records.Event(session_id, t_s, time.time(), kind, detail))

    def end(self, session_id: str, **fields: Any) -> None:
        self._queue.put(records.End(session_id, fields))

    def use_begins(self, session_id: str, mode: Mode, lease_s: float = 10.0) -> None:
        """A step is about to turn output on, with a lease of ``lease_s`` device seconds
        (follow with :meth:`commit` before START)."""
        self._queue.put(records.UseBegin(session_id, mode.name.lower(), lease_s, time.time()))

    def use_ends(self, session_id: str, on_s: float) -> None:
        """The step ended after ``on_s`` device seconds of output."""
        self._queue.put(records.UseEnd(session_id, on_s, time.time()))

    def use_cancelled(self, session_id: str) -> None:
        """The device refused the START: the step used nothing."""
        self._queue.put(records.UseCancel(session_id))

    def remember_device(self, address: str, name: str, kind: str, at: float | None = None) -> None:
        """Add a device to the known ones, or refresh its name, kind and last seen time
        (its alias and first seen time are kept)."""
        self._queue.put(records.Device(address, name, kind, time.time() if at is None else at))

    def set_alias(self, address: str, alias: str | None) -> None:
        """Give a known device an alias (stripped; empty or None clears it). An address
        not known yet is left alone. Raises :class:`JournalError` at once, writing
        nothing, for an alias over 40 characters or with control characters."""
        self._queue.put(records.Alias(address, _clean_alias(self.path, alias)))

    def set_site(self, address: str, site: str | None) -> None:
        """The body site a known device is used on unless a session names another
        (normalised; None clears it). Raises :class:`device.safety.SiteError` at once,
        writing nothing, for a name that is not a site."""
        self._queue.put(records.Site(address, None if site is None else normalise_site(site)))

    async def barrier(self) -> bool:
        """Wait (off the loop) until everything queued so far is written, or cannot be;
        True if it was written."""
        import asyncio

        barrier = records.Barrier()
        self._queue.put(barrier)
        await asyncio.to_thread(barrier.done.wait, COMMIT_WAIT_S)
        return barrier.ok

    async def commit(self) -> None:
        """Wait until everything queued so far is written; raise JournalError if it is not
        (a start that must be on record is refused then)."""
        if not await self.barrier():
            raise self.failure or JournalError(
                str(self.path), f"it did not confirm a write within {COMMIT_WAIT_S:g} s"
            )

    def close(self) -> None:
        """Flush everything and stop the thread (blocking: call it from a thread)."""
        self._queue.put(_STOP)
        self._thread.join()

    # -- the writer thread
    def _run(self) -> None:
        backlog: collections.deque[object] = collections.deque()
        conn: sqlite3.Connection | None = None
        oldest_sample = 0.0
        retry_at = 0.0
        stopping = False
        while True:
            now = time.monotonic()
            timeout: float | None = None
            if self.failure is not None and backlog:
                timeout = max(0.0, retry_at - now)
            elif any(isinstance(item, records.Sample) for item in backlog):
                timeout = max(0.0, oldest_sample + BATCH_MAX_AGE_S - now)
            if not stopping:
                with contextlib.suppress(queue.Empty):
                    item = self._queue.get(timeout=timeout)
                    while True:
                        if item is _STOP:
                            stopping = True
                        else:
                            if isinstance(item, records.Sample) and not any(
                                isinstance(i, records.Sample) for i in backlog
                            ):
                                oldest_sample = time.monotonic()
                            backlog.append(item)
                        item = self._queue.get_nowait()
            self._bound(backlog)
            now = time.monotonic()
            if self.failure is not None and not stopping and now < retry_at:
                self._answer_barriers(backlog, ok=False)
                continue
            due = (
                stopping
                or self.failure is not None
                or any(not isinstance(item, records.Sample) for item in backlog)
            )
            samples = sum(isinstance(item, records.Sample) for item in backlog)
            due = (
                due
                or samples >= BATCH_MAX_ROWS
                or (samples > 0 and now - oldest_sample >= BATCH_MAX_AGE_S)
            )
            if due and backlog:
                try:
                    if conn is None:
                        conn = connect(self.path, readonly=False)
                        conn.execute("PRAGMA foreign_keys=ON")
                    self._drain(conn, backlog)
                    if self.failure is not None:
                        logger.warning("journal %s: it works again", self.path)
                        self.failure = None
                except sqlite3.Error as exc:
                    self._failed(translate_error(str(self.path), exc))
                    retry_at = time.monotonic() + RETRY_S
                    self._answer_barriers(backlog, ok=False)
                    with contextlib.suppress(sqlite3.Error):
                        if conn is not None:
                            conn.close()
                    conn = None
            if stopping:
                break
        self.unwritten = sum(not isinstance(i, records.Barrier) for i in backlog)
        self._answer_barriers(backlog, ok=False)
        if conn is not None:
            conn.close()

    def _drain(self, conn: sqlite3.Connection, backlog: collections.deque[object]) -> None:
        """Write the backlog in order; what fails stays at its head for the next try."""
        while backlog:
            head = backlog[0]
            if isinstance(head, records.Barrier):
                backlog.popleft()
                head.ok = True
                head.done.set()
                continue
            if isinstance(head, records.Sample):
                batch: list[records.Sample] = []
                while (
                    backlog
                    and isinstance(backlog[0], records.Sample)
                    and len(batch) < BATCH_MAX_ROWS
                ):
                    sample = backlog.popleft()
                    assert isinstance(sample, records.Sample)
                    batch.append(sample)
                try:
                    with conn:
                        uses = records.write_samples(conn, batch, self._uses)
                except sqlite3.Error:
                    backlog.extendleft(reversed(batch))
                    raise
                self._uses = uses
                self.samples_written += len(batch)
                continue
            assert isinstance(
                head,
                records.Begin
                | records.Event
                | records.End
                | records.UseBegin
                | records.UseEnd
                | records.UseCancel
                | records.Device
                | records.Alias
                | records.Site,
            )
            try:
                with conn:
                    uses = records.write_record(conn, head, self._uses)
            except (sqlite3.IntegrityError, sqlite3.ProgrammingError) as exc:
                # The record itself is wrong, not the journal: drop it, keep the rest.
                logger.error("journal %s: a record was not written: %s", self.path, exc)
                self.errors.append(str(exc))
                backlog.popleft()
                continue
            backlog.popleft()
            self._uses = uses

    def _failed(self, error: JournalError) -> None:
        if self.failure is None:
            logger.warning(
                "%s; what could not be written is kept and retried, sessions keep their limits"
                " from memory, and new starts are refused until it works",
                error,
            )
        self.failure = error
        if self.first_failure is None:
            self.first_failure = error
        if not self.errors or self.errors[-1] != str(error):
            self.errors.append(str(error))

    def _bound(self, backlog: collections.deque[object]) -> None:
        """While failing, keep at most BACKLOG_MAX records: the oldest samples go first."""
        excess = len(backlog) - BACKLOG_MAX
        if excess <= 0:
            return
        kept: collections.deque[object] = collections.deque()
        for item in backlog:
            if excess > 0 and isinstance(item, records.Sample):
                excess -= 1
                self.samples_dropped += 1
                continue
            kept.append(item)
        backlog.clear()
        backlog.extend(kept)

    @staticmethod
    def _answer_barriers(backlog: collections.deque[object], *, ok: bool) -> None:
        for item in [i for i in backlog if isinstance(i, records.Barrier)]:
            backlog.remove(item)
            item.ok = ok
            item.done.set()
