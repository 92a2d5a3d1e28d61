"""A session's chart: temperature (or optical power) over time, with its limit lines, plan
steps and safety events marked. matplotlib (the ``plot`` extra), drawn off-screen."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from protocols import TherapyctlError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from device.journal import SessionRow

SAFETY_KINDS = ("safety_stop", "alarm", "link_lost", "device_fault")
FORMATS = (".png", ".svg")


class PlotError(TherapyctlError):
    """The chart cannot be drawn or written."""


def draw_session(
    session: SessionRow,
    samples: list[dict[str, Any]],
    events: list[dict[str, Any]],
    steps: list[dict[str, Any]],
    limits: dict[str, float],
) -> Figure:
    """Build the figure (returned, so tests can look at what was drawn)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise PlotError(
            "plotting needs matplotlib: install therapyctl with the 'plot' extra"
        ) from exc

    figure = Figure(figsize=(10, 5), dpi=100)
    ax = figure.add_subplot()
    samples = _break_gaps(samples)
    minutes = [s["t_s"] / 60 for s in samples]
    light = (session.mode == "light") or (
        bool(samples)
        and all(s["mode"] in ("light", "none") for s in samples)
        and any(s["mode"] == "light" for s in samples)
    )
    if light:
        ax.plot(
            minutes, [s["power_mw"] for s in samples], color="tab:purple", label="optical power"
        )
        ax.set_ylabel("optical power (mW)")
    else:
        ax.plot(
            minutes,
            [
                s["temperature_c"] if s["temperature_c"] is not None else float("nan")
                for s in samples
            ],
            color="tab:red",
            label="temperature",
        )
        ax.plot(
            minutes,
            [s["setpoint_c"] if s["setpoint_c"] is not None else float("nan") for s in samples],
            color="tab:gray",
            linestyle="--",
            linewidth=1,
            label="setpoint",
        )
        ax.set_ylabel("temperature (°C)")
        modes = {s["mode"] for s in samples}
        if "heat" in modes and "heat_ceiling_c" in limits:
            ceiling = limits["heat_ceiling_c"]
            ax.axhline(ceiling, color="darkred", linestyle=":", label=f"heat limit {ceiling:g} °C")
        if "cold" in modes and "cold_floor_c" in limits:
            floor = limits["cold_floor_c"]
            ax.axhline(floor, color="navy", linestyle=":", label=f"cold limit {floor:g} °C")
    ax.set_xlabel("time (min)")
    for step in steps:
        x = step["t_s"] / 60
        ax.axvline(x, color="tab:green", alpha=0.4, linewidth=1)
        ax.annotate(
            step["description"].split(": ", 1)[-1],
            (x, 1.0),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            fontsize=7,
            color="tab:green",
        )
    safety = [e for e in events if e["kind"] in SAFETY_KINDS]
    for event in safety:
        x = event["t_s"] / 60
        ax.axvline(x, color="black", linestyle="-.", linewidth=1)
        ax.annotate(
            event["kind"].replace("_", " "),
            (x, 0.02),
            xycoords=("data", "axes fraction"),
            rotation=90,
            fontsize=8,
        )
    if safety:
        ax.plot([], [], color="black", linestyle="-.", label="safety event")
    ax.set_title(
        f"{session.what} on {session.device_name} ({session.device_kind}) — "
        f"{session.end_reason or 'unfinished'}"
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    figure.tight_layout()
    return figure


def _break_gaps(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert a blank point where samples stop for a while (a rest, a lost link), so the
    chart does not draw a line through time with no data."""
    if len(samples) < 3:
        return samples
    steps = sorted(b["t_s"] - a["t_s"] for a, b in itertools.pairwise(samples))
    gap = max(10 * steps[len(steps) // 2], 1e-9)
    out: list[dict[str, Any]] = [samples[0]]
    for a, b in itertools.pairwise(samples):
        if b["t_s"] - a["t_s"] > gap:
            out.append(
                {
                    **a,
                    "t_s": (a["t_s"] + b["t_s"]) / 2,
                    "temperature_c": None,
                    "setpoint_c": None,
                    "power_mw": float("nan"),
                }
            )
        out.append(b)
    return out


def save(figure: Figure, path: Path) -> None:
    if path.suffix.lower() not in FORMATS:
        raise PlotError(f"{path}: give a .png or .svg file name")
    try:
        figure.savefig(path)
    except OSError as exc:
        raise PlotError(f"cannot write {path}: {exc}") from exc
