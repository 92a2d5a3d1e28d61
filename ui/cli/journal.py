"""The journal from the command line: ``history``, ``show``, ``export``, ``plot`` and
``dose``."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ui.cli.common import DB_HELP, db_path, event_time, fail, local_time, site_value

if TYPE_CHECKING:
    from device.journal import JournalReader

LAST = "last"  # the newest session, wherever an id is asked for
DOSE_DAYS_MAX = 366  # `dose --days`: a year of calendar days at most
SESSION_ID_HELP = "SESSION_ID is an id from `history`, any unique start of one, or `last`."


def resolve_session_id(reader: JournalReader, given: str) -> str:
    """The session ``given`` names: its id, a unique start of one, or ``last`` (the newest).
    Nothing or several matching is a JournalError (one line)."""
    from device.journal import JournalError

    path = str(reader.path)
    if given == LAST:
        newest = reader.sessions(limit=1)
        if not newest:
            raise JournalError(path, "there are no sessions yet")
        return newest[0].session_id
    wanted = given.strip().lower()
    if not wanted:
        raise JournalError(path, "give a session id (`therapyctl history` lists them)")
    ids = [row.session_id for row in reader.sessions(include_refused=True)]
    if wanted in ids:
        return wanted
    matches = [i for i in ids if i.startswith(wanted)]
    if not matches:
        try:
            reader.session(wanted)  # on record but damaged: says so
        except JournalError as exc:
            if "damaged" in exc.reason:
                raise
        raise JournalError(
            path,
            f"there is no session {given!r} (no id starts with it; `therapyctl history`"
            " lists them)",
        )
    if len(matches) > 1:
        shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
        raise JournalError(
            path, f"{given!r} is the start of {len(matches)} session ids ({shown}): give more of it"
        )
    return matches[0]


@click.command("history")
@click.option("--device", metavar="NAME", help="Only this device (name or address).")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="DATE",
    help="Only sessions from this day on (YYYY-MM-DD).",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 1_000_000),
    default=50,
    show_default=True,
    help="At most this many sessions (totals per day count all).",
)
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Also the refused requests (rest required, daily limit...): nothing was turned on.",
)
@click.option("--db", "db", metavar="PATH", help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def history(
    device: str | None,
    since: datetime | None,
    limit: int,
    show_all: bool,
    db: str | None,
    as_json: bool,
) -> None:
    """Past sessions, newest first, with totals per day. A request the supervisor refused
    (nothing was turned on) is not a session: `--all` lists those too."""
    from device.journal import JournalReader
    from protocols import TherapyctlError

    path = db_path(db)
    if not path.exists():  # a new machine: nothing has run yet, which is no error
        if as_json:
            click.echo(json.dumps({"sessions": [], "days": []}, indent=2))
        else:
            click.echo(f"no sessions yet (the first `therapyctl run` starts the journal {path})")
        return
    try:
        with JournalReader(path) as reader:
            day = since.date() if since else None
            rows = reader.sessions(device=device, since=day, limit=limit, include_refused=show_all)
            days = reader.day_totals(device=device, since=day)
            counts = (
                {r.session_id: reader.sample_stats(r.session_id) for r in rows} if as_json else {}
            )
            damaged = reader.damaged_sessions()
    except TherapyctlError as exc:
        fail(exc)
    if damaged:
        click.echo(
            f"therapyctl: warning: {damaged} session row(s) in {path} are damaged (their start"
            " is not a time) and left out; the file is not changed",
            err=True,
        )
    if as_json:
        click.echo(
            json.dumps(
                {"sessions": [{**r.as_json(), **counts[r.session_id]} for r in rows], "days": days},
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    if not rows:
        click.echo("no sessions" + (" for that filter" if device or since else " yet"))
        return
    click.echo(
        f"{'STARTED':<16} {'DEVICE':<16} {'SITE':<14} {'WHAT':<12} {'MIN':>5} {'END':<21}"
        f" {'°C LOW-HIGH':>11} {'CEM43':>6} {'LIGHT J':>7}  ID"
    )
    for r in rows:
        temps = (
            ""
            if r.max_temperature_c is None or r.min_temperature_c is None
            else f"{r.min_temperature_c:.1f}-{r.max_temperature_c:.1f}"
        )
        cem43 = "" if r.cem43_minutes is None else f"{r.cem43_minutes:.2f}"
        energy = f"{r.energy_j:.0f}" if r.energy_j else ""
        minutes = "" if r.actual_minutes is None else f"{r.actual_minutes:.1f}"
        end = r.end_reason or "running"
        if r.refused:
            end = f"refused:{end}"
        click.echo(
            f"{local_time(r.started_at):<16} {r.device_name[:16]:<16}"
            f" {(r.site or '-')[:14]:<14} {r.what[:12]:<12}"
            f" {minutes:>5} {end[:21]:<21} {temps:>11} {cem43:>6} {energy:>7}  {r.session_id}"
        )
    click.echo("")
    click.echo(
        f"{'DAY':<11} {'SESSIONS':>8} {'MINUTES':>8} {'LIGHT MIN':>9} {'CEM43':>7} {'ENERGY J':>9}"
    )
    for d in days:
        click.echo(
            f"{d['day']:<11} {d['sessions']:>8} {d['minutes']:>8.1f} {d['light_minutes']:>9.1f}"
            f" {d['cem43_minutes']:>7.2f} {d['energy_j']:>9.0f}"
        )


@click.command("show", epilog=SESSION_ID_HELP)
@click.argument("session_id")
@click.option("--db", "db", metavar="PATH", help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(session_id: str, db: str | None, as_json: bool) -> None:
    """One session: summary, limits and events."""
    from device.journal import JournalReader
    from protocols import TherapyctlError

    try:
        with JournalReader(db_path(db)) as reader:
            session_id = resolve_session_id(reader, session_id)
            row = reader.session(session_id)
            limits = reader.limits(session_id)
            events = reader.events(session_id)
            steps = reader.steps(session_id)
            stats = reader.sample_stats(session_id)
    except TherapyctlError as exc:
        fail(exc)
    if as_json:
        click.echo(
            json.dumps(
                {**row.as_json(), **stats, "limits": limits, "steps": steps, "events": events},
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    click.echo(
        f"session {row.session_id}: {row.what} on {row.device_name} ({row.device_kind},"
        f" {row.device_address})"
    )
    click.echo(f"  body site: {row.site or '(none given)'}")
    ended = local_time(row.ended_at) if row.ended_at else "(running)"
    click.echo(f"  started {local_time(row.started_at)}, ended {ended}")
    click.echo(
        f"  end: {row.end_reason or 'running'}" + (f" — {row.end_detail}" if row.end_detail else "")
    )
    click.echo(
        f"  minutes: requested {row.requested_minutes:g}, planned {row.planned_minutes or 0:g},"
        f" actual {row.actual_minutes or 0:.1f}"
    )
    if row.max_temperature_c is not None:
        click.echo(
            f"  temperature {row.min_temperature_c:.1f}-{row.max_temperature_c:.1f} °C,"
            f" CEM43 {row.cem43_minutes or 0:.2f} min"
        )
    if row.energy_j:
        click.echo(f"  light energy {row.energy_j:.0f} J")
    click.echo(f"  samples: {stats['samples']}")
    click.echo("  limits:")
    for line in describe_limits(limits):
        click.echo(f"    {line}")
    click.echo("  events:")
    for e in events:
        click.echo(f"    {event_time(e['t_s'])}  {e['kind']:<15} {e['detail']}")


@click.command("export", epilog=SESSION_ID_HELP)
@click.argument("session_id", required=False)
@click.option("--all", "export_all", is_flag=True, help="Every session.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "fhir"]),
    required=True,
    help="csv: a row per sample; json: everything, with the pain diary; fhir: a FHIR R4"
    " Bundle for a clinician (every session, refused ones as not-done, unless SESSION_ID).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE",
    help="Write here (default: standard output).",
)
@click.option("--db", "db", metavar="PATH", help=DB_HELP)
def export(
    session_id: str | None, export_all: bool, fmt: str, output: str | None, db: str | None
) -> None:
    """Sessions and their samples as CSV or JSON, with each session's body site and pain
    ratings (and in JSON the episodes and every pain rating); or the whole journal as a FHIR
    R4 Bundle (Devices, a Procedure per session, an Observation per pain rating, a Condition
    per episode)."""
    import time

    from device.journal import JournalReader
    from protocols import TherapyctlError
    from ui.reports.export import export_data, to_csv, to_json
    from ui.reports.fhir import fhir_bundle

    if fmt == "fhir" and session_id is None:
        export_all = True  # a clinician's export is the whole journal unless one is named
    if (session_id is None) == (not export_all):
        raise click.UsageError("give a SESSION_ID or --all")
    try:
        with JournalReader(db_path(db)) as reader:
            if export_all:
                rows = reader.sessions(include_refused=fmt == "fhir")
            else:
                rows = [reader.session(resolve_session_id(reader, session_id or ""))]
            if fmt == "csv":
                text = to_csv(reader, rows)
            elif fmt == "json":
                text = to_json(export_data(reader, rows, diary=export_all))
            else:
                text = to_json(fhir_bundle(reader, rows, time.time(), diary=export_all))
    except TherapyctlError as exc:
        fail(exc)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        Path(output).write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        fail(TherapyctlError(f"cannot write {output}: {exc}"))


@click.command("plot", epilog=SESSION_ID_HELP)
@click.argument("session_id")
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="FILE.png|FILE.svg",
    help="The chart file (PNG or SVG).",
)
@click.option("--db", "db", metavar="PATH", help=DB_HELP)
def plot(session_id: str, output: str, db: str | None) -> None:
    """A session's temperature (or power) over time, with limits, steps and safety events."""
    from device.journal import JournalReader
    from protocols import TherapyctlError
    from ui.reports.plot import FORMATS, draw_session, save

    path = Path(output)
    if path.suffix.lower() not in FORMATS:
        raise click.BadParameter("give a .png or .svg file name", param_hint="-o")
    try:
        with JournalReader(db_path(db)) as reader:
            session_id = resolve_session_id(reader, session_id)
            row = reader.session(session_id)
            figure = draw_session(
                row,
                reader.samples(session_id),
                reader.events(session_id),
                reader.steps(session_id),
                reader.limits(session_id),
            )
        save(figure, path)
    except TherapyctlError as exc:
        fail(exc)
    click.echo(f"wrote {path}")


