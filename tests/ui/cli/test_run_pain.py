"""`run` and the days around a session (issue 14): pain before and after it (the flags for
scripts, the question on a terminal; skipping is always fine, a bad answer is asked once
more) recorded with the session's id and site, and heat in an episode's acute phase warned
about once, never stopping the session. Sessions run against the simulator (`run --sim`)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from device.journal import JournalReader, start_episode
from tests.simserve import THERAPYCTL
from ui.cli.run import PAIN_QUESTION, ask_pain

FAST = ("--time-scale", "300")  # 1 simulated minute in 0.2 s
WARNED = "into a spasm: the guidance is cold (10-20 min, every 2 h) for the first 48-72 h"


def therapyctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [THERAPYCTL, *args], check=False, capture_output=True, text=True, timeout=120
    )


def run(db: Path, *args: str, codes: tuple[int, ...] = (0,)) -> tuple[dict, str]:
    """`run ARGS --json` on the journal: its summary and its stderr."""
    result = therapyctl("run", *args, *FAST, "--attended-ack", "--db", str(db), "--json")
    assert result.returncode in codes, result.stderr
    return json.loads(result.stdout), result.stderr


def heat(kind: str = "heat-pad", *more: str) -> tuple[str, ...]:
    return ("--sim", kind, "--mode", "heat", "--minutes", "1", *more)


# ---------------------------------------------------------------------- asking


def answers(*lines: str) -> Iterator[str]:
    yield from lines
    raise AssertionError("asked more often than it should")


@pytest.mark.parametrize(
    ("lines", "expected", "asked"),
    [
        (["7\n"], 7, 1),
        ([" 0 \n"], 0, 1),
        (["\n"], None, 1),  # Enter skips
        ([""], None, 1),  # end of input skips
        (["abc\n", "4\n"], 4, 2),  # a bad answer: asked once more
        (["11\n", "nan\n"], None, 2),  # bad twice: skipped, not asked a third time
        (["-1\n", "\n"], None, 2),
    ],
)
def test_the_pain_question_skips_on_enter_and_asks_a_bad_answer_once_more(
    lines: list[str], expected: int | None, asked: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rating, or None; the question on stderr as often as it was asked."""
    given = answers(*lines)
    assert ask_pain(lambda: next(given)) == expected
    err = capsys.readouterr().err
    assert err.count(PAIN_QUESTION) == asked
    if len(lines) == 2 and expected is None and lines[1].strip():
        assert "skipped" in err and "is not a rating" in err


# ---------------------------------------------------------------------- the flags


@pytest.mark.slow
def test_pain_before_and_after_are_recorded_with_the_session(tmp_path: Path) -> None:
    """--pain-before 6 --pain-after 3: in the JSON summary and in the diary, with the
    session's id and site, "before" no later than its start, "after" no earlier than its
    end."""
    db = tmp_path / "j.db"
    args = ("--sim", "thermal-pad", "--mode", "cold", "--minutes", "1", "--site", "Lower Back")
    summary, _ = run(db, *args, "--pain-before", "6", "--pain-after", "3")
    assert summary["pain_before"] == 6 and summary["pain_after"] == 3
    with JournalReader(db) as reader:
        ratings = reader.pain()
        session = reader.session(summary["session_id"])
    assert [(r.rating, r.moment, r.session_id, r.site) for r in ratings] == [
        (6, "before", summary["session_id"], "lower-back"),
        (3, "after", summary["session_id"], "lower-back"),
    ]
    assert session.ended_at is not None
    assert ratings[0].at <= session.started_at and ratings[1].at >= session.ended_at
    plain, _ = run(db, *heat("heat-pad"))  # no flags, no terminal: nothing asked or written
    assert plain["pain_before"] is None and plain["pain_after"] is None
    with JournalReader(db) as reader:
        assert len(reader.pain()) == 2


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [
        ("--pain-before", "11", "'11' is not a rating: 0 is no pain"),
        ("--pain-before", "-1", "'-1' is not a rating"),
        ("--pain-before", "nan", "'nan' is not a rating"),
        ("--pain-after", "1e308", "'1e308' is not a rating"),
        ("--pain-after", "9" * 400, "a number that long is not a rating"),
    ],
)
def test_a_bad_pain_flag_is_a_usage_error_before_anything_starts(
    tmp_path: Path, flag: str, value: str, words: str
) -> None:
    """Exit 2 in one line naming the flag; no device touched, no journal made."""
    db = tmp_path / "j.db"
    result = therapyctl("run", *heat(), flag, value, "--db", str(db), *FAST)
    assert result.returncode == 2, result.stderr
    assert flag in result.stderr and words in result.stderr
    assert "Traceback" not in result.stderr and "connected" not in result.stderr
    assert not db.exists()


