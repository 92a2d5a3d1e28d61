"""Known devices in the journal: remembered with an alias, read back, migrated from schema 1."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from device.journal import (
    MIGRATIONS,
    SCHEMA_VERSION,
    JournalError,
    JournalReader,
    JournalWriter,
    KnownDevice,
)

PAD = "C0:11:22:33:44:55"
LAMP = "C0:66:77:88:99:AA"
IDENTITY = {
    "kind": "heat-pad",
    "name": "pad",
    "address": PAD,
    "model": "heat-pad",
    "firmware": "sim-1.0.0",
    "serial": "SIM-1",
}


def known(path: Path) -> list[KnownDevice]:
    with JournalReader(path) as journal:
        return journal.known_devices()


def write(path: Path, *steps: tuple[str, tuple[object, ...]]) -> None:
    """Run writer calls in order, wait until they are committed, close the writer."""
    writer = JournalWriter(path)
    try:
        for method, args in steps:
            getattr(writer, method)(*args)
        asyncio.run(writer.barrier())
        assert writer.errors == []
    finally:
        writer.close()


def test_a_remembered_device_is_read_back(tmp_path: Path) -> None:
    """remember_device stores address, name and kind, first and last seen at the given time."""
    path = tmp_path / "j.db"
    write(path, ("remember_device", (PAD, "pad", "heat-pad", 100.0)))
    [device] = known(path)
    assert device == KnownDevice(PAD, "pad", "heat-pad", None, 100.0, 100.0)
    assert device.label == "pad"


def test_remembering_again_keeps_alias_and_first_seen(tmp_path: Path) -> None:
    """A second remember updates name, kind and last seen; alias and first seen stay."""
    path = tmp_path / "j.db"
    write(
        path,
        ("remember_device", (PAD, "pad", "heat-pad", 100.0)),
        ("set_alias", (PAD, "Knee pad")),
        ("remember_device", (PAD, "pad-2", "heat-pad-v2", 250.0)),
    )
    assert known(path) == [KnownDevice(PAD, "pad-2", "heat-pad-v2", "Knee pad", 100.0, 250.0)]


def test_known_devices_are_listed_most_recently_seen_first(tmp_path: Path) -> None:
    """known_devices orders by last seen, newest first."""
    path = tmp_path / "j.db"
    write(
        path,
        ("remember_device", (PAD, "pad", "heat-pad", 100.0)),
        ("remember_device", (LAMP, "lamp", "light-panel", 200.0)),
    )
    assert [d.address for d in known(path)] == [LAMP, PAD]
    write(path, ("remember_device", (PAD, "pad", "heat-pad", 300.0)))
    assert [d.address for d in known(path)] == [PAD, LAMP]


def test_an_alias_is_stripped_and_labels_the_device(tmp_path: Path) -> None:
    """set_alias strips whitespace; the label is the alias, 40 characters are allowed."""
    path = tmp_path / "j.db"
    write(
        path,
        ("remember_device", (PAD, "pad", "heat-pad", 100.0)),
        ("set_alias", (PAD, "  Knee pad \n")),
    )
    [device] = known(path)
    assert (device.alias, device.label) == ("Knee pad", "Knee pad")
    write(path, ("set_alias", (PAD, "x" * 40)))
    assert known(path)[0].alias == "x" * 40


@pytest.mark.parametrize("cleared", [None, "", "   \t "])
def test_an_empty_alias_clears_it(tmp_path: Path, cleared: str | None) -> None:
    """None, empty or whitespace clears the alias to NULL; the label falls back to the name."""
    path = tmp_path / "j.db"
    write(
        path,
        ("remember_device", (PAD, "pad", "heat-pad", 100.0)),
        ("set_alias", (PAD, "Knee pad")),
        ("set_alias", (PAD, cleared)),
    )
    [device] = known(path)
    assert (device.alias, device.label) == (None, "pad")


@pytest.mark.parametrize(
    ("alias", "message"),
    [
        ("x" * 41, "at most 40 characters"),
        ("knee\tpad", "control characters"),
        ("knee\x1b[31mpad", "control characters"),
        ("knee\x85pad", "control characters"),
    ],
)
def test_a_bad_alias_is_refused_and_nothing_is_written(
    tmp_path: Path, alias: str, message: str
) -> None:
    """Too long or with control characters: JournalError at the call; the old alias stays."""
    path = tmp_path / "j.db"
    write(
        path,
        ("remember_device", (PAD, "pad", "heat-pad", 100.0)),
        ("set_alias", (PAD, "Knee pad")),
    )
    writer = JournalWriter(path)
    try:
        with pytest.raises(JournalError, match=message) as caught:
            writer.set_alias(PAD, alias)
        assert caught.value.path == str(path)
        asyncio.run(writer.barrier())
    finally:
        writer.close()
    assert known(path)[0].alias == "Knee pad"


def test_an_alias_for_an_unknown_address_adds_no_device(tmp_path: Path) -> None:
    """set_alias on an address never remembered writes nothing and reports no error."""
    path = tmp_path / "j.db"
    write(path, ("set_alias", (PAD, "Knee pad")))
    assert known(path) == []


def test_a_session_makes_its_device_known_and_keeps_its_alias(tmp_path: Path) -> None:
    """A session's device is known; a later session refreshes it without losing the alias."""
    path = tmp_path / "j.db"
    limits = {"heat_ceiling_c": 43.0}
    writer = JournalWriter(path)
    try:
        for session_id in ("s1", "s2"):
            writer.begin(
                session_id,
                IDENTITY,
                mode="heat",
                plan=None,
                requested_minutes=10,
                time_scale=1.0,
                limits=limits,
            )
            writer.end(session_id, end_reason="completed")
            if session_id == "s1":
                writer.set_alias(PAD, "Knee pad")
        asyncio.run(writer.barrier())
        assert writer.errors == []
    finally:
        writer.close()
    [device] = known(path)
    assert (device.address, device.name, device.alias) == (PAD, "pad", "Knee pad")
    assert device.first_seen <= device.last_seen


def test_a_version_1_journal_is_read_then_migrated_keeping_sessions(tmp_path: Path) -> None:
    """Read-only on schema 1: devices without aliases, file untouched; a writer migrates it."""
    path = tmp_path / "j.db"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute(
        "INSERT INTO devices (address, name, kind, model, firmware, serial, first_seen,"
        " last_seen) VALUES (?, 'pad', 'heat-pad', 'heat-pad', 'sim-1.0.0', '', 10, 20)",
        (PAD,),
    )
    conn.execute(
        "INSERT INTO sessions (id, device_id, started_at, ended_at, time_scale,"
        " requested_minutes, end_reason, host, pid) VALUES"
        " ('old', 1, 10, 20, 1.0, 10, 'completed', 'elsewhere', 1)"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    before = path.read_bytes()

    assert known(path) == [KnownDevice(PAD, "pad", "heat-pad", None, 10.0, 20.0)]
    assert path.read_bytes() == before  # readers never migrate

    write(path, ("set_alias", (PAD, "Knee pad")))
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
    finally:
        conn.close()
    with JournalReader(path) as journal:
        assert [s.session_id for s in journal.sessions()] == ["old"]
        assert journal.known_devices() == [
            KnownDevice(PAD, "pad", "heat-pad", "Knee pad", 10.0, 20.0)
        ]
