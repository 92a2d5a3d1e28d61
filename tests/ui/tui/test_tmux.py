"""``therapyctl ui`` as a user starts it, in a real terminal (tmux): keys in, screen text out."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from textual.renderables.digits import DIGITS, DIGITS3X3, DIGITS3X3_BOLD

T = TypeVar("T")

TMUX = shutil.which("tmux")
THERAPYCTL = Path(sys.executable).parent / "therapyctl"
WIDTH, HEIGHT = 100, 30
WAIT_S = 30.0  # the longest any one step may take to show on screen
POLL_S = 0.2
# THERAPYCTL_WRITE_DOCS=1: also write the running session's screen here (docs, not checked).
DOC = Path(__file__).resolve().parents[3] / "docs" / "ui-tmux.txt"

# Hermetic: no ~/.tmux.conf; no status line (the app gets all 100x30); a pane that outlives
# its process, so a failure shows the last screen (a traceback, say).
TMUX_CONF = """\
set -g status off
set -g default-terminal tmux-256color
set -g remain-on-exit on
set -s escape-time 0
"""

DEVICE_ROW = re.compile(r"^ heat-pad\s+heat-pad\s+-?\d+ dBm\s+\d+ %\s+in range\b", re.MULTILINE)
# The panel's buttons, then its state (the footer has "s Start  p Pause ...", no match).
STATE = re.compile(r"Start\s+Pause\s+Resume\s+Stop\s+(\S.*?)\s*$", re.MULTILINE)
READINGS = re.compile(r"(\d+\.\d) °C\s+set 40 °C\s+output ON")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed (scripts/setup.sh installs it)"),
]


def _glyphs() -> dict[tuple[str, str, str], str]:
    """Textual's 3x3 Digits font, read back: three 3-cell rows -> the character drawn."""
    glyphs: dict[tuple[str, str, str], str] = {}
    for table in (DIGITS3X3, DIGITS3X3_BOLD):
        for index, char in enumerate(DIGITS):
            if char in "0123456789:-":
                top, middle, bottom = (table[index * 3 + row].ljust(3) for row in range(3))
                glyphs.setdefault((top, middle, bottom), char)
    return glyphs


GLYPHS = _glyphs()


def read_digits(rows: list[str], width: int) -> str:
    """The text a Digits widget draws in the first ``width`` cells of three screen rows."""
    cells = [row[:width].ljust(width) for row in rows]
    chars = []
    for x in range(0, width - width % 3, 3):
        glyph = (cells[0][x : x + 3], cells[1][x : x + 3], cells[2][x : x + 3])
        chars.append(GLYPHS.get(glyph, "?"))
    return "".join(chars).strip("?")


