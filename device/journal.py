"""The session journal: every session, sample and safety event in one SQLite file.

- WAL mode; ``PRAGMA user_version`` is the schema version; forward migrations in order;
  a database from a newer therapyctl is refused without being touched.
- :class:`JournalWriter` writes from a thread of its own, so the control loop never blocks:
  samples are batched (at most 1 s per batch); session start and end, plan steps, clamps and
  every event are committed at once.
- A session left unfinished by a crash (its process gone) is closed as ``interrupted`` the
  next time the journal is opened for writing; its samples are kept.
- Daily light time and the rest since the last heat session are read from here, so they
  hold across restarts and across processes sharing the file.
- Known devices (every device a session ran on, or the UI remembered) keep an optional
  alias the user gave them.
"""

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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from device.supervisor import Usage
from protocols import Status, TherapyctlError

logger = logging.getLogger(__name__)

BATCH_MAX_AGE_S = 1.0  # samples wait at most this long before they are committed
BATCH_MAX_ROWS = 2000
BUSY_TIMEOUT_S = 2.0
INTERRUPTED = "interrupted"
ALIAS_MAX_CHARS = 40

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE devices (
        id INTEGER PRIMARY KEY,
        address TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        model TEXT NOT NULL,
        firmware TEXT NOT NULL,
        serial TEXT NOT NULL,
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL
    );
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        device_id INTEGER NOT NULL REFERENCES devices(id),
        mode TEXT,
        plan TEXT,
        started_at REAL NOT NULL,
        ended_at REAL,
        time_scale REAL NOT NULL,
        requested_minutes REAL NOT NULL,
        planned_minutes REAL,
        actual_minutes REAL,
        light_minutes REAL NOT NULL DEFAULT 0,
        heat_ended_at REAL,
        end_reason TEXT,
        end_detail TEXT,
        max_temperature_c REAL,
        min_temperature_c REAL,
        cem43_minutes REAL,
        energy_j REAL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL
    );
    CREATE TABLE session_limits (
        session_id TEXT PRIMARY KEY REFERENCES sessions(id),
        limits_json TEXT NOT NULL
    );
    CREATE INDEX sessions_started ON sessions(started_at);
    CREATE INDEX sessions_device ON sessions(device_id, started_at);
    CREATE TABLE plan_steps (
        session_id TEXT NOT NULL REFERENCES sessions(id),
        step_index INTEGER NOT NULL,
        t_s REAL NOT NULL,
        description TEXT NOT NULL,
        PRIMARY KEY (session_id, step_index)
    );
    CREATE TABLE samples (
        session_id TEXT NOT NULL REFERENCES sessions(id),
        t_s REAL NOT NULL,
        at REAL NOT NULL,
        seq INTEGER NOT NULL,
        state TEXT NOT NULL,
        mode TEXT NOT NULL,
        temperature_c REAL,
        setpoint_c REAL,
        power_mw INTEGER NOT NULL,
        output_on INTEGER NOT NULL,
        battery_pct INTEGER NOT NULL,
        contact INTEGER NOT NULL
    );
    CREATE INDEX samples_session ON samples(session_id, t_s);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id),
        t_s REAL NOT NULL,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX events_session ON events(session_id, t_s);
    CREATE TABLE clamps (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id),
        t_s REAL NOT NULL,
        message TEXT NOT NULL
    );
    """,
    # 2: a user-given alias for a known device (NULL: none)
    """
    ALTER TABLE devices ADD COLUMN alias TEXT;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
SAFETY_EVENT_KINDS = frozenset({"safety_stop", "alarm", "link_lost", "device_fault"})


class JournalError(TherapyctlError):
    """The journal cannot be used: missing, corrupt, locked, read-only, newer, unknown id."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"journal {path}: {reason}")


def default_path() -> Path:
    """The journal in the user's data directory (platformdirs)."""
    from platformdirs import user_data_path

    return user_data_path("therapyctl", appauthor=False) / "journal.sqlite3"


