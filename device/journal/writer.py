"""Writing the journal from a thread of its own, so the control loop never blocks: samples
are batched (at most 1 s per batch); session start and end, plan steps, clamps and every
event are committed at once."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import socket
import sqlite3
import threading
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device.journal.schema import (
    JournalError,
    close_interrupted,
    connect,
    open_for_writing,
    translate_error,
)
from protocols import Status

logger = logging.getLogger(__name__)


BATCH_MAX_AGE_S = 1.0  # samples wait at most this long before they are committed
BATCH_MAX_ROWS = 2000
ALIAS_MAX_CHARS = 40


@dataclass(frozen=True, slots=True)
class _Begin:
    session_id: str
    identity: dict[str, str]
    mode: str | None
    plan: str | None
    requested_minutes: float
    time_scale: float
    limits: dict[str, float]
    at: float


@dataclass(frozen=True, slots=True)
class _Sample:
    session_id: str
    t_s: float
    at: float
    status: Status


@dataclass(frozen=True, slots=True)
class _Event:
    session_id: str
    t_s: float
    at: float
    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class _End:
    session_id: str
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Used:
    session_id: str
    light_minutes: float
    heat_ended_at: float | None


@dataclass(frozen=True, slots=True)
class _Device:
    address: str
    name: str
    kind: str
    at: float


@dataclass(frozen=True, slots=True)
class _Alias:
    address: str
    alias: str | None


@dataclass(frozen=True, slots=True)
class _Barrier:
    done: threading.Event


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
    ) -> None:
        self._queue.put(
            _Begin(
                session_id, identity, mode, plan, requested_minutes, time_scale, limits, time.time()
            )
        )

    def sample(self, session_id: str, t_s: float, status: Status) -> None:
        self._queue.put(_Sample(session_id, t_s, time.time(), status))

    def event(self, session_id: str, t_s: float, kind: str, detail: str) -> None:
        self._queue.put(_Event(session_id, t_s, time.time(), kind, detail))

    def end(self, session_id: str, **fields: Any) -> None:
        self._queue.put(_End(session_id, fields))

    def used(self, session_id: str, light_minutes: float, heat_ended: bool) -> None:
        """A step used light time, or ended heat (for the daily limit and the rest)."""
        self._queue.put(_Used(session_id, light_minutes, time.time() if heat_ended else None))

    def remember_device(self, address: str, name: str, kind: str, at: float | None = None) -> None:
        """Add a device to the known ones, or refresh its name, kind and last seen time
        (its alias and first seen time are kept)."""
        self._queue.put(_Device(address, name, kind, time.time() if at is None else at))

    def set_alias(self, address: str, alias: str | None) -> None:
        """Give a known device an alias (stripped; empty or None clears it). An address
        not known yet is left alone. Raises :class:`JournalError` at once, writing
        nothing, for an alias over 40 characters or with control characters."""
        self._queue.put(_Alias(address, _clean_alias(self.path, alias)))

    async def barrier(self) -> None:
        """Wait (off the loop) until everything queued so far is committed."""
        import asyncio

        done = threading.Event()
        self._queue.put(_Barrier(done))
        await asyncio.to_thread(done.wait, 10.0)

    def close(self) -> None:
        """Flush everything and stop the thread (blocking: call it from a thread)."""
        self._queue.put(_STOP)
        self._thread.join()

    # -- the writer thread
    def _run(self) -> None:
        conn = connect(self.path, readonly=False)
        conn.execute("PRAGMA foreign_keys=ON")
        pending: list[_Sample] = []
        oldest = 0.0
        while True:
            timeout = None
            if pending:
                timeout = max(0.0, oldest + BATCH_MAX_AGE_S - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            try:
                if isinstance(item, _Sample):
                    if not pending:
                        oldest = time.monotonic()
                    pending.append(item)
                    if len(pending) >= BATCH_MAX_ROWS:
                        self._flush(conn, pending)
                    continue
                if pending and (item is not None or time.monotonic() - oldest >= BATCH_MAX_AGE_S):
                    self._flush(conn, pending)
                if item is None:
                    continue
                if item is _STOP:
                    break
                if isinstance(item, _Barrier):
                    item.done.set()
                    continue
                with conn:
                    self._write(conn, item)
            except sqlite3.Error as exc:
                message = str(translate_error(str(self.path), exc))
                logger.error("%s", message)
                self.errors.append(message)
                pending.clear()
                if isinstance(item, _Barrier):
                    item.done.set()
        if pending:
            with contextlib.suppress(sqlite3.Error):
                self._flush(conn, pending)
        conn.close()

    def _flush(self, conn: sqlite3.Connection, pending: list[_Sample]) -> None:
        rows = [
            (
                s.session_id,
                s.t_s,
                s.at,
                s.status.seq,
                s.status.state.name.lower(),
                s.status.mode.name.lower(),
                s.status.temperature_c,
                s.status.setpoint_c,
                s.status.power_mw,
                int(s.status.output_on),
                s.status.battery_pct,
                int(s.status.skin_contact),
            )
            for s in pending
        ]
        with conn:
            conn.executemany("INSERT INTO samples VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        self.samples_written += len(rows)
        pending.clear()

    def _write(self, conn: sqlite3.Connection, item: object) -> None:
        match item:
            case _Begin():
                ident = item.identity
                conn.execute(
                    "INSERT INTO devices (address, name, kind, model, firmware, serial,"
                    " first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?)"
                    " ON CONFLICT(address) DO UPDATE SET name = excluded.name,"
                    " kind = excluded.kind, model = excluded.model,"
                    " firmware = excluded.firmware, serial = excluded.serial,"
                    " last_seen = excluded.last_seen",
                    (
                        ident["address"],
                        ident["name"],
                        ident["kind"],
                        ident["model"],
                        ident["firmware"],
                        ident.get("serial", ""),
                        item.at,
                        item.at,
                    ),
                )
                device_id = conn.execute(
                    "SELECT id FROM devices WHERE address = ?", (ident["address"],)
                ).fetchone()[0]
                conn.execute(
                    "INSERT INTO sessions (id, device_id, mode, plan, started_at, time_scale,"
                    " requested_minutes, host, pid) VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        item.session_id,
                        device_id,
                        item.mode,
                        item.plan,
                        item.at,
                        item.time_scale,
                        item.requested_minutes,
                        socket.gethostname(),
                        os.getpid(),
                    ),
                )
                conn.execute(
                    "INSERT INTO session_limits VALUES (?, ?)",
                    (item.session_id, json.dumps(item.limits)),
                )
            case _Event():
                if item.kind == "step":
                    index = conn.execute(
                        "SELECT count(*) FROM plan_steps WHERE session_id = ?", (item.session_id,)
                    ).fetchone()[0]
                    conn.execute(
                        "INSERT INTO plan_steps VALUES (?,?,?,?)",
                        (item.session_id, index, item.t_s, item.detail),
                    )
                if item.kind == "clamp":
                    conn.execute(
                        "INSERT INTO clamps (session_id, t_s, message) VALUES (?,?,?)",
                        (item.session_id, item.t_s, item.detail),
                    )
                conn.execute(
                    "INSERT INTO events (session_id, t_s, at, kind, detail) VALUES (?,?,?,?,?)",
                    (item.session_id, item.t_s, item.at, item.kind, item.detail),
                )
            case _Device():
                # model and firmware are learned when a session runs on the device
                conn.execute(
                    "INSERT INTO devices (address, name, kind, model, firmware, serial,"
                    " first_seen, last_seen) VALUES (?,?,?,'','','',?,?)"
                    " ON CONFLICT(address) DO UPDATE SET name = excluded.name,"
                    " kind = excluded.kind, last_seen = max(last_seen, excluded.last_seen)",
                    (item.address, item.name, item.kind, item.at, item.at),
                )
            case _Alias():
                conn.execute(
                    "UPDATE devices SET alias = ? WHERE address = ?", (item.alias, item.address)
                )
            case _Used():
                conn.execute(
                    "UPDATE sessions SET light_minutes = light_minutes + ?,"
                    " heat_ended_at = coalesce(?, heat_ended_at) WHERE id = ?",
                    (item.light_minutes, item.heat_ended_at, item.session_id),
                )
            case _End():
                fields = dict(item.fields)
                fields.setdefault("ended_at", time.time())
                assignments = ", ".join(f"{key} = ?" for key in fields)
                conn.execute(
                    f"UPDATE sessions SET {assignments} WHERE id = ?",
                    (*fields.values(), item.session_id),
                )
