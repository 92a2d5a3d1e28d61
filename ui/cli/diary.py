"""Therapy over days from the command line: ``episode`` (when a spasm began on a body site,
and when it ended), ``next`` (what the regimen proposes next, and when) and ``pain`` (the
pain diary).

Nothing here starts output: ``next`` is a reminder, and every session still starts with
``therapyctl run`` through the limits and the supervisor.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from ui.cli.common import DB_HELP, db_path, fail, local_time, site_value
from ui.cli.options import PAIN, REGIMEN_CONFIG

if TYPE_CHECKING:
    from device.journal import Episode, JournalReader
    from device.safety import Due

# ---------------------------------------------------------------------- WHEN

EARLIEST = datetime(2000, 1, 1).timestamp()  # as the diary: earlier is a wrong clock or typo
FUTURE_SLACK_S = 60.0  # as the diary: a clock a minute ahead is still "now"
AGO_MAX_DAYS = 3650  # "how long ago" at most ten years back
WHEN_FORMS = (
    "an ISO date-time (2026-11-25T08:30, local time unless it gives an offset), HH:MM (today,"
    " or yesterday if that is still to come), or how long ago (10h ago, -10h, 90m ago, 2d ago)"
)
WHEN_HELP = (
    "When: an ISO date-time (local unless it gives an offset), HH:MM (today; yesterday if"
    " that is still to come), or 10h ago / -10h / 90m ago / 2d ago. Default: now."
)
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_UNITS = {
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600.0),
    **dict.fromkeys(("d", "day", "days"), 86400.0),
}
_AMOUNT = r"(\d{1,6}(?:\.\d{1,3})?)\s*([a-z]+)"
_AGO = re.compile(rf"(?:-\s*{_AMOUNT}|{_AMOUNT}\s+ago)")


class WhenError(ValueError):
    """A WHEN that is not one of the forms, or not a time up to now; in plain words."""


def parse_when(text: str, now: float) -> float:
    """A moment (Unix seconds) from ``text``: an ISO 8601 date-time (local time if it has no
    offset), ``HH:MM`` (today, or yesterday if that is after ``now``), ``now``, or how long
    ago (``10h ago``, ``-10h``, ``90m ago``, ``2d ago``). Raises :class:`WhenError`."""
    given = text.strip().lower()
    at = _parse_form(given, now)
    if at is None:
        raise WhenError(f"{_shown(text)} is not a time: give {WHEN_FORMS}")
    if not math.isfinite(at) or at < EARLIEST:
        raise WhenError(f"{_shown(text)} is before the year 2000: check the date")
    if at > now + FUTURE_SLACK_S:
        raise WhenError(f"{_shown(text)} is in the future: give a time up to now")
    return at


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _parse_form(given: str, now: float) -> float | None:
    if given == "now":
        return now
    if match := _CLOCK.fullmatch(given):
        hour, minute = int(match[1]), int(match[2])
        if hour > 23 or minute > 59:
            return None
        today = datetime.fromtimestamp(now).date()
        at = datetime(today.year, today.month, today.day, hour, minute).timestamp()
        if at > now:  # still to come today: yesterday's
            day = today - timedelta(days=1)
            at = datetime(day.year, day.month, day.day, hour, minute).timestamp()
        return at
    if match := _AGO.fullmatch(given):
        amount, unit = (match[1], match[2]) if match[1] is not None else (match[3], match[4])
        if unit not in _UNITS:
            return None
        seconds = float(amount) * _UNITS[unit]
        if seconds > AGO_MAX_DAYS * 86400:
            raise WhenError(f"{amount}{unit} ago is more than {AGO_MAX_DAYS // 365} years back")
        return now - seconds
    if len(given) < 16 or not given[:4].isdigit():  # a date-time, not a date or a word
        return None
    try:
        return datetime.fromisoformat(given.upper()).timestamp()  # naive: local time
    except (ValueError, OverflowError, OSError):  # not a date-time, or year 1 in a time zone
        return None


def when_value(_ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """A click callback: ``--at WHEN`` as Unix seconds (None: not given, i.e. now); a WHEN
    that is not one of the forms is a usage error naming them (exit 2)."""
    if value is None:
        return None
    try:
        return parse_when(value, time.time())
    except WhenError as exc:
        raise click.BadParameter(str(exc), param=param) from None


def _diary_failed(exc: Exception) -> NoReturn:
    """A DiaryError for a value (a note, a site, a rating) is a usage error (exit 2); any other
    (no episode open, one already open, the journal unusable): one line, exit 1. The diary
    checks every value before it writes, so nothing was written either way."""
    from device.journal import DiaryError

    if isinstance(exc, DiaryError) and exc.path in ("note", "site", "pain"):
        option = {"note": "--note", "site": "--site", "pain": "N"}[exc.path]
        raise click.BadParameter(exc.reason, param_hint=option) from None
    fail(exc)


def _ago(seconds: float) -> str:
    """A duration as a person says it: 45 min, 1 h 20 min, 3 d 4 h."""
    minutes = max(0, round(seconds / 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    days, hours = divmod(hours, 24)
    return f"{days} d" + (f" {hours} h" if hours else "")


def _clock(at: float, now: float) -> str:
    """A moment as a reminder says it: 14:35 today, else tomorrow 07:00, else the date."""
    moment, today = datetime.fromtimestamp(at), datetime.fromtimestamp(now).date()
    if moment.date() == today:
        return moment.strftime("%H:%M")
    if moment.date() == today + timedelta(days=1):
        return moment.strftime("tomorrow %H:%M")
    return moment.strftime("%Y-%m-%d %H:%M")


def _read(path: Path, read: Callable[[JournalReader], Any]) -> Any:
    """``read(reader)`` on the journal; a JournalError: one line, exit 1."""
    from device.journal import JournalReader
    from protocols import TherapyctlError

    try:
        with JournalReader(path) as reader:
            return read(reader)
    except TherapyctlError as exc:
        fail(exc)


# ---------------------------------------------------------------------- episode


def describe_phase(episode: Episode, now: float) -> str:
    """``acute, 10 h of 72`` / ``after the acute phase`` / ``ended``."""
    phase = episode.info().phase(now)
    if phase == "ended":
        return "ended"
    if phase == "acute":
        return f"acute, {int((now - episode.started_at) // 3600)} h of {episode.acute_h:g}"
    return "after the acute phase"


def _episode_line(episode: Episode, now: float) -> str:
    started = f"began {local_time(episode.started_at)} ({_ago(now - episode.started_at)} ago)"
    ended = "" if episode.ended_at is None else f", ended {local_time(episode.ended_at)}"
    note = f" — {episode.note}" if episode.note else ""
    return f"{episode.site}: {episode.kind}, {started}{ended}: {describe_phase(episode, now)}{note}"


RECENT = 10  # ended episodes shown besides the open ones


def show_episodes(path: Path, site: str | None, as_json: bool) -> None:
    """Open episodes, then the most recent ended ones."""
    now = time.time()
    found: list[Episode] = (
        _read(path, lambda reader: reader.episodes(site=site)) if path.exists() else []
    )
    shown = [e for e in found if e.ended_at is None] + [e for e in found if e.ended_at][:RECENT]
    if as_json:
        click.echo(json.dumps([e.as_json(now) for e in shown], indent=2, ensure_ascii=False))
        return
    if not shown:
        click.echo(
            "no episodes"
            + (f" on {site}" if site else "")
            + " (when a spasm begins: `therapyctl episode start --site lower-back`)"
        )
        return
    for episode in shown:
        click.echo(_episode_line(episode, now))


_EPISODE_DB = "therapyctl.episode.db"  # the group's --db, for a subcommand given none


def _group_db(db: str | None) -> Path:
    parent = click.get_current_context().find_object(dict)
    return db_path(db or (parent or {}).get(_EPISODE_DB))


@click.group("episode", invoke_without_command=True)
@click.option("--site", metavar="S", callback=site_value, help="Only this body site.")
@click.option("--db", "db", metavar="PATH", help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def episode_group(ctx: click.Context, site: str | None, db: str | None, as_json: bool) -> None:
    """Episodes: when a spasm (strain, sprain...) began on a body site, and when it ended.
    While one is open, `therapyctl next` says what the regimen proposes, and heat in its
    acute phase is warned about once. Without a command: `episode show`."""
    ctx.ensure_object(dict)[_EPISODE_DB] = db
    if ctx.invoked_subcommand is None:
        show_episodes(db_path(db), site, as_json)


@episode_group.command("show")
@click.option("--site", metavar="S", callback=site_value, help="Only this body site.")
@click.option("--db", "db", metavar="PATH", help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def episode_show(site: str | None, db: str | None, as_json: bool) -> None:
    """Open episodes and the recent ones, each with its phase (acute, after it, ended)."""
    show_episodes(_group_db(db), site, as_json)


def _acute_hours(_ctx: click.Context, param: click.Parameter, value: float) -> float:
    from device.safety import RegimenError, check_acute_hours

    try:
        return check_acute_hours(value)
    except RegimenError as exc:
        raise click.BadParameter(str(exc), param=param) from None


@episode_group.command("start")
@click.option(
    "--site",
    metavar="S",
    required=True,
    callback=site_value,
    help="The body site (lower-back, neck, shoulder-left, ...).",
)
@click.option("--at", "at", metavar="WHEN", callback=when_value, help=WHEN_HELP)
@click.option(
    "--kind",
    type=click.Choice(["spasm", "strain", "sprain", "other"]),
    default="spasm",
    show_default=True,
    help="What happened.",
)
@click.option(
    "--acute-hours",
    type=float,
    default=72.0,
    show_default=True,
    callback=_acute_hours,
    metavar="H",
    help="Its acute phase, 48-72 h (guidance: cold every 2 h in the first 48-72 h).",
)
@click.option("--note", metavar="TEXT", help="A short note.")
@click.option("--db", "db", metavar="PATH", help=DB_HELP)
def episode_start(
    site: str, at: float | None, kind: str, acute_hours: float, note: str | None, db: str | None
) -> None:
    """Record that an episode began on a body site (now, or --at WHEN)."""
    from device.journal import start_episode
    from protocols import TherapyctlError

    try:
        started = start_episode(
            _group_db(db), site, at=at, kind=kind, acute_h=acute_hours, note=note
        )
    except TherapyctlError as exc:
        _diary_failed(exc)
    now = time.time()
    click.echo(f"episode started: {_episode_line(started, now)}")
    click.echo("`therapyctl next` says what is due; nothing starts by itself.")


@episode_group.command("end")
@click.option("--site", metavar="S", callback=site_value, help="The site (if several are open).")
@click.option("--at", "at", metavar="WHEN", callback=when_value, help=WHEN_HELP)
@click.option("--db", "db", metavar="PATH", help=DB_HELP)
def episode_end(site: str | None, at: float | None, db: str | None) -> None:
    """Record that the open episode (on --site, or the only one open) ended."""
    from device.journal import end_episode
    from protocols import TherapyctlError

    path = _group_db(db)
    if not path.exists():
        fail(f"no episode is open (the journal {path} does not exist yet)")
    try:
        ended = end_episode(path, site=site, at=at)
    except TherapyctlError as exc:
        _diary_failed(exc)
    click.echo(f"episode ended: {_episode_line(ended, time.time())}")


# ---------------------------------------------------------------------- next


def due_json(episode: Episode, due: Due, now: float) -> dict[str, Any]:
    """One reminder as `next --json` gives it."""
    from device.journal import iso

    return {
        "site": due.site,
        "modality": due.modality,
        "due_at": iso(due.at),
        "due_now": due.is_due(now),
        "phase": due.phase,
        "minutes": due.minutes,
        "reason": due.reason,
        "last_at": None if due.last_at is None else iso(due.last_at),
        "episode": episode.as_json(now),
    }


def due_words(due: Due, now: float) -> str:
    """``cold on lower-back, due now (...)`` or ``next cold on lower-back at 14:35 (in 1 h
    20 min)``, with the reason."""
    if due.is_due(now):
        return f"{due.modality} on {due.site}, due now ({due.reason})"
    return (
        f"next {due.modality} on {due.site} at {_clock(due.at, now)}"
        f" (in {_ago(due.at - now)}; {due.reason})"
    )


NOTHING_STARTS = (
    "Nothing starts by itself: a reminder is a reminder. Start a session with `therapyctl"
    " run ... --site SITE` when it suits you; the limits still hold."
)


@click.command("next")
@click.option("--site", metavar="S", callback=site_value, help="Only this body site.")
@REGIMEN_CONFIG
@click.option("--db", "db", metavar="PATH", help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def next_command(site: str | None, config_file: str | None, db: str | None, as_json: bool) -> None:
    """What the regimen proposes next for each open episode: cold every 2 h while awake in
    its acute phase (the first 48-72 h), then heat a few times a day. Nothing starts by
    itself."""
    from device.sessions import due_list
    from protocols import TherapyctlError
    from ui.cli.config import load_regimen

    try:
        settings = load_regimen(config_file)
    except TherapyctlError as exc:
        fail(exc)
    path = db_path(db)
    now = time.time()
    found = (
        _read(path, lambda reader: due_list(reader, now, settings, site)) if path.exists() else []
    )
    if as_json:
        click.echo(
            json.dumps([due_json(e, d, now) for e, d in found], indent=2, ensure_ascii=False)
        )
        return
    if not found:
        click.echo(
            "no episode is open"
            + (f" on {site}" if site else "")
            + ", so nothing is due. When a spasm begins: `therapyctl episode start --site"
            ' lower-back` (add --at "10h ago" if it began earlier).'
        )
        return
    for episode, due in found:
        click.echo(due_words(due, now))
        last = (
            f"last {due.modality} {_ago(now - due.last_at)} ago"
            if due.last_at is not None
            else f"no {due.modality} on {due.site} yet in this episode"
        )
        click.echo(
            f"  {last}; episode: {episode.kind} {describe_phase(episode, now)}; about"
            f" {due.minutes:g} min, e.g. therapyctl run --device NAME --mode {due.modality}"
            f" --minutes {due.minutes:g} --site {due.site}"
        )
    click.echo(f"waking hours {settings.awake}. {NOTHING_STARTS}")


# ---------------------------------------------------------------------- pain


@click.command("pain", context_settings={"ignore_unknown_options": True})
@click.argument("rating", type=PAIN, required=False, metavar="[N]")
@click.option("--site", metavar="S", callback=site_value, help="The body site.")
@click.option("--note", metavar="TEXT", help="A short note.")
@click.option("--at", "at", metavar="WHEN", callback=when_value, help=WHEN_HELP)
@click.option(
    "--days",
    type=click.IntRange(1, 3650),
    default=7,
    show_default=True,
    help="Without N: the ratings of this many days.",
)
@click.option("--db", "db", metavar="PATH", help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Without N: print JSON.")
def pain_command(
    rating: int | None,
    site: str | None,
    note: str | None,
    at: float | None,
    days: int,
    db: str | None,
    as_json: bool,
) -> None:
    """The pain diary: `pain N` records a rating, 0 (no pain) to 10 (the worst imaginable);
    `pain` lists the recent ones. `run` asks before and after a session on a terminal
    (--pain-before/--pain-after for scripts). Skipping is always fine."""
    from device.journal import record_pain
    from protocols import TherapyctlError

    path = db_path(db)
    if rating is None:
        if note is not None or at is not None:
            raise click.UsageError("--note and --at go with a rating: therapyctl pain N")
        _list_pain(path, site, days, as_json)
        return
    try:
        saved = record_pain(path, rating, site=site, note=note, at=at)
    except TherapyctlError as exc:
        _diary_failed(exc)
    if as_json:
        click.echo(json.dumps(saved.as_json(), indent=2, ensure_ascii=False))
        return
    where = f" on {saved.site}" if saved.site else ""
    click.echo(f"pain {saved.rating}/10{where} recorded at {local_time(saved.at)}")


def _list_pain(path: Path, site: str | None, days: int, as_json: bool) -> None:
    now = time.time()
    since = now - days * 86400
    ratings = (
        _read(path, lambda reader: reader.pain(since=since, site=site)) if path.exists() else []
    )
    if as_json:
        click.echo(json.dumps([r.as_json() for r in ratings], indent=2, ensure_ascii=False))
        return
    if not ratings:
        click.echo(
            f"no pain ratings in the last {days} day(s)"
            + (f" on {site}" if site else "")
            + " (record one: `therapyctl pain 4 --site lower-back`)"
        )
        return
    click.echo(f"{'WHEN':<16} {'PAIN':>4}  {'SITE':<14} {'MOMENT':<6}  SESSION / NOTE")
    for r in ratings:
        extra = " ".join(part for part in (r.session_id or "", r.note or "") if part)
        click.echo(
            f"{local_time(r.at):<16} {r.rating:>4}  {(r.site or '-')[:14]:<14} {r.moment:<6}"
            f"  {extra}"
        )
