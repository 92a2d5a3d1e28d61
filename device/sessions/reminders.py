"""Reminders over days, read from the journal: what the regimen proposes next for each open
episode, and the once-per-episode warning when heat starts in an acute phase. Used alike by
`therapyctl next`, `run`, the UI's Today tab and the MQTT "next due" sensor.

Nothing here starts output: a reminder is a reminder.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path

from device.journal import Episode, JournalError, JournalReader, mark_heat_warned
from device.safety import Awake, Due, acute_heat_warning, next_due

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegimenSettings:
    """The regimen's user settings (from the config file's ``[regimen]`` table)."""

    awake: Awake = field(default_factory=Awake)
    tz: tzinfo | None = None  # None: the machine's local time zone


def due_list(
    reader: JournalReader,
    now: float,
    settings: RegimenSettings | None = None,
    site: str | None = None,
) -> list[tuple[Episode, Due]]:
    """For each open episode (on ``site``, or all), what is due next, soonest first."""
    settings = settings or RegimenSettings()
    found: list[tuple[Episode, Due]] = []
    for episode in reader.episodes(site=site, open_only=True):
        done = reader.done(site=episode.site, since=episode.started_at - 24 * 3600)
        due = next_due(episode.info(), done, now, settings.awake, settings.tz)
        if due is not None:
            found.append((episode, due))
    return sorted(found, key=lambda pair: pair[1].at)


def heat_warning(
    path: Path, site: str | None, gives_heat: bool, now: float | None = None
) -> str | None:
    """The warning for heat on a site in its acute phase, said once per episode (recorded in
    the journal, so another process does not say it again); None when there is nothing to
    say or the journal cannot be read (a reminder never stops a session)."""
    if site is None or not gives_heat or not path.exists():
        return None
    at = time.time() if now is None else now
    try:
        with JournalReader(path) as reader:
            episode = reader.open_episode(site)
        if episode is None or episode.heat_warned_at is not None:
            return None
        words = acute_heat_warning(episode.info(), at)
        if words is None or not mark_heat_warned(path, episode.id, at):
            return None
        return words
    except JournalError:
        return None
    except Exception:  # a reminder never stops a session, whatever is in the journal
        logger.warning("the acute-phase heat reminder could not be read", exc_info=True)
        return None
