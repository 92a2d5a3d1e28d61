"""The review over days and the journal exports, in process: the pain diary round-trips
through the journal, the JSON and CSV exports and the review; the review's numbers are the
ones recomputed from the rows written; the figure draws what it says. The journal is
written in UTC days and the review read in UTC (pinned, as the settings say), so neither
the machine's time zone nor its DST changes play a part."""

from __future__ import annotations

import csv
import io
import json
import struct
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from device.journal import JournalReader, JournalWriter
from device.safety import Awake
from device.sessions import RegimenSettings
from tests.ui.reports.diary_journal import Scenario, write_journal
from tests.ui.reports.expected import expected_review
from ui.reports.export import CSV_COLUMNS, export_data, to_csv
from ui.reports.review import (
    CAVEAT,
    ReviewError,
    build_review,
    day_noon,
    draw_review,
    wall_days,
    write_review,
)

IN_UTC = RegimenSettings(Awake(), UTC)  # the default waking hours, 07:00-22:00 UTC


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return write_journal(tmp_path_factory.mktemp("review") / "journal.sqlite3")


def review_of(scenario: Scenario, days: int = 14, site: str | None = None, now: float = 0.0):
    at = now or time.time()
    with JournalReader(scenario.path) as reader:
        return at, build_review(reader, at, days, site=site, settings=IN_UTC)


def test_the_pain_diary_round_trips_through_the_journal(scenario: Scenario) -> None:
    """Every rating written comes back: its time, value, site, session and moment."""
    with JournalReader(scenario.path) as reader:
        read = reader.pain()
    assert [(r.at, r.rating, r.site, r.session_id, r.moment) for r in read] == sorted(
        (r.at, r.rating, r.site, r.session_id, r.moment) for r in scenario.ratings
    )


@pytest.mark.parametrize(("days", "site"), [(14, None), (14, "lower-back"), (3, None), (7, "neck")])
def test_the_review_numbers_are_the_ones_recomputed_from_the_rows(
    scenario: Scenario, days: int, site: str | None
) -> None:
    """Ratings and their mean, the mean per day, the dose per day, the change per modality
    (n and mean of after - before) and the adherence counts equal a recomputation."""
    now, review = review_of(scenario, days, site)
    want = expected_review(scenario, now, days, site)
    assert review["pain"]["ratings"] == want["ratings"]
    assert review["pain"]["mean"] == pytest.approx(want["mean"], abs=1e-3)
    assert [d["day"] for d in review["pain"]["days"]] == sorted(want["pain_days"])
    for entry in review["pain"]["days"]:
        wanted = want["pain_days"][entry["day"]]
        assert entry["mean"] == (None if wanted is None else pytest.approx(wanted, abs=1e-3))
    assert [d["day"] for d in review["dose_per_day"]] == sorted(want["dose"])
    for entry in review["dose_per_day"]:
        wanted = want["dose"][entry["day"]]
        assert {k: v for k, v in entry.items() if k != "day"} == pytest.approx(wanted)
    got_change = {m: (e["n"], e["mean_change"]) for m, e in review["pain_change"].items()}
    assert set(got_change) == set(want["change"])
    for modality, (n, change) in want["change"].items():
        assert got_change[modality][0] == n
        assert got_change[modality][1] == pytest.approx(change, abs=1e-3)
    assert review["adherence"]["total"] == want["adherence"]
    assert [s["session_id"] for s in review["sessions"]] == want["session_ids"]
    assert review["caveat"] == CAVEAT


def test_the_scenario_gives_the_numbers_a_person_would_count(scenario: Scenario) -> None:
    """The recomputation itself, checked by hand on the 14 days: cold 3 sessions with both
    ratings (7->5, 6->6, 6->4: -4/3), heat 2 (5->3 lower-back, 3->2 neck: -1.5), light 1
    (4->4: 0); 17 cold slots in the 48 h acute phase (from 08:00 six days ago): the 07:00
    to 21:00 slots of two days and the 07:00 one of the third, 3 of them done."""
    now, review = review_of(scenario)
    change = review["pain_change"]
    assert (change["cold"]["n"], change["cold"]["mean_change"]) == (
        3,
        pytest.approx(-4 / 3, abs=1e-3),
    )
    assert (change["heat"]["n"], change["heat"]["mean_change"]) == (2, -1.5)
    assert (change["light"]["n"], change["light"]["mean_change"]) == (1, 0.0)
    total = review["adherence"]["total"]
    assert (total["cold_due"], total["cold_done"]) == (17, 3)
    assert total["heat_done"] == 2  # h1 and h2; the refused r1 turned nothing on
    assert "h2" in [s["session_id"] for s in review["sessions"]]
    assert "r1" not in [s["session_id"] for s in review["sessions"]]
    assert review["pain"]["ratings"] == 15  # 7 sessions: 13 ratings, and 2 at any time
    assert now > 0


