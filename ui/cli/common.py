"""What every command shares: exit codes, running a coroutine with signals, one-line errors,
the journal's path and small option checks."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import click
from click.core import ParameterSource

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_SAFETY_STOP = 3
EXIT_JOURNAL_FAILED = 4
EXIT_INTERRUPTED = 130

# Signals that stop a command the way Ctrl-C does (output off first): a closed terminal
# sends SIGHUP.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

DB_HELP = "The journal (SQLite). Default: $THERAPYCTL_DB, or the user's data directory."

_T = TypeVar("_T")


def fail(message: object) -> NoReturn:
    """One line on stderr and exit code 1: how every error reaches the user."""
    click.echo(f"therapyctl: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def run_async(main: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine; a TherapyctlError becomes one line on stderr and exit code 1."""
    import asyncio  # here, not at the top: `therapyctl --help` starts without asyncio

    from protocols import TherapyctlError

    try:
        return asyncio.run(_with_signals(main))
    except TherapyctlError as exc:
        fail(exc)
    except KeyboardInterrupt:
        click.echo("therapyctl: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


async def _with_signals(main: Callable[[], Awaitable[_T]]) -> _T:
    """Run ``main`` as a task that SIGINT and SIGTERM cancel (so cleanup code runs)."""
    import asyncio

    task = asyncio.ensure_future(main())
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)


def db_path(value: str | None) -> Path:
    """--db, else $THERAPYCTL_DB, else the journal in the user's data directory."""
    from device.journal import default_path

    if value:
        return Path(value).expanduser()
    env = os.environ.get("THERAPYCTL_DB")
    return Path(env).expanduser() if env else default_path()


# How a moment is shown, everywhere a person reads one (history, show; the UI's history
# matches): local time to the minute, e.g. 2026-11-25 14:05. Times inside a session are
# MM:SS from its start (event_time).
LOCAL_TIME_FORMAT = "%Y-%m-%d %H:%M"


def local_time(at: float) -> str:
    """A wall-clock moment (Unix seconds) as local time, e.g. ``2026-11-25 14:05``."""
    from datetime import datetime

    return datetime.fromtimestamp(at).strftime(LOCAL_TIME_FORMAT)


def event_time(t_s: float) -> str:
    """Seconds into a session as ``MM:SS`` (``125:03`` past 99 minutes)."""
    seconds = max(0, int(t_s))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def positive(_ctx: click.Context, _param: click.Parameter, value: float) -> float:
    """A click callback: the value must be greater than 0."""
    if not value > 0:
        raise click.BadParameter(f"must be greater than 0, got {value:g}")
    return value


TIME_SCALE_WITHOUT_SIM = "--time-scale goes with --sim; a device reports its own time base"


def time_scale_given() -> bool:
    """Whether the user gave --time-scale (rather than its default) to this command."""
    source = click.get_current_context().get_parameter_source("time_scale")
    return source is not None and source != ParameterSource.DEFAULT


SITE_HELP = (
    "The body site (lower-back, upper-back, neck, shoulder-left, knee-right, abdomen, ... or"
    " a short name of your own). Remembered for the device; default: its remembered site."
)


def site_value(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A click callback: a body site, normalised (``Lower Back`` -> ``lower-back``); a name
    that is not one is a usage error in one line (exit 2)."""
    if value is None:
        return None
    from device.safety import SiteError, normalise_site

    try:
        return normalise_site(value)
    except SiteError as exc:
        click.echo(f"therapyctl: error: --site: {exc.reason}", err=True)
        sys.exit(EXIT_USAGE)
