"""The review over days (`therapyctl report`): pain over the days with the sessions and the
daily dose beside it, the mean pain change per modality, the adherence to the regimen, and
the caveat that this is one person's record, not evidence.

`build_review` reads the journal into plain data (what `report --json` prints); `draw_review`
draws that data (returned, so tests can look at what was drawn); `write_review` writes a
PNG, an SVG or a self-contained HTML page. matplotlib is the ``plot`` extra, drawn
off-screen.
"""

from __future__ import annotations

import html
import io
import math
import statistics
import textwrap
from collections.abc import Iterable
from datetime import date, datetime, timedelta, tzinfo
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from device.journal import JournalReader, PainRating, SessionRow, iso
from device.safety import Awake, adherence
from protocols import TherapyctlError
from ui.reports.export import session_pain

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from device.sessions import RegimenSettings

REVIEW_FORMAT = "therapyctl-review"
REVIEW_VERSION = 1
DAY_S = 24 * 3600.0
FORMATS = (".png", ".svg", ".html")
MODALITIES = ("heat", "cold", "light")
CAVEAT = (
    "This is one person's record, not evidence: pain changes for many reasons (time, sleep,"
    " activity, medicines, the natural course of a spasm), and a change after a session does"
    " not show that the session caused it."
)
# How each modality is drawn, the same in every panel.
COLORS = {"heat": "tab:red", "cold": "tab:blue", "light": "tab:purple"}
MARKERS = {"heat": "^", "cold": "v", "light": "*"}
OTHER_COLOR, OTHER_MARKER = "tab:gray", "D"


class ReviewError(TherapyctlError):
    """The review cannot be drawn or written."""


def modality(row: SessionRow) -> str:
    """What a session gave: heat, cold or light; a plan of several steps by its name
    (e.g. ``contrast``)."""
    return row.mode or row.plan or "unknown"


def _day(at: float, tz: tzinfo | None) -> date:
    return datetime.fromtimestamp(at, tz).date()


def _mean(values: Iterable[float]) -> float | None:
    found = list(values)
    return round(statistics.fmean(found), 3) if found else None