@pytest.mark.slow
def test_pain_flags_on_a_refused_run_are_not_recorded_against_it(tmp_path: Path) -> None:
    """A run refused before anything turned on (the pad owes its rest after heat): the
    rating before is a diary entry at any time (no session id), the one after is skipped
    and said so in one stderr line; the refused request has no rating."""
    db = tmp_path / "j.db"
    first, _ = run(db, *heat("heat-pad", "--site", "neck"))
    assert first["end_reason"] == "completed"
    refused, said = run(
        db, *heat("heat-pad", "--site", "neck"), "--pain-before", "5", "--pain-after", "2",
        codes=(3,),
    )  # fmt: skip
    assert refused["actual_minutes"] == 0 and refused["end_reason"] == "rest_required"
    notes = [line for line in said.splitlines() if "pain rating after" in line]
    assert notes == [
        "therapyctl: note: the pain rating after (2) was not recorded: the session turned"
        " nothing on"
    ]
    with JournalReader(db) as reader:
        ratings = reader.pain()
        row = reader.session(refused["session_id"])
    assert row.refused
    assert [(r.rating, r.moment, r.session_id, r.site) for r in ratings] == [
        (5, "any", None, "neck")
    ]


def test_record_ratings_without_a_session_writes_the_before_as_any(tmp_path: Path) -> None:
    """In process: a summary with nothing turned on; a journal failure is still reported,
    and a skipped after-rating is no failure."""
    from device.journal import JournalWriter
    from device.safety import EndReason
    from device.sessions import RunSummary
    from ui.cli.run import record_ratings

    db = tmp_path / "j.db"
    JournalWriter(db).close()
    summary = RunSummary(
        "s1", None, "cold", None, 1, 0, 0, EndReason.REST_REQUIRED, "rest", site="neck"
    )
    said: list[str] = []
    now = time.time()
    trouble = record_ratings(db, summary, ((4, "before", now - 5), (1, "after", now)), said.append)
    assert trouble == "" and len(said) == 1 and "after (1) was not recorded" in said[0]
    with JournalReader(db) as reader:
        assert [(r.rating, r.moment, r.session_id) for r in reader.pain()] == [(4, "any", None)]
    trouble = record_ratings(
        db, summary, ((None, "before", now), (None, "after", now)), said.append
    )
    assert trouble == "" and len(said) == 1  # nothing given: nothing said


# ---------------------------------------------------------------------- the warning


@pytest.mark.slow
def test_heat_in_the_acute_phase_warns_once_and_never_stops_the_session(tmp_path: Path) -> None:
    """An episode on lower-back 10 h old: a heat run there warns (stderr, the guidance,
    before the session) and completes; a second heat run there does not warn; cold there and
    heat on another site never warn."""
    db = tmp_path / "j.db"
    start_episode(db, "lower-back", at=time.time() - 10 * 3600)
    cold, said = run(db, "--sim", "thermal-pad", "--mode", "cold", "--minutes", "1",
                     "--site", "lower-back")  # fmt: skip
    assert WARNED not in said and cold["end_reason"] == "completed"
    _, said = run(db, *heat("thermal-pad", "--site", "neck"))
    assert WARNED not in said
    first, said = run(db, *heat("heat-pad", "--site", "lower-back"))
    assert f"heat on lower-back, 10 h {WARNED}" in said and "said once" in said
    assert said.index(WARNED) < said.index("heat running")  # before the session started
    assert first["end_reason"] == "completed" and first["actual_minutes"] == pytest.approx(1, 0.1)
    # (The thermal pad may still owe its rest after heat: a refusal is no matter here.)
    second, said = run(db, *heat("thermal-pad", "--site", "lower-back"), codes=(0, 3))
    assert WARNED not in said and second["site"] == "lower-back"
    with JournalReader(db) as reader:
        episode = reader.open_episode("lower-back")
    assert episode is not None and episode.heat_warned_at is not None


