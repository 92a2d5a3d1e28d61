"""A journal over days for the review and the exports, written through the public writer API
(JournalWriter begin/use_begins/use_ends/end, record_pain, start_episode), and the rows it
was written from, so tests recompute what the report should say from these rows, not from
the journal.

The writer stamps records with ``time.time()``; to put sessions on past days its module's
clock is replaced while it writes (the writer thread's own clock, ``monotonic``, is real).
Every moment is in the past, at a UTC hour of a past UTC day, so the day buckets are the
calendar's whatever the time of the run; the tests read the review in UTC too (the
machine's time zone and its DST changes play no part).
"""

from __future__ import annotations

import time
import types
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from device.journal import JournalWriter, record_pain, start_episode
from protocols import Mode

PAD = "C0:11:22:33:44:55"
BELT = "C0:66:77:88:99:AA"


def local(days_ago: int, hour: float, today: date | None = None) -> float:
    """Unix time of ``hour`` (UTC) on the day ``days_ago`` days before today (UTC's)."""
    day = (today or datetime.now(UTC).date()) - timedelta(days=days_ago)
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC).timestamp() + hour * 3600


@dataclass(frozen=True)
class Written:
    """A session as the test wrote it."""

    session_id: str
    address: str
    mode: str
    site: str | None
    started_at: float
    minutes: float
    cem43: float = 0.0
    energy_j: float = 0.0
    end_reason: str = "completed"
    before: int | None = None
    after: int | None = None
    refused: bool = False


@dataclass(frozen=True)
class Rating:
    at: float
    rating: int
    site: str | None
    session_id: str | None
    moment: str


@dataclass(frozen=True)
class Scenario:
    path: Path
    sessions: list[Written]
    ratings: list[Rating]  # every rating written, in the order written
    episode_start: float
    acute_h: float
    site: str


def identity(address: str) -> dict[str, str]:
    kind = "light-belt-800" if address == BELT else "thermal-pad"
    return {
        "kind": kind,
        "name": kind,
        "address": address,
        "model": kind,
        "firmware": "sim-1.0.0",
        "serial": "SIM-1",
    }


def write_journal(path: Path) -> Scenario:
    """Ten days of a spasm on lower-back: cold in its acute phase, then heat and light, a
    session on the neck, a refused request, pain before/after and at any time; one session
    and one rating three weeks ago (outside a 14-day report)."""
    site = "lower-back"
    sessions = [
        Written("c1", PAD, "cold", site, local(6, 10), 15, before=7, after=5),
        Written("c2", PAD, "cold", site, local(6, 12.5), 15, before=6, after=6),
        Written("c3", PAD, "cold", site, local(5, 9), 15, before=6, after=4),
        Written("h1", PAD, "heat", site, local(3, 10), 20, cem43=2.5, before=5, after=3),
        Written(
            "h2",
            PAD,
            "heat",
            site,
            local(2, 10),
            12,
            cem43=3.0,
            end_reason="user_stopped",
            before=4,
        ),
        Written("l1", BELT, "light", site, local(2, 15), 30, energy_j=900.0, before=4, after=4),
        Written("n1", PAD, "heat", "neck", local(1, 10), 20, cem43=1.25, before=3, after=2),
        Written("r1", PAD, "heat", site, local(2, 11), 0, end_reason="rest_required", refused=True),
        Written("old", PAD, "heat", site, local(21, 10), 20, cem43=2.0, before=8, after=6),
    ]
    clock = [0.0]
    fake = types.SimpleNamespace(time=lambda: clock[0], monotonic=time.monotonic)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("device.journal.writer.time", fake)
        _write_sessions(path, sessions, clock)
    ratings: list[Rating] = []
    for s in sessions:
        for moment, value, at in (
            ("before", s.before, s.started_at - 120),
            ("after", s.after, s.started_at + s.minutes * 60 + 300),
        ):
            if value is not None:
                record_pain(path, value, site=s.site, session_id=s.session_id, moment=moment, at=at)
                ratings.append(Rating(at, value, s.site, s.session_id, moment))
    for at, value, where in (
        (local(6, 20), 8, site),
        (local(4, 9), 5, site),
        (local(20, 9), 9, site),
    ):
        record_pain(path, value, site=where, at=at, note="any time")
        ratings.append(Rating(at, value, where, None, "any"))
    episode_start = local(6, 8)
    start_episode(path, site, at=episode_start, kind="spasm", acute_h=48)
    return Scenario(path, sessions, ratings, episode_start, 48.0, site)


def _write_sessions(path: Path, sessions: list[Written], clock: list[float]) -> None:
    writer = JournalWriter(path)
    try:
        for s in sorted(sessions, key=lambda s: s.started_at):
            clock[0] = s.started_at
            writer.begin(
                s.session_id,
                identity(s.address),
                mode=s.mode,
                plan=None,
                requested_minutes=s.minutes or 10,
                time_scale=1.0,
                limits={"heat_ceiling_c": 43.0},
                site=s.site,
            )
            ended = s.started_at + s.minutes * 60 + 1
            if s.refused:
                writer.end(
                    s.session_id,
                    refused=1,
                    end_reason=s.end_reason,
                    end_detail="rest 20 min after heat",
                    ended_at=s.started_at,
                )
                continue
            writer.use_begins(s.session_id, Mode[s.mode.upper()])
            clock[0] = ended
            writer.use_ends(s.session_id, s.minutes * 60)
            writer.end(
                s.session_id,
                end_reason=s.end_reason,
                actual_minutes=s.minutes,
                cem43_minutes=s.cem43 or None,
                energy_j=s.energy_j or None,
                ended_at=ended,
            )
    finally:
        writer.close()
