"""The Today tab: therapy over days at a glance, read from the journal.

The open episodes and their phase, what the regimen proposes next with a countdown, the dose
per body site over the last 24 hours as bars against the site limits in force, and the pain
trend of the last 7 days (one column a day, on a fixed 0-10 scale: a day without a rating is
shown as none, never as 0). These are the report's figures, viewable in the terminal.

Nothing here decides anything: the numbers are the journal's (``JournalReader.dose``,
``device.sessions.due_list``) and the limits are the ones the supervisor enforces. A reminder
is a reminder: nothing here starts output. Reads go to a thread; the text is drawn from what
was read and the view's clock (injectable, so tests and snapshots are fixed).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from device.journal import Episode, JournalReader, PainRating
from device.safety import Due, Limits
from device.sessions import RegimenSettings, due_list
from protocols import TherapyctlError

RELOAD_EVERY_S = 60.0  # the journal is read again this often (and when a session ends)
TICK_EVERY_S = 1.0  # the countdown is redrawn this often (from what was read)
PAIN_DAYS = 7  # the pain trend: the last 7 days, today included
PAIN_MAX = 10  # the diary's scale: 0 no pain, 10 the worst imaginable
CHART_ROWS = 5  # the pain chart's height: 2 points of the 0-10 scale a row
BAR_WIDTH = 12  # a dose bar's width in cells
EIGHTHS = " ▁▂▃▄▅▆▇█"


@dataclass(frozen=True, slots=True)
class TodayData:
    """What the journal said when it was last read."""

    episodes: tuple[Episode, ...] = ()
    due: tuple[tuple[Episode, Due], ...] = ()
    doses: tuple[dict[str, Any], ...] = ()
    pain: tuple[PainRating, ...] = ()
    error: str | None = None
    read: bool = False  # False: nothing read yet (or no journal)


def read_today(
    path: Path, now: float, settings: RegimenSettings, time_scale: float = 1.0
) -> TodayData:
    """Everything the tab shows, from one read of the journal (blocking: call in a thread).
    A journal not created yet is an empty one."""
    if not path.exists():
        return TodayData(read=True)
    with JournalReader(path) as reader:
        episodes = tuple(reader.episodes(open_only=True))
        due = tuple(due_list(reader, now, settings))
        doses = {row["site"]: row for row in reader.dose(now, time_scale)}
        for episode in episodes:  # an episode's site is shown even before any session
            if episode.site not in doses:
                doses[episode.site] = reader.site_usage(episode.site, now, time_scale)
        pain = tuple(reader.pain(since=_pain_start(now, settings.tz), until=now + 1))
    return TodayData(episodes, due, tuple(doses.values()), pain, read=True)


def _midnight(at: float, tz: tzinfo | None) -> datetime:
    return datetime.fromtimestamp(at, tz).replace(hour=0, minute=0, second=0, microsecond=0)


def _pain_start(now: float, tz: tzinfo | None) -> float:
    """The first moment of the pain trend: local midnight six days before today."""
    today = _midnight(now, tz)
    first = today - timedelta(days=PAIN_DAYS - 1)
    return datetime(first.year, first.month, first.day, tzinfo=tz).timestamp()


def clock_time(at: float, tz: tzinfo | None, now: float | None = None) -> str:
    """A moment as the time of day (``14:35``), with the date when it is not ``now``'s day."""
    local = datetime.fromtimestamp(at, tz)
    if now is not None and local.date() != datetime.fromtimestamp(now, tz).date():
        return local.strftime("%a %H:%M")
    return local.strftime("%H:%M")