def _translate(path: str, exc: sqlite3.Error) -> JournalError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return JournalError(path, "it is locked by another process; try again when it is done")
    if "readonly" in text or "read-only" in text:
        return JournalError(path, "it is read-only here: give a writable --db")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return JournalError(
            path, "it is not a therapyctl journal (the file is corrupt or not SQLite)"
        )
    if "unable to open" in text:
        return JournalError(path, "it cannot be opened (missing directory or no permission)")
    return JournalError(path, text)


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        uri = f"file:{path.resolve()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as exc:
            if "unable to open" not in str(exc):
                raise
            # A WAL journal in a read-only place: SQLite cannot make its shared-memory
            # file, but nobody can be writing there either, so read it as immutable.
            conn.close()
            conn = sqlite3.connect(uri + "&immutable=1", uri=True, timeout=BUSY_TIMEOUT_S)
    else:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
    conn.row_factory = sqlite3.Row
    return conn


def _check_version(path: Path, conn: sqlite3.Connection) -> int:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise JournalError(
            str(path),
            f"it was written by a newer therapyctl (schema {version}; this one knows up to"
            f" {SCHEMA_VERSION}); it is left untouched",
        )
    if version == 0:
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if tables:
            raise JournalError(str(path), "it is an SQLite file but not a therapyctl journal")
    return version


def open_for_writing(path: Path) -> sqlite3.Connection:
    """Open (creating and migrating as needed) a journal for writing."""
    name = str(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise JournalError(name, f"cannot create its directory: {exc}") from exc
    if path.exists():
        # Refuse a newer journal before writing anything, even the WAL switch.
        check = read_connection(path)
        check.close()
    try:
        conn = _connect(path, readonly=False)
        version = _check_version(path, conn)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        for number in range(version + 1, SCHEMA_VERSION + 1):
            with conn:
                conn.executescript(
                    "BEGIN;" + MIGRATIONS[number - 1] + f"PRAGMA user_version = {number};"
                )
        return conn
    except sqlite3.Error as exc:
        raise _translate(name, exc) from exc


def read_connection(path: Path) -> sqlite3.Connection:
    """A read-only connection; the journal must exist and be a journal we understand."""
    name = str(path)
    if not path.exists():
        raise JournalError(name, "there is no journal here yet (run a session first, or give --db)")
    try:
        conn = _connect(path, readonly=True)
        _check_version(path, conn)
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sessions'").fetchone():
            conn.close()
            raise JournalError(name, "it has no sessions table: not a therapyctl journal")
        return conn
    except sqlite3.Error as exc:
        raise _translate(name, exc) from exc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def close_interrupted(conn: sqlite3.Connection) -> int:
    """Close sessions whose process is gone as ``interrupted``; their samples are kept."""
    host = socket.gethostname()
    rows = conn.execute(
        "SELECT id, pid, host, started_at FROM sessions WHERE ended_at IS NULL"
    ).fetchall()
    closed = 0
    for row in rows:
        if row["host"] == host and _pid_alive(row["pid"]):
            continue  # still running, here or in another process on this host
        if row["host"] != host:
            continue  # cannot tell for another host: leave it
        last = conn.execute(
            "SELECT max(at) AS at, max(t_s) AS t_s, max(temperature_c) AS tmax,"
            " min(temperature_c) AS tmin FROM samples WHERE session_id = ?",
            (row["id"],),
        ).fetchone()
        running = conn.execute(
            "SELECT count(*) FROM samples WHERE session_id = ? AND output_on = 1", (row["id"],)
        ).fetchone()[0]
        with conn:
            conn.execute(
                "UPDATE sessions SET ended_at = ?, end_reason = ?, end_detail = ?,"
                " max_temperature_c = coalesce(max_temperature_c, ?),"
                " min_temperature_c = coalesce(min_temperature_c, ?),"
                " actual_minutes = coalesce(actual_minutes, ?) WHERE id = ?",
                (
                    last["at"] or row["started_at"],
                    INTERRUPTED,
                    "the controller stopped without closing the session (crash or kill);"
                    " closed at the next start",
                    last["tmax"],
                    last["tmin"],
                    (last["t_s"] or 0.0) / 60 if running else 0.0,
                    row["id"],
                ),
            )
        closed += 1
    return closed


# ---------------------------------------------------------------------------- writing


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
        conn = _connect(self.path, readonly=False)
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
                message = str(_translate(str(self.path), exc))
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


# ---------------------------------------------------------------------------- reading


class SessionRow(NamedTuple):
    """One session as ``history`` lists it (a named tuple: 10,000 of them build fast)."""

    session_id: str
    started_at: float
    ended_at: float | None
    device_name: str
    device_address: str
    device_kind: str
    mode: str | None
    plan: str | None
    requested_minutes: float
    planned_minutes: float | None
    actual_minutes: float | None
    end_reason: str | None
    end_detail: str | None
    max_temperature_c: float | None
    min_temperature_c: float | None
    cem43_minutes: float | None
    energy_j: float | None
    time_scale: float

    @property
    def what(self) -> str:
        return self.plan or self.mode or "?"

    def as_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at) if self.ended_at else None,
            "device": {
                "name": self.device_name,
                "address": self.device_address,
                "kind": self.device_kind,
            },
            "mode": self.mode,
            "plan": self.plan,
            "requested_minutes": self.requested_minutes,
            "planned_minutes": self.planned_minutes,
            "actual_minutes": self.actual_minutes,
            "end_reason": self.end_reason,
            "end_detail": self.end_detail,
            "max_temperature_c": self.max_temperature_c,
            "min_temperature_c": self.min_temperature_c,
            "cem43_minutes": self.cem43_minutes,
            "energy_j": self.energy_j,
            "time_scale": self.time_scale,
        }


