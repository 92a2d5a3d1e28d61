"""Therapy over days on the broker (issue 14): each body site's dose, the next session due and
the last pain rating, read from the journal and published as retained JSON, with their Home
Assistant entities (:mod:`device.mqtt.discovery`).

- ``PREFIX/NODE/site/SITE/state``: for each body site used in the last 24 hours (every device
  on it added up; SITE is :func:`~device.mqtt.topics.site_slug`), heat sessions, heat
  minutes, CEM43, cold minutes, light minutes, J and J/cm² (None when a belt gave no
  emitting area), and what is left of each site limit (``Limits.site_*``). A site that
  drops out of the 24 hours is published again with its zeros rather than left showing an
  old dose. Its Home Assistant device is this node's (``therapyctl_NODE_site_SITE``): the
  same site reported by another controller is another device.
- ``PREFIX/NODE/regimen/next``: what the regimen proposes next over the open episodes
  (:func:`device.sessions.due_list`): ``due_at`` (ISO 8601 with its offset, or null when
  nothing is due), modality, site, reason; ``due_now`` turns true when the time passes.
- ``PREFIX/NODE/pain/last``: the last pain rating (0-10) with its time and site.

``serve`` and ``run --mqtt`` both publish them: at startup, after each session ends and
when a rating is recorded in this process (:meth:`MqttBridge.journal_changed`, which the
reporter's ``finished`` calls; or :meth:`DaysReporter.kick`), when the next due time
passes (a timer), and every :data:`REFRESH_S` besides, so what another process wrote
(``therapyctl pain``, ``episode start``) and the rolling 24 hours show up without a
session. Reading is a thread's job
(sqlite3 never runs on the loop); a journal that cannot be read is logged and tried again
at the next refresh. Nothing here starts output: a reminder is a reminder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from device.journal import PAIN_MAX, PAIN_MIN, Episode, JournalReader, JournalWriter, PainRating
from device.mqtt.bridge import MqttBridge
from device.mqtt.discovery import diary_configs, site_configs
from device.mqtt.topics import PAIN_LEAF, REGIMEN_LEAF, SITES_LEAF, site_slug
from device.safety import Due, Limits
from device.sessions import RegimenSettings, due_list

logger = logging.getLogger(__name__)

REFRESH_S = 300.0  # re-read the journal this often (other processes write it too)
SITES_SEEN_S = 7 * 24 * 3600.0  # sites used this recently are published (zeros once idle)
MAX_SITES = 50  # a journal naming more sites than this publishes the most recent ones


def site_leaf(slug: str) -> str:
    return f"{SITES_LEAF}/{slug}/state"


REGIMEN_STATE = f"{REGIMEN_LEAF}/next"  # not .../state: the monitor reads those as devices
PAIN_STATE = f"{PAIN_LEAF}/last"


def iso_time(at: float | None, tz: tzinfo | None = None) -> str | None:
    """A wall time as ISO 8601 with its offset (``tz``, else the machine's local zone), to
    the second; None for none, or for a time no calendar has (a damaged row)."""
    if at is None or not isinstance(at, int | float) or not math.isfinite(at):
        return None
    try:
        moment = datetime.fromtimestamp(at, tz) if tz is not None else datetime.fromtimestamp(at)
        return moment.astimezone(tz).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return None


def _amount(value: object, digits: int) -> float | None:
    """A dose from the journal, rounded; None for a damaged one (never NaN or infinity in
    JSON: Home Assistant could not parse it)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return round(number, digits) if math.isfinite(number) and number >= 0 else None


def _left(limit: float, used: float | None, digits: int) -> float:
    """What is left of a limit: nothing if the use is unknown (a damaged row limits)."""
    return 0.0 if used is None else round(max(0.0, limit - used), digits)


def site_state(
    row: dict[str, Any], limits: Limits, now: float, tz: tzinfo | None = None
) -> dict[str, Any]:
    """One body site's dose over the last 24 hours (a row of ``JournalReader.dose``) and
    what is left of its limits, flat, for Home Assistant's value templates."""
    sessions = row.get("heat_sessions")
    heat_sessions = sessions if isinstance(sessions, int) and sessions >= 0 else None
    heat_s = _amount(row.get("heat_s"), 1)
    cem43 = _amount(row.get("heat_cem43_min"), 3)
    cold_s = _amount(row.get("cold_s"), 1)
    light_s = _amount(row.get("light_s"), 1)
    light_j = _amount(row.get("light_j"), 1)
    cold_at = row.get("cold_at")
    cold_at = float(cold_at) if isinstance(cold_at, int | float) else None
    next_cold = None if cold_at is None else cold_at + limits.site_cold_rest_s
    sessions_limit = limits.site_heat_sessions_24h
    return {
        "site": str(row.get("site")),
        "heat_sessions": heat_sessions,
        "heat_sessions_limit": sessions_limit,
        "heat_sessions_left": (
            0 if heat_sessions is None else max(0, int(sessions_limit) - heat_sessions)
        ),
        "heat_minutes": None if heat_s is None else round(heat_s / 60, 2),
        "cem43_min": cem43,
        "cem43_min_limit": limits.site_heat_cem43_24h_min,
        "cem43_min_left": _left(limits.site_heat_cem43_24h_min, cem43, 3),
        "cold_minutes": None if cold_s is None else round(cold_s / 60, 2),
        "cold_last_start": iso_time(cold_at, tz),
        "cold_next_start": (
            iso_time(next_cold, tz) if next_cold is not None and next_cold > now else None
        ),
        "light_minutes": None if light_s is None else round(light_s / 60, 2),
        "light_minutes_limit": limits.site_light_daily_s / 60,
        "light_minutes_left": round(_left(limits.site_light_daily_s, light_s, 1) / 60, 2),
        "light_j": light_j,
        # J/cm² (the energy over the belts' emitting area): None when a belt gave no area.
        "light_j_cm2": _amount(row.get("light_j_cm2"), 3),
    }


def next_due_state(
    pairs: list[tuple[Episode, Due]], now: float, tz: tzinfo | None = None
) -> dict[str, Any]:
    """The soonest of ``due_list``'s (episode, Due) pairs as the "next session due" state;
    every field null (and ``due_now`` false) when nothing is due."""
    if not pairs:
        return {
            "due_at": None,
            "due_now": False,
            "modality": None,
            "site": None,
            "reason": None,
            "minutes": None,
            "phase": None,
            "last_at": None,
            "episode_id": None,
            "open_episodes": 0,
        }
    episode, due = pairs[0]
    return {
        "due_at": iso_time(due.at, tz),
        "due_now": bool(due.is_due(now)),
        "modality": due.modality,
        "site": due.site,
        "reason": due.reason,
        "minutes": due.minutes,
        "phase": due.phase,
        "last_at": iso_time(due.last_at, tz),
        "episode_id": episode.id,
        "open_episodes": len(pairs),
    }


def pain_state(rating: PainRating | None, tz: tzinfo | None = None) -> dict[str, Any]:
    """The last pain rating (a ``PainRating``, or None for none yet)."""
    if rating is None:
        return {"rating": None, "at": None, "site": None, "moment": None, "session_id": None}
    value: object = rating.rating  # from a file: checked, not trusted
    ok = isinstance(value, int) and not isinstance(value, bool) and PAIN_MIN <= value <= PAIN_MAX
    return {
        "rating": value if ok else None,
        "at": iso_time(rating.at, tz),
        "site": rating.site,
        "moment": rating.moment,
        "session_id": rating.session_id,
    }


@dataclass(frozen=True, slots=True)
class DaysSnapshot:
    """What the journal says now: each site's state (site -> state), the next due, the last
    pain rating, and when the next due time is (wall time, or None)."""

    sites: dict[str, dict[str, Any]] = field(default_factory=dict)
    next_due: dict[str, Any] = field(default_factory=lambda: next_due_state([], 0.0))
    pain: dict[str, Any] = field(default_factory=lambda: pain_state(None))
    due_at: float | None = None


def read_days(
    path: Path,
    now: float,
    limits: Limits,
    settings: RegimenSettings | None = None,
    also_sites: Iterable[str] = (),
) -> DaysSnapshot:
    """Read the journal at ``path`` (blocking: call it from a thread). ``also_sites``: sites
    published before, published again (with zeros once they have nothing in 24 hours)."""
    settings = settings or RegimenSettings()
    tz = settings.tz
    if not path.exists():  # nothing has run yet: nothing due, no dose, no rating
        return DaysSnapshot()
    with JournalReader(path) as reader:
        rows = {str(row["site"]): row for row in reader.dose(now)}
        recent = [d.site for d in reversed(reader.done(since=now - SITES_SEEN_S))]
        for site in [*recent, *also_sites]:
            if isinstance(site, str) and site not in rows and len(rows) < MAX_SITES:
                rows[site] = reader.site_usage(site, now, 1.0)
        pairs = due_list(reader, now, settings)
        ratings = reader.pain()
    sites = {site: site_state(row, limits, now, tz) for site, row in list(rows.items())[:MAX_SITES]}
    return DaysSnapshot(
        sites,
        next_due_state(pairs, now, tz),
        pain_state(ratings[-1] if ratings else None, tz),
        pairs[0][1].at if pairs else None,
    )


class DaysReporter:
    """Publishes the journal's days (sites, next due, last pain) through the bridge; see
    the module docstring. ``clock`` gives wall time (injectable for tests); the timer is
    :meth:`get_timer` (when to refresh next, wall time), as in aioquic's connection."""

    def __init__(
        self,
        bridge: MqttBridge,
        path: Path,
        limits: Limits,
        settings: RegimenSettings | None = None,
        *,
        writer: JournalWriter | None = None,
        clock: Callable[[], float] = time.time,
        refresh_s: float = REFRESH_S,
    ) -> None:
        self.bridge = bridge
        self.path = path
        self.limits = limits
        self.settings = settings or RegimenSettings()
        self.writer = writer  # awaited before reading, so a session's end is in the file
        self.clock = clock
        self.refresh_s = refresh_s
        self.due_at: float | None = None
        self.refreshed_at: float | None = None
        self.refreshes = 0
        self.failures = 0
        self.snapshot = DaysSnapshot()
        self._sites: dict[str, str] = {}  # slug -> site, as announced
        self._sent: dict[str, str] = {}  # leaf -> the JSON last published there
        self._kick = asyncio.Event()
        bridge.watch_journal(self.kick)  # a session's end, a rating: bridge.journal_changed()
        self.bridge.announce(
            "regimen",
            diary_configs(
                bridge.settings.node_id,
                next_due_topic=f"{bridge.base}/{REGIMEN_STATE}",
                pain_topic=f"{bridge.base}/{PAIN_STATE}",
                availability_topic=bridge.availability_topic,
            ),
        )

    def kick(self) -> None:
        """Refresh soon (a session ended, a pain rating was recorded); never blocks."""
        self._kick.set()

    session_ended = kick
    pain_recorded = kick

    def get_timer(self) -> float | None:
        """When to refresh next (wall time): the next due time if it is still ahead (so
        ``due_now`` turns true on time), else the periodic refresh; None before the first."""
        if self.refreshed_at is None:
            return None
        periodic = self.refreshed_at + self.refresh_s
        if self.due_at is not None and self.due_at > self.refreshed_at:
            return min(self.due_at, periodic)
        return periodic

    async def refresh(self, now: float | None = None) -> DaysSnapshot:
        """Read the journal (in a thread) and publish what changed."""
        at = self.clock() if now is None else now
        if self.writer is not None:
            await self.writer.barrier()
        also = tuple(self._sites.values())
        snapshot = await asyncio.to_thread(
            read_days, self.path, at, self.limits, self.settings, also
        )
        self.publish(snapshot)
        self.refreshed_at = at
        self.refreshes += 1
        return snapshot

    def publish(self, snapshot: DaysSnapshot) -> None:
        """Announce new sites and publish every state that changed (retained)."""
        self.snapshot = snapshot
        self.due_at = snapshot.due_at
        bridge = self.bridge
        for site, state in snapshot.sites.items():
            slug = site_slug(site)
            leaf = site_leaf(slug)
            if self._sites.get(slug) != site:
                self._sites[slug] = site
                bridge.announce(
                    f"site/{slug}",
                    site_configs(
                        bridge.settings.node_id,
                        slug,
                        site,
                        state_topic=f"{bridge.base}/{leaf}",
                        availability_topic=bridge.availability_topic,
                    ),
                )
            self._publish(leaf, state)
        self._publish(REGIMEN_STATE, snapshot.next_due)
        self._publish(PAIN_STATE, snapshot.pain)

    def _publish(self, leaf: str, state: dict[str, Any]) -> None:
        text = repr(sorted(state.items()))
        if self._sent.get(leaf) != text:
            self._sent[leaf] = text
            self.bridge.publish_retained(leaf, state)

    async def run(self) -> None:
        """Refresh at start, then on every kick and timer, until cancelled; a failure is
        logged, counted and tried again at the next refresh (never ends the loop)."""
        while True:
            self._kick.clear()
            try:
                await self.refresh()
            except Exception as exc:  # a journal that cannot be read now: next time
                self.failures += 1
                self.refreshed_at = self.clock()
                logger.warning("MQTT: the journal's days could not be read (%s)", exc)
            timer = self.get_timer()
            delay = self.refresh_s if timer is None else max(0.0, timer - self.clock())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._kick.wait()