def test_the_figure_draws_the_ratings_means_sessions_dose_and_the_caveat(
    scenario: Scenario,
) -> None:
    """Pain panel: each rating a point at its time, the daily mean a line at each day's
    noon, a marker series per modality; dose panel: heat CEM43 and cold minute bars, light
    J on a second axis; labels; the caveat and the change per modality written on it."""
    now, review = review_of(scenario)
    want = expected_review(scenario, now, 14)
    figure = draw_review(review, UTC)
    pain_ax, dose_ax, light_ax = figure.axes
    assert pain_ax.get_ylabel() == "pain (0-10)"
    assert dose_ax.get_xlabel() == "day"
    assert dose_ax.get_ylabel() == "heat CEM43 / cold (min per day)"
    assert light_ax.get_ylabel() == "light (J per day)"

    [points] = pain_ax.collections
    assert points.get_label() == "pain rating"
    inside = sorted((r.at, r.rating) for r in scenario.ratings if now - 14 * 86400 <= r.at < now)
    offsets = points.get_offsets()
    assert [tuple(map(float, xy)) for xy in offsets] == pytest.approx(
        [(wall_days(at, UTC), float(rating)) for at, rating in inside]
    )

    lines = {line.get_label(): line for line in pain_ax.get_lines()}
    assert set(lines) == {"daily mean pain", "cold session", "heat session", "light session"}
    means = {d: m for d, m in want["pain_days"].items() if m is not None}
    mean_line = lines["daily mean pain"]
    assert list(mean_line.get_xdata()) == pytest.approx([day_noon(d) for d in sorted(means)])
    assert list(mean_line.get_ydata()) == pytest.approx([means[d] for d in sorted(means)], abs=1e-3)
    for modality in ("cold", "heat", "light"):
        starts = [
            s.started_at
            for s in scenario.sessions
            if s.mode == modality and not s.refused and now - 14 * 86400 <= s.started_at
        ]
        assert list(lines[f"{modality} session"].get_xdata()) == pytest.approx(
            [wall_days(at, UTC) for at in sorted(starts)]
        )

    heat_bars, cold_bars = dose_ax.containers
    assert heat_bars.get_label() == "heat CEM43 (min)" and cold_bars.get_label() == "cold (min)"
    days = sorted(want["dose"])
    assert [b.get_height() for b in heat_bars] == pytest.approx(
        [want["dose"][d]["heat_cem43_min"] for d in days]
    )
    assert [b.get_height() for b in cold_bars] == pytest.approx(
        [want["dose"][d]["cold_min"] for d in days]
    )
    [light] = light_ax.get_lines()
    assert light.get_label() == "light (J)"
    lit = [d for d in days if want["dose"][d]["light_j"] > 0]
    assert list(light.get_ydata()) == [want["dose"][d]["light_j"] for d in lit] == [900.0]

    texts = [" ".join(t.get_text().split()) for t in figure.texts]
    assert CAVEAT in texts
    assert any("cold: -1.3 on average" in t and "n=3" in t for t in texts)
    assert any("cold 3 of 17 due" in t for t in texts)


def test_png_svg_and_html_are_written_and_a_wrong_suffix_is_refused(
    scenario: Scenario, tmp_path: Path
) -> None:
    """A real PNG (signature, 1100x850), an SVG that parses, a page with the SVG inline,
    the tables and the caveat; .jpg is refused before anything is written."""
    _, review = review_of(scenario)
    figure = draw_review(review, UTC)
    png, svg, page = tmp_path / "r.png", tmp_path / "r.svg", tmp_path / "r.html"
    for path in (png, svg, page):
        write_review(review, figure, path)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1100, 850)
    assert 20_000 < len(data) < 2_000_000
    assert ET.parse(svg).getroot().tag.endswith("svg")
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text and "<?xml" not in text
    assert 'id="pain-change"' in text and 'id="adherence"' in text and 'id="days"' in text
    assert CAVEAT.replace("'", "&#x27;") in text
    with pytest.raises(ReviewError, match=r"\.png, \.svg or \.html"):
        write_review(review, figure, tmp_path / "r.jpg")
    assert not (tmp_path / "r.jpg").exists()