class KnownDevice(NamedTuple):
    """A device the journal knows, with the alias the user gave it (if any)."""

    address: str
    name: str
    kind: str
    alias: str | None
    first_seen: float
    last_seen: float

    @property
    def label(self) -> str:
        """What to show: the alias, else the advertised name."""
        return self.alias or self.name


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at).astimezone().isoformat(timespec="seconds")


_SESSION_COLUMNS = (
    "s.id AS session_id, s.started_at, s.ended_at, d.name AS device_name,"
    " d.address AS device_address, d.kind AS device_kind, s.mode, s.plan,"
    " s.requested_minutes, s.planned_minutes, s.actual_minutes, s.end_reason, s.end_detail,"
    " s.max_temperature_c, s.min_temperature_c, s.cem43_minutes, s.energy_j, s.time_scale"
)


class JournalReader:
    """Queries over a journal (read-only connection; safe beside a writer)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = read_connection(path)
        try:
            unfinished = self._conn.execute(
                "SELECT count(*) FROM sessions WHERE ended_at IS NULL"
            ).fetchone()[0]
        except sqlite3.Error as exc:
            self._conn.close()
            raise _translate(str(path), exc) from exc
        if unfinished:
            self._close_interrupted()

    def _close_interrupted(self) -> None:
        """Any start of therapyctl closes sessions left open by a dead process (if it can
        write here; on a read-only journal they simply show as unfinished)."""
        try:
            writer = open_for_writing(self.path)
        except JournalError:
            return
        try:
            close_interrupted(writer)
        except sqlite3.Error as exc:
            logger.info("could not close interrupted sessions: %s", exc)
        finally:
            writer.close()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> JournalReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _translate(str(self.path), exc) from exc

    def sessions(
        self, *, device: str | None = None, since: date | None = None, limit: int | None = None
    ) -> list[SessionRow]:
        where, params = self._filters(device, since)
        sql = (
            f"SELECT {_SESSION_COLUMNS} FROM sessions s JOIN devices d ON d.id = s.device_id"
            f"{where} ORDER BY s.started_at DESC"
        )
        if limit is not None:
            sql += " LIMIT ?"
            params = (*params, limit)
        try:
            cursor = self._conn.execute(sql, params)
            cursor.row_factory = None  # plain tuples, in SessionRow's field order: fast
            return list(map(SessionRow._make, cursor.fetchall()))
        except sqlite3.Error as exc:
            raise _translate(str(self.path), exc) from exc

    def _filters(self, device: str | None, since: date | None) -> tuple[str, tuple[Any, ...]]:
        clauses: list[str] = []
        params: list[Any] = []
        if device:
            clauses.append("(d.name = ? OR d.address = ?)")
            params += [device, device.upper()]
        if since:
            clauses.append("s.started_at >= ?")
            params.append(datetime.combine(since, datetime.min.time()).timestamp())
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)

    def known_devices(self) -> list[KnownDevice]:
        """Every known device, the most recently seen first."""
        # A journal older than schema 2 has no aliases yet (readers never migrate).
        has_alias = self._query("SELECT 1 FROM pragma_table_info('devices') WHERE name = 'alias'")
        alias = "alias" if has_alias else "NULL AS alias"
        rows = self._query(
            f"SELECT address, name, kind, {alias}, first_seen, last_seen FROM devices"
            " ORDER BY last_seen DESC, address"
        )
        return [KnownDevice(*row) for row in rows]

    def day_totals(
        self, *, device: str | None = None, since: date | None = None
    ) -> list[dict[str, Any]]:
        """Per local day: sessions, minutes, light minutes, CEM43 and energy."""
        where, params = self._filters(device, since)
        rows = self._query(
            "SELECT date(s.started_at, 'unixepoch', 'localtime') AS day, count(*) AS sessions,"
            " coalesce(sum(s.actual_minutes), 0) AS minutes,"
            " coalesce(sum(s.light_minutes), 0) AS light_minutes,"
            " coalesce(sum(s.cem43_minutes), 0) AS cem43_minutes,"
            " coalesce(sum(s.energy_j), 0) AS energy_j"
            f" FROM sessions s JOIN devices d ON d.id = s.device_id{where}"
            " GROUP BY day ORDER BY day DESC",
            params,
        )
        return [dict(row) for row in rows]

    def session(self, session_id: str) -> SessionRow:
        rows = self._query(
            f"SELECT {_SESSION_COLUMNS} FROM sessions s JOIN devices d ON d.id = s.device_id"
            " WHERE s.id = ?",
            (session_id,),
        )
        if not rows:
            raise JournalError(str(self.path), f"there is no session {session_id!r}")
        return SessionRow(**dict(rows[0]))

    def limits(self, session_id: str) -> dict[str, float]:
        rows = self._query(
            "SELECT limits_json FROM session_limits WHERE session_id = ?", (session_id,)
        )
        return dict(json.loads(rows[0]["limits_json"])) if rows else {}

    def events(self, session_id: str) -> list[dict[str, Any]]:
        return [
            dict(row)
            for row in self._query(
                "SELECT t_s, kind, detail FROM events WHERE session_id = ? ORDER BY t_s, id",
                (session_id,),
            )
        ]

    def steps(self, session_id: str) -> list[dict[str, Any]]:
        return [
            dict(row)
            for row in self._query(
                "SELECT step_index, t_s, description FROM plan_steps WHERE session_id = ?"
                " ORDER BY step_index",
                (session_id,),
            )
        ]

    def samples(self, session_id: str) -> list[dict[str, Any]]:
        return [
            dict(row)
            for row in self._query(
                "SELECT t_s, at, seq, state, mode, temperature_c, setpoint_c, power_mw,"
                " output_on, battery_pct, contact FROM samples WHERE session_id = ?"
                " ORDER BY t_s, seq",
                (session_id,),
            )
        ]

    def sample_stats(self, session_id: str) -> dict[str, Any]:
        row = self._query(
            "SELECT count(*) AS samples, max(t_s) AS last_sample_t_s FROM samples"
            " WHERE session_id = ?",
            (session_id,),
        )[0]
        return {"samples": row["samples"], "last_sample_t_s": row["last_sample_t_s"]}

    def usage(self, address: str, now: float, time_scale: float) -> Usage:
        """Light minutes today and the time since the last heat session, for one device."""
        today = datetime.fromtimestamp(now).date()
        day_start = datetime.combine(today, datetime.min.time()).timestamp()
        day_end = (datetime.combine(today, datetime.min.time()) + timedelta(days=1)).timestamp()
        row = self._query(
            "SELECT coalesce(sum(s.light_minutes), 0) AS light, max(s.heat_ended_at) AS heat"
            " FROM sessions s JOIN devices d ON d.id = s.device_id"
            " WHERE d.address = ? AND s.started_at >= ? AND s.started_at < ?",
            (address, day_start, day_end),
        )[0]
        heat_row = self._query(
            "SELECT max(s.heat_ended_at) AS heat FROM sessions s JOIN devices d"
            " ON d.id = s.device_id WHERE d.address = ?",
            (address,),
        )[0]
        heat_end = heat_row["heat"]
        return Usage(
            light_s_today=float(row["light"]) * 60,
            s_since_heat=None if heat_end is None else max(0.0, (now - heat_end) * time_scale),
        )


@contextlib.contextmanager
def reader(path: Path) -> Iterator[JournalReader]:
    journal = JournalReader(path)
    try:
        yield journal
    finally:
        journal.close()
