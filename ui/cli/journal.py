"""The journal from the command line: ``history``, ``show``, ``export`` and ``plot``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

from ui.cli.common import DB_HELP, db_path, fail


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
@click.option("--db", "db", metavar="PATH", help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def history(
    device: str | None, since: datetime | None, limit: int, db: str | None, as_json: bool
) -> None:
    """Past sessions, newest first, with totals per day."""
    from device.journal import JournalReader
    from protocols import TherapyctlError

    try:
        with JournalReader(db_path(db)) as reader:
            day = since.date() if since else None
            rows = reader.sessions(device=device, since=day, limit=limit)
            days = reader.day_totals(device=device, since=day)
            counts = (
                {r.session_id: reader.sample_stats(r.session_id) for r in rows} if as_json else {}
            )
    except TherapyctlError as exc:
        fail(exc)
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
        click.echo("no sessions in the journal" + (" for that filter" if device or since else ""))
        return
    click.echo(
        f"{'STARTED':<17} {'DEVICE':<16} {'WHAT':<12} {'MIN':>6} {'END':<17} {'PEAK °C':>7}"
        f" {'CEM43/J':>9}  ID"
    )
    for r in rows:
        started = datetime.fromtimestamp(r.started_at).strftime("%Y-%m-%d %H:%M")
        peak = "" if r.max_temperature_c is None else f"{r.max_temperature_c:.1f}"
        dose = (
            f"{r.energy_j:.0f} J"
            if r.energy_j
            else ""
            if r.cem43_minutes is None
            else f"{r.cem43_minutes:.2f}"
        )
        minutes = "" if r.actual_minutes is None else f"{r.actual_minutes:.1f}"
        click.echo(
            f"{started:<17} {r.device_name[:16]:<16} {r.what[:12]:<12} {minutes:>6}"
            f" {(r.end_reason or 'running')[:17]:<17} {peak:>7} {dose:>9}  {r.session_id}"
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


@click.command("show")
@click.argument("session_id")
@click.option("--db", "db", metavar="PATH", help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(session_id: str, db: str | None, as_json: bool) -> None:
    """One session: summary, limits and events."""
    from device.journal import JournalReader
    from protocols import TherapyctlError

    try:
        with JournalReader(db_path(db)) as reader:
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
    data = row.as_json()
    click.echo(
        f"session {row.session_id}: {row.what} on {row.device_name} ({row.device_kind},"
        f" {row.device_address})"
    )
    click.echo(f"  started {data['started_at']}, ended {data['ended_at'] or '(running)'}")
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
    click.echo("  limits: " + ", ".join(f"{k}={v:g}" for k, v in sorted(limits.items())))
    click.echo("  events:")
    for e in events:
        click.echo(f"    {e['t_s'] / 60:7.2f} min  {e['kind']:<15} {e['detail']}")


@click.command("export")
@click.argument("session_id", required=False)
@click.option("--all", "export_all", is_flag=True, help="Every session.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), required=True)
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
    """Sessions and their samples as CSV or JSON."""
    from device.journal import JournalReader
    from protocols import TherapyctlError
    from ui.reports.export import export_data, to_csv, to_json

    if (session_id is None) == (not export_all):
        raise click.UsageError("give a SESSION_ID or --all")
    try:
        with JournalReader(db_path(db)) as reader:
            rows = reader.sessions() if export_all else [reader.session(session_id or "")]
            text = to_csv(reader, rows) if fmt == "csv" else to_json(export_data(reader, rows))
    except TherapyctlError as exc:
        fail(exc)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        Path(output).write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        fail(TherapyctlError(f"cannot write {output}: {exc}"))


@click.command("plot")
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
