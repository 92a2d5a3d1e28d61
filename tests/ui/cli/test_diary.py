"""Therapy over days from the command line (issue 14): `episode start/end/show` with every
form of WHEN, `next` (cold every 2 h in the acute phase, heat after it; from the journal's
real sessions), `pain` (bad values refused, nothing written) and the `[regimen]` table of the
configuration file. The waking hours are 00:00-24:00 here, so nothing depends on the time of
day the suite runs at."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click.testing
import pytest
from click.testing import CliRunner

from device.journal import JournalReader
from device.safety import ConfigError
from tests.simserve import THERAPYCTL
from ui.cli import cli
from ui.cli.config import load_config, load_regimen
from ui.cli.diary import WhenError, parse_when

AWAKE_ALL_DAY = '[regimen]\nawake = "00:00-24:00"\n'


def invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), prog_name="therapyctl")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "journal.db"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "therapyctl.toml"
    path.write_text(AWAKE_ALL_DAY, encoding="utf-8")
    return path


def at(text: str) -> float:
    """An ISO time as the commands print it (local, with its offset) -> Unix seconds."""
    return datetime.fromisoformat(text).timestamp()


def next_json(db: Path, config: Path, *more: str) -> list[dict]:
    result = invoke("next", "--db", str(db), "--config", str(config), "--json", *more)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def count(db: Path, table: str) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


# ---------------------------------------------------------------------- WHEN


NOW = datetime(2026, 11, 25, 14, 0, 0).timestamp()  # local time, whatever the zone


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T08:30", datetime(2026, 11, 25, 8, 30).timestamp()),
        ("2026-11-25 08:30:15", datetime(2026, 11, 25, 8, 30, 15).timestamp()),
        ("2026-11-25T08:30:00+00:00", datetime(2026, 11, 25, 8, 30, tzinfo=UTC).timestamp()),
        ("07:30", datetime(2026, 11, 25, 7, 30).timestamp()),  # earlier today
        ("15:00", datetime(2026, 11, 24, 15, 0).timestamp()),  # still to come: yesterday's
        ("10h ago", NOW - 10 * 3600),
        ("-10h", NOW - 10 * 3600),
        ("90m ago", NOW - 90 * 60),
        ("2d ago", NOW - 2 * 86400),
        ("1.5 hours ago", NOW - 1.5 * 3600),
        (" Now ", NOW),
    ],
)
def test_when_forms_give_the_moment_they_name(text: str, expected: float) -> None:
    """ISO (local without an offset), HH:MM (today, else yesterday), how long ago, now."""
    assert parse_when(text, NOW) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("tomorrow", "is not a time: give an ISO date-time"),
        ("25:00", "HH:MM"),
        ("2026-11-25", "10h ago, -10h, 90m ago, 2d ago"),  # a date, not a date-time
        ("10x ago", "is not a time"),
        ("10h", "is not a time"),
        ("1e308h ago", "is not a time"),
        ("9" * 400, "is not a time"),
        ("nan", "is not a time"),
        ("2026-11-26T08:00", "is in the future"),
        ("-999999h", "more than 10 years back"),
        ("1999-12-31T23:00", "before the year 2000"),
        ("0001-01-01T00:00", "is not a time"),  # year 1 local: before the epoch's reach
        ("0001-01-01T00:00+14:00", "before the year 2000"),
    ],
)
def test_when_refuses_anything_else_naming_the_forms(text: str, words: str) -> None:
    """Not a form, the future, before 2000 or years back: a WhenError in plain words."""
    with pytest.raises(WhenError) as caught:
        parse_when(text, NOW)
    assert words in str(caught.value)
    assert len(str(caught.value)) < 300  # a long input is not echoed back whole


# ---------------------------------------------------------------------- episode


def test_episode_start_show_end_round_trip(db: Path) -> None:
    """start --at "10h ago": shown as acute, 10 h of 72 (JSON: its start 10 h back); a
    second start on the site is refused (exit 1); end: shown as ended."""
    before = time.time()
    started = invoke(
        "episode", "start", "--site", "Lower Back", "--at", "10h ago", "--note", "a box",
        "--db", str(db),
    )  # fmt: skip
    assert started.exit_code == 0, started.output
    assert "lower-back: spasm" in started.stdout and "acute, 10 h of 72" in started.stdout
    shown = invoke("episode", "show", "--db", str(db), "--json")
    assert shown.exit_code == 0, shown.output
    (episode,) = json.loads(shown.stdout)
    assert episode["site"] == "lower-back" and episode["kind"] == "spasm"
    assert before - 10 * 3600 - 1 <= at(episode["started_at"]) <= time.time() - 10 * 3600 + 1
    assert episode["phase"] == "acute" and episode["ended_at"] is None
    assert episode["acute_hours"] == 72 and episode["note"] == "a box"
    assert at(episode["acute_until"]) == pytest.approx(at(episode["started_at"]) + 72 * 3600)
    bare = invoke("episode", "--db", str(db))  # no subcommand: show
    assert bare.exit_code == 0 and "lower-back: spasm" in bare.stdout
    assert "acute, 10 h of 72" in bare.stdout

    again = invoke("episode", "start", "--site", "lower-back", "--db", str(db))
    assert again.exit_code == 1 and "end it first" in again.stderr
    assert "Traceback" not in again.output and count(db, "episodes") == 1

    ended = invoke("episode", "end", "--db", str(db))
    assert ended.exit_code == 0, ended.output
    assert "ended" in ended.stdout
    (episode,) = json.loads(invoke("episode", "--db", str(db), "--json").stdout)
    assert episode["phase"] == "ended" and episode["ended_at"] is not None
    assert invoke("episode", "--db", str(db)).stdout.rstrip().endswith("ended — a box")
    none_open = invoke("episode", "end", "--db", str(db))
    assert none_open.exit_code == 1 and "no episode is open" in none_open.stderr


def test_episode_after_the_acute_phase_and_a_short_acute_phase(db: Path) -> None:
    """--acute-hours 48 and a start 50 h ago: after the acute phase; the kind is kept."""
    result = invoke(
        "episode", "start", "--site", "neck", "--at", "50h ago", "--kind", "strain",
        "--acute-hours", "48", "--db", str(db),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (episode,) = json.loads(invoke("episode", "--json", "--db", str(db)).stdout)
    assert episode["kind"] == "strain" and episode["phase"] == "after"
    assert "after the acute phase" in invoke("episode", "--db", str(db)).stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--at", "yesterday"], "is not a time: give an ISO date-time"),
        (["--at", "2999-01-01T00:00"], "in the future"),
        (["--at", "24:00"], "HH:MM"),
        (["--acute-hours", "80"], "between 48 and 72"),
        (["--acute-hours", "nan"], "between 48 and 72"),
        (["--acute-hours", "1e308"], "between 48 and 72"),
        (["--acute-hours", "9" * 400], "between 48 and 72"),
        (["--kind", "cramp"], "'cramp' is not one of"),
        (["--note", "a\x07bell"], "control characters"),
        (["--note", "x" * 501], "at most 500 characters"),
    ],
)
def test_bad_episode_values_are_usage_errors_and_write_nothing(
    db: Path, args: list[str], words: str
) -> None:
    """Exit 2 with the reason (the forms of WHEN named), no traceback, no episode."""
    result = invoke("episode", "start", "--site", "lower-back", *args, "--db", str(db))
    assert result.exit_code == 2, result.output
    assert words in result.stderr and "Traceback" not in result.output
    assert count(db, "episodes") == 0


def test_episode_start_needs_a_site_and_end_names_it_when_several_are_open(db: Path) -> None:
    """No --site: a usage error; two open: `end` asks which (exit 1), --site ends one."""
    assert invoke("episode", "start", "--db", str(db)).exit_code == 2
    for site in ("neck", "knee-left"):
        assert invoke("episode", "start", "--site", site, "--db", str(db)).exit_code == 0
    which = invoke("episode", "end", "--db", str(db))
    assert which.exit_code == 1 and "give --site" in which.stderr
    early = invoke("episode", "end", "--site", "neck", "--at", "-1m", "--db", str(db))
    assert early.exit_code == 1 and "cannot end before it began" in early.stderr
    assert invoke("episode", "end", "--site", "neck", "--db", str(db)).exit_code == 0
    with JournalReader(db) as reader:
        assert [e.site for e in reader.episodes(open_only=True)] == ["knee-left"]


# ---------------------------------------------------------------------- next


def test_next_with_no_episode_says_how_to_start_one(db: Path, config: Path) -> None:
    """Exit 0: nothing is due, and the command that starts an episode; JSON: []."""
    result = invoke("next", "--db", str(db), "--config", str(config))
    assert result.exit_code == 0
    assert "no episode is open" in result.stdout and "episode start --site" in result.stdout
    assert next_json(db, config) == []
    assert not db.exists()  # reading made no journal


def test_next_proposes_cold_due_now_ten_hours_into_a_spasm(db: Path, config: Path) -> None:
    """An episode 10 h old with no cold yet: cold on its site, due now (from its start),
    15 min, the guidance named; the text says nothing starts by itself."""
    invoke("episode", "start", "--site", "lower-back", "--at", "10h ago", "--db", str(db))
    (due,) = next_json(db, config)
    started = at(due["episode"]["started_at"])
    assert due["site"] == "lower-back" and due["modality"] == "cold"
    assert due["due_now"] is True and due["phase"] == "acute"
    assert at(due["due_at"]) == pytest.approx(started, abs=1)
    assert 10 <= due["minutes"] <= 20  # guidance: cold 10-20 min
    assert "every 2 h" in due["reason"] and due["last_at"] is None
    text = invoke("next", "--db", str(db), "--config", str(config)).stdout
    assert text.startswith("cold on lower-back, due now (the first 72 h of a spasm")
    assert "Nothing starts by itself" in text


def test_next_proposes_heat_eighty_hours_into_a_spasm(db: Path, config: Path) -> None:
    """80 h in (acute phase 72 h): heat, due since the acute phase ended, phase after."""
    invoke("episode", "start", "--site", "neck", "--at", "80h ago", "--db", str(db))
    (due,) = next_json(db, config)
    assert due["modality"] == "heat" and due["phase"] == "after" and due["due_now"] is True
    assert at(due["due_at"]) == pytest.approx(at(due["episode"]["started_at"]) + 72 * 3600, abs=1)
    assert due["minutes"] <= 20  # guidance: heat up to 20 min
    assert (
        "heat on neck, due now" in invoke("next", "--db", str(db), "--config", str(config)).stdout
    )


def test_next_filters_by_site_and_lists_the_soonest_first(db: Path, config: Path) -> None:
    """Two episodes: both listed (due order); --site keeps one."""
    invoke("episode", "start", "--site", "neck", "--at", "80h ago", "--db", str(db))
    invoke("episode", "start", "--site", "lower-back", "--at", "1h ago", "--db", str(db))
    found = next_json(db, config)
    assert [d["site"] for d in found] == ["neck", "lower-back"]  # due 8 h ago, then 1 h ago
    assert [d["site"] for d in next_json(db, config, "--site", "Lower Back")] == ["lower-back"]


@pytest.mark.slow
def test_next_cold_is_due_two_hours_after_a_real_cold_session(db: Path, config: Path) -> None:
    """A cold session on the site (the simulator, `run --sim`): the next cold is due 2 h
    after that session's start (guidance: every 2 h), not now; a heat session on the site
    after it changes nothing."""
    invoke("episode", "start", "--site", "lower-back", "--at", "10h ago", "--db", str(db))

    def run(*args: str) -> dict:
        result = subprocess.run(
            [THERAPYCTL, "run", *args, "--minutes", "1", "--time-scale", "300",
             "--attended-ack", "--db", str(db), "--json"],
            check=False, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    cold = run("--sim", "thermal-pad", "--mode", "cold", "--site", "lower-back")
    run("--sim", "heat-pad", "--mode", "heat", "--site", "lower-back")
    with JournalReader(db) as reader:
        started = reader.session(cold["session_id"]).started_at
    (due,) = next_json(db, config)
    assert due["modality"] == "cold" and due["due_now"] is False
    assert at(due["due_at"]) == pytest.approx(started + 2 * 3600, abs=1.5)
    assert at(due["last_at"]) == pytest.approx(started, abs=1.5)
    text = invoke("next", "--db", str(db), "--config", str(config)).stdout
    clocks = {datetime.fromtimestamp(started + 2 * 3600 + d).strftime("%H:%M") for d in (-1, 0, 1)}
    assert any(f"next cold on lower-back at {c} (in 1 h 59 min" in text for c in clocks) or any(
        f"next cold on lower-back at {c} (in 2 h" in text for c in clocks
    ), text


def test_waking_hours_move_a_due_time_out_of_the_night(db: Path, tmp_path: Path) -> None:
    """With waking hours that exclude now, the cold due since the episode began moves to
    the next waking start (computed here from the local clock), and is not due now."""
    invoke("episode", "start", "--site", "lower-back", "--at", "1h ago", "--db", str(db))
    now = datetime.now()
    if now.hour < 12:  # awake from 2 h on (and not at 23:xx, for a start just before 00:00)
        window = f"{now.hour + 2:02d}:00-23:00"
        expected = datetime(now.year, now.month, now.day, now.hour + 2)
    else:  # awake until an hour ago: due at midnight
        window = f"00:00-{now.hour - 1:02d}:00"
        day = now.date() + timedelta(days=1)
        expected = datetime(day.year, day.month, day.day)
    config = tmp_path / "awake.toml"
    config.write_text(f'[regimen]\nawake = "{window}"\n', encoding="utf-8")
    (due,) = next_json(db, config)
    assert at(due["due_at"]) == pytest.approx(expected.timestamp(), abs=1)
    assert due["due_now"] is False and due["modality"] == "cold"
    text = invoke("next", "--db", str(db), "--config", str(config)).stdout
    assert f"waking hours {window}" in text


# ---------------------------------------------------------------------- [regimen]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[mqtt]\nprefix = "x"\n\n[regimen]\nawake = "07:00-22:00"\nawak = "x"\n', "line 6"),
        ('[regimen]\nawake = "7 till 22"\n', "line 2: [regimen] waking hours '7 till 22'"),
        ("[regimen]\nawake = 7\n", 'line 2: [regimen] awake must be a string like "07:00'),
        ('[regimen]\nawake = "22:00-07:00"\n', "line 2"),
        ('[regimen]\nawake = "00:00-24:30"\n', "not a time of day"),
    ],
)
def test_regimen_table_refuses_unknown_keys_and_bad_values_with_the_line(
    tmp_path: Path, text: str, words: str
) -> None:
    """load_regimen and load_config (so `run --config` too) say the file and line;
    `next --config` exits 1 with that line."""
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    for load in (load_regimen, load_config):
        with pytest.raises(ConfigError) as caught:
            load(path)
        assert str(caught.value).startswith(f"{path}, line ") and words in str(caught.value)
    result = invoke("next", "--config", str(path), "--db", str(tmp_path / "j.db"))
    assert result.exit_code == 1 and words in result.stderr


def test_regimen_table_is_read_and_other_tables_still_work(tmp_path: Path) -> None:
    """awake is parsed; [limits] and [mqtt] beside it load as before; no file: defaults."""
    path = tmp_path / "c.toml"
    path.write_text(
        '[limits]\nheat_ceiling_c = 41\n\n[regimen]\nawake = "06:30-23:00"\n', encoding="utf-8"
    )
    assert str(load_regimen(path).awake) == "06:30-23:00"
    limits, _mqtt = load_config(path)
    assert limits.heat_ceiling_c == 41
    assert str(load_regimen(None).awake) == "07:00-22:00"


# ---------------------------------------------------------------------- pain


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("11", "'11' is not a rating: 0 is no pain, 10 the worst imaginable"),
        ("-1", "'-1' is not a rating"),
        ("abc", "'abc' is not a rating"),
        ("nan", "'nan' is not a rating"),
        ("1e308", "'1e308' is not a rating"),
        ("4.5", "'4.5' is not a rating"),
        ("²", "'²' is not a rating"),
        ("9" * 400, "a number that long is not a rating"),
    ],
)
def test_pain_refuses_what_is_not_a_rating_and_writes_nothing(
    db: Path, value: str, words: str
) -> None:
    """Exit 2, the reason in one line, no traceback; the diary is unchanged."""
    assert invoke("pain", "5", "--db", str(db)).exit_code == 0
    result = invoke("pain", value, "--db", str(db))
    assert result.exit_code == 2, result.output
    assert words in result.stderr and "Traceback" not in result.output
    assert len(result.stderr) < 400
    assert count(db, "pain") == 1


def test_pain_records_and_lists_the_recent_ratings(db: Path) -> None:
    """`pain N --site --note --at` is written as given (moment any, no session); `pain`
    lists the last --days (default 7) oldest first; --site filters."""
    now = time.time()
    for args in (
        ["7", "--site", "Lower Back", "--at", "3d ago", "--note", "bad night"],
        ["2", "--site", "neck", "--at", "10d ago"],
        ["4", "--site", "lower-back"],
    ):
        result = invoke("pain", *args, "--db", str(db))
        assert result.exit_code == 0, result.output
    assert "pain 4/10 on lower-back recorded" in result.stdout
    week = json.loads(invoke("pain", "--json", "--db", str(db)).stdout)
    assert [(r["rating"], r["site"], r["moment"]) for r in week] == [
        (7, "lower-back", "any"),
        (4, "lower-back", "any"),
    ]
    assert week[0]["note"] == "bad night" and week[0]["session_id"] is None
    assert at(week[0]["at"]) == pytest.approx(now - 3 * 86400, abs=2)
    fortnight = json.loads(invoke("pain", "--days", "14", "--json", "--db", str(db)).stdout)
    assert [r["rating"] for r in fortnight] == [2, 7, 4]
    neck = json.loads(
        invoke("pain", "--days", "14", "--site", "neck", "--json", "--db", str(db)).stdout
    )
    assert [r["rating"] for r in neck] == [2]
    table = invoke("pain", "--db", str(db)).stdout.splitlines()
    assert table[0].split()[:3] == ["WHEN", "PAIN", "SITE"]
    assert "bad night" in table[1] and len(table) == 3


def test_pain_list_without_a_journal_and_bad_days(db: Path) -> None:
    """No journal yet: no ratings, exit 0, nothing created; --days 0 or huge: exit 2."""
    result = invoke("pain", "--db", str(db))
    assert result.exit_code == 0 and "no pain ratings" in result.stdout and not db.exists()
    for days in ("0", "9" * 400, "nan"):
        assert invoke("pain", "--days", days, "--db", str(db)).exit_code == 2
    assert invoke("pain", "--note", "x", "--db", str(db)).exit_code == 2  # a note needs N
