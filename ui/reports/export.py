"""Journal exports: CSV that opens cleanly in a spreadsheet, JSON that round-trips. Both carry
each session's body site and the pain ratings given before and after it; the JSON also the
diary (episodes and every pain rating)."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from device.journal import Episode, JournalReader, PainRating, SessionRow

EXPORT_FORMAT = "therapyctl-journal-export"
EXPORT_VERSION = 1

CSV_COLUMNS = (
    "session_id",
    "device_name",
    "device_address",
    "device_kind",
    "mode",
    "plan",
    "site",
    "session_started_at",
    "end_reason",
    "t_s",
    "at",
    "state",
    "sample_mode",
    "temperature_c",
    "setpoint_c",
    "power_mw",
    "output_on",
    "battery_pct",
    "contact",
    # issue 14: the session's pain ratings (0-10, the last given before and after it); last,
    # so every older column keeps its place
    "pain_before",
    "pain_after",
)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at).astimezone().isoformat(timespec="milliseconds")


def session_pain(ratings: Iterable[PainRating]) -> dict[str, dict[str, PainRating]]:
    """Per session id, its pain ratings by moment (``before``/``after``): the last one given
    of each (a rating corrected is given again)."""
    found: dict[str, dict[str, PainRating]] = {}
    for rating in sorted(ratings, key=lambda r: (r.at, r.id)):
        if rating.session_id is not None and rating.moment in ("before", "after"):
            found.setdefault(rating.session_id, {})[rating.moment] = rating
    return found


def _overlaps(episode: Episode, rows: list[SessionRow]) -> bool:
    """Whether a session ran on the episode's site while it was open."""
    return any(
        row.site == episode.site
        and episode.started_at <= row.started_at
        and (episode.ended_at is None or row.started_at < episode.ended_at)
        for row in rows
    )


def export_data(
    reader: JournalReader,
    sessions: list[SessionRow],
    *,
    diary: bool = True,
    now: float | None = None,
) -> dict[str, Any]:
    """Everything about ``sessions``: the JSON export's content. ``diary``: the whole diary
    (every episode and pain rating); else only the ratings of these sessions and the episodes
    they ran in."""
    at = time.time() if now is None else now
    ratings = reader.pain()
    episodes = reader.episodes()
    if not diary:
        ids = {row.session_id for row in sessions}
        ratings = [r for r in ratings if r.session_id in ids]
        episodes = [e for e in episodes if _overlaps(e, sessions)]
    by_session = session_pain(ratings)
    listed: dict[str, list[dict[str, Any]]] = {}
    for rating in ratings:
        if rating.session_id is not None:
            listed.setdefault(rating.session_id, []).append(rating.as_json())

    def pain_of(session_id: str) -> dict[str, Any]:
        moments = by_session.get(session_id, {})
        return {
            "before": moments["before"].rating if "before" in moments else None,
            "after": moments["after"].rating if "after" in moments else None,
            "ratings": listed.get(session_id, []),
        }

    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "sessions": [
            {
                **row.as_json(),
                "limits": reader.limits(row.session_id),
                "steps": reader.steps(row.session_id),
                "events": reader.events(row.session_id),
                "samples": reader.samples(row.session_id),
                "pain": pain_of(row.session_id),
            }
            for row in sessions
        ],
        "episodes": [e.as_json(at) for e in sorted(episodes, key=lambda e: (e.started_at, e.id))],
        "pain": [r.as_json() for r in ratings],
    }


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def to_csv(reader: JournalReader, sessions: list[SessionRow]) -> str:
    """One row per sample, with its session's columns; a session without samples: one row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    by_session = session_pain(reader.pain())
    for row in sessions:
        moments = by_session.get(row.session_id, {})
        pain = [
            str(moments[moment].rating) if moment in moments else ""
            for moment in ("before", "after")
        ]
        head = [
            row.session_id,
            row.device_name,
            row.device_address,
            row.device_kind,
            row.mode or "",
            row.plan or "",
            row.site or "",
            _iso(row.started_at),
            row.end_reason or "",
        ]
        samples = reader.samples(row.session_id)
        if not samples:
            writer.writerow([*head] + [""] * (len(CSV_COLUMNS) - len(head) - 2) + pain)
        for s in samples:
            writer.writerow(
                [
                    *head,
                    f"{s['t_s']:.3f}",
                    _iso(s["at"]),
                    s["state"],
                    s["mode"],
                    "" if s["temperature_c"] is None else f"{s['temperature_c']:.2f}",
                    "" if s["setpoint_c"] is None else f"{s['setpoint_c']:.2f}",
                    s["power_mw"],
                    s["output_on"],
                    s["battery_pct"],
                    s["contact"],
                    *pain,
                ]
            )
    return out.getvalue()
