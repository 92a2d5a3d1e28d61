"""Body sites in the journal: schema 5 (migrated from 4 by a writer, never by a reader), the
site of a session and of its uses, a device's remembered site, and the per-site usage every
device on a site adds to (advanced by samples, so a kill cannot reset it)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from device.journal import MIGRATIONS, SCHEMA_VERSION, JournalReader, JournalWriter
from device.safety import SiteError, cem43_minutes
from protocols import Mode
from tests.device.helpers import status

PAD = "C0:11:22:33:44:55"
BELT = "C0:66:77:88:99:AA"


def identity(address: str, kind: str) -> dict[str, str]:
    return {
        "kind": kind,
        "name": kind,
        "address": address,
        "model": kind,
        "firmware": "sim-1.0.0",
        "serial": "SIM-1",
    }


def begin(
    writer: JournalWriter,
    session_id: str,
    address: str,
    mode: str,
    site: str | None,
    area_cm2: float | None = None,
) -> None:
    kind = "light-belt-800" if mode == "light" else "thermal-pad"
    writer.begin(
        session_id,
        identity(address, kind),
        mode=mode,
        plan=None,
        requested_minutes=10,
        time_scale=1.0,
        limits={},
        site=site,
        emitting_area_cm2=area_cm2,
    )


def used(
    writer: JournalWriter, session_id: str, address: str, mode: Mode, site: str | None, on_s: float
) -> None:
    """A whole session that used ``on_s`` seconds of ``mode`` on ``site``."""
    begin(writer, session_id, address, mode.name.lower(), site)
    writer.use_begins(session_id, mode)
    writer.use_ends(session_id, on_s)
    writer.end(session_id, end_reason="completed", actual_minutes=on_s / 60)


def test_a_version_4_journal_is_read_as_is_then_migrated_to_5_keeping_its_uses(
    tmp_path: Path,
) -> None:
    """A reader of a schema-4 journal sees sessions without a site and no site usage, and
    leaves the file alone; a writer migrates it to 5, keeping sessions and uses (their
    thermal dose and light energy carried over from the session)."""
    path = tmp_path / "j.db"
    conn = sqlite3.connect(path)
    for number, migration in enumerate(MIGRATIONS[:4], start=1):
        conn.executescript(migration + f"PRAGMA user_version = {number};")
    conn.execute(
        "INSERT INTO devices (address, name, kind, model, firmware, serial, first_seen,"
        " last_seen) VALUES (?, 'pad', 'thermal-pad', 'thermal-pad', 'sim-1.0.0', '', 10, 20)",
        (PAD,),
    )
    now = time.time()
    conn.execute(
        "INSERT INTO sessions (id, device_id, mode, started_at, ended_at, time_scale,"
        " requested_minutes, actual_minutes, cem43_minutes, end_reason, host, pid)"
        " VALUES ('old', 1, 'heat', ?, ?, 1.0, 10, 10, 2.5, 'completed', 'elsewhere', 1)",
        (now - 700, now - 100),
    )
    conn.execute(
        "INSERT INTO uses (session_id, device_id, mode, started_at, last_on_at, on_s,"
        " time_scale, ended) VALUES ('old', 1, 'heat', ?, ?, 600, 1.0, 1)",
        (now - 700, now - 100),
    )
    conn.commit()
    conn.close()
    before = path.read_bytes()

    with JournalReader(path) as reader:
        [row] = reader.sessions()
        assert row.site is None and row.as_json()["site"] is None
        assert reader.dose(now) == []
        assert reader.device_site(PAD) is None
        usage = reader.usage(PAD, now, 1.0, "lower-back")
        assert usage.site_heat_sessions_24h == 0 and usage.s_since_heat is not None
    assert path.read_bytes() == before  # readers never migrate

    JournalWriter(path).close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
        use = conn.execute("SELECT site, on_s, cem43_min, energy_j FROM uses").fetchone()
        assert use == (None, 600.0, 2.5, 0.0)
        assert conn.execute("SELECT site FROM sessions").fetchone() == (None,)
        assert conn.execute("SELECT site FROM devices").fetchone() == (None,)
    finally:
        conn.close()
    with JournalReader(path) as reader:
        assert [s.session_id for s in reader.sessions()] == ["old"]


def test_two_devices_on_one_site_add_up_and_other_sites_do_not(tmp_path: Path) -> None:
    """A belt and a pad on lower-back count together on that site (whichever device asks);
    the same pad's session on neck counts only there; a session without a site on none."""
    path = tmp_path / "j.db"
    writer = JournalWriter(path)
    used(writer, "b1", BELT, Mode.LIGHT, "lower-back", 600.0)
    used(writer, "p1", PAD, Mode.HEAT, "lower-back", 900.0)
    used(writer, "p2", PAD, Mode.HEAT, "lower-back", 300.0)
    used(writer, "p3", PAD, Mode.COLD, "lower-back", 600.0)
    used(writer, "p4", PAD, Mode.HEAT, "neck", 600.0)
    used(writer, "p5", PAD, Mode.HEAT, None, 600.0)
    writer.close()
    now = time.time() + 60
    with JournalReader(path) as reader:
        for asking in (PAD, BELT):
            back = reader.usage(asking, now, 1.0, "lower-back")
            assert back.site == "lower-back"
            assert back.site_heat_sessions_24h == 2
            assert back.site_light_s_24h == pytest.approx(600.0)
            assert back.s_since_site_cold_start is not None
            assert 55 < back.s_since_site_cold_start < 70
        neck = reader.usage(BELT, now, 1.0, "neck")
        assert (neck.site_heat_sessions_24h, neck.site_light_s_24h) == (1, 0.0)
        assert neck.s_since_site_cold_start is None
        assert reader.usage(BELT, now, 1.0).site is None  # no site asked: no site usage
        dose = {row["site"]: row for row in reader.dose(now)}
        assert set(dose) == {"lower-back", "neck"}
        assert dose["lower-back"]["heat_s"] == pytest.approx(1200.0)
        assert dose["lower-back"]["cold_s"] == pytest.approx(600.0)
        assert [r.site for r in reader.sessions()] == [
            None,
            "neck",
            "lower-back",
            "lower-back",
            "lower-back",
            "lower-back",
        ]