def countdown(seconds: float) -> str:
    """``1:20:05`` (hours may pass 24: a long wait is still a countdown)."""
    whole = max(0, math.ceil(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


# ---------------------------------------------------------------------- the text


def phase_text(episode: Episode, now: float) -> str:
    """``acute, 10 h of 72`` / ``after the acute phase (day 4)`` / ``ended``."""
    info = episode.info()
    phase = info.phase(now)
    hours = max(0.0, (now - episode.started_at) / 3600)
    if phase == "acute":
        return f"acute, {hours:.0f} h of {episode.acute_h:g}"
    if phase == "after":
        return f"after the acute phase (day {int(hours // 24) + 1})"
    return "ended"


def episodes_text(data: TodayData, now: float, tz: tzinfo | None) -> Text:
    text = Text("Episodes", style="bold")
    if not data.episodes:
        text.append(
            "\n  none open (`therapyctl episode start --site S` records when a spasm began)",
            style="dim",
        )
        return text
    for episode in data.episodes:
        text.append(f"\n  {episode.site}", style="bold")
        text.append(f" {episode.kind}: {phase_text(episode, now)}")
    return text


def due_line(due: Due, now: float, tz: tzinfo | None) -> str:
    """``cold on lower-back: due now`` / ``cold on lower-back in 1:20:05 (at 14:35)``."""
    what = f"{due.modality} on {due.site}"
    if due.is_due(now):
        return f"{what}: due now"
    return f"{what} in {countdown(due.at - now)} (at {clock_time(due.at, tz, now)})"


def next_text(data: TodayData, now: float, tz: tzinfo | None) -> Text:
    text = Text("Next", style="bold")
    if not data.due:
        text.append("\n  nothing due (no open episode)", style="dim")
        return text
    for index, (_episode, due) in enumerate(data.due):
        style = "bold reverse" if due.is_due(now) else "bold"
        text.append("\n  ")
        text.append(due_line(due, now, tz), style=style if index == 0 else "")
    first = data.due[0][1]
    # The guidance, as the regimen words it.
    text.append(f"\n{first.modality} {first.minutes:g} min: {first.reason}.", style="dim")
    text.append(" A reminder only: nothing starts by itself.", style="dim")
    return text


def bar(value: float, limit: float, width: int = BAR_WIDTH) -> Text:
    """``█████░░░░░░░`` for value of limit (full and red at or over it)."""
    share = 1.0 if limit <= 0 or not math.isfinite(value) else min(1.0, max(0.0, value / limit))
    filled = round(share * width)
    if value > 0 and filled == 0:
        filled = 1  # something used shows, however little
    over = limit <= 0 or not math.isfinite(value) or value >= limit
    style = "bold red" if over else "yellow" if share >= 0.75 else "green"
    return Text.assemble(("█" * filled, style), ("░" * (width - filled), "dim"))


def _number(value: float, digits: int = 1) -> str:
    return "over" if not math.isfinite(value) else f"{value:.{digits}f}".rstrip("0").rstrip(".")


def dose_text(
    data: TodayData, limits: Limits, now: float, tz: tzinfo | None, time_scale: float = 1.0
) -> Text:
    """Per site, the last 24 hours against the site limits in force (every device on the
    site added up): heat sessions, their CEM43, light minutes, and when cold may start."""
    text = Text("Dose per site, last 24 h (site limits)", style="bold")
    if not data.doses:
        text.append("\n  nothing used in the last 24 h", style="dim")
        return text
    for row in data.doses:
        site = str(row["site"])
        text.append(f"\n  {site}", style="bold")
        sessions = float(row["heat_sessions"])
        cem43 = float(row["heat_cem43_min"])
        light_min = float(row["light_s"]) / 60
        # The limits in force (device.safety.Limits, tighten-only), by default the guidance's:
        # heat at most 4 sessions and 60 CEM43 per site per 24 h, light about 30 min a day,
        # cold at least 2 h between starts on one site.
        lines = (
            ("heat ", sessions, limits.site_heat_sessions_24h, "sessions"),
            ("CEM43", cem43, limits.site_heat_cem43_24h_min, "min"),
            ("light", light_min, limits.site_light_daily_s / 60, "min"),
        )
        for name, value, limit, unit in lines:
            text.append(f"\n    {name} ")
            text.append_text(bar(value, limit))
            text.append(f" {_number(value)} of {_number(limit)} {unit}")
        text.append("\n    cold  ")
        text.append(cold_text(row.get("cold_at"), limits, now, tz, time_scale))
    return text


def cold_text(
    cold_at: float | None, limits: Limits, now: float, tz: tzinfo | None, time_scale: float = 1.0
) -> str:
    """When cold may next start on a site: the rest between cold starts is per site
    (``site_cold_rest_s``, device seconds; the journal's times are wall time)."""
    rest_h = limits.site_cold_rest_s / 3600
    if cold_at is None:
        return f"may start now ({rest_h:g} h apart)"
    allowed = float(cold_at) + limits.site_cold_rest_s / time_scale
    if allowed <= now:
        return f"may start now (last {clock_time(float(cold_at), tz, now)})"
    return f"allowed from {clock_time(allowed, tz, now)} ({rest_h:g} h apart)"


def daily_pain(
    ratings: Sequence[PainRating], now: float, tz: tzinfo | None
) -> list[tuple[str, float | None]]:
    """The last 7 days, oldest first: (weekday, the day's mean rating or None)."""
    today = _midnight(now, tz).date()
    days = [today - timedelta(days=back) for back in range(PAIN_DAYS - 1, -1, -1)]
    found: dict[Any, list[int]] = {day: [] for day in days}
    for rating in ratings:
        day = datetime.fromtimestamp(rating.at, tz).date()
        if day in found:
            found[day].append(rating.rating)
    return [
        (day.strftime("%a")[:2], sum(found[day]) / len(found[day]) if found[day] else None)
        for day in days
    ]


def pain_chart(days: Sequence[tuple[str, float | None]]) -> list[str]:
    """A column a day on a fixed 0-10 scale (2 points a row, eighths of a row), the day's
    mean under it (``-``: no rating that day) and its weekday."""
    lines = []
    for row in range(CHART_ROWS - 1, -1, -1):
        axis = f"{PAIN_MAX:>2}┤" if row == CHART_ROWS - 1 else " 0┤" if row == 0 else "  │"
        cells = []
        for _name, mean in days:
            if mean is None:
                cells.append("  ")
                continue
            height = mean / PAIN_MAX * CHART_ROWS - row  # of this row: <= 0 empty, >= 1 full
            eighths = max(0, min(8, round(height * 8)))
            if row == 0 and eighths == 0:
                eighths = 1  # a 0 rating is a rating: a sliver, not nothing
            cells.append(EIGHTHS[eighths] * 2)
        lines.append(axis + " ".join(cells))
    lines.append(
        "   " + " ".join(f"{mean:>2.0f}" if mean is not None else " -" for _, mean in days)
    )
    lines.append("   " + " ".join(name for name, _ in days))
    return lines


def pain_text(data: TodayData, now: float, tz: tzinfo | None) -> Text:
    text = Text("Pain, last 7 days (0-10)", style="bold")
    days = daily_pain(data.pain, now, tz)
    for line in pain_chart(days):
        text.append("\n" + line)
    if data.pain:
        last = data.pain[-1]
        moment = {"before": " before a session", "after": " after a session"}.get(last.moment, "")
        where = f" on {last.site}" if last.site else ""
        text.append(f"\nlast: {last.rating}/10{moment}{where},", style="bold")
        text.append(f" {clock_time(last.at, tz, now)}")
    else:
        text.append("\nno ratings yet (asked after each session)", style="dim")
    return text


# ---------------------------------------------------------------------- the widget


class TodayView(VerticalScroll):
    """The Today tab: episodes, what is due, dose per site, pain trend."""

    DEFAULT_CSS = """
    TodayView { height: 1fr; padding: 0 1; }
    TodayView > Horizontal { height: auto; }
    TodayView #today-left { width: 1fr; height: auto; }
    TodayView #today-right { width: 27; height: auto; }
    TodayView Static { height: auto; margin-bottom: 1; }
    TodayView #today-note { color: $text-muted; }
    """

    def __init__(
        self,
        db_path: Path | None,
        limits: Limits,
        settings: RegimenSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        time_scale: float = 1.0,
    ) -> None:
        super().__init__(id="today")
        self.db_path = db_path
        self.limits = limits
        self.settings = settings or RegimenSettings()
        self.clock = clock
        self.time_scale = time_scale
        self.data = TodayData()
        self.reloads = 0  # reads done (tests wait on it)

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="today-left"):
                yield Static(id="today-episodes")
                yield Static(id="today-next")
                yield Static(id="today-dose")
            with Vertical(id="today-right"):
                yield Static(id="today-pain")
        yield Static("", id="today-note")

    def on_mount(self) -> None:
        self.set_interval(TICK_EVERY_S, self._tick)
        self.set_interval(RELOAD_EVERY_S, self.reload)
        self.reload()

    @work(exclusive=True, group="today", exit_on_error=False)
    async def reload(self) -> None:
        """Read the journal again (in a thread) and draw."""
        if self.db_path is None:
            self.data = TodayData(error="No journal: give --db to keep a diary.")
        else:
            now = self.clock()
            try:
                self.data = await asyncio.to_thread(
                    read_today, self.db_path, now, self.settings, self.time_scale
                )
            except TherapyctlError as exc:
                self.data = TodayData(error=str(exc))
        self.reloads += 1
        self.show()

    def _tick(self) -> None:
        """The countdown moves while the tab is shown (a hidden tab is not drawn at all)."""
        if self.parent is not None and self.parent.display:
            self.show()

    def show(self) -> None:
        """Draw what was read, at the clock's time (the countdown moves, nothing is read)."""
        if not self.is_attached:
            return
        now, tz, data = self.clock(), self.settings.tz, self.data
        self.query_one("#today-episodes", Static).update(episodes_text(data, now, tz))
        self.query_one("#today-next", Static).update(next_text(data, now, tz))
        self.query_one("#today-dose", Static).update(
            dose_text(data, self.limits, now, tz, self.time_scale)
        )
        self.query_one("#today-pain", Static).update(pain_text(data, now, tz))
        note = data.error or (
            f"As of {clock_time(now, tz)}. Episodes: `therapyctl episode`; pain at any time:"
            " `therapyctl pain N`."
        )
        self.query_one("#today-note", Static).update(Text(note, style="dim"))
