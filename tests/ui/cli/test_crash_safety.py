"""Usage that later starts depend on survives ``kill -9``, a closed terminal and a full disk,
and fails closed; files with absurd numbers and loosening limits are one line (issue #10)."""

from __future__ import annotations

import json
import re
import resource
import signal
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from device.journal import JournalReader
from tests.simserve import THERAPYCTL

pytestmark = pytest.mark.slow


def cli(
    *args: str, timeout: float = 120, preexec: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [THERAPYCTL, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=preexec,
    )


def run_json(db: Path, *args: str, codes: tuple[int, ...] = (0, 3)) -> dict:
    result = cli("run", *args, "--db", str(db), "--json")
    assert result.returncode in codes, result.stderr
    return json.loads(result.stdout)


def run_until(db: Path, args: list[str], minute: int) -> subprocess.Popen[str]:
    """Start ``run`` and return once its progress line (stderr) shows ``minute`` elapsed."""
    elapsed = re.compile(rf" {minute}:\d\d left ")
    process = subprocess.Popen(
        [THERAPYCTL, "run", *args, "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if elapsed.search(line):
            return process
    process.kill()
    raise AssertionError(f"the run ended before minute {minute}")


def file_size_limit(limit_bytes: int) -> Callable[[], None]:
    """A child whose files cannot grow past ``limit_bytes`` (a full disk, without root)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return apply


LIGHT = ["--sim", "light-belt-800", "--mode", "light"]
HEAT = ["--sim", "heat-pad", "--mode", "heat", "--attended-ack", "auto"]


def test_light_killed_at_22_minutes_leaves_8_more_that_day(tmp_path: Path) -> None:
    """Issue #10, finding 2: 22 min of light, kill -9, then a full 30 more the same day. Now
    the killed session is credited from its samples (plus one lease): about 8 are left."""
    db = tmp_path / "j.db"
    # At 120x one batch of samples (at most a second) is two device minutes.
    killed = run_until(db, [*LIGHT, "--minutes", "30", "--time-scale", "120"], 22)
    killed.send_signal(signal.SIGKILL)
    killed.wait(10)
    second = run_json(db, *LIGHT, "--minutes", "30", "--time-scale", "120")
    assert second["end_reason"] == "completed"  # cut at the start to what was left
    assert "min left, running" in second["limits_applied"][0]
    assert 6.0 <= second["actual_minutes"] <= 9.5, second["limits_applied"]
    with JournalReader(db) as reader:
        first = reader.sessions()[-1]
    assert first.end_reason == "interrupted"
    # 22 min, less at most one unwritten batch (two minutes here), plus one lease (1 min)
    assert first.actual_minutes is not None and 20.0 <= first.actual_minutes <= 24.5


def test_heat_killed_then_heat_again_at_once_is_refused(tmp_path: Path) -> None:
    """Finding 2: a killed heat session, then heat again at once. Now: rest required."""
    db = tmp_path / "j.db"
    killed = run_until(db, [*HEAT, "--minutes", "20", "--time-scale", "100"], 2)
    killed.send_signal(signal.SIGKILL)
    killed.wait(10)
    again = run_json(db, *HEAT, "--minutes", "5", "--time-scale", "100")
    assert again["end_reason"] == "rest_required"
    assert again["actual_minutes"] == 0


def test_a_closed_terminal_stops_the_session_like_ctrl_c(tmp_path: Path) -> None:
    """Finding 2: SIGHUP was not handled (the session was never closed). Now it turns the
    output off, records user_stopped, prints the summary and exits 130."""
    db = tmp_path / "j.db"
    process = run_until(db, [*HEAT, "--minutes", "20", "--time-scale", "60", "--json"], 1)
    process.send_signal(signal.SIGHUP)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    summary = json.loads(stdout)
    assert summary["end_reason"] == "user_stopped"
    assert any(e["kind"] == "output_off" for e in summary["events"])
    with JournalReader(db) as reader:
        assert reader.session(summary["session_id"]).end_reason == "user_stopped"


def test_a_start_the_journal_cannot_record_is_refused_in_one_line(tmp_path: Path) -> None:
    """Finding 2: a full journal let sessions run unrecorded (exit 0). Now the start is
    refused: one line, exit 1, no session ran."""
    db = tmp_path / "j.db"
    run_json(db, *LIGHT, "--minutes", "1", "--time-scale", "300")  # the journal exists
    result = cli(
        "run", *LIGHT, "--minutes", "5", "--time-scale", "300", "--db", str(db),
        preexec=file_size_limit(16_384),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("therapyctl: error: journal") and "disk is full" in lines[-1]
    assert "Traceback" not in result.stderr
    assert " running " not in result.stderr  # no output was turned on


def test_a_journal_that_fills_up_mid_session_is_one_warning_and_exit_4(tmp_path: Path) -> None:
    """Finding 2: a journal failing mid-session gave dozens of ERROR lines and exit 0. Now:
    the session's limits hold from memory, one warning while it runs and one at the end
    (no line repeated), and the distinct exit code 4."""
    db = tmp_path / "j.db"
    run_json(db, *LIGHT, "--minutes", "1", "--time-scale", "300")
    result = cli(
        "run", *LIGHT, "--minutes", "10", "--time-scale", "60", "--db", str(db), "--json",
        preexec=file_size_limit(49_152),
    )  # fmt: skip
    assert result.returncode == 4, result.stderr
    assert json.loads(result.stdout)["end_reason"] == "completed"
    journal_lines = [line for line in result.stderr.splitlines() if "disk is full" in line]
    assert 1 <= len(journal_lines) <= 2, result.stderr
    assert "ERROR" not in result.stderr
    assert journal_lines[-1].startswith("therapyctl: warning:")
    assert "record(s) could not be written" in journal_lines[-1]


def test_after_the_journal_fails_the_next_step_of_a_plan_is_refused(tmp_path: Path) -> None:
    """Finding 2: a 6-step heat plan ran on with its journal locked. Now, once the journal
    fails, the next start is refused (journal_unavailable) while it cannot record it; the
    step that was running finishes under its limits from memory; exit 4."""
    db = tmp_path / "j.db"
    plan = tmp_path / "plan.toml"
    plan.write_text(
        '[[step]]\nmode = "light"\nminutes = 8\nlevel = 2\n\n[[step]]\nrest_minutes = 1\n\n'
        '[[step]]\nmode = "light"\nminutes = 5\nlevel = 2\n'
    )
    args = ["--sim", "light-belt-800", "--plan", str(plan), "--time-scale", "60", "--json"]
    process = run_until(db, args, 1)
    holder = sqlite3.connect(db, timeout=10)  # another process holds the write lock
    holder.execute("BEGIN IMMEDIATE")
    try:
        stdout, stderr = process.communicate(timeout=120)
    finally:
        holder.rollback()
        holder.close()
    assert process.returncode == 4, stderr
    summary = json.loads(stdout)
    assert summary["end_reason"] == "journal_unavailable"
    assert 7.5 <= summary["actual_minutes"] <= 8.1  # the first step ran; the second did not
    assert "locked by another process" in stderr


def test_configuration_tightening_is_not_undone_by_a_limits_file(tmp_path: Path) -> None:
    """Finding 5: --limits undid a --config tightening. Now a looser value than the one in
    force is one error line naming the file, the limit, the value and the value in force."""
    config = tmp_path / "config.toml"
    config.write_text("[limits]\nheat_ceiling_c = 41\n")
    limits = tmp_path / "limits.toml"
    limits.write_text("heat_ceiling_c = 42\n")
    result = cli(
        "run", *HEAT, "--minutes", "1", "--config", str(config), "--limits", str(limits),
        "--db", str(tmp_path / "j.db"),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"therapyctl: error: {limits}, line 1: limit heat_ceiling_c: 42 is looser than the 41"
        " in force (it may only go down)"
    )


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("limits", "heat_ceiling_c = " + "9" * 400 + "\n"),
        ("limits", "heat_ceiling_c = " + "9" * 5000 + "\n"),
        ("config", "[limits]\nheat_rest_s = " + "9" * 400 + "\n"),
        ("config", "[limits]\nheat_rest_s = " + "9" * 5000 + "\n"),
        ("plan", '[[step]]\nmode = "heat"\nminutes = ' + "9" * 400 + "\n"),
        ("plan", '[[step]]\nmode = "heat"\nminutes = ' + "9" * 5000 + "\n"),
        ("plan", "x = " + "[" * 100_000 + "\n"),
    ],
)
def test_absurd_numbers_in_files_are_one_line(tmp_path: Path, name: str, text: str) -> None:
    """Finding 10: a 400-digit integer in a limits, config or plan file, TOML with over 4300
    digits (ValueError, not TOMLDecodeError) or nested too deep: one line, never a trace."""
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    option = {"limits": "--limits", "config": "--config", "plan": "--plan"}[name]
    args = ["--mode", "heat", "--minutes", "1"] if name != "plan" else []
    result = cli("run", "--sim", "heat-pad", *args, option, str(path), "--db", str(tmp_path / "j"))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"therapyctl: error: {path}"), lines