def test_an_empty_journal_reviews_to_nothing_without_failing(tmp_path: Path) -> None:
    """No sessions, ratings or episodes: zero counts, no means, a figure all the same."""
    path = tmp_path / "j.db"
    JournalWriter(path).close()
    with JournalReader(path) as reader:
        review = build_review(reader, time.time(), 7, settings=IN_UTC)
    assert review["pain"]["ratings"] == 0 and review["pain"]["mean"] is None
    assert review["pain_change"] == {} and review["adherence"]["episodes"] == []
    assert len(review["dose_per_day"]) in (7, 8)
    figure = draw_review(review, UTC)
    texts = " ".join(" ".join(t.get_text().split()) for t in figure.texts)
    assert "no session has a rating both before and after it" in texts
    write_review(review, figure, tmp_path / "empty.png")


# ------------------------------------------------------------------ the JSON and CSV exports


def test_the_json_export_carries_sites_ratings_and_episodes_and_keeps_old_keys(
    scenario: Scenario,
) -> None:
    """Each session: its site and pain before/after with the ratings; the export: every
    episode and every rating; the keys of version 1 are all still there."""
    with JournalReader(scenario.path) as reader:
        data = json.loads(json.dumps(export_data(reader, reader.sessions())))
    assert data["format"] == "therapyctl-journal-export" and data["version"] == 1
    written = {s.session_id: s for s in scenario.sessions if not s.refused}
    assert {s["session_id"] for s in data["sessions"]} == set(written)
    for session in data["sessions"]:
        w = written[session["session_id"]]
        assert {"limits", "steps", "events", "samples", "device", "mode", "started_at"} <= set(
            session
        )
        assert session["site"] == w.site
        assert (session["pain"]["before"], session["pain"]["after"]) == (w.before, w.after)
        assert [r["moment"] for r in session["pain"]["ratings"]] == [
            m for m, v in (("before", w.before), ("after", w.after)) if v is not None
        ]
    assert len(data["pain"]) == len(scenario.ratings)
    assert sorted(r["rating"] for r in data["pain"]) == sorted(r.rating for r in scenario.ratings)
    [episode] = data["episodes"]
    assert (episode["site"], episode["kind"], episode["acute_hours"]) == ("lower-back", "spasm", 48)
    assert datetime.fromisoformat(episode["started_at"]).timestamp() == scenario.episode_start


def test_a_single_session_json_export_has_only_its_own_ratings(scenario: Scenario) -> None:
    """diary=False: the ratings of the exported sessions and the episode they ran in."""
    with JournalReader(scenario.path) as reader:
        data = export_data(reader, [reader.session("n1")], diary=False)
    assert [(r["session_id"], r["moment"]) for r in data["pain"]] == [
        ("n1", "before"),
        ("n1", "after"),
    ]
    assert data["episodes"] == []  # n1 ran on the neck; the episode is on lower-back
    with JournalReader(scenario.path) as reader:
        data = export_data(reader, [reader.session("c1")], diary=False)
    assert [e["site"] for e in data["episodes"]] == ["lower-back"]


def test_the_csv_export_has_the_site_and_pain_columns_last(scenario: Scenario) -> None:
    """pain_before and pain_after are the last two columns (the older ones keep their
    places); each row of a session carries its ratings, empty when none was given."""
    assert CSV_COLUMNS[-2:] == ("pain_before", "pain_after")
    assert CSV_COLUMNS.index("contact") == len(CSV_COLUMNS) - 3
    with JournalReader(scenario.path) as reader:
        text = to_csv(reader, reader.sessions())
    rows = list(csv.DictReader(io.StringIO(text)))
    written = {s.session_id: s for s in scenario.sessions}
    assert {r["session_id"] for r in rows} == {k for k, s in written.items() if not s.refused}
    for row in rows:
        w = written[row["session_id"]]
        assert row["site"] == (w.site or "")
        assert row["pain_before"] == ("" if w.before is None else str(w.before))
        assert row["pain_after"] == ("" if w.after is None else str(w.after))
