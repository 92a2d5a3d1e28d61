"""What the review should say, recomputed from the rows a test wrote (diary_journal.Scenario),
by straightforward loops that share nothing with ui.reports.review or device.safety.

Every day and hour here is UTC's (the scenario is written in UTC days, and the tests pin
the review's time zone to UTC), so nothing depends on the machine's zone or its DST.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.ui.reports.diary_journal import Scenario

DAY_S = 86400.0
HOUR_S = 3600.0
AWAKE_FROM_H, AWAKE_UNTIL_H = 7, 22  # the default waking hours 07:00-22:00
COLD_EVERY_H, HEAT_EVERY_H = 2, 4  # guidance: cold every 2 h; heat every 4 h


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def day_of(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).date().isoformat()


def adherence_counts(scenario: Scenario, start: float, now: float) -> dict[str, int]:
    """The regimen's slots, counted by hand: each UTC day, cold slots at 07, 09, ... 21 and
    heat slots at 07, 11, 15, 19 o'clock; a slot of a phase is due when the part of its
    window [at, at + every) before 22:00 overlaps the phase (cold: the episode's start to
    the end of its acute phase; heat: from then on) within the report (from ``start``, or
    the episode's start if later, to ``now``), and its whole window has passed by ``now``;
    done when a session of its modality on the episode's site began in its window; not due
    when a session just before it puts the next allowed start (every h later) past its
    waking part."""
    begin = max(start, scenario.episode_start)
    acute_until = scenario.episode_start + scenario.acute_h * HOUR_S
    phases = {"cold": (begin, min(acute_until, now)), "heat": (max(begin, acute_until), now)}
    counts = {"cold_due": 0, "cold_done": 0, "heat_due": 0, "heat_done": 0}
    midnight = datetime.fromtimestamp(scenario.episode_start, UTC).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    while midnight.timestamp() < now:
        day = midnight.timestamp()
        for modality, every_h in (("cold", COLD_EVERY_H), ("heat", HEAT_EVERY_H)):
            phase_from, phase_to = phases[modality]
            for hour in range(AWAKE_FROM_H, AWAKE_UNTIL_H, every_h):
                at = day + hour * HOUR_S
                closes = at + every_h * HOUR_S
                waking_until = min(closes, day + AWAKE_UNTIL_H * HOUR_S)
                if not (at < phase_to and waking_until > phase_from and closes <= now):
                    continue
                starts = [
                    s.started_at
                    for s in scenario.sessions
                    if s.mode == modality and s.site == scenario.site and not s.refused
                ]
                if any(at <= started < closes for started in starts):
                    counts[f"{modality}_due"] += 1
                    counts[f"{modality}_done"] += 1
                elif not any(  # a session just before made the slot impossible while awake
                    at - every_h * HOUR_S < started < at
                    and started + every_h * HOUR_S >= waking_until
                    for started in starts
                ):
                    counts[f"{modality}_due"] += 1
        midnight += timedelta(days=1)
    return counts


def expected_review(
    scenario: Scenario, now: float, days: int, site: str | None = None
) -> dict[str, Any]:
    start = now - days * DAY_S
    sessions = [
        s
        for s in scenario.sessions
        if not s.refused and start <= s.started_at <= now and (site is None or s.site == site)
    ]
    ratings = [
        r for r in scenario.ratings if start <= r.at < now and (site is None or r.site == site)
    ]
    first, last = datetime.fromtimestamp(start, UTC).date(), datetime.fromtimestamp(now, UTC).date()
    all_days = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    pain_days = {d: mean([r.rating for r in ratings if day_of(r.at) == d]) for d in all_days}
    dose = {
        d: {
            "sessions": sum(1 for s in sessions if day_of(s.started_at) == d),
            "heat_cem43_min": sum(s.cem43 for s in sessions if day_of(s.started_at) == d),
            "cold_min": sum(
                s.minutes for s in sessions if day_of(s.started_at) == d and s.mode == "cold"
            ),
            "light_j": sum(s.energy_j for s in sessions if day_of(s.started_at) == d),
        }
        for d in all_days
    }
    change: dict[str, list[int]] = {}
    for s in sessions:
        if s.before is not None and s.after is not None:
            change.setdefault(s.mode, []).append(s.after - s.before)
    counts = {"cold_due": 0, "cold_done": 0, "heat_due": 0, "heat_done": 0}
    if site in (None, scenario.site):
        counts = adherence_counts(scenario, start, now)
    return {
        "ratings": len(ratings),
        "mean": mean([r.rating for r in ratings]),
        "pain_days": pain_days,
        "dose": dose,
        "change": {m: (len(v), sum(v) / len(v)) for m, v in change.items()},
        "adherence": counts,
        "session_ids": [s.session_id for s in sorted(sessions, key=lambda s: s.started_at)],
    }