def test_site_use_older_than_24_hours_no_longer_counts(tmp_path: Path) -> None:
    """The site's day is a rolling 24 hours: a heat session 25 h ago is not counted, one
    23 h ago is; a cold start 25 h ago still says when cold last started."""
    path = tmp_path / "j.db"
    writer = JournalWriter(path)
    used(writer, "old", PAD, Mode.HEAT, "neck", 600.0)
    used(writer, "recent", PAD, Mode.HEAT, "neck", 600.0)
    writer.close()
    now = time.time()
    with sqlite3.connect(path) as conn:
        for session_id, hours in (("old", 25), ("recent", 23)):
            at = now - hours * 3600
            conn.execute(
                "UPDATE uses SET started_at = ?, last_on_at = ? WHERE session_id = ?",
                (at, at + 600, session_id),
            )
    with JournalReader(path) as reader:
        assert reader.usage(PAD, now, 1.0, "neck").site_heat_sessions_24h == 1


def test_site_dose_is_advanced_by_samples_so_a_kill_cannot_reset_it(tmp_path: Path) -> None:
    """Heat samples advance the use's on-time and CEM43 and light samples its energy as they
    are written: a process killed mid-session leaves them on record, per site."""
    path = tmp_path / "j.db"
    writer = JournalWriter(path)
    begin(writer, "h1", PAD, "heat", "lower-back")
    writer.use_begins("h1", Mode.HEAT)
    begin(writer, "l1", BELT, "light", "lower-back")
    writer.use_begins("l1", Mode.LIGHT)
    for second in range(301):
        writer.sample("h1", float(second), status(seq=second + 1, temperature_c=42.0))
        writer.sample("l1", float(second), status(mode=Mode.LIGHT, seq=second + 1, power_mw=800))
    writer.close()  # no use_ends and no end: as if killed
    with JournalReader(path) as reader:
        [row] = reader.dose(time.time())
    assert row["heat_s"] == pytest.approx(300.0)
    assert row["heat_cem43_min"] == pytest.approx(cem43_minutes(42.0, 300.0))
    assert row["light_s"] == pytest.approx(300.0)
    assert row["light_j"] == pytest.approx(0.8 * 300.0)
    assert row["heat_sessions"] == 1  # still open: it counts


def test_a_device_remembers_its_site_normalised(tmp_path: Path) -> None:
    """set_site stores the normalised name for a known device; None clears it; a name that
    is not a site is refused at the call, writing nothing."""
    path = tmp_path / "j.db"
    writer = JournalWriter(path)
    try:
        writer.remember_device(PAD, "pad", "thermal-pad", 1.0)
        writer.set_site(PAD, "  Lower Back ")
        asyncio.run(writer.barrier())
        with JournalReader(path) as reader:
            assert reader.device_site(PAD) == "lower-back"
        with pytest.raises(SiteError, match="at most 40 characters"):
            writer.set_site(PAD, "x" * 41)
        asyncio.run(writer.barrier())
        with JournalReader(path) as reader:
            assert reader.device_site(PAD) == "lower-back"
        writer.set_site(PAD, None)
        asyncio.run(writer.barrier())
        with JournalReader(path) as reader:
            assert reader.device_site(PAD) is None
            assert reader.device_site(BELT) is None  # unknown device
    finally:
        writer.close()