@click.command("dose")
@click.option("--site", metavar="S", callback=site_value, help="Only this body site.")
@click.option(
    "--limits",
    "limits_file",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="Tighten the site limits shown with this limits file (as `run --limits`).",
)
@click.option(
    "--days",
    type=click.IntRange(1, DOSE_DAYS_MAX),
    default=1,
    show_default=True,
    metavar="N",
    help="Also show the dose per calendar day (local time) for the last N days, today"
    " included (for display: the limits count any 24 hours).",
)
@click.option("--db", "db", metavar="PATH", help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def dose(
    site: str | None, limits_file: str | None, days: int, db: str | None, as_json: bool
) -> None:
    """Per body site, the dose of the last 24 hours (every device on the site added up) and
    what is left of the site limits: heat sessions, minutes and CEM43; cold minutes and the
    last cold start; light minutes, J and J/cm² (from the belt's emitting area; unknown
    for a device that does not give it). Then per calendar day (today, or the last --days
    N): the same amounts for the uses that started that day."""
    import time

    from device.journal import JournalReader
    from device.safety import DEFAULT_LIMITS, load_limits
    from protocols import TherapyctlError

    path = db_path(db)
    if not path.exists():  # a new machine: nothing has run yet, which is no error
        if as_json:
            click.echo(json.dumps({"sites": [], "days": []}, indent=2))
        else:
            click.echo(f"no sessions yet (the first `therapyctl run` starts the journal {path})")
        return
    now = time.time()
    try:
        limits = load_limits(Path(limits_file), DEFAULT_LIMITS) if limits_file else DEFAULT_LIMITS
        with JournalReader(path) as reader:
            rows = [reader.site_usage(site, now, 1.0)] if site else reader.dose(now)
            calendar = reader.daily_dose(now, days, site=site)
    except TherapyctlError as exc:
        fail(exc)
    sites = [site_dose(row, limits.as_dict(), now) for row in rows]
    per_day = [
        {"day": day["day"], "sites": [day_site_dose(entry) for entry in day["sites"]]}
        for day in calendar
    ]
    if as_json:
        click.echo(json.dumps({"sites": sites, "days": per_day}, indent=2, ensure_ascii=False))
        return
    if not sites:
        click.echo(
            "no sessions on a body site in the last 24 hours (give `run --site S`)"
            if site is None
            else f"nothing on {site} in the last 24 hours"
        )
    _echo_rolling(sites)
    _echo_days(per_day, days)


def _echo_rolling(sites: list[dict[str, Any]]) -> None:
    """The rolling 24 hours per site against the limits (what `dose` shows first)."""
    for entry in sites:
        heat, cold, light = entry["heat"], entry["cold"], entry["light"]
        click.echo(f"{entry['site']} (the last 24 hours, every device on it added up)")
        click.echo(
            f"  heat:  {heat['sessions']} of {heat['sessions_limit']:g} sessions,"
            f" {_amount(heat['minutes'], '.1f')} min, CEM43 {_amount(heat['cem43_min'], '.2f')}"
            f" of {heat['cem43_min_limit']:g} min — {heat['sessions_left']} sessions and"
            f" {heat['cem43_min_left']:.2f} CEM43 min left"
        )
        last = cold["last_start"]
        cold_line = f"  cold:  {_amount(cold['minutes'], '.1f')} min"
        if last is None:
            cold_line += ", no cold start yet — cold may start now"
        else:
            when = local_time(cold["last_start_at"])
            after = cold["next_start_at"]
            cold_line += f", last started {when} — " + (
                "cold may start now"
                if after is None
                else f"next cold from {local_time(after)} (every"
                f" {_duration(cold['rest_limit_s'])}, start to start)"
            )
        click.echo(cold_line)
        click.echo(
            f"  light: {_amount(light['minutes'], '.1f')} of {light['minutes_limit']:g} min,"
            f" {_amount(light['energy_j'], '.0f')} J{_fluence_text(light['fluence_j_cm2'])}"
            f" — {light['minutes_left']:.1f} min left"
        )


def _echo_days(per_day: list[dict[str, Any]], days: int) -> None:
    """The dose per calendar day, newest first (for display; the limits count 24 hours)."""
    if not any(day["sites"] for day in per_day):
        if days > 1:
            click.echo(f"nothing on a body site in the last {days} calendar days")
        return
    click.echo(
        "per calendar day (local time; each use counted on the day it started; the limits"
        " above count any 24 hours):"
    )
    for day in per_day:
        if not day["sites"]:
            click.echo(f"  {day['day']}: nothing")
            continue
        for entry in day["sites"]:
            heat, cold, light = entry["heat"], entry["cold"], entry["light"]
            click.echo(
                f"  {day['day']} {entry['site']}: heat {heat['sessions']} sessions,"
                f" {_amount(heat['minutes'], '.1f')} min,"
                f" CEM43 {_amount(heat['cem43_min'], '.2f')};"
                f" cold {cold['starts']} starts, {_amount(cold['minutes'], '.1f')} min;"
                f" light {_amount(light['minutes'], '.1f')} min,"
                f" {_amount(light['energy_j'], '.0f')} J{_fluence_text(light['fluence_j_cm2'])}"
            )


def _amount(value: float | None, spec: str) -> str:
    """A number to show; None (a damaged journal row) is "?"."""
    return "?" if value is None else format(value, spec)


def _fluence_text(j_cm2: float | None) -> str:
    """ ", 2.40 J/cm²", or that it is unknown (a device that gives no emitting area)."""
    if j_cm2 is None:
        return " (J/cm² unknown: a device gave no emitting area)"
    return f", {j_cm2:.2f} J/cm²"


def _rounded(value: float | None, digits: int) -> float | None:
    """Rounded for showing; None for none and for a damaged (infinite, NaN) amount, which
    JSON cannot carry and which counts as using the limit up."""
    return None if value is None or not math.isfinite(value) else round(value, digits)


def day_site_dose(entry: dict[str, Any]) -> dict[str, Any]:
    """One site's calendar day, as `dose --json` gives it under "days"."""
    return {
        "site": entry["site"],
        "heat": {
            "sessions": int(entry["heat_sessions"]),
            "minutes": _rounded(None if entry["heat_s"] is None else entry["heat_s"] / 60, 2),
            "cem43_min": _rounded(entry["heat_cem43_min"], 3),
        },
        "cold": {
            "starts": int(entry["cold_starts"]),
            "minutes": _rounded(None if entry["cold_s"] is None else entry["cold_s"] / 60, 2),
        },
        "light": {
            "minutes": _rounded(None if entry["light_s"] is None else entry["light_s"] / 60, 2),
            "energy_j": _rounded(entry["light_j"], 1),
            "fluence_j_cm2": _rounded(entry["light_j_cm2"], 3),
        },
    }


def site_dose(row: dict[str, Any], limits: dict[str, float], now: float) -> dict[str, Any]:
    """One site's dose against its limits, as `dose --json` gives it."""
    from datetime import datetime

    sessions_limit = limits["site_heat_sessions_24h"]
    cem43_limit = limits["site_heat_cem43_24h_min"]
    light_limit_s = limits["site_light_daily_s"]
    rest_s = limits["site_cold_rest_s"]
    cold_at = row["cold_at"]
    next_at = None if cold_at is None or cold_at + rest_s <= now else cold_at + rest_s

    def iso(at: float | None) -> str | None:
        return (
            None
            if at is None
            else datetime.fromtimestamp(at).astimezone().isoformat("T", "seconds")
        )

    return {
        "site": row["site"],
        "heat": {
            "sessions": int(row["heat_sessions"]),
            "sessions_limit": sessions_limit,
            "sessions_left": max(0, int(sessions_limit) - int(row["heat_sessions"])),
            "minutes": _rounded(row["heat_s"] / 60, 2),
            "cem43_min": _rounded(row["heat_cem43_min"], 3),
            "cem43_min_limit": cem43_limit,
            "cem43_min_left": round(max(0.0, cem43_limit - row["heat_cem43_min"]), 3),
        },
        "cold": {
            "minutes": _rounded(row["cold_s"] / 60, 2),
            "last_start": iso(cold_at),
            "last_start_at": cold_at,
            "next_start_at": next_at,
            "next_start": iso(next_at),
            "rest_limit_s": rest_s,
        },
        "light": {
            "minutes": _rounded(row["light_s"] / 60, 2),
            "energy_j": _rounded(row["light_j"], 1),
            # J/cm² over the 24 hours: None if a device on the site gave no emitting area
            "fluence_j_cm2": _rounded(row.get("light_j_cm2"), 3),
            "minutes_limit": light_limit_s / 60,
            "minutes_left": round(max(0.0, light_limit_s - row["light_s"]) / 60, 2),
        },
    }


def _duration(seconds: float) -> str:
    """A limit's duration as a person says it: 20 min, 2 h, 60 s, 1.5 min."""
    if seconds >= 3600 and seconds % 1800 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:.3g} min"
    return f"{seconds:g} s"