class Terminal:
    """A private tmux server (its own socket, never the user's) with one 100x30 window."""

    def __init__(self, tmp_path: Path) -> None:
        assert TMUX is not None
        config = tmp_path / "tmux.conf"
        config.write_text(TMUX_CONF)
        self.status_file = tmp_path / "exit-status"
        socket = f"therapyctl-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.base = [TMUX, "-L", socket, "-f", str(config)]
        # Inside the user's tmux, $TMUX must not steer any command to that server.
        self.env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        self.last_screen = ""
        self.socket_path: Path | None = None

    def tmux(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            [*self.base, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def start(self, command: list[str], env: dict[str, str]) -> None:
        """Run ``command`` in the window, as from a shell that notes its exit status.

        (tmux 3.3 sometimes leaves a dead pane's process unreaped, without a status.)
        """
        settings = [f"-e{name}={value}" for name, value in env.items()]
        size = ["-x", str(WIDTH), "-y", str(HEIGHT)]
        shell = ["sh", "-c", '"$@"; echo "$?" >"$0"', str(self.status_file)]
        self.tmux("new-session", "-d", *size, *settings, "--", *shell, *command)
        self.socket_path = Path(self.tmux("display-message", "-p", "#{socket_path}").strip())

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", *keys)

    def screen(self) -> str:
        self.last_screen = self.tmux("capture-pane", "-p")
        return self.last_screen

    def pane(self, fmt: str) -> str:
        return self.tmux("display-message", "-p", fmt).strip()

    def exit_status(self) -> int | None:
        """The command's exit status (128 + N for signal N); None while it runs."""
        if not self.status_file.exists() or not (text := self.status_file.read_text()).strip():
            return None
        return int(text)

    def wait_for(self, what: str, found: Callable[[str], T | None]) -> T:
        """Poll the screen until ``found`` returns something (at most WAIT_S)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            if (result := found(self.screen())) is not None:
                return result
            if (status := self.exit_status()) is not None:
                raise AssertionError(f"therapyctl exited ({status}) before {what}:\n{self}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {WAIT_S:g} s:\n{self}")
            time.sleep(POLL_S)

    def wait_exit(self) -> int:
        """The command's exit status, once it has exited and its pane is dead (at most WAIT_S)."""
        deadline = time.monotonic() + WAIT_S
        while (status := self.exit_status()) is None or self.pane("#{pane_dead}") != "1":
            if time.monotonic() > deadline:
                raise AssertionError(f"therapyctl still running {WAIT_S:g} s after q:\n{self}")
            time.sleep(POLL_S)
        self.screen()
        return status

    def kill(self) -> None:
        """End the server (and with it therapyctl, if still running); remove its socket."""
        self.tmux("kill-server", check=False)
        if self.socket_path is not None:
            self.socket_path.unlink(missing_ok=True)

    def __str__(self) -> str:
        return self.last_screen


def session_view(screen: str) -> tuple[str, int, float] | None:
    """(state, countdown in seconds, temperature) once a session's readings are up."""
    readings = READINGS.search(screen)
    state = STATE.search(screen)
    if readings is None or state is None:
        return None
    lines = screen.splitlines()
    row = screen.count("\n", 0, readings.start())
    # The countdown's Digits sit left of the readings, on the same three rows.
    start = readings.start() - (screen.rfind("\n", 0, readings.start()) + 1)
    countdown = read_digits(lines[row : row + 3], start)
    if (clock := re.fullmatch(r"(\d\d):(\d\d)", countdown)) is None:
        return None
    seconds = int(clock[1]) * 60 + int(clock[2])
    return state[1], seconds, float(readings[1])


def state_is(state: str) -> Callable[[str], str | None]:
    """A wait condition: the panel shows ``state``."""
    return lambda screen: state if (m := STATE.search(screen)) and m[1] == state else None


def documented(screen: str) -> str | None:
    """A screen for the docs: minutes into the session, the connect notices gone."""
    view = session_view(screen)
    if view is None or view[1] > 6 * 60 or re.search(r"connect(ing|ed) to", screen):
        return None
    return screen


def test_ui_in_tmux_connects_starts_shows_the_session_stops_and_quits(tmp_path: Path) -> None:
    """Keys only (Enter s x q): the device, a running countdown and a rising temperature."""
    term = Terminal(tmp_path)
    command = [str(THERAPYCTL), "ui", "--sim", "heat-pad", "--time-scale", "60"]
    try:
        term.start(command, {"THERAPYCTL_DB": os.environ["THERAPYCTL_DB"]})
        term.wait_for("heat-pad in the device list", DEVICE_ROW.search)

        # At launch the device list has the focus: Enter connects the highlighted device.
        term.keys("Enter")
        state = term.wait_for("the heat-pad panel", STATE.search)
        assert state[1] == "idle", str(term)
        assert "connected, no session" in str(term), str(term)

        # Connecting hides the list, so nothing has the focus: s reaches the app's binding.
        term.keys("s")

        def running(screen: str) -> tuple[str, int, float] | None:
            view = session_view(screen)
            return view if view is not None and view[0] == "running" else None

        first = term.wait_for("a running session", running)
        assert first[1] <= 10 * 60, str(term)  # the panel's default: 10 min at 40 °C

        def warmer(screen: str) -> tuple[str, int, float] | None:
            view = running(screen)
            return view if view is not None and view[2] > first[2] else None

        # Heating from skin temperature towards 40 °C: a warmer reading, and less time left.
        second = term.wait_for(f"a reading above {first[2]} °C", warmer)
        assert second[1] < first[1], f"the countdown did not run: {first} then {second}\n{term}"
        if os.environ.get("THERAPYCTL_WRITE_DOCS") == "1":
            # For the docs: some simulated minutes in, once the connect notices have gone.
            term.wait_for("a screen for the docs", documented)
            DOC.write_text(str(term))

        term.keys("x")
        term.wait_for('"user stopped"', state_is("user stopped"))
        # The notice follows once the runner has confirmed the stop and watched the pad cool.
        term.wait_for(
            "the end notice", lambda screen: "session ended: user stopped" in screen or None
        )
        # Then the pain question (issue 14): Esc skips it, as a person may.
        term.wait_for("the pain question", lambda screen: "Pain now, 0-10?" in screen or None)
        term.keys("Escape")
        term.wait_for("the question gone", lambda screen: "Pain now" not in screen or None)

        term.keys("q")
        assert term.wait_exit() == 0, str(term)
    finally:
        term.kill()
