"""Body sites from the command line: `run --site` (validated, remembered per device, shown
everywhere), per-site limits across processes and `kill -9`, and `therapyctl dose`."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from datetime import date
from pathlib import Path

import pytest

from device.journal import JournalReader
from tests.simserve import THERAPYCTL
from tests.ui.cli.test_crash_safety import run_until

pytestmark = pytest.mark.slow


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [THERAPYCTL, *args], check=False, capture_output=True, text=True, timeout=timeout
    )


def run_json(db: Path, *args: str, codes: tuple[int, ...] = (0, 3)) -> dict:
    result = cli("run", *args, "--db", str(db), "--json")
    assert result.returncode in codes, result.stderr
    return json.loads(result.stdout)


def dose_json(db: Path, *args: str) -> dict:
    result = cli("dose", *args, "--db", str(db), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def light(kind: str, minutes: int, *more: str) -> list[str]:
    return ["--sim", kind, "--mode", "light", "--minutes", str(minutes), *more]


def heat(kind: str, *more: str) -> list[str]:
    return ["--sim", kind, "--mode", "heat", "--minutes", "2", "--attended-ack", *more]


def test_two_belts_on_one_site_add_up_across_processes_and_other_sites_do_not(
    tmp_path: Path,
) -> None:
    """20 min of one belt on lower-back leaves 10 for another belt there (clamped, in
    words); that belt on abdomen runs as asked, and on abdomen in another journal (after 20
    min on lower-back from the first belt) its full 20."""
    db = tmp_path / "j.db"
    first = run_json(
        db, *light("light-belt-420", 20, "--site", "Lower Back", "--time-scale", "600")
    )
    second = run_json(
        db, *light("light-belt-800", 20, "--site", "lower-back", "--time-scale", "600")
    )
    assert first["site"] == second["site"] == "lower-back"
    assert first["end_reason"] == second["end_reason"] == "completed"
    assert any(
        "light on lower-back is limited to 30 min in any 24 hours" in message
        and "10 min left, running 10" in message
        for message in second["limits_applied"]
    ), second["limits_applied"]
    assert first["actual_minutes"] + second["actual_minutes"] == pytest.approx(30, abs=0.3)
    third = run_json(db, *light("light-belt-800", 5, "--site", "abdomen", "--time-scale", "600"))
    # The same belt on another site: lower-back's limit does not hold there.
    assert third["end_reason"] == "completed" and third["limits_applied"] == []
    assert third["actual_minutes"] == pytest.approx(5, abs=0.3)
    other = tmp_path / "other.db"
    run_json(other, *light("light-belt-420", 20, "--site", "lower-back", "--time-scale", "600"))
    elsewhere = run_json(
        other, *light("light-belt-800", 20, "--site", "abdomen", "--time-scale", "600")
    )
    assert elsewhere["end_reason"] == "completed" and elsewhere["limits_applied"] == []
    assert elsewhere["actual_minutes"] == pytest.approx(20, abs=0.3)


def test_heat_from_two_pads_on_one_site_is_limited_together(tmp_path: Path) -> None:
    """Site heat sessions tightened to 1 by a limits file: a heat pad on lower-back, then a
    thermal pad on lower-back is refused (daily_limit, the site named, journaled as a
    refusal); the thermal pad on neck runs."""
    db = tmp_path / "j.db"
    limits = tmp_path / "limits.toml"
    limits.write_text("site_heat_sessions_24h = 1\n", encoding="utf-8")
    common = ("--limits", str(limits), "--time-scale", "300")
    pad = run_json(db, *heat("heat-pad", "--site", "lower-back", *common))
    assert pad["end_reason"] == "completed"
    refused = run_json(db, *heat("thermal-pad", "--site", "lower-back", *common))
    assert refused["end_reason"] == "daily_limit" and refused["actual_minutes"] == 0
    assert "heat on lower-back is limited to 1 sessions in any 24 hours" in refused["end_detail"]
    neck = run_json(db, *heat("thermal-pad", "--site", "neck", *common))
    assert neck["end_reason"] == "completed" and neck["site"] == "neck"
    with JournalReader(db) as reader:
        rows = {r.session_id: r for r in reader.sessions(include_refused=True)}
    assert rows[refused["session_id"]].refused and rows[refused["session_id"]].site == (
        "lower-back"
    )


def test_a_device_remembers_its_site_and_history_show_and_exports_carry_it(
    tmp_path: Path,
) -> None:
    """After `run --site neck`, the device's next run without --site is on neck too; the
    SITE column of history, show, --json and both exports name it."""
    db = tmp_path / "j.db"
    run_json(db, *light("light-belt-800", 2, "--site", "neck", "--time-scale", "600"))
    again = run_json(db, *light("light-belt-800", 2, "--time-scale", "600"))
    assert again["site"] == "neck"
    table = cli("history", "--db", str(db)).stdout.splitlines()
    assert table[0].split()[:3] == ["STARTED", "DEVICE", "SITE"]
    line = next(row for row in table if again["session_id"] in row)
    assert line.split()[3] == "neck"
    shown = cli("show", again["session_id"], "--db", str(db))
    assert "body site: neck" in shown.stdout
    assert "per body site in 24 h: heat 4 sessions, CEM43 60 min, light 30 min" in shown.stdout
    assert json.loads(cli("show", "last", "--db", str(db), "--json").stdout)["site"] == "neck"
    out = tmp_path / "all.json"
    assert (
        cli("export", "--all", "--format", "json", "-o", str(out), "--db", str(db)).returncode == 0
    )
    assert {s["site"] for s in json.loads(out.read_text())["sessions"]} == {"neck"}
    csv_text = cli("export", "last", "--format", "csv", "--db", str(db)).stdout
    header, first = csv_text.splitlines()[:2]
    assert first.split(",")[header.split(",").index("site")] == "neck"


@pytest.mark.parametrize(
    ("site", "message"),
    [
        ("", "give a site name"),
        ("x" * 41, "at most 40 characters"),
        ("neck\x01", "printable"),
    ],
)
def test_a_bad_site_is_one_line_and_exit_2(tmp_path: Path, site: str, message: str) -> None:
    """--site that is not a site name: exit 2, one line saying why, nothing started or
    written (on run and on dose)."""
    db = tmp_path / "j.db"
    for args in (
        ["run", *heat("heat-pad", "--site", site), "--db", str(db)],
        ["dose", "--site", site, "--db", str(db)],
    ):
        result = cli(*args)
        assert result.returncode == 2, result.stderr
        [line] = result.stderr.splitlines()
        assert line.startswith("therapyctl: error: --site: ") and message in line
        assert "Traceback" not in result.stderr
    assert not db.exists()


def test_dose_on_a_fresh_machine_says_no_sessions_yet(tmp_path: Path) -> None:
    """No journal yet: `dose` says so, exit 0; --json gives no sites."""
    db = tmp_path / "none.db"
    result = cli("dose", "--db", str(db))
    assert result.returncode == 0 and "no sessions yet" in result.stdout
    assert dose_json(db) == {"sites": [], "days": []}
    assert dose_json(db, "--days", "7") == {"sites": [], "days": []}
    assert not db.exists()


def test_dose_shows_each_site_and_what_is_left(tmp_path: Path) -> None:
    """Heat, cold and light on lower-back and light on abdomen: `dose` gives per site the
    24-hour minutes, sessions, CEM43, J, the last cold start and what is left; --site one."""
    db = tmp_path / "j.db"
    hot = run_json(db, *heat("thermal-pad", "--site", "lower-back", "--time-scale", "300"))
    cold = run_json(
        db,
        "--sim",
        "thermal-pad",
        "--mode",
        "cold",
        "--minutes",
        "3",
        "--site",
        "lower-back",
        "--time-scale",
        "300",
    )
    belt = run_json(db, *light("light-belt-800", 10, "--site", "lower-back", "--time-scale", "600"))
    run_json(db, *light("light-belt-420", 5, "--site", "abdomen", "--time-scale", "600"))
    assert {hot["end_reason"], cold["end_reason"], belt["end_reason"]} == {"completed"}
    sites = {entry["site"]: entry for entry in dose_json(db)["sites"]}
    assert set(sites) == {"lower-back", "abdomen"}
    back = sites["lower-back"]
    assert back["heat"]["sessions"] == 1 and back["heat"]["sessions_left"] == 3
    assert back["heat"]["minutes"] == pytest.approx(2, abs=0.3)
    assert back["heat"]["cem43_min"] == pytest.approx(hot["cem43_minutes"], abs=0.05)
    assert back["heat"]["cem43_min_left"] == pytest.approx(60 - back["heat"]["cem43_min"])
    assert back["cold"]["minutes"] == pytest.approx(3, abs=0.3)
    assert back["cold"]["last_start"] is not None and back["cold"]["next_start"] is not None
    assert back["light"]["minutes"] == pytest.approx(10, abs=0.3)
    assert back["light"]["energy_j"] == pytest.approx(belt["energy_j"], rel=0.05)
    assert back["light"]["minutes_left"] == pytest.approx(30 - back["light"]["minutes"])
    assert sites["abdomen"]["light"]["minutes"] == pytest.approx(5, abs=0.3)
    assert sites["abdomen"]["heat"]["sessions"] == 0
    only = dose_json(db, "--site", "Abdomen")["sites"]
    assert [entry["site"] for entry in only] == ["abdomen"]
    text = cli("dose", "--db", str(db)).stdout
    assert "lower-back (the last 24 hours, every device on it added up)" in text
    assert "heat:  1 of 4 sessions" in text and "next cold from" in text
    assert re.search(r"light: \d+\.\d of 30 min, \d+ J, \d+\.\d\d J/cm² — \d+\.\d min left", text)


def test_dose_gives_j_per_cm2_and_per_calendar_day(tmp_path: Path) -> None:
    """Two simulated belts on lower-back and a pad on neck: `dose --json` gives light J/cm²
    per site = each belt's J / its model's documented area (800 mW: 20 x 10 cm, 420 mW:
    15 x 10 cm), and under "days" today's per-site totals (equal to the rolling 24 h ones
    here) and earlier days empty; the text labels the rolling day and the calendar days."""
    db = tmp_path / "j.db"
    big = run_json(db, *light("light-belt-800", 10, "--site", "lower-back", "--time-scale", "600"))
    small = run_json(db, *light("light-belt-420", 5, "--site", "lower-back", "--time-scale", "600"))
    pad = run_json(db, *heat("heat-pad", "--site", "neck", "--time-scale", "300"))
    assert {big["end_reason"], small["end_reason"], pad["end_reason"]} == {"completed"}
    with JournalReader(db) as reader:
        uses = {use.session_id: use for use in reader.light_uses()}
    energy = {
        key: uses[run["session_id"]].energy_j for key, run in (("big", big), ("small", small))
    }
    assert energy["big"] == pytest.approx(big["energy_j"], rel=0.05)
    expected_j_cm2 = energy["big"] / (20 * 10) + energy["small"] / (15 * 10)
    before = date.today().isoformat()
    shown = dose_json(db, "--days", "3")
    after = date.today().isoformat()
    back = next(entry for entry in shown["sites"] if entry["site"] == "lower-back")
    assert back["light"]["fluence_j_cm2"] == pytest.approx(expected_j_cm2, abs=0.002)
    neck = next(entry for entry in shown["sites"] if entry["site"] == "neck")
    assert neck["light"]["fluence_j_cm2"] == 0  # no light there: 0 J/cm², known
    days = shown["days"]
    assert len(days) == 3 and days[0]["day"] in {before, after}
    assert [d["day"] for d in days] == sorted((d["day"] for d in days), reverse=True)
    assert days[1]["sites"] == days[2]["sites"] == []
    today = {entry["site"]: entry for entry in days[0]["sites"]}
    assert set(today) == {"lower-back", "neck"}
    assert today["lower-back"]["light"]["fluence_j_cm2"] == pytest.approx(expected_j_cm2, abs=0.002)
    assert today["lower-back"]["light"]["minutes"] == pytest.approx(back["light"]["minutes"])
    assert today["lower-back"]["light"]["energy_j"] == pytest.approx(back["light"]["energy_j"])
    assert today["neck"]["heat"]["sessions"] == 1
    assert today["neck"]["heat"]["cem43_min"] == pytest.approx(neck["heat"]["cem43_min"])
    text = cli("dose", "--days", "2", "--db", str(db)).stdout
    assert "lower-back (the last 24 hours, every device on it added up)" in text
    assert "per calendar day (local time; each use counted on the day it started" in text
    assert f"{expected_j_cm2:.2f} J/cm²" in text
    assert re.search(r"\d{4}-\d\d-\d\d: nothing", text), text
    only = dose_json(db, "--site", "neck", "--days", "1")["days"]
    assert [[entry["site"] for entry in d["sites"]] for d in only] == [["neck"]]


@pytest.mark.parametrize("days", ["0", "-3", "367", "nan", "1e308", "9" * 400, ""])
def test_dose_days_out_of_range_is_a_usage_error(tmp_path: Path, days: str) -> None:
    """--days that is not 1..366 whole days: exit 2 naming --days, no traceback."""
    result = cli("dose", "--days", days, "--db", str(tmp_path / "j.db"))
    assert result.returncode == 2, result.stderr
    assert "--days" in result.stderr and "Traceback" not in result.stderr


def test_site_usage_survives_kill_9_of_run_mid_session(tmp_path: Path) -> None:
    """A belt on lower-back killed (SIGKILL) at 22 min of light: another belt on
    lower-back gets only what is left of the site's 30 min (about 8, the killed one
    credited from its samples plus one lease), not a fresh 30."""
    db = tmp_path / "j.db"
    killed = run_until(
        db, light("light-belt-800", 30, "--site", "lower-back", "--time-scale", "120"), 22
    )
    killed.send_signal(signal.SIGKILL)
    killed.wait(10)
    other = run_json(
        db, *light("light-belt-420", 30, "--site", "lower-back", "--time-scale", "600")
    )
    assert other["end_reason"] == "completed"
    assert any("light on lower-back" in m for m in other["limits_applied"])
    # 22 min, less at most one unwritten batch (two device minutes at 120x), plus one lease
    assert 5.5 <= other["actual_minutes"] <= 10.0, other["actual_minutes"]
    with JournalReader(db) as reader:
        interrupted = [r for r in reader.sessions() if r.end_reason == "interrupted"]
    assert [r.site for r in interrupted] == ["lower-back"]
