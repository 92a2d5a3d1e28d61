"""The diary in the journal (schema 6): episodes and pain ratings, every value checked before
anything is written, an older journal read as having none, and what the regimen counts
(``done``) and proposes (``due_list``) read back from real uses."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from device.journal import (
    MIGRATIONS,
    DiaryError,
    JournalError,
    JournalReader,
    JournalWriter,
    end_episode,
    record_pain,
    start_episode,
)
from device.safety import Awake
from device.sessions import RegimenSettings, due_list, heat_warning
from protocols import Mode
from tests.device.journal.test_sites import BELT, PAD, used

H = 3600.0
ALWAYS = RegimenSettings(Awake(0, 24 * 60))


def fresh(tmp_path: Path) -> Path:
    path = tmp_path / "journal.sqlite3"
    JournalWriter(path).close()
    return path


def rows(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def test_pain_ratings_round_trip_with_site_note_session_and_moment(tmp_path: Path) -> None:
    path = fresh(tmp_path)
    now = time.time()
    first = record_pain(path, 7, site="Lower Back", note="stiff getting up", at=now - 3 * H)
    second = record_pain(path, "4", site="lower-back", moment="after", at=now - H)
    third = record_pain(path, 0)
    with JournalReader(path) as reader:
        everything = reader.pain()
        assert everything == [first, second, third]
        assert [r.rating for r in everything] == [7, 4, 0]
        assert first.site == "lower-back" and first.note == "stiff getting up"
        assert reader.pain(since=now - 2 * H) == [second, third]
        assert reader.pain(site="lower-back") == [first, second]
        assert reader.pain(until=now - 2 * H) == [first]
    assert second.as_json()["moment"] == "after" and second.as_json()["rating"] == 4


@pytest.mark.parametrize(
    "bad",
    [11, -1, "abc", "", "5.5", 4.5, float("nan"), float("inf"), 1e308, 10**400, True, None, "1e1"],
)
def test_a_bad_rating_is_refused_in_words_and_nothing_is_written(
    tmp_path: Path, bad: object
) -> None:
    path = fresh(tmp_path)
    with pytest.raises(DiaryError) as caught:
        record_pain(path, bad)
    assert str(caught.value).startswith("pain: ")
    assert "0-10" in str(caught.value) or "worst" in str(caught.value)
    assert len(str(caught.value)) < 120  # a 400-digit number is not echoed
    assert rows(path, "pain") == 0


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"at": time.time() + 3600}, "future"),
        ({"at": 12.0}, "2000"),
        ({"at": float("nan")}, "not a time"),
        ({"note": "x" * 501}, "at most"),
        ({"note": "a\x1b[2Jb"}, "control"),
        ({"note": "pain \u202egnorts"}, "direction"),
        ({"site": ""}, "site"),
        ({"moment": "during"}, "moment"),
    ],
)
def test_a_bad_time_note_site_or_moment_writes_nothing(
    tmp_path: Path, kwargs: dict[str, object], words: str
) -> None:
    path = fresh(tmp_path)
    with pytest.raises(DiaryError, match=words):
        record_pain(path, 5, **kwargs)  # type: ignore[arg-type]
    assert rows(path, "pain") == 0


def test_the_database_refuses_a_bad_rating_whoever_writes(tmp_path: Path) -> None:
    path = fresh(tmp_path)
    conn = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO pain (at, rating) VALUES (1.0, 11)")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO episodes (site, started_at, acute_h) VALUES ('x', 1, 100)")
    finally:
        conn.close()


def test_one_open_episode_per_site_and_ending_it(tmp_path: Path) -> None:
    path = fresh(tmp_path)
    now = time.time()
    back = start_episode(path, "lower-back", at=now - 10 * H)
    neck = start_episode(path, "neck", at=now - 2 * H, acute_h=48, kind="strain")
    with pytest.raises(DiaryError, match="open since"):
        start_episode(path, "Lower Back")
    with pytest.raises(DiaryError, match="48 and 72"):
        start_episode(path, "knee-left", acute_h=96)
    with pytest.raises(DiaryError, match="kind"):
        start_episode(path, "knee-left", kind="fracture")
    with pytest.raises(DiaryError, match="give --site"):
        end_episode(path)  # two are open
    with pytest.raises(DiaryError, match="before it began"):
        end_episode(path, site="neck", at=now - 3 * H)
    ended = end_episode(path, site="neck")
    assert ended.id == neck.id and ended.ended_at is not None
    with JournalReader(path) as reader:
        assert reader.open_episode("lower-back") == back
        assert reader.open_episode("neck") is None
        assert [e.site for e in reader.episodes()] == ["neck", "lower-back"]
        assert reader.episodes(open_only=True) == [back]
    assert back.as_json(now)["phase"] == "acute"
    assert ended.as_json(time.time())["phase"] == "ended"
    with pytest.raises(DiaryError, match="no episode is open on neck"):
        end_episode(path, site="neck")


def test_next_cold_is_due_two_hours_after_the_last_cold_use_on_the_site(tmp_path: Path) -> None:
    path = fresh(tmp_path)
    start_episode(path, "lower-back", at=time.time() - 10 * H)
    with JournalReader(path) as reader:
        [(episode, due)] = due_list(reader, time.time(), ALWAYS)
    assert episode.site == "lower-back" and due.modality == "cold" and due.is_due(time.time())

    writer = JournalWriter(path)
    try:
        used(writer, "cold-1", PAD, Mode.COLD, "lower-back", 15 * 60)
        used(writer, "cold-elsewhere", BELT, Mode.COLD, "neck", 15 * 60)
    finally:
        writer.close()
    with JournalReader(path) as reader:
        done = reader.done(site="lower-back")
        assert [(d.modality, d.site) for d in done] == [("cold", "lower-back")]
        [(_, due)] = due_list(reader, time.time(), ALWAYS)
    assert due.modality == "cold" and due.at == done[0].started_at + 2 * H


def test_heat_in_the_acute_phase_is_warned_about_once_per_episode(tmp_path: Path) -> None:
    path = fresh(tmp_path)
    assert heat_warning(path, "lower-back", True) is None  # no episode: nothing to say
    start_episode(path, "lower-back", at=time.time() - 10 * H)
    assert heat_warning(path, "lower-back", False) is None  # cold: nothing to say
    assert heat_warning(path, None, True) is None  # no site: nothing to say
    first = heat_warning(path, "lower-back", True)
    assert first is not None and "48-72 h" in first
    assert heat_warning(path, "lower-back", True) is None  # said once, in this episode
    end_episode(path, site="lower-back")
    with pytest.raises(DiaryError, match="starts after it"):  # episodes do not overlap
        start_episode(path, "lower-back", at=time.time() - H)
    start_episode(path, "lower-back")
    assert heat_warning(path, "lower-back", True) is not None  # a new episode: said again
    start_episode(path, "neck", at=time.time() - 80 * H)
    assert heat_warning(path, "neck", True) is None  # after the acute phase: heat is right


def test_a_journal_before_the_diary_is_read_as_having_none_and_migrated_by_a_writer(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:5], start=1):
        conn.executescript(script + f"PRAGMA user_version = {number};")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with JournalReader(path) as reader:
        assert reader.episodes() == [] and reader.pain() == [] and reader.done() == []
        assert due_list(reader, time.time(), ALWAYS) == []
    assert path.read_bytes() == before  # readers never migrate
    record_pain(path, 3)  # a writer migrates
    with JournalReader(path) as reader:
        assert [r.rating for r in reader.pain()] == [3]


def test_a_read_only_journal_says_so_and_the_warning_never_raises(tmp_path: Path) -> None:
    from tests.ui.cli.test_journal import read_only_copy

    path = fresh(tmp_path)
    start_episode(path, "lower-back", at=time.time() - 10 * H)
    with read_only_copy(path, tmp_path) as frozen:
        with pytest.raises(JournalError, match=r"read-only|cannot be opened"):
            record_pain(frozen, 3)
        assert heat_warning(frozen, "lower-back", True) is None  # a reminder never raises
        with JournalReader(frozen) as reader:
            assert reader.pain() == [] and len(reader.episodes()) == 1


def test_two_starts_at_once_make_one_open_episode(tmp_path: Path) -> None:
    """Eight processes' worth of `episode start` at the same moment: one wins, the others are
    told an episode is open (the check and the insert are one transaction, and the database
    keeps one open episode per site whoever writes)."""
    import threading

    path = fresh(tmp_path)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        try:
            start_episode(path, "neck")
            outcomes.append("started")
        except JournalError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("started") == 1, outcomes
    assert all("open since" in o or "locked" in o for o in outcomes if o != "started")
    with JournalReader(path) as reader:
        assert len(reader.episodes(site="neck", open_only=True)) == 1
    conn = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO episodes (site, started_at) VALUES ('neck', 1e9)")
    finally:
        conn.close()
    end_episode(path, site="neck")  # and it can be ended


def test_a_time_a_little_ahead_is_now_never_in_the_future(tmp_path: Path) -> None:
    path = fresh(tmp_path)
    ahead = time.time() + 30
    episode = start_episode(path, "neck", at=ahead)
    rating = record_pain(path, 2, at=ahead)
    assert episode.started_at <= time.time() and rating.at <= time.time()
    ended = end_episode(path, site="neck", at=time.time() + 30)
    assert ended.ended_at is not None and ended.ended_at <= time.time()
    assert ended.as_json(time.time())["phase"] == "ended"


def test_damaged_diary_rows_are_left_out_never_a_traceback(tmp_path: Path) -> None:
    path = fresh(tmp_path)
    start_episode(path, "neck", at=time.time() - 3 * H)
    start_episode(path, "knee-left", at=time.time() - 3 * H)
    record_pain(path, 4)
    record_pain(path, 5)
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.execute("PRAGMA ignore_check_constraints = ON")
            conn.execute("UPDATE episodes SET started_at = 'abc' WHERE site = 'neck'")
            conn.execute("UPDATE episodes SET acute_h = 1e308 WHERE site = 'knee-left'")
            conn.execute("UPDATE pain SET rating = 'abc' WHERE rating = 4")
            conn.execute("UPDATE pain SET at = 1e308 WHERE rating = 5")
    finally:
        conn.close()
    with JournalReader(path) as reader:
        assert reader.episodes() == [] and reader.pain() == []
        assert due_list(reader, time.time(), ALWAYS) == []
    assert heat_warning(path, "neck", True) is None
