"""``therapyctl report``: the review over days, as a figure (PNG, SVG), a page (HTML) or JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from ui.cli.common import DB_HELP, db_path, fail, site_value
from ui.cli.options import REGIMEN_CONFIG

DAYS_MAX = 366
AWAKE_DEFAULT = "07:00-22:00"  # guidance: no one is woken for a reminder (device.safety.Awake)


def _output(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Path | None:
    """-o: a .png, .svg or .html file in a directory that exists and may be written."""
    if value is None:
        return None
    from ui.reports.review import FORMATS

    path = Path(value).expanduser()
    if path.suffix.lower() not in FORMATS:
        raise click.BadParameter(
            f"{value!r}: give a .png, .svg or .html file name", param_hint="-o"
        )
    if path.is_dir():
        raise click.BadParameter(f"{value!r} is a directory: give a file name", param_hint="-o")
    folder = path.parent
    if not folder.is_dir():
        raise click.BadParameter(f"{str(folder)!r}: there is no such directory", param_hint="-o")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise click.BadParameter(f"{value!r}: cannot write there (permission)", param_hint="-o")
    return path


@click.command("report")
@click.option(
    "--days",
    type=click.IntRange(1, DAYS_MAX),
    default=14,
    show_default=True,
    help=f"The last N days (1-{DAYS_MAX}).",
)
@click.option("--site", metavar="S", callback=site_value, help="Only this body site.")
@click.option(
    "-o",
    "--output",
    metavar="FILE.png|FILE.svg|FILE.html",
    callback=_output,
    help="Write the figure (PNG, SVG) or a page with the figure and the tables (HTML).",
)
@REGIMEN_CONFIG
@click.option(
    "--awake",
    metavar="HH:MM-HH:MM",
    help=f"Waking hours, over the configuration's (default {AWAKE_DEFAULT}): the regimen's"
    " slots, which adherence counts, fall only in them.",
)
@click.option("--db", "db", metavar="PATH", help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the review as JSON.")
def report(
    days: int,
    site: str | None,
    output: Path | None,
    config_file: str | None,
    awake: str | None,
    db: str | None,
    as_json: bool,
) -> None:
    """Is it helping? Pain over the last days with the sessions and the daily dose, the mean
    pain change per modality (after - before a session), and the adherence to the regimen.
    One person's record, not evidence: the report says so too."""
    import time
    from dataclasses import replace

    from device.journal import JournalReader
    from device.safety import Awake, RegimenError
    from device.sessions import RegimenSettings
    from protocols import TherapyctlError
    from ui.cli.config import load_regimen
    from ui.reports.review import ReviewError, build_review, draw_review, write_review

    if output is None and not as_json:
        raise click.UsageError("give -o FILE.png|FILE.svg|FILE.html, or --json")
    settings: RegimenSettings
    try:
        settings = load_regimen(config_file)
    except TherapyctlError as exc:
        fail(exc)
    if awake is not None:
        try:
            settings = replace(settings, awake=Awake.parse(awake))
        except RegimenError as exc:
            raise click.BadParameter(str(exc), param_hint="--awake") from exc
    path = db_path(db)
    if not path.exists():
        fail(
            f"no journal yet at {path}: nothing to review (the first `therapyctl run` or"
            " `therapyctl pain` starts it)"
        )
    now = time.time()
    try:
        with JournalReader(path) as reader:
            review = build_review(reader, now, days, site=site, settings=settings)
        figure = draw_review(review, settings.tz) if output is not None else None
    except TherapyctlError as exc:
        fail(exc)
    if output is not None and figure is not None:
        try:
            write_review(review, figure, output)
        except ReviewError as exc:  # a file that cannot be written: the -o given is wrong
            raise click.BadParameter(str(exc), param_hint="-o") from exc
    if as_json:
        click.echo(json.dumps(review, indent=2, ensure_ascii=False))
    if output is not None:
        click.echo(f"wrote {output}", err=as_json)
