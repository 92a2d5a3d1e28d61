"""The diary part of the journal: episodes (a spasm on a body site, when it began and ended)
and pain ratings (0-10, before or after a session or at any time).

Written directly and at once (a command or a question answered: one short transaction, not
the sample stream's writer thread); every value is checked here, whoever calls, before it
is written: a rating is a whole number 0-10, a time is a real time not in the future, a note
is short printable text.
"""

from __future__ import annotations

import math
import sqlite3
import time
import unicodedata
from pathlib import Path
from typing import Any, NamedTuple

from device.journal.schema import JournalError, iso, open_for_writing, translate_error
from device.safety import (
    ACUTE_H_DEFAULT,
    EPISODE_KINDS,
    EpisodeInfo,
    RegimenError,
    SiteError,
    check_acute_hours,
    normalise_site,
)

PAIN_MIN = 0
PAIN_MAX = 10
NOTE_MAX_CHARS = 500
MOMENTS = ("before", "after", "any")
EARLIEST = 946684800.0  # 2000-01-01: anything earlier is a wrong clock or a typo
FUTURE_SLACK_S = 60.0  # a clock a minute ahead is still "now"


# Bidirectional overrides and isolates: they reorder what a terminal, a page or an export
# shows after them (a note is shown in all three).
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class DiaryError(JournalError):
    """A rating, time, note or episode the diary cannot take, in plain words."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(what, reason)
        self.args = (f"{what}: {reason}",)

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class Episode(NamedTuple):
    id: int
    site: str
    kind: str
    started_at: float
    ended_at: float | None
    acute_h: float
    heat_warned_at: float | None
    note: str | None

    def info(self) -> EpisodeInfo:
        return EpisodeInfo(self.site, self.started_at, self.acute_h, self.ended_at, self.kind)

    def as_json(self, now: float) -> dict[str, Any]:
        info = self.info()
        return {
            "id": self.id,
            "site": self.site,
            "kind": self.kind,
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at) if self.ended_at is not None else None,
            "acute_hours": self.acute_h,
            "acute_until": iso(info.acute_until),
            "phase": info.phase(now),
            "note": self.note,
        }


class PainRating(NamedTuple):
    id: int
    at: float
    rating: int
    site: str | None
    session_id: str | None
    moment: str
    note: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "rating": self.rating,
            "site": self.site,
            "session_id": self.session_id,
            "moment": self.moment,
            "note": self.note,
        }


def check_rating(value: object) -> int:
    """A pain rating: a whole number 0 (none) to 10 (the worst imaginable)."""
    number: float
    if isinstance(value, bool):
        raise DiaryError("pain", f"{value!r} is not a rating: give a whole number 0-10")
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 2:  # not "²"
            raise DiaryError("pain", f"{value!r} is not a rating: give a whole number 0-10")
        number = int(text)
    elif isinstance(value, int) and abs(value) > 1000:
        raise DiaryError("pain", "a number that large is not a rating: give a whole number 0-10")
    elif isinstance(value, int | float):
        number = value
    else:
        raise DiaryError("pain", f"{value!r} is not a rating: give a whole number 0-10")
    if not math.isfinite(number) or number != int(number) or not PAIN_MIN <= number <= PAIN_MAX:
        raise DiaryError(
            "pain", f"{value!r} is not a rating: 0 is no pain, 10 the worst imaginable"
        )
    return int(number)


def check_time(at: float, now: float, what: str) -> float:
    if not isinstance(at, int | float) or isinstance(at, bool) or not math.isfinite(at):
        raise DiaryError(what, f"{at!r} is not a time")
    if at < EARLIEST:
        raise DiaryError(what, "that is before the year 2000: check the date")
    if at > now + FUTURE_SLACK_S:
        raise DiaryError(what, "that is in the future: give a time up to now")
    return min(float(at), now)  # a clock a little ahead is "now", never a future entry


def check_note(note: str | None) -> str | None:
    text = (note or "").strip()
    if not text:
        return None
    if len(text) > NOTE_MAX_CHARS:
        raise DiaryError("note", f"a note is at most {NOTE_MAX_CHARS} characters")
    if any(unicodedata.category(char) == "Cc" or char in _BIDI for char in text):
        raise DiaryError(
            "note", "a note cannot contain control characters (nor text-direction overrides)"
        )
    return text


def _site(site: str | None) -> str | None:
    try:
        return None if site is None else normalise_site(site)
    except SiteError as exc:
        raise DiaryError("site", exc.reason) from exc


def _write(path: Path, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
    conn = open_for_writing(path)
    try:
        with conn:
            return conn.execute(sql, params)
    except sqlite3.Error as exc:
        raise translate_error(str(path), exc) from exc
    finally:
        conn.close()


def record_pain(
    path: Path,
    rating: object,
    *,
    site: str | None = None,
    note: str | None = None,
    session_id: str | None = None,
    moment: str = "any",
    at: float | None = None,
) -> PainRating:
    """Write one rating (checked first; nothing is written if any part is wrong)."""
    now = time.time()
    value = check_rating(rating)
    when = now if at is None else check_time(at, now, "pain")
    if moment not in MOMENTS:
        raise DiaryError("pain", f"moment {moment!r}: one of {', '.join(MOMENTS)}")
    where, text = _site(site), check_note(note)
    cursor = _write(
        path,
        "INSERT INTO pain (at, rating, site, session_id, moment, note) VALUES (?, ?, ?, ?, ?, ?)",
        (when, value, where, session_id, moment, text),
    )
    return PainRating(int(cursor.lastrowid or 0), when, value, where, session_id, moment, text)


def start_episode(
    path: Path,
    site: str,
    *,
    at: float | None = None,
    kind: str = "spasm",
    acute_h: float = ACUTE_H_DEFAULT,
    note: str | None = None,
) -> Episode:
    """Record that an episode began on ``site``; one open episode per site."""
    now = time.time()
    where = _site(site)
    assert where is not None
    when = now if at is None else check_time(at, now, "episode")
    if kind not in EPISODE_KINDS:
        raise DiaryError("episode", f"kind {kind!r}: one of {', '.join(EPISODE_KINDS)}")
    try:
        hours = check_acute_hours(acute_h)
    except RegimenError as exc:
        raise DiaryError("episode", str(exc)) from exc
    text = check_note(note)
    conn = open_for_writing(path)
    try:
        conn.execute("BEGIN IMMEDIATE")  # the check and the insert as one: two at once, one wins
        with conn:
            open_one = conn.execute(
                "SELECT id, started_at FROM episodes WHERE site = ? AND ended_at IS NULL",
                (where,),
            ).fetchone()
            if open_one:
                raise DiaryError(
                    "episode",
                    f"an episode on {where} is open since {iso(open_one['started_at'])}:"
                    f" end it first (`therapyctl episode end --site {where}`)",
                )
            overlapped = conn.execute(
                "SELECT max(ended_at) AS ended_at FROM episodes WHERE site = ? AND ended_at > ?",
                (where, when),
            ).fetchone()
            if overlapped and overlapped["ended_at"] is not None:
                raise DiaryError(
                    "episode",
                    f"the last episode on {where} ended {iso(overlapped['ended_at'])}: a new one"
                    " starts after it",
                )
            cursor = conn.execute(
                "INSERT INTO episodes (site, kind, started_at, acute_h, note)"
                " VALUES (?, ?, ?, ?, ?)",
                (where, kind, when, hours, text),
            )
        return Episode(int(cursor.lastrowid or 0), where, kind, when, None, hours, None, text)
    except sqlite3.Error as exc:
        raise translate_error(str(path), exc) from exc
    finally:
        conn.close()


def end_episode(path: Path, *, site: str | None = None, at: float | None = None) -> Episode:
    """End the open episode (on ``site``, or the only one open)."""
    now = time.time()
    where = _site(site)
    when = now if at is None else check_time(at, now, "episode")
    conn = open_for_writing(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        with conn:
            rows = conn.execute(
                "SELECT * FROM episodes WHERE ended_at IS NULL"
                + (" AND site = ?" if where else ""),
                (where,) if where else (),
            ).fetchall()
            if not rows:
                raise DiaryError(
                    "episode", "no episode is open" + (f" on {where}" if where else "")
                )
            if len(rows) > 1:
                sites = ", ".join(row["site"] for row in rows)
                raise DiaryError("episode", f"episodes are open on {sites}: give --site")
            row = rows[0]
            if when < row["started_at"]:
                raise DiaryError("episode", "it cannot end before it began")
            conn.execute("UPDATE episodes SET ended_at = ? WHERE id = ?", (when, row["id"]))
        return Episode(**{**dict(row), "ended_at": when})
    except sqlite3.Error as exc:
        raise translate_error(str(path), exc) from exc
    finally:
        conn.close()


def mark_heat_warned(path: Path, episode_id: int, at: float | None = None) -> bool:
    """Note that heat in this episode's acute phase was warned about; True only the first
    time (so the warning is said once per episode, across processes)."""
    when = time.time() if at is None else at
    cursor = _write(
        path,
        "UPDATE episodes SET heat_warned_at = ? WHERE id = ? AND heat_warned_at IS NULL",
        (when, episode_id),
    )
    return cursor.rowcount > 0