def build_review(
    reader: JournalReader,
    now: float,
    days: int,
    *,
    site: str | None = None,
    settings: RegimenSettings | None = None,
) -> dict[str, Any]:
    """The review of the ``days`` days up to ``now`` (wall time), on ``site`` or every site:
    the data `report --json` prints and the figure is drawn from. ``settings``: the
    regimen's waking hours and time zone (the days are that zone's calendar days)."""
    awake = settings.awake if settings is not None else Awake()
    tz = settings.tz if settings is not None else None
    start = now - days * DAY_S
    rows = [
        row
        for row in reader.sessions()
        if start <= row.started_at <= now and (site is None or row.site == site)
    ]
    rows.sort(key=lambda row: row.started_at)
    site_of = {row.session_id: row.site for row in reader.sessions(include_refused=True)}
    ratings = [
        rating
        for rating in reader.pain(since=start, until=now)
        if site is None or (rating.site or site_of.get(rating.session_id or "")) == site
    ]
    by_session = session_pain(ratings)

    # Every local day of the period, oldest first, with its ratings and its dose.
    first, last = _day(start, tz), _day(now, tz)
    day_list = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    per_day: dict[date, list[PainRating]] = {d: [] for d in day_list}
    for rating in ratings:
        per_day.setdefault(_day(rating.at, tz), []).append(rating)
    dose: dict[date, dict[str, float]] = {
        d: {"sessions": 0, "heat_cem43_min": 0.0, "cold_min": 0.0, "light_j": 0.0} for d in day_list
    }
    for row in rows:
        entry = dose.setdefault(
            _day(row.started_at, tz),
            {"sessions": 0, "heat_cem43_min": 0.0, "cold_min": 0.0, "light_j": 0.0},
        )
        entry["sessions"] += 1
        entry["heat_cem43_min"] += row.cem43_minutes or 0.0
        entry["light_j"] += row.energy_j or 0.0
        if row.mode == "cold":  # a contrast plan's cold steps are not told apart here
            entry["cold_min"] += row.actual_minutes or 0.0

    sessions = []
    changes: dict[str, list[tuple[int, int]]] = {}
    for row in rows:
        moments = by_session.get(row.session_id, {})
        before = moments["before"].rating if "before" in moments else None
        after = moments["after"].rating if "after" in moments else None
        if before is not None and after is not None:
            changes.setdefault(modality(row), []).append((before, after))
        sessions.append(
            {
                "session_id": row.session_id,
                "started_at": iso(row.started_at),
                "at": row.started_at,
                "modality": modality(row),
                "site": row.site,
                "minutes": row.actual_minutes,
                "end_reason": row.end_reason,
                "pain_before": before,
                "pain_after": after,
            }
        )
    pain_change = {
        name: {
            "n": len(pairs),
            "mean_before": _mean(b for b, _ in pairs),
            "mean_after": _mean(a for _, a in pairs),
            "mean_change": _mean(a - b for b, a in pairs),
        }
        for name, pairs in sorted(changes.items())
    }

    # Adherence: each episode that was open at some time in the period, over that time;
    # up to ``now``, so only the slots that have closed by now count (an open one is not
    # missed yet).
    episodes = []
    total = {"cold_due": 0, "cold_done": 0, "heat_due": 0, "heat_done": 0}
    for episode in sorted(reader.episodes(site=site), key=lambda e: (e.started_at, e.id)):
        if episode.started_at > now or (episode.ended_at is not None and episode.ended_at < start):
            continue
        done = reader.done(site=episode.site)
        counts = adherence(episode.info(), done, max(start, episode.started_at), now, awake, tz)
        for key, value in counts.items():
            total[key] += value
        episodes.append(
            {
                **episode.as_json(now),
                **counts,
                "sessions_due": counts["cold_due"] + counts["heat_due"],
                "sessions_done": counts["cold_done"] + counts["heat_done"],
            }
        )

    return {
        "format": REVIEW_FORMAT,
        "version": REVIEW_VERSION,
        "period": {
            "days": days,
            "from": iso(start),
            "to": iso(now),
            "from_at": start,
            "to_at": now,
            "site": site,
            "awake": str(awake),
        },
        "caveat": CAVEAT,
        "pain": {
            "ratings": len(ratings),
            "mean": _mean(r.rating for r in ratings),
            "days": [
                {
                    "day": d.isoformat(),
                    "ratings": len(per_day[d]),
                    "mean": _mean(r.rating for r in per_day[d]),
                }
                for d in sorted(per_day)
            ],
        },
        "dose_per_day": [
            {
                "day": d.isoformat(),
                "sessions": int(dose[d]["sessions"]),
                "heat_cem43_min": round(dose[d]["heat_cem43_min"], 3),
                "cold_min": round(dose[d]["cold_min"], 2),
                "light_j": round(dose[d]["light_j"], 1),
            }
            for d in sorted(dose)
        ],
        "sessions": sessions,
        "pain_change": pain_change,
        "adherence": {"episodes": episodes, "total": total},
        "ratings": [{**r.as_json(), "at_s": r.at} for r in ratings],
    }


EPOCH = date(1970, 1, 1)  # the x axis: days since this date, on the local wall clock


def wall_days(at: float, tz: tzinfo | None = None) -> float:
    """A moment (Unix seconds) as the x of the figure: days since 1970-01-01 on the wall
    clock of ``tz`` (local time by default), so a day's ticks fall on its local midnight."""
    local = datetime.fromtimestamp(at, tz).astimezone(tz)
    offset = local.utcoffset()
    return (at + (offset.total_seconds() if offset is not None else 0.0)) / DAY_S


def day_noon(day: str) -> float:
    """The x of a day's noon (where its mean and its dose are drawn)."""
    return (date.fromisoformat(day) - EPOCH).days + 0.5


def _figure_class() -> type[Figure]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ReviewError(
            "the report needs matplotlib: install therapyctl with the 'plot' extra"
        ) from exc
    return Figure


def change_lines(review: dict[str, Any]) -> list[str]:
    """The mean pain change per modality, in words (also on the figure)."""
    lines = []
    for name, entry in review["pain_change"].items():
        change = entry["mean_change"]
        lines.append(
            f"{name}: {change:+.1f} on average (after {entry['mean_after']:.1f} - before"
            f" {entry['mean_before']:.1f}, n={entry['n']})"
        )
    return lines or ["no session has a rating both before and after it"]


def adherence_line(review: dict[str, Any]) -> str:
    total = review["adherence"]["total"]
    if not review["adherence"]["episodes"]:
        return "no episode in this period (`therapyctl episode start` records one)"
    return (
        f"cold {total['cold_done']} of {total['cold_due']} due, heat {total['heat_done']} of"
        f" {total['heat_due']} due (the regimen's slots in waking hours"
        f" {review['period']['awake']})"
    )


