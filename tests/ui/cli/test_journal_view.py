"""Reading the journal as a person (issue #12): ``history`` on a new machine (finding 12);
``show``'s limits in a person's terms, one time format in ``history`` and ``show``, and
session ids by a unique start or ``last`` (finding 14)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from device.journal import JournalWriter
from device.safety import DEFAULT_LIMITS
from ui.cli import cli

IDENTITY = {
    "kind": "heat-pad",
    "name": "pad",
    "address": "C0:11:22:33:44:55",
    "model": "heat-pad",
    "firmware": "sim-1.0.0",
    "serial": "SIM-1",
}
# Two ids share "abc"; "abd..." is the newest session.
IDS = ("abc111111111", "abc222222222", "abd333333333")
LOCAL_TIME = re.compile(r"\b\d{4}-\d\d-\d\d \d\d:\d\d\b")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="therapyctl")


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    """A journal with three finished heat sessions (ids in IDS, oldest first)."""
    path = tmp_path / "journal.sqlite3"
    writer = JournalWriter(path)
    for session_id in IDS:
        writer.begin(
            session_id,
            IDENTITY,
            mode="heat",
            plan=None,
            requested_minutes=10,
            time_scale=1.0,
            limits=DEFAULT_LIMITS.as_dict(),
        )
        writer.event(session_id, 0.0, "started", "heat at 40 °C for 10 min")
        writer.event(session_id, 125.4, "stop", "completed")
        writer.end(session_id, end_reason="completed", actual_minutes=10.0, planned_minutes=10.0)
        time.sleep(0.01)  # distinct start times: the order is the order of IDS
    writer.close()
    assert writer.errors == []
    return path


def test_history_on_a_new_machine_says_no_sessions_yet_and_exits_0(tmp_path: Path) -> None:
    """No journal file yet: "no sessions yet", exit 0, and no file is created."""
    db = tmp_path / "never-run" / "journal.sqlite3"
    result = invoke("history", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("no sessions yet")
    as_json = invoke("history", "--db", str(db), "--json")
    assert as_json.exit_code == 0 and '"sessions": []' in as_json.output
    assert not db.exists() and not db.parent.exists()


def test_show_prints_the_limits_in_a_persons_terms(journal: Path) -> None:
    """show: a line per concern in minutes, hours and °C; no internal names, no 1200 s."""
    result = invoke("show", IDS[0], "--db", str(journal))
    assert result.exit_code == 0, result.output
    text = result.output
    assert "heat: at most 20 min, ceiling 43 °C, CEM43 20 min, rest 20 min between sessions" in text
    assert "cold: at most 20 min, floor 10 °C, a start at most every 2 h" in text
    assert "light: at most 30 min, in any 24 h at most 30 min, ceiling 41 °C" in text
    assert "_s=" not in text and "heat_ceiling_c" not in text and "1200" not in text
    assert max(len(line) for line in text.splitlines()) <= 110


def test_history_and_show_give_the_start_in_one_local_time_format(journal: Path) -> None:
    """The same `YYYY-MM-DD HH:MM` local time in history and show; events as MM:SS."""
    history = invoke("history", "--db", str(journal)).output
    row = next(line for line in history.splitlines() if IDS[0] in line)
    started = LOCAL_TIME.search(row)
    assert started is not None, row
    shown = invoke("show", IDS[0], "--db", str(journal)).output
    assert f"started {started[0]}, ended " in shown
    assert "T" not in shown.split("started ", 1)[1].split("\n", 1)[0]  # no ISO 8601
    assert re.search(r"^\s+02:05\s+stop\s+completed$", shown, re.MULTILINE), shown


@pytest.mark.parametrize(
    ("given", "expected"), [("abc1", IDS[0]), ("ABD", IDS[2]), ("last", IDS[2]), (IDS[1], IDS[1])]
)
def test_show_takes_a_unique_start_of_an_id_or_last(journal: Path, given, expected) -> None:
    """show: any unique start of an id (any case), the whole id, or `last` (the newest)."""
    result = invoke("show", given, "--db", str(journal))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"session {expected}:")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("abc", "'abc' is the start of 2 session ids (abc222222222, abc111111111): give more"),
        ("f00", "there is no session 'f00' (no id starts with it"),
    ],
)
def test_an_ambiguous_or_unknown_id_is_one_line_and_exit_1(journal: Path, given, message) -> None:
    """show/export/plot: an ambiguous or unknown start of an id is one error line, exit 1."""
    for command in (["show"], ["export", "--format", "json"], ["plot", "-o", "x.png"]):
        result = invoke(command[0], given, *command[1:], "--db", str(journal))
        assert result.exit_code == 1, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], lines


def test_export_and_plot_take_a_unique_start_of_an_id(journal: Path, tmp_path: Path) -> None:
    """export and plot accept the same short ids as show."""
    out = tmp_path / "one.json"
    result = invoke("export", "abc2", "--format", "json", "-o", str(out), "--db", str(journal))
    assert result.exit_code == 0, result.output
    assert IDS[1] in out.read_text() and IDS[0] not in out.read_text()
    png = tmp_path / "one.png"
    result = invoke("plot", "last", "-o", str(png), "--db", str(journal))
    assert result.exit_code == 0, result.output
    assert png.read_bytes().startswith(b"\x89PNG")