@pytest.mark.slow
def test_a_plan_with_heat_warns_on_the_devices_remembered_site_not_after_the_acute_phase(
    tmp_path: Path,
) -> None:
    """After the acute phase (80 h in) heat does not warn; in a new acute episode on that
    site, a contrast plan (heat 20, rest 20, cold 20) warns; so does heat on the site the
    device remembers (a heat pad run without --site, on a second journal)."""
    db = tmp_path / "j.db"
    start_episode(db, "neck", at=time.time() - 80 * 3600)
    late, said = run(db, *heat("heat-pad", "--site", "neck"))
    assert WARNED not in said and late["end_reason"] == "completed"
    start_episode(db, "shoulder-left", at=time.time() - 3600)
    contrast, said = run(
        db, "--sim", "thermal-pad", "--plan", "contrast", "--site", "shoulder-left"
    )
    assert f"heat on shoulder-left, 1 h {WARNED}" in said
    assert contrast["end_reason"] == "completed"
    other = tmp_path / "other.db"
    run(other, *heat("heat-pad", "--site", "abdomen"))  # the pad remembers abdomen
    start_episode(other, "abdomen", at=time.time() - 5 * 3600)
    # (The pad still owes its rest after heat: refused, but said before the start.)
    remembered, said = run(other, *heat("heat-pad"), codes=(0, 3))
    assert remembered["site"] == "abdomen"
    assert f"heat on abdomen, 5 h {WARNED}" in said


# ---------------------------------------------------------------------- on a terminal


class Reader(threading.Thread):
    """Collects a pipe's text as it comes, so the test can wait for a question."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.text, self.lock = fd, "", threading.Lock()

    def run(self) -> None:
        while chunk := os.read(self.fd, 4096):
            with self.lock:
                self.text += chunk.decode(errors="replace")

    def wait_for(self, wanted: str, times: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if self.text.count(wanted) >= times:
                    return
                text = self.text
            assert time.monotonic() < deadline, f"{wanted!r} x{times} not seen:\n{text}"
            time.sleep(0.02)


@pytest.mark.slow
def test_on_a_terminal_run_asks_before_and_after_and_records_the_answers(
    tmp_path: Path,
) -> None:
    """stdin a terminal: asked before the session ("7"), and after it ends ("abc", asked
    once more, "2"); both recorded with the session's id; --json never asks."""
    db = tmp_path / "j.db"
    primary, secondary = pty.openpty()
    err_r, err_w = os.pipe()
    process = subprocess.Popen(
        [THERAPYCTL, "run", "--sim", "thermal-pad", "--mode", "cold", "--minutes", "1",
         "--site", "neck", *FAST, "--db", str(db)],
        stdin=secondary, stdout=subprocess.PIPE, stderr=err_w, text=True,
    )  # fmt: skip
    os.close(secondary)
    os.close(err_w)
    err = Reader(err_r)
    err.start()
    try:
        err.wait_for(PAIN_QUESTION, 1)
        assert "connected" not in err.text  # asked before anything started
        os.write(primary, b"7\n")
        err.wait_for(PAIN_QUESTION, 2)
        assert "cold idle" in err.text or "cold running" in err.text
        os.write(primary, b"abc\n")
        err.wait_for(PAIN_QUESTION, 3)
        os.write(primary, b"2\n")
        out, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(primary)
    err.join(10)
    assert process.returncode == 0, err.text
    assert "'abc' is not a rating" in err.text and "once more" in err.text
    session_id = out.split()[1].rstrip(":")
    with JournalReader(db) as reader:
        ratings = [(r.rating, r.moment, r.session_id, r.site) for r in reader.pain()]
    assert ratings == [(7, "before", session_id, "neck"), (2, "after", session_id, "neck")]