def draw_review(review: dict[str, Any], tz: tzinfo | None = None) -> Figure:
    """Two panels over the days: pain (each rating a point, the daily mean a line, the
    sessions marked by modality), and the dose per day (heat CEM43 and cold minutes as bars,
    light J on a second axis); the pain change, adherence and the caveat written below."""
    figure = _figure_class()(figsize=(11, 8.5), dpi=100)
    grid = figure.add_gridspec(2, 1, height_ratios=(3, 2), hspace=0.08)
    pain_ax = figure.add_subplot(grid[0])
    dose_ax = figure.add_subplot(grid[1], sharex=pain_ax)

    when, noon = partial(wall_days, tz=tz), day_noon

    ratings = review["ratings"]
    pain_ax.scatter(
        [when(r["at_s"]) for r in ratings],
        [r["rating"] for r in ratings],
        color="black",
        s=16,
        alpha=0.6,
        label="pain rating",
        zorder=3,
    )
    means = [d for d in review["pain"]["days"] if d["mean"] is not None]
    pain_ax.plot(
        [noon(d["day"]) for d in means],
        [d["mean"] for d in means],
        color="tab:orange",
        marker="o",
        linewidth=2,
        label="daily mean pain",
    )
    kinds = sorted({s["modality"] for s in review["sessions"]})
    for kind in kinds:
        at = [when(s["at"]) for s in review["sessions"] if s["modality"] == kind]
        pain_ax.plot(
            at,
            [10.6] * len(at),
            linestyle="none",
            marker=MARKERS.get(kind, OTHER_MARKER),
            color=COLORS.get(kind, OTHER_COLOR),
            label=f"{kind} session",
            clip_on=False,
        )
    pain_ax.set_ylim(-0.3, 11.2)
    pain_ax.set_yticks(range(0, 11, 2))
    pain_ax.set_ylabel("pain (0-10)")
    period = review["period"]
    where = period["site"] or "every site"
    pain_ax.set_title(f"Pain and therapy, the last {period['days']} days ({where})")
    pain_ax.grid(alpha=0.3)
    pain_ax.legend(loc="lower left", fontsize=8, ncols=3)
    pain_ax.tick_params(labelbottom=False)

    days = review["dose_per_day"]
    x = [noon(d["day"]) for d in days]
    width = 0.3  # days
    dose_ax.bar(
        [t - width / 2 for t in x],
        [d["heat_cem43_min"] for d in days],
        width=width,
        color=COLORS["heat"],
        alpha=0.7,
        label="heat CEM43 (min)",
    )
    dose_ax.bar(
        [t + width / 2 for t in x],
        [d["cold_min"] for d in days],
        width=width,
        color=COLORS["cold"],
        alpha=0.7,
        label="cold (min)",
    )
    dose_ax.set_ylabel("heat CEM43 / cold (min per day)")
    dose_ax.set_xlabel("day")
    light_ax = dose_ax.twinx()
    lit = [(t, d["light_j"]) for t, d in zip(x, days, strict=True) if d["light_j"] > 0]
    light_ax.plot(
        [t for t, _ in lit],
        [j for _, j in lit],
        color=COLORS["light"],
        marker=MARKERS["light"],
        label="light (J)",
    )
    light_ax.set_ylabel("light (J per day)")
    light_ax.set_ylim(bottom=0)
    handles, labels = dose_ax.get_legend_handles_labels()
    more, more_labels = light_ax.get_legend_handles_labels()
    dose_ax.legend(handles + more, labels + more_labels, loc="upper left", fontsize=8)
    dose_ax.grid(alpha=0.3)
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    dose_ax.xaxis.set_major_locator(MultipleLocator(max(1, math.ceil(period["days"] / 14))))
    dose_ax.xaxis.set_major_formatter(
        FuncFormatter(lambda x, _pos: (EPOCH + timedelta(days=math.floor(x))).strftime("%m-%d"))
    )
    dose_ax.set_xlim(when(period["from_at"]), when(period["to_at"]))

    summary = [
        "Mean pain change after - before a session:",
        *(f"    {line}" for line in change_lines(review)),
        "Adherence to the regimen: " + adherence_line(review),
    ]
    figure.text(0.07, 0.2, "\n".join(summary), fontsize=8, va="top")
    figure.text(
        0.07,
        0.075,
        "\n".join(textwrap.wrap(CAVEAT, 150)),
        fontsize=8,
        va="top",
        style="italic",
        color="darkred",
    )
    figure.subplots_adjust(left=0.07, right=0.92, top=0.95, bottom=0.3)
    return figure


