"""The journal: schema and migrations, the writer thread, crash recovery, usage."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from device.journal import SCHEMA_VERSION, JournalError, JournalReader, JournalWriter
from device.journal import schema as journal_schema
from device.journal import writer as journal_writer
from device.journal.schema import open_for_writing
from protocols import Mode
from tests.device.helpers import status

IDENTITY = {
    "kind": "heat-pad",
    "name": "pad",
    "address": "C0:11:22:33:44:55",
    "model": "heat-pad",
    "firmware": "sim-1.0.0",
    "serial": "SIM-1",
}


def begin(writer: JournalWriter, session_id: str, mode: str = "heat") -> None:
    writer.begin(
        session_id,
        IDENTITY,
        mode=mode,
        plan=None,
        requested_minutes=10,
        time_scale=1.0,
        limits={"heat_ceiling_c": 43.0},
    )


def wait_until(predicate, timeout_s: float = 3.0) -> float:
    """Poll a condition against the database; returns the seconds it took."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout_s:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)
    return time.monotonic() - started


def count(path: Path, sql: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def test_a_new_journal_has_the_schema_in_wal_mode(tmp_path: Path) -> None:
    """Created with the current schema version and WAL journaling."""
    conn = open_for_writing(tmp_path / "j.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"devices", "sessions", "plan_steps", "samples", "events", "clamps"} <= tables


def test_a_newer_journal_is_refused_and_left_untouched(tmp_path: Path) -> None:
    """A file from a future schema: refused, its bytes unchanged."""
    path = tmp_path / "j.db"
    open_for_writing(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(JournalError, match="newer therapyctl"):
        open_for_writing(path)
    with pytest.raises(JournalError, match="newer therapyctl"):
        JournalReader(path)
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists()


def test_forward_migrations_upgrade_an_old_journal_keeping_its_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A version-1 journal opened by a version-2 program gains the new column, keeps rows."""
    path = tmp_path / "j.db"
    writer = JournalWriter(path)
    begin(writer, "old")
    writer.end("old", end_reason="completed")
    writer.close()
    migrations = (*journal_schema.MIGRATIONS, "ALTER TABLE sessions ADD COLUMN note TEXT;")
    monkeypatch.setattr(journal_schema, "MIGRATIONS", migrations)
    monkeypatch.setattr(journal_schema, "SCHEMA_VERSION", len(migrations))
    conn = journal_schema.open_for_writing(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(migrations)
    assert [tuple(r) for r in conn.execute("SELECT id, note FROM sessions")] == [("old", None)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is not a database at all, just text" * 50, "not a therapyctl journal"),
        (None, "not a therapyctl journal"),  # an SQLite file of something else
    ],
)
def test_corrupt_or_foreign_files_are_refused(tmp_path: Path, content, message) -> None:
    """Garbage, or someone else's SQLite file: a clear JournalError, nothing written."""
    path = tmp_path / "j.db"
    if content is None:
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE recipes (name TEXT)")
        conn.close()
    else:
        path.write_bytes(content)
    before = path.read_bytes()
    with pytest.raises(JournalError, match=message):
        JournalWriter(path)
    with pytest.raises(JournalError):
        JournalReader(path)
    assert path.read_bytes() == before


def test_missing_journal_for_reading_says_so(tmp_path: Path) -> None:
    """Reading a journal that does not exist: one plain sentence."""
    with pytest.raises(JournalError, match="no journal here yet"):
        JournalReader(tmp_path / "nope.db")


def test_events_commit_at_once_and_samples_within_a_second(tmp_path: Path) -> None:
    """A safety event is readable right away; samples arrive in batches of at most 1 s."""
    path = tmp_path / "j.db"
    writer = JournalWriter(path)
    begin(writer, "s1")
    for i in range(5):
        writer.sample("s1", float(i), status(seq=i + 1))
    writer.event("s1", 4.0, "safety_stop", "over_temperature: hot")
    took = wait_until(lambda: count(path, "SELECT count(*) FROM events") == 1)
    assert took < 0.5
    assert count(path, "SELECT count(*) FROM samples") == 5  # flushed before the event
    writer.sample("s1", 5.0, status(seq=6))
    took = wait_until(lambda: count(path, "SELECT count(*) FROM samples") == 6)
    assert took <= journal_writer.BATCH_MAX_AGE_S + 0.3
    writer.close()
    assert writer.errors == []


def test_an_unfinished_session_of_a_dead_process_is_closed_as_interrupted(tmp_path: Path) -> None:
    """A session left open by a killed process: closed as interrupted, samples kept."""
    path = tmp_path / "j.db"
    writer = JournalWriter(path)
    begin(writer, "crashed")
    for i in range(10):
        writer.sample("crashed", float(i * 6), status(seq=i + 1, temperature_c=35 + i / 10))
    writer.close()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE sessions SET pid = ?", (int(dead.stdout),))
    conn.close()
    again = JournalWriter(path)
    assert again.closed_interrupted == 1
    again.close()
    with JournalReader(path) as reader:
        row = reader.session("crashed")
        assert row.end_reason == "interrupted" and row.ended_at is not None
        assert row.max_temperature_c == pytest.approx(35.9)
        assert reader.sample_stats("crashed") == {"samples": 10, "last_sample_t_s": 54.0}


def test_a_session_still_running_in_another_live_process_is_left_alone(tmp_path: Path) -> None:
    """Unfinished, but its process is alive: not closed."""
    path = tmp_path / "j.db"
    writer = JournalWriter(path)
    begin(writer, "live")
    writer.close()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        conn = sqlite3.connect(path)
        with conn:
            conn.execute("UPDATE sessions SET pid = ?", (sleeper.pid,))
        conn.close()
        again = JournalWriter(path)
        assert again.closed_interrupted == 0
        again.close()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_usage_reads_light_in_24_hours_the_last_heat_and_the_last_cold_start(
    tmp_path: Path,
) -> None:
    """Light on-time adds up per device; the rest since heat and since a cold start scale
    with the time scale."""
    path = tmp_path / "j.db"
    writer = JournalWriter(path)
    begin(writer, "l1", "light")
    writer.use_begins("l1", Mode.LIGHT)
    writer.use_ends("l1", 750.0)
    begin(writer, "h1", "heat")
    writer.use_begins("h1", Mode.HEAT)
    writer.use_ends("h1", 60.0)
    begin(writer, "c1", "cold")
    writer.use_begins("c1", Mode.COLD)
    writer.use_ends("c1", 600.0)
    writer.close()
    with JournalReader(path) as reader:
        now = time.time()
        usage = reader.usage(IDENTITY["address"], now + 30, time_scale=10.0)
        assert usage.light_s_24h == pytest.approx(750)
        assert usage.s_since_heat is not None and 290 < usage.s_since_heat < 320
        assert usage.s_since_cold_start is not None and 290 < usage.s_since_cold_start < 320
        other = reader.usage("C0:00:00:00:00:01", now, 1.0)
        assert (other.light_s_24h, other.s_since_heat, other.s_since_cold_start) == (
            0.0,
            None,
            None,
        )


def test_the_day_is_a_rolling_24_hours_whatever_the_time_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Light used 23 h ago still counts, 25 h ago not; changing TZ changes nothing (issue:
    changing TZ moved "today")."""
    path = tmp_path / "j.db"
    writer = JournalWriter(path)
    for session_id in ("old", "recent"):
        begin(writer, session_id, "light")
        writer.use_begins(session_id, Mode.LIGHT)
        writer.use_ends(session_id, 600.0)
    writer.close()
    now = time.time()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE uses SET last_on_at = ? WHERE session_id = 'old'", (now - 25 * 3600,))
        conn.execute(
            "UPDATE uses SET last_on_at = ? WHERE session_id = 'recent'", (now - 23 * 3600,)
        )
    seen = []
    for zone in ("UTC", "Pacific/Kiritimati", "America/Adak"):
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        with JournalReader(path) as reader:
            seen.append(reader.usage(IDENTITY["address"], now, 1.0).light_s_24h)
    monkeypatch.delenv("TZ")
    time.tzset()
    assert seen == [600.0, 600.0, 600.0]


def test_a_use_is_advanced_by_its_samples_so_a_kill_cannot_reset_it(tmp_path: Path) -> None:
    """Samples with output on advance the step's use as they are written, before the step
    ends: a process killed at 5 minutes has 5 minutes (plus one lease) on record."""
    path = tmp_path / "j.db"
    writer = JournalWriter(path)
    begin(writer, "k1", "light")
    writer.use_begins("k1", Mode.LIGHT)
    for second in range(301):
        writer.sample("k1", float(second), status(mode=Mode.LIGHT, seq=second + 1, power_mw=800))
    writer.close()  # no use_ends and no end: as if killed
    with JournalReader(path) as reader:
        assert reader.usage(IDENTITY["address"], time.time(), 1.0).light_s_24h == pytest.approx(
            300.0
        )
    with sqlite3.connect(path) as conn:  # the "dead" process: another pid, gone
        conn.execute("UPDATE sessions SET pid = 999999999")
    JournalWriter(path).close()  # the next start closes it as interrupted
    with JournalReader(path) as reader:
        row = reader.session("k1")
        assert row.end_reason == "interrupted"
        usage = reader.usage(IDENTITY["address"], time.time(), 1.0)
        assert usage.light_s_24h == pytest.approx(300.0 + 10.0)  # one lease more
        assert row.actual_minutes == pytest.approx(310 / 60)


def test_readers_are_refused_when_the_journal_is_locked(tmp_path: Path) -> None:
    """Another process holding an exclusive lock: 'locked', not a traceback or a hang."""
    path = tmp_path / "j.db"
    writer = JournalWriter(path)
    begin(writer, "s")
    writer.close()
    holder = sqlite3.connect(path, timeout=0)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(JournalError, match="locked by another process"):
            JournalWriter(path)
        assert time.monotonic() - started < journal_schema.BUSY_TIMEOUT_S * 3
    finally:
        holder.rollback()
        holder.close()
    assert os.path.exists(path)