def _celsius(value: float) -> str:
    return f"{value:g} °C"


def _number(value: float) -> str:
    return f"{value:g}"


_Say = Callable[[float], str]
# The limits a session ran under, a line per concern: (limit, words before, its unit).
_LIMIT_LINES: tuple[tuple[str, tuple[tuple[str, str, _Say], ...]], ...] = (
    (
        "heat",
        (
            ("heat_max_session_s", "at most", _duration),
            ("heat_ceiling_c", "ceiling", _celsius),
            ("heat_dose_cem43_min", "CEM43", lambda v: f"{v:g} min"),
            ("heat_rest_s", "rest", lambda v: f"{_duration(v)} between sessions"),
        ),
    ),
    (
        "cold",
        (
            ("cold_max_session_s", "at most", _duration),
            ("cold_floor_c", "floor", _celsius),
            ("cold_rest_s", "a start at most every", _duration),
        ),
    ),
    (
        "light",
        (
            ("light_max_session_s", "at most", _duration),
            ("light_daily_s", "in any 24 h at most", _duration),
            ("light_ceiling_c", "ceiling", _celsius),
        ),
    ),
    (
        "attended use",
        (
            ("attended_check_s", "heat asks every", _duration),
            ("attended_ack_s", "answer within", _duration),
        ),
    ),
    (
        "stops",
        (
            ("runaway_margin_c", "runaway beyond", _celsius),
            ("battery_low_pct", "battery below", lambda v: f"{v:g} %"),
            ("lease_s", "device lease", _duration),
            ("stale_factor", "link lost after", lambda v: f"{v:g} silent Status periods"),
        ),
    ),
    (
        "sensor",
        (
            ("sensor_min_c", "plausible from", _celsius),
            ("sensor_max_c", "to", _celsius),
            ("sensor_max_rate_c_per_s", "at most", lambda v: f"{v:g} °C/s"),
            ("sensor_stuck_s", "stuck after", _duration),
        ),
    ),
    (
        "after a stop",
        (
            ("after_stop_watch_s", "watch for", _duration),
            ("after_stop_drift_c", "alarm at a drift of", _celsius),
        ),
    ),
    ("setpoints", (("setpoint_margin_c", "kept inside the band by", _celsius),)),
    (
        "per body site in 24 h",
        (
            ("site_heat_sessions_24h", "heat", lambda v: f"{v:g} sessions"),
            ("site_heat_cem43_24h_min", "CEM43", lambda v: f"{v:g} min"),
            ("site_light_daily_s", "light", _duration),
            ("site_cold_rest_s", "cold every", _duration),
        ),
    ),
)


def describe_limits(limits: dict[str, float]) -> list[str]:
    """The limits in a person's terms, e.g. ``heat: at most 20 min, ceiling 43 °C, CEM43 20
    min, rest 20 min between sessions``; any limit this release does not know last, by name."""
    lines = []
    for concern, parts in _LIMIT_LINES:
        said = [f"{words} {say(limits[name])}" for name, words, say in parts if name in limits]
        if said:
            lines.append(f"{concern}: {', '.join(said)}")
    known = {name for _, parts in _LIMIT_LINES for name, _, _ in parts}
    if other := sorted(set(limits) - known):
        lines.append("other: " + ", ".join(f"{name} {_number(limits[name])}" for name in other))
    return lines
