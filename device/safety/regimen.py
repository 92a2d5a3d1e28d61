"""The regimen: what the guidance proposes over the days of a spasm, and when it is due.

Pure: an episode (a spasm on a body site: when it began, how long its acute phase is), the
sessions done on that site and the time go in; what is due next, the due slots over a period
and the adherence to them come out. Nothing here starts output: a reminder is a reminder,
and every start still goes through the limits and the supervisor.

The guidance it follows (the numbers are named below where they are used):
- Cold: 10-20 min, never over 20; it can repeat every 2 h during the first 48-72 h of a
  spasm (the acute phase), then switch to heat.
- Heat: up to 20 min at a time, "a few times per day" (here: every 4 h while awake, 3-4 a
  day, within the per-site limit of 4 heat sessions per 24 h); contrast (heat 20, rest 20,
  cold 20) counts as heat and as cold.
- Nobody is woken for a reminder: due times fall in the waking hours (07:00-22:00 unless
  configured), a slot at night moves to the next morning.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

ACUTE_H_MIN = 48.0  # guidance: cold every 2 h "during the first 48-72 h" of a spasm
ACUTE_H_MAX = 72.0
ACUTE_H_DEFAULT = 72.0  # the longer end: cold is the conservative choice while acute
COLD_EVERY_S = 2 * 3600.0  # guidance: cold can repeat every 2 h in the acute phase
HEAT_EVERY_S = 4 * 3600.0  # guidance: heat "a few times per day" -> every 4 h awake
COLD_MINUTES = 15.0  # guidance: cold 10-20 min (the middle of the range)
HEAT_MINUTES = 20.0  # guidance: heat up to 20 min at a time
EPISODE_KINDS = ("spasm", "strain", "sprain", "other")

ACUTE = "acute"
AFTER = "after"
ENDED = "ended"

_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class RegimenError(ValueError):
    """A regimen setting that cannot be used (waking hours, acute phase length)."""


@dataclass(frozen=True)
class Awake:
    """The waking hours, minutes after local midnight (start < end, same day)."""

    start_min: int = 7 * 60
    end_min: int = 22 * 60

    @classmethod
    def parse(cls, text: str) -> Awake:
        """``"07:00-22:00"`` -> Awake; raises :class:`RegimenError` in plain words."""
        match = _CLOCK.match(text) if isinstance(text, str) else None
        if not match:
            raise RegimenError(f"waking hours {text!r}: give them as HH:MM-HH:MM, e.g. 07:00-22:00")
        h1, m1, h2, m2 = (int(group) for group in match.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise RegimenError(f"waking hours {text!r}: not a time of day")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if end - start < 2 * 60:
            raise RegimenError(
                f"waking hours {text!r}: the end must be at least 2 h after the start, the same day"
            )
        return cls(start, end)

    def __str__(self) -> str:
        return (
            f"{self.start_min // 60:02d}:{self.start_min % 60:02d}-"
            f"{self.end_min // 60:02d}:{self.end_min % 60:02d}"
        )

    def next_awake(self, at: float, tz: tzinfo | None) -> float:
        """``at`` if it falls in the waking hours, else the next morning's start."""
        local = datetime.fromtimestamp(at, tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        minutes = (local - midnight).total_seconds() / 60
        if self.start_min <= minutes < self.end_min:
            return at
        day = midnight if minutes < self.start_min else midnight + timedelta(days=1)
        # Rebuild through the calendar so a DST change lands on the wall-clock start.
        start = datetime(
            day.year, day.month, day.day, self.start_min // 60, self.start_min % 60, tzinfo=tz
        )
        return start.timestamp()

    def is_awake(self, at: float, tz: tzinfo | None) -> bool:
        return self.next_awake(at, tz) == at


@dataclass(frozen=True)
class EpisodeInfo:
    """A spasm on a site: when it began (wall time), its acute phase, when it ended."""

    site: str
    started_at: float
    acute_h: float = ACUTE_H_DEFAULT
    ended_at: float | None = None
    kind: str = "spasm"

    @property
    def acute_until(self) -> float:
        return self.started_at + self.acute_h * 3600

    def phase(self, now: float) -> str:
        if self.ended_at is not None and self.ended_at <= now:
            return ENDED
        return ACUTE if now < self.acute_until else AFTER


@dataclass(frozen=True)
class Done:
    """A session that turned output on: what it gave (heat, cold, light, contrast), on which
    site, when it started (wall time)."""

    modality: str
    site: str | None
    started_at: float

    def gives(self, modality: str) -> bool:
        return self.modality == modality or (
            self.modality == "contrast" and modality in ("heat", "cold")
        )


@dataclass(frozen=True)
class Due:
    """What the regimen proposes next: a modality on a site at a time (wall)."""

    modality: str
    site: str
    at: float
    phase: str
    minutes: float
    reason: str
    last_at: float | None  # the last session of this modality on the site, if any

    def is_due(self, now: float) -> bool:
        return self.at <= now


def check_acute_hours(value: float) -> float:
    """The acute phase length in hours, 48-72 as the guidance says."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise RegimenError(f"acute phase {value!r}: give hours between 48 and 72")
    if not ACUTE_H_MIN <= value <= ACUTE_H_MAX:
        raise RegimenError(
            f"acute phase {value:g} h: the guidance says the first 48-72 h of a spasm; give"
            " hours between 48 and 72"
        )
    return float(value)


def _last(done: Iterable[Done], site: str, modality: str, before: float) -> float | None:
    times = [d.started_at for d in done if d.site == site and d.gives(modality)]
    times = [at for at in times if at <= before]
    return max(times) if times else None


def next_due(
    episode: EpisodeInfo,
    done: Sequence[Done],
    now: float,
    awake: Awake = Awake(),
    tz: tzinfo | None = None,
) -> Due | None:
    """What is due next on the episode's site (None once the episode has ended).

    Acute phase: cold, 2 h after the last cold start (or now, if none yet); after it: heat,
    4 h after the last heat start (or from the end of the acute phase). A due time at night
    moves to the next morning; one that falls after the acute phase becomes heat.
    """
    phase = episode.phase(now)
    if phase == ENDED:
        return None
    site = episode.site

    def when(at: float) -> float:
        """In waking hours; and one overdue while the person sleeps is due in the morning,
        not "due now" all night."""
        at = awake.next_awake(at, tz)
        return at if at >= now or awake.is_awake(now, tz) else awake.next_awake(now, tz)

    if phase == ACUTE:
        last = _last(done, site, "cold", now)
        at = episode.started_at if last is None else last + COLD_EVERY_S
        at = when(max(at, episode.started_at))
        if at < episode.acute_until:
            return Due(
                "cold",
                site,
                at,
                ACUTE,
                COLD_MINUTES,
                f"the first {episode.acute_h:g} h of a {episode.kind}: cold 10-20 min, every"
                " 2 h while awake",
                last,
            )
    last = _last(done, site, "heat", now)
    at = episode.acute_until if last is None else max(last + HEAT_EVERY_S, episode.acute_until)
    at = when(at)
    return Due(
        "heat",
        site,
        at,
        AFTER,  # heat is for after the acute phase, even when proposed during it
        HEAT_MINUTES,
        f"after the first {episode.acute_h:g} h: heat up to 20 min, a few times a day (or"
        " contrast: heat 20, rest 20, cold 20)",
        last,
    )


def due_slots(
    episode: EpisodeInfo,
    start: float,
    end: float,
    awake: Awake = Awake(),
    tz: tzinfo | None = None,
) -> list[tuple[float, str]]:
    """The regimen's slots between ``start`` and ``end``, oldest first, on a grid anchored
    at each local day's waking start (the morning start :func:`next_due` snaps to): cold
    every 2 h from it while awake, for the slots of the acute phase, then heat every 4 h.

    A slot at ``at`` is the window ``[at, at + every)``: a session started in it serves it,
    so following :func:`next_due` (the first cold at the episode's start, 09:47, in the
    09:00 slot; 2 h later in the 11:00 one; ...; the mornings on the grid) serves every
    slot. (A day's sessions late in their slots, cold at 20:30 in the 19:00 one, put the
    next at 22:30, the night: :func:`adherence` does not count the 21:00 slot as missed.) A slot
    belongs to a phase, and to ``[start, end)``, when its waking part (up to the end of the
    waking hours) overlaps them: an episode begun at 22:30 has no slot that evening.
    """
    stop = min(end, episode.ended_at if episode.ended_at is not None else end)
    phases = (
        ("cold", max(start, episode.started_at), min(episode.acute_until, stop), COLD_EVERY_S),
        ("heat", max(start, episode.started_at, episode.acute_until), stop, HEAT_EVERY_S),
    )
    slots: list[tuple[float, str]] = []
    for modality, first, last, every in phases:
        if last <= first:
            continue
        # Each local day's waking hours, built through the calendar as Awake.next_awake
        # does, so a DST change lands on the wall-clock start.
        day = datetime.fromtimestamp(first, tz).date()
        while day <= datetime.fromtimestamp(last, tz).date():
            bed_day = day + timedelta(days=awake.end_min // (24 * 60))
            bed_min = awake.end_min % (24 * 60)
            at = datetime(
                day.year, day.month, day.day, awake.start_min // 60, awake.start_min % 60, tzinfo=tz
            ).timestamp()
            bed = datetime(
                bed_day.year, bed_day.month, bed_day.day, bed_min // 60, bed_min % 60, tzinfo=tz
            ).timestamp()
            while at < bed and at < last:
                if min(at + every, bed) > first:
                    slots.append((at, modality))
                at += every
            day += timedelta(days=1)
    slots.sort()
    return slots


def adherence(
    episode: EpisodeInfo,
    done: Sequence[Done],
    start: float,
    end: float,
    awake: Awake = Awake(),
    tz: tzinfo | None = None,
) -> dict[str, int]:
    """Slots due and slots done between ``start`` and ``end`` (see :func:`due_slots`): a
    slot counts once its window has closed by ``end`` (the 19:00 slot, a session due in it
    at 19:47, is not missed at 19:51), and it is done when a session giving its modality
    (contrast gives both) started on the site within its window ``[at, at + every)``. A slot
    that a session just before it made impossible to serve in waking hours (its next start,
    ``every`` later, falls after them) is not due."""
    slots = due_slots(episode, start, end, awake, tz)
    counts = {"cold_due": 0, "cold_done": 0, "heat_due": 0, "heat_done": 0}
    for at, modality in slots:
        every = COLD_EVERY_S if modality == "cold" else HEAT_EVERY_S
        if at + every > end:
            continue  # still open: neither missed nor done yet
        mine = [d.started_at for d in done if d.site == episode.site and d.gives(modality)]
        if any(at <= started < at + every for started in mine):
            counts[f"{modality}_due"] += 1
            counts[f"{modality}_done"] += 1
        elif not any(
            # a session just before the slot, late in its own, puts the next start (every
            # later, the 2 h cold rest) past the slot's waking part: it could not be served
            at - every < started < at and started + every >= min(at + every, _bed(at, awake, tz))
            for started in mine
        ):
            counts[f"{modality}_due"] += 1
    return counts


def _bed(at: float, awake: Awake, tz: tzinfo | None) -> float:
    """The end of the waking hours of the local day ``at`` falls on."""
    day = datetime.fromtimestamp(at, tz).date() + timedelta(days=awake.end_min // (24 * 60))
    end = awake.end_min % (24 * 60)
    return datetime(day.year, day.month, day.day, end // 60, end % 60, tzinfo=tz).timestamp()


def acute_heat_warning(episode: EpisodeInfo, now: float) -> str | None:
    """The words to warn with when heat starts on a site in its acute phase (None after)."""
    if episode.phase(now) != ACUTE:
        return None
    hours = (now - episode.started_at) / 3600
    return (
        f"heat on {episode.site}, {hours:.0f} h into a {episode.kind}: the guidance is cold"
        f" (10-20 min, every 2 h) for the first 48-72 h (here {episode.acute_h:g} h), then"
        " heat. Heat is allowed; this is said once for this episode."
    )
