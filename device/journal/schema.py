"""The journal's file: its schema and forward migrations, opening it for writing or reading,
errors in plain words, and closing sessions a dead process left open.

WAL mode; ``PRAGMA user_version`` is the schema version; migrations run in order; a database
from a newer therapyctl is refused without being touched.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import sqlite3
from pathlib import Path

from protocols import TherapyctlError

logger = logging.getLogger(__name__)


BUSY_TIMEOUT_S = 2.0
INTERRUPTED = "interrupted"

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
    # 3: uses - what each step used, recorded before its START and advanced as it runs, so
    # the limits that depend on it (the rest after heat, cold every 2 h, light per 24 h)
    # survive a crash; earlier sessions' usage is carried over.
    """
    CREATE TABLE uses (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id),
        device_id INTEGER NOT NULL REFERENCES devices(id),
        mode TEXT NOT NULL,
        started_at REAL NOT NULL,
        last_on_at REAL NOT NULL,
        on_s REAL NOT NULL DEFAULT 0,
        time_scale REAL NOT NULL,
        lease_s REAL NOT NULL DEFAULT 10,
        ended INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX uses_device ON uses(device_id, last_on_at);
    INSERT INTO uses (session_id, device_id, mode, started_at, last_on_at, on_s, time_scale,
                      ended)
        SELECT id, device_id, 'light', started_at, coalesce(ended_at, started_at),
               light_minutes * 60, time_scale, 1
        FROM sessions WHERE light_minutes > 0;
    INSERT INTO uses (session_id, device_id, mode, started_at, last_on_at, on_s, time_scale,
                      ended)
        SELECT id, device_id, 'heat', started_at, heat_ended_at,
               coalesce(actual_minutes, 0) * 60, time_scale, 1
        FROM sessions WHERE heat_ended_at IS NOT NULL;
    INSERT INTO uses (session_id, device_id, mode, started_at, last_on_at, on_s, time_scale,
                      ended)
        SELECT id, device_id, 'cold', started_at, coalesce(ended_at, started_at),
               coalesce(actual_minutes, 0) * 60, time_scale, 1
        FROM sessions WHERE mode = 'cold' AND coalesce(actual_minutes, 0) > 0;
    """,
    # 4: a request that was refused (rest, daily limit, ...) and never turned output on is
    # a refusal on record, not a session: history shows it only when asked, totals skip it.
    """
    ALTER TABLE sessions ADD COLUMN refused INTEGER NOT NULL DEFAULT 0;
    UPDATE sessions SET refused = 1
        WHERE ended_at IS NOT NULL AND actual_minutes = 0
        AND NOT EXISTS (SELECT 1 FROM samples WHERE samples.session_id = sessions.id);
    """,
    # 5: body sites - the site of a session, the one a device is used on unless told
    # otherwise, and on every use (with its thermal dose and light energy, advanced as the
    # samples arrive) so the per-site limits survive a crash like the per-device ones.
    # Earlier sessions have no site; their uses get the session's dose and energy. No index
    # on the site: uses has a row per step (a scan is cheap), and every batch of samples
    # updates its use's last_on_at, which an index on it would rewrite too.
    """
    ALTER TABLE devices ADD COLUMN site TEXT;
    ALTER TABLE sessions ADD COLUMN site TEXT;
    ALTER TABLE uses ADD COLUMN site TEXT;
    ALTER TABLE uses ADD COLUMN cem43_min REAL NOT NULL DEFAULT 0;
    ALTER TABLE uses ADD COLUMN energy_j REAL NOT NULL DEFAULT 0;
    UPDATE uses SET cem43_min = coalesce(
        (SELECT cem43_minutes FROM sessions WHERE sessions.id = uses.session_id), 0)
        WHERE mode = 'heat';
    UPDATE uses SET energy_j = coalesce(
        (SELECT energy_j FROM sessions WHERE sessions.id = uses.session_id), 0)
        WHERE mode = 'light';
    """,
    # 6: therapy over days - episodes (a spasm on a site: when it began, its acute phase,
    # whether heat in that phase was warned about) and the pain diary (0-10 ratings, before
    # or after a session or at any time). The CHECKs keep a rating a rating whoever writes.
    """
    CREATE TABLE episodes (
        id INTEGER PRIMARY KEY,
        site TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'spasm',
        started_at REAL NOT NULL,
        ended_at REAL,
        acute_h REAL NOT NULL DEFAULT 72 CHECK (acute_h BETWEEN 48 AND 72),
        heat_warned_at REAL,
        note TEXT
    );
    CREATE INDEX episodes_site ON episodes(site, started_at);
    CREATE UNIQUE INDEX episodes_open ON episodes(site) WHERE ended_at IS NULL;
    CREATE TABLE pain (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        rating INTEGER NOT NULL CHECK (rating BETWEEN 0 AND 10),
        site TEXT,
        session_id TEXT REFERENCES sessions(id),
        moment TEXT NOT NULL DEFAULT 'any' CHECK (moment IN ('before', 'after', 'any')),
        note TEXT
    );
    CREATE INDEX pain_at ON pain(at);
    -- A light device's emitting area (cm², from its Feature; NULL: unknown), on the
    -- session and copied onto each of its uses, so light energy gives J/cm² per use, per
    -- site and per day. No area is guessed for earlier sessions: their J/cm² is unknown.
    ALTER TABLE sessions ADD COLUMN emitting_area_cm2 REAL;
    ALTER TABLE uses ADD COLUMN emitting_area_cm2 REAL;
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


