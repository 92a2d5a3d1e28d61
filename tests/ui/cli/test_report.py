"""`therapyctl report` as a user runs it: a PNG, an SVG and an HTML page written, `--json`
whose numbers are recomputed here from the rows written, and every wrong input a usage
error (exit 2) in plain words, never a traceback. The journal is written in UTC days and the
command run with TZ=UTC, so the machine's time zone and its DST changes play no part."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.simserve import THERAPYCTL
from tests.ui.reports.diary_journal import Scenario, write_journal
from tests.ui.reports.expected import expected_review
from ui.reports.review import CAVEAT

IN_UTC = {**os.environ, "TZ": "UTC"}  # the review's days and waking hours are UTC's


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [THERAPYCTL, *args], check=False, capture_output=True, text=True, timeout=120, env=IN_UTC
    )


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return write_journal(tmp_path_factory.mktemp("report") / "journal.sqlite3")


@pytest.mark.parametrize(("days", "site"), [("14", None), ("5", "lower-back")])
def test_report_json_numbers_are_the_ones_recomputed_from_the_rows(
    scenario: Scenario, days: str, site: str | None
) -> None:
    """report --json: pain count and means, change per modality with n, adherence counts,
    the dose per day, all equal to a recomputation from the rows the test wrote."""
    args = ["report", "--days", days, "--json", "--db", str(scenario.path)]
    result = cli(*args, *(["--site", site] if site else []))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    want = expected_review(scenario, data["period"]["to_at"], int(days), site)
    assert data["caveat"] == CAVEAT and "not evidence" in data["caveat"]
    assert data["period"]["days"] == int(days) and data["period"]["site"] == site
    assert data["pain"]["ratings"] == want["ratings"]
    assert data["pain"]["mean"] == pytest.approx(want["mean"], abs=1e-3)
    for entry in data["pain"]["days"]:
        wanted = want["pain_days"][entry["day"]]
        assert entry["mean"] == (None if wanted is None else pytest.approx(wanted, abs=1e-3))
    assert {m: e["n"] for m, e in data["pain_change"].items()} == {
        m: n for m, (n, _) in want["change"].items()
    }
    for modality, (_, change) in want["change"].items():
        assert data["pain_change"][modality]["mean_change"] == pytest.approx(change, abs=1e-3)
    assert data["adherence"]["total"] == want["adherence"]
    for entry in data["dose_per_day"]:
        assert {k: v for k, v in entry.items() if k != "day"} == pytest.approx(
            want["dose"][entry["day"]]
        )
    assert [s["session_id"] for s in data["sessions"]] == want["session_ids"]


def test_report_writes_a_png_an_svg_and_an_html_page(scenario: Scenario, tmp_path: Path) -> None:
    """-o FILE.png: a real PNG of the figure's size; .svg parses; .html is one page with the
    SVG inline, the tables and the caveat."""
    png, svg, page = tmp_path / "r.png", tmp_path / "r.svg", tmp_path / "r.html"
    for path in (png, svg, page):
        result = cli("report", "-o", str(path), "--db", str(scenario.path))
        assert result.returncode == 0, result.stderr
        assert f"wrote {path}" in result.stdout
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1100, 850)
    assert len(data) > 20_000
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    assert "pain (0-10)" in svg.read_text(encoding="utf-8")
    text = page.read_text(encoding="utf-8")
    assert "<svg" in text and 'id="pain-change"' in text and 'id="adherence"' in text
    assert "one person&#x27;s record, not evidence" in text


def test_no_journal_yet_is_said_plainly(tmp_path: Path) -> None:
    """No journal: one line that says so, no traceback, nothing written."""
    out = tmp_path / "r.png"
    result = cli("report", "-o", str(out), "--db", str(tmp_path / "none.db"))
    assert result.returncode == 1
    assert "no journal yet" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["-o", "r.jpg"], ".png, .svg or .html"),
        (["-o", "r"], ".png, .svg or .html"),
        ([], "give -o FILE.png|FILE.svg|FILE.html, or --json"),
        (["--json", "--days", "0"], "--days"),
        (["--json", "--days", "367"], "--days"),
        (["--json", "--days", "-3"], "--days"),
        (["--json", "--days", "nan"], "--days"),
        (["--json", "--days", "1e308"], "--days"),
        (["--json", "--days", "9" * 400], "--days"),
        (["--json", "--site", "\x07bell"], "--site"),
        (["--json", "--awake", "22:00-07:00"], "--awake"),
        (["--json", "--awake", "soon"], "--awake"),
        (["-o", "no/such/dir/r.png"], "no such directory"),
        (["-o", "a-directory.png"], "is a directory"),
        (["-o", "/proc/therapyctl-review.png"], "cannot write"),
    ],
)
def test_wrong_input_is_a_usage_error_in_plain_words(
    scenario: Scenario, tmp_path: Path, args: list[str], said: str
) -> None:
    """A wrong suffix, no output asked, --days out of 1..366 or not a number, a bad site or
    waking hours, an -o that cannot be written: exit 2, the reason, no traceback."""
    (tmp_path / "a-directory.png").mkdir()
    result = subprocess.run(
        [THERAPYCTL, "report", *args, "--db", str(scenario.path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=IN_UTC,
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert said in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    written = {p.name for p in tmp_path.iterdir()}
    assert written == {"a-directory.png"}


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_directory_is_a_usage_error(scenario: Scenario, tmp_path: Path) -> None:
    """-o into a directory without write permission: exit 2, said before any work."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result = cli("report", "-o", str(folder / "r.png"), "--db", str(scenario.path))
    finally:
        folder.chmod(0o755)
    assert result.returncode == 2 and "cannot write there" in result.stderr
