"""A journal edited by hand or damaged: text where a time is, 1e308 where a dose is, NaN (read
back as NULL), a negative energy. Every command that reads it answers in words or shows the
value as unknown — never a traceback, never JSON that is not JSON — and a damaged dose uses
the site's limit up instead of freeing it."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from device.journal import JournalReader, JournalWriter, record_pain, start_episode
from protocols import Mode
from tests.device.journal.test_sites import BELT, PAD, used
from ui.cli import cli


def strict_json(text: str) -> object:
    """JSON as the standard says it: no NaN, no Infinity."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    path = tmp_path / "journal.sqlite3"
    writer = JournalWriter(path)
    try:
        used(writer, "heat-1", PAD, Mode.HEAT, "lower-back", 600)
        used(writer, "light-1", BELT, Mode.LIGHT, "lower-back", 300)
        used(writer, "heat-2", PAD, Mode.HEAT, "neck", 600)
    finally:
        writer.close()
    start_episode(path, "lower-back", at=time.time() - 10 * 3600)
    start_episode(path, "neck", at=time.time() - 10 * 3600)
    start_episode(path, "knee-left", at=time.time() - 10 * 3600)
    record_pain(path, 6, site="lower-back", session_id="heat-1", moment="before")
    record_pain(path, 7)
    record_pain(path, 8)
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.execute("PRAGMA ignore_check_constraints = ON")
            conn.execute("UPDATE episodes SET started_at = 'abc' WHERE site = 'neck'")
            conn.execute("UPDATE episodes SET acute_h = 1e308 WHERE site = 'knee-left'")
            conn.execute("UPDATE pain SET rating = 'abc' WHERE rating = 7")
            conn.execute("UPDATE pain SET at = 1e308 WHERE rating = 8")
            conn.execute("UPDATE sessions SET started_at = 'yesterday' WHERE id = 'heat-2'")
            conn.execute("UPDATE sessions SET cem43_minutes = 1e308 WHERE id = 'heat-1'")
            conn.execute("UPDATE sessions SET energy_j = -5, ended_at = 'x' WHERE id = 'light-1'")
            conn.execute("UPDATE uses SET cem43_min = 1e308 WHERE session_id = 'heat-1'")
            conn.execute("UPDATE uses SET energy_j = 'lots' WHERE session_id = 'light-1'")
            conn.execute("UPDATE uses SET on_s = 'abc' WHERE session_id = 'heat-2'")
    finally:
        conn.close()
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["history"],
        ["history", "--all"],
        ["show", "heat-1", "--json"],
        ["dose"],
        ["dose", "--json"],
        ["dose", "--days", "3", "--json"],
        ["pain", "--json"],
        ["next", "--json"],
        ["episode", "--json"],
        ["report", "--json"],
        ["export", "--all", "--format", "json"],
        ["export", "--all", "--format", "csv"],
        ["export", "--format", "fhir"],
    ],
)
def test_every_reading_command_answers_without_a_traceback(damaged: Path, args: list[str]) -> None:
    result = CliRunner().invoke(cli, [*args, "--db", str(damaged)], prog_name="therapyctl")
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        result.output,
        result.exception,
    )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    if "--json" in args or "json" in args or "fhir" in args:
        strict_json(result.stdout)


def test_a_damaged_site_dose_uses_the_limit_up_and_shows_as_unknown(damaged: Path) -> None:
    with JournalReader(damaged) as reader:
        usage = reader.site_usage("lower-back", time.time(), 1.0)
    assert usage["heat_cem43_min"] == float("inf")  # fails closed: no more heat here today
    result = CliRunner().invoke(
        cli, ["dose", "--site", "lower-back", "--json", "--db", str(damaged)]
    )
    [site] = strict_json(result.stdout)["sites"]  # type: ignore[index]
    assert site["heat"]["cem43_min"] is None and site["heat"]["cem43_min_left"] == 0
    text = CliRunner().invoke(cli, ["dose", "--site", "lower-back", "--db", str(damaged)]).output
    assert "CEM43 ? of 60" in text and "0.00 CEM43 min left" in text


def test_a_session_whose_start_is_not_a_time_is_left_out_and_said_damaged(damaged: Path) -> None:
    with JournalReader(damaged) as reader:
        assert {row.session_id for row in reader.sessions()} == {"heat-1", "light-1"}
        light = reader.session("light-1")
        assert light.ended_at is None and light.energy_j == -5  # shown as given, not crashed on
    result = CliRunner().invoke(cli, ["show", "heat-2", "--db", str(damaged)])
    assert result.exit_code == 1 and "damaged (its start is not a time)" in result.output


def test_run_on_a_site_whose_episode_is_damaged_still_runs(damaged: Path) -> None:
    """The acute-phase reminder reads the episode; a damaged one is no reminder, and the
    session runs (a reminder never stops a session)."""
    result = CliRunner().invoke(
        cli,
        [
            *("run", "--sim", "heat-pad", "--mode", "heat", "--minutes", "1"),
            *("--time-scale", "120", "--site", "neck", "--attended-ack", "auto"),
            *("--json", "--db", str(damaged)),
        ],
    )
    assert result.exit_code == 0, result.output
    assert strict_json(result.stdout)["end_reason"] == "completed"  # type: ignore[index]


def test_history_says_how_many_damaged_rows_it_leaves_out(damaged: Path) -> None:
    result = CliRunner().invoke(cli, ["history", "--db", str(damaged)])
    assert result.exit_code == 0
    assert "1 session row(s)" in result.stderr and "damaged" in result.stderr
    assert "heat-1" in result.stdout and "heat-2" not in result.stdout
