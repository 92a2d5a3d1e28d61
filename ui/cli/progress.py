"""``run``'s live progress line (stderr), its attended-use prompt on a terminal, and the
summary it prints at the end."""

from __future__ import annotations

import asyncio
import sys

import click

from device.sessions import PlanRunner, RunSummary, SessionEvent, SessionListener, SessionRunner
from protocols import Status

_SHOWN_EVENTS = (
    "clamp",
    "safety_stop",
    "alarm",
    "alarm_peak",
    "link_lost",
    "refused",
    "step",
    "attended_check",
    "attended_ack",
    "reconnected",
    "paused",
    "resumed",
)


class Progress(SessionListener):
    """The live progress line (stderr) and the attended-use prompt on a terminal."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.runner: PlanRunner | None = None
        self._last_minute = -1
        self._line_open = False
        self._stdin_watched = False

    def on_status(self, runner: SessionRunner, status: Status) -> None:
        tally = runner.supervisor.tally if runner.supervisor else None
        temp = "--.-" if status.temperature_c is None else f"{status.temperature_c:5.1f}"
        extra = ""
        if tally is not None:
            extra = (
                f"  energy {tally.energy_j:6.0f} J"
                if status.mode.name == "LIGHT"
                else f"  CEM43 {tally.cem43_min:5.2f}"
            )
        line = (
            f"{status.mode.name.lower():>5} {status.state.name.lower():<7}"
            f" {status.elapsed_s // 60:3d}:{status.elapsed_s % 60:02d}"
            f" left {status.remaining_s // 60:3d}:{status.remaining_s % 60:02d}"
            f"  {temp} °C  {status.power_mw / 1000:5.1f} W{extra}  battery {status.battery_pct:3d}%"
        )
        if self.tty:
            click.echo("\r" + line + " ", nl=False, err=True)
            self._line_open = True
        elif status.elapsed_s // 60 != self._last_minute:
            self._last_minute = status.elapsed_s // 60
            click.echo(line, err=True)

    def on_event(self, runner: SessionRunner | None, event: SessionEvent) -> None:
        if event.kind in _SHOWN_EVENTS:
            self.echo(f"[{event.t_s / 60:6.1f} min] {event.kind}: {event.detail}")

    def on_prompt(self, runner: SessionRunner, deadline_s: float) -> None:
        if sys.stdin.isatty():
            self.echo("heat check: press Enter to confirm you are awake, or the heat stops")
        else:
            self.echo("heat check: nobody can answer (use --attended-ack auto); heat will stop")

    def watch_stdin(self, runner: PlanRunner) -> None:
        if not sys.stdin.isatty():
            return
        loop = asyncio.get_running_loop()

        def on_line() -> None:
            sys.stdin.readline()
            runner.acknowledge()

        try:
            loop.add_reader(sys.stdin.fileno(), on_line)
            self._stdin_watched = True
        except (OSError, ValueError, NotImplementedError):
            pass

    def unwatch_stdin(self) -> None:
        if self._stdin_watched:
            asyncio.get_running_loop().remove_reader(sys.stdin.fileno())
            self._stdin_watched = False

    def echo(self, text: str) -> None:
        if self._line_open:
            click.echo("", err=True)
            self._line_open = False
        click.echo(text, err=True)

    def finish(self) -> None:
        if self._line_open:
            click.echo("", err=True)
            self._line_open = False


def print_summary(summary: RunSummary) -> None:
    what = summary.plan if summary.plan else summary.mode
    if summary.plan and summary.elapsed_minutes > summary.actual_minutes + 0.05:
        # A plan's rests are part of its plan, not of its treatment: say both.
        took = (
            f" after {summary.actual_minutes:.1f} min of treatment"
            f" ({summary.elapsed_minutes:.1f} min with rests)"
            f" of {summary.planned_minutes:.1f} planned"
        )
    else:
        took = f" after {summary.actual_minutes:.1f} of {summary.planned_minutes:.1f} planned min"
    click.echo(f"session {summary.session_id}: {what} ended {summary.end_reason.value}{took}")
    if summary.site:
        click.echo(f"  body site: {summary.site}")
    if summary.end_detail:
        click.echo(f"  why: {summary.end_detail}")
    for alarm in summary.alarms:
        click.echo(f"  ALARM: {alarm}")
    for message in summary.limits_applied:
        click.echo(f"  limit applied: {message}")
    if summary.max_temperature_c is not None:
        click.echo(
            f"  temperature {summary.min_temperature_c:.1f}-{summary.max_temperature_c:.1f} °C,"
            f" CEM43 {summary.cem43_minutes:.2f} min"
        )
    if summary.energy_j:
        click.echo(f"  light energy {summary.energy_j:.0f} J")