def svg_text(figure: Figure) -> str:
    """The figure as SVG markup, without the XML prologue (to inline it in HTML)."""
    out = io.StringIO()
    figure.savefig(out, format="svg")
    text = out.getvalue()
    return text[text.index("<svg") :]


def html_page(review: dict[str, Any], figure: Figure) -> str:
    """A self-contained page: the figure's SVG inlined, the tables and the caveat."""
    esc = html.escape
    period = review["period"]
    rows_change = (
        "".join(
            f"<tr><td>{esc(name)}</td><td>{e['n']}</td><td>{e['mean_before']:.2f}</td>"
            f"<td>{e['mean_after']:.2f}</td><td>{e['mean_change']:+.2f}</td></tr>"
            for name, e in review["pain_change"].items()
        )
        or '<tr><td colspan="5">no session has a rating both before and after it</td></tr>'
    )
    rows_adherence = (
        "".join(
            f"<tr><td>{esc(e['site'])}</td><td>{esc(e['kind'])}</td><td>{esc(e['started_at'])}</td>"
            f"<td>{esc(e['phase'])}</td><td>{e['cold_done']} of {e['cold_due']}</td>"
            f"<td>{e['heat_done']} of {e['heat_due']}</td></tr>"
            for e in review["adherence"]["episodes"]
        )
        or '<tr><td colspan="6">no episode in this period</td></tr>'
    )
    rows_days = "".join(
        f"<tr><td>{p['day']}</td><td>{p['ratings']}</td>"
        f"<td>{'' if p['mean'] is None else format(p['mean'], '.2f')}</td>"
        f"<td>{d['sessions']}</td><td>{d['heat_cem43_min']:.2f}</td><td>{d['cold_min']:.1f}</td>"
        f"<td>{d['light_j']:.0f}</td></tr>"
        for p, d in zip(review["pain"]["days"], review["dose_per_day"], strict=True)
    )
    where = esc(period["site"] or "every site")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>therapyctl review: the last {period["days"]} days ({where})</title>
<style>
body {{ font-family: sans-serif; max-width: 70em; margin: 1em auto; padding: 0 1em; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #bbb; padding: 0.2em 0.6em; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
.caveat {{ border-left: 4px solid darkred; padding: 0.5em 1em; background: #fdf3f3; }}
svg {{ max-width: 100%; height: auto; }}
</style>
</head>
<body>
<h1>Pain and therapy, the last {period["days"]} days ({where})</h1>
<p>From {esc(period["from"])} to {esc(period["to"])}.</p>
<p class="caveat" id="caveat">{esc(review["caveat"])}</p>
{svg_text(figure)}
<h2>Mean pain change per modality</h2>
<p>After - before, for the sessions with a rating both before and after.</p>
<table id="pain-change">
<tr><th>modality</th><th>sessions</th><th>before</th><th>after</th><th>change</th></tr>
{rows_change}
</table>
<h2>Adherence to the regimen</h2>
<p>Sessions done in the regimen's slots (cold every 2 h in the acute phase, then heat every
4 h, from the start of the waking hours {esc(period["awake"])}); a slot counts once it has
passed.</p>
<table id="adherence">
<tr><th>site</th><th>kind</th><th>began</th><th>phase</th><th>cold</th><th>heat</th></tr>
{rows_adherence}
</table>
<h2>Day by day</h2>
<table id="days">
<tr><th>day</th><th>ratings</th><th>mean pain</th><th>sessions</th><th>heat CEM43 (min)</th>
<th>cold (min)</th><th>light (J)</th></tr>
{rows_days}
</table>
</body>
</html>
"""


def write_review(review: dict[str, Any], figure: Figure, path: Path) -> None:
    """Write the figure as PNG or SVG, or the whole review as an HTML page."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ReviewError(f"{path}: give a .png, .svg or .html file name")
    try:
        if suffix == ".html":
            path.write_text(html_page(review, figure), encoding="utf-8")
        else:
            figure.savefig(path)
    except OSError as exc:
        raise ReviewError(f"cannot write {path}: {exc.strerror or exc}") from exc