def iso(at: float) -> str:
    """A wall time as local time with its offset, to the second."""
    from datetime import datetime

    try:
        return datetime.fromtimestamp(at).astimezone().isoformat(timespec="seconds")
    except (ValueError, OverflowError, OSError, TypeError):
        return "unknown"  # a damaged time: shown as such, never a traceback


def default_path() -> Path:
    """The journal in the user's data directory (platformdirs)."""
    from platformdirs import user_data_path

    return user_data_path("therapyctl", appauthor=False) / "journal.sqlite3"


def translate_error(path: str, exc: sqlite3.Error) -> JournalError:
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
    if "disk is full" in text or "disk I/O error" in text:
        return JournalError(
            path,
            "it cannot be written: the disk is full or failing (free some space, or give"
            " another --db)",
        )
    return JournalError(path, text)


def connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if path.is_dir():  # sqlite3 would only say "disk I/O error"
        raise JournalError(
            str(path), f"it is a directory: give --db a file (e.g. {path / 'journal.sqlite3'})"
        )
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
    conn: sqlite3.Connection | None = None
    try:
        conn = connect(path, readonly=False)
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
    except (sqlite3.Error, JournalError) as exc:
        if conn is not None:
            conn.close()  # a failed open leaves no file handle behind
        if isinstance(exc, JournalError):
            raise
        raise translate_error(name, exc) from exc


def read_connection(path: Path) -> sqlite3.Connection:
    """A read-only connection; the journal must exist and be a journal we understand."""
    name = str(path)
    if not path.exists():
        raise JournalError(name, "there is no journal here yet (run a session first, or give --db)")
    conn: sqlite3.Connection | None = None
    try:
        conn = connect(path, readonly=True)
        _check_version(path, conn)
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sessions'").fetchone():
            raise JournalError(name, "it has no sessions table: not a therapyctl journal")
        return conn
    except (sqlite3.Error, JournalError) as exc:
        if conn is not None:
            conn.close()  # a refused journal leaves no file handle behind
        if isinstance(exc, JournalError):
            raise
        raise translate_error(name, exc) from exc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def close_interrupted(conn: sqlite3.Connection) -> int:
    """Close sessions whose process is gone as ``interrupted``; their samples are kept.

    What they used is credited from their samples (the uses were advanced as the samples
    were written), plus one lease: the device may have kept its output on that long after
    the controller died.
    """
    host = socket.gethostname()
    rows = conn.execute(
        "SELECT id, pid, host, started_at, time_scale FROM sessions WHERE ended_at IS NULL"
    ).fetchall()
    closed = 0
    for row in rows:
        if row["host"] == host and _pid_alive(row["pid"]):
            continue  # still running, here or in another process on this host
        if row["host"] != host:
            continue  # cannot tell for another host: leave it
        limits = _session_limits(conn, row["id"])
        low, high = limits.get("sensor_min_c", -10.0), limits.get("sensor_max_c", 70.0)
        last = conn.execute(
            "SELECT max(at) AS at FROM samples WHERE session_id = ?", (row["id"],)
        ).fetchone()
        peaks = conn.execute(
            "SELECT max(temperature_c) AS tmax, min(temperature_c) AS tmin FROM samples"
            " WHERE session_id = ? AND temperature_c BETWEEN ? AND ?",
            (row["id"], low, high),
        ).fetchone()
        scale = row["time_scale"] if row["time_scale"] and row["time_scale"] > 0 else 1.0
        with conn:
            conn.execute(
                "UPDATE uses SET on_s = on_s + lease_s, last_on_at = last_on_at + lease_s / ?,"
                " ended = 1 WHERE session_id = ? AND ended = 0 AND (on_s > 0 OR mode = 'cold')",
                (scale, row["id"]),
            )
            used = conn.execute(
                "SELECT coalesce(sum(on_s), 0) AS on_s,"
                " coalesce(sum(CASE WHEN mode = 'light' THEN on_s END), 0) AS light_s,"
                " max(CASE WHEN mode = 'heat' THEN last_on_at END) AS heat_at"
                " FROM uses WHERE session_id = ?",
                (row["id"],),
            ).fetchone()
            conn.execute(
                "UPDATE sessions SET ended_at = ?, end_reason = ?, end_detail = ?,"
                " max_temperature_c = coalesce(max_temperature_c, ?),"
                " min_temperature_c = coalesce(min_temperature_c, ?),"
                " actual_minutes = coalesce(actual_minutes, ?),"
                " light_minutes = max(light_minutes, ?),"
                " heat_ended_at = coalesce(?, heat_ended_at) WHERE id = ?",
                (
                    last["at"] or row["started_at"],
                    INTERRUPTED,
                    "the controller stopped without closing the session (crash or kill);"
                    " closed at the next start, credited with the output-on time its samples"
                    " show plus one lease",
                    peaks["tmax"],
                    peaks["tmin"],
                    used["on_s"] / 60,
                    used["light_s"] / 60,
                    used["heat_at"],
                    row["id"],
                ),
            )
        closed += 1
    return closed


def _session_limits(conn: sqlite3.Connection, session_id: str) -> dict[str, float]:
    """The limits a session ran under (numbers only; a damaged row gives none)."""
    row = conn.execute(
        "SELECT limits_json FROM session_limits WHERE session_id = ?", (session_id,)
    ).fetchone()
    try:
        data = json.loads(row["limits_json"]) if row else {}
    except (ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        key: float(value)
        for key, value in data.items()
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) < 1e12
    }
