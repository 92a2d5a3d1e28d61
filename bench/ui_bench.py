"""`therapyctl ui` figures: time to first screen (target < 1 s) and CPU use with 4 devices
streaming Status at 10 Hz (target < 30 % of one core). Prints its figures; run it, it is
not a test.

    .venv/bin/python bench/ui_bench.py [--runs 5] [--window 20] [--hidden-window 10]
                                       [--no-terminal]

Time to first screen, in ``--runs`` fresh processes each, with 4 simulated devices
(heat-pad, thermal-pad, light-belt-800, light-belt-1000):

- terminal: the real ``therapyctl ui --sim ...`` on a 120x40 pseudo-terminal. Measured in
  this process, from just before the spawn to the first screen's text arriving on the
  terminal: interpreter start, imports (click, textual, bleak, bumble), compose and first
  paint - what the user waits for. Also: until the device list shows the 4 devices (journal,
  in-process simulator and radio up, one 1 s scan), and from ``q`` to the process's exit.
- headless: the app under Textual's headless driver in a fresh interpreter, which reports
  ``time.monotonic()`` stamps (system-wide on Linux, comparable with this process's):
  imports done, ``TherapyApp()`` created -> first screen painted (``call_after_refresh``
  from the ready hook: runs once nothing is left to repaint), and its backend ready. The
  backend (journal, simulator, radio) is opened by the app's worker after mount, as in
  ``therapyctl ui``.

CPU: ``therapyctl sim serve`` runs the 4 devices in its own process (their CPU is not
counted), offered on a TCP HCI transport. The simulator sends a Status every simulated
second (simulator/peripheral.py STATUS_INTERVAL_S = 1.0, not configurable), so it runs at
time scale 10 - a Status every 100 ms of wall time, 10 Hz per device - and the app runs at
the same scale. The measured process opens a bumble radio to it, runs TherapyApp (120x40;
with a journal, as ``therapyctl ui`` has one), connects the 4 devices, starts heat 40 °C
for 20 min on each pad and light L2 for 30 min on each belt (output on), warms up, then
takes ``time.process_time()`` (every thread of the process: the journal writer counts)
over ``--window`` seconds of wall time with the heat pad's tab shown (its chart redrawn
twice a second), then ``--hidden-window`` seconds with the device list shown (every chart
hidden). Status notifications are counted as they reach the panels, chart redraws
(``SessionChart.render``, plotext) with their CPU time. The app's own 1 s scan every 5 s runs
as it does for a user. Heat asks the attended question every 10 simulated minutes (60 s of
wall time at 10x); the defaults finish before it, and a prompt that does come is answered.
Two drivers: headless, in this process (Textual computes every frame but writes none), and
terminal, in a child process on a pseudo-terminal this process drains (frames encoded and
written as for a user; the terminal emulator's own work is not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import pty
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

T_START = time.monotonic()  # a fresh child's first stamp: the interpreter is up

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

THERAPYCTL = Path(sys.executable).with_name("therapyctl")
DEVICES = (
    ("heat-pad", "p1"),
    ("thermal-pad", "p2"),
    ("light-belt-800", "b1"),
    ("light-belt-1000", "b2"),
)
TIME_SCALE = 10.0  # a Status each simulated second (STATUS_INTERVAL_S): 10 Hz of wall time
SIZE = (120, 40)
HEAT_MINUTES = "20"  # the heat cap; 120 s of wall time at 10x
LIGHT_MINUTES = "30"  # the light cap; 180 s of wall time at 10x
SESSION_WALL_S = 20 * 60 / TIME_SCALE  # the shortest session, in wall seconds
FIRST_SCREEN_MARK = "starting the radio"  # the device list's note before the backend is up
LISTED_MARK = f"{len(DEVICES)} in range"  # the note after the first scan
ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|.)")


# ---------------------------------------------------------------------------- helpers


def sim_args() -> list[str]:
    return [arg for kind, name in DEVICES for arg in ("--sim", f"{kind}:{name}")]


def open_pty() -> tuple[int, int]:
    """A pseudo-terminal of SIZE: (master, slave)."""
    master, slave = pty.openpty()
    cols, rows = SIZE
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return master, slave


def tty_env() -> dict[str, str]:
    return {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}


@dataclass
class Terminal:
    """A child on a pseudo-terminal; this side reads (and so never blocks) its output."""

    process: subprocess.Popen[bytes]
    master: int
    text: str = ""  # everything written so far, escape sequences removed
    _raw: str = field(default="", repr=False)

    def pump(self, timeout_s: float) -> bool:
        """Read what is there within ``timeout_s``; False once the child has closed it."""
        ready, _, _ = select.select([self.master], [], [], timeout_s)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: every slave end is closed
            return False
        if not data:
            return False
        self._raw += data.decode("utf-8", "replace")
        cut = self._raw.rfind("\x1b")  # keep a possibly split sequence for the next read
        keep = self._raw[cut:] if cut >= 0 and len(self._raw) - cut < 64 else ""
        done = self._raw[: len(self._raw) - len(keep)]
        self.text += ANSI.sub("", done)
        self._raw = keep
        return True

    def wait_for(self, mark: str, timeout_s: float) -> float | None:
        """The monotonic time ``mark`` appeared; None on timeout or exit."""
        deadline = time.monotonic() + timeout_s
        start = max(0, len(self.text) - len(mark))
        while time.monotonic() < deadline:
            if mark in self.text[start:]:
                return time.monotonic()
            start = max(0, len(self.text) - len(mark))
            if not self.pump(0.005) or self.process.poll() is not None:
                return None
        return None

    def drain_until_exit(self, timeout_s: float) -> float | None:
        """Keep reading until the child exits; the time it did, None on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            open_ = self.pump(0.05)
            if self.process.poll() is not None:
                return time.monotonic()
            if not open_:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(max(0.0, deadline - time.monotonic()))
                    return time.monotonic()
        return None

    def stop(self) -> None:
        """SIGTERM (the app turns outputs off first), then kill; close the master."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            if self.drain_until_exit(20.0) is None:
                self.process.kill()
                self.process.wait()
        os.close(self.master)


@contextlib.contextmanager
def on_terminal(argv: list[str]) -> Iterator[Terminal]:
    """``argv`` with stdin, stdout and stderr (Textual draws on stderr) on a new pty."""
    master, slave = open_pty()
    process = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=tty_env(), cwd=ROOT
    )
    os.close(slave)
    terminal = Terminal(process, master)
    try:
        yield terminal
    finally:
        terminal.stop()


@contextlib.contextmanager
def sim_serve(tmp: Path) -> Iterator[str]:
    """``therapyctl sim serve`` with the 4 devices at TIME_SCALE: the radio moniker."""
    log = tmp / "sim.jsonl"
    argv = [str(THERAPYCTL), "sim", "serve", "--json", "--hci", "tcp-server:127.0.0.1:0"]
    argv += ["--time-scale", str(TIME_SCALE)]
    argv += [arg for kind, name in DEVICES for arg in ("--device", f"{kind}:{name}")]
    with log.open("wb") as out, (tmp / "sim.err").open("wb") as err:
        process = subprocess.Popen(
            argv, stdout=out, stderr=err, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
    try:
        deadline = time.monotonic() + 30
        ready: dict[str, Any] | None = None
        while ready is None:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sim serve did not start: {(tmp / 'sim.err').read_text()}")
            time.sleep(0.05)
            for line in log.read_text().splitlines():
                event = json.loads(line)
                if event.get("event") == "ready":
                    ready = event
        yield str(ready["radio"][0])
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def outputs(log: Path) -> tuple[list[str], list[str]]:
    """From ``sim serve``'s log: devices whose output was ever on, and those left on."""
    last: dict[str, bool] = {}
    ever: set[str] = set()
    for line in log.read_text().splitlines():
        event = json.loads(line)
        if "output_on" in event:
            last[event["device"]] = bool(event["output_on"])
            if event["output_on"]:
                ever.add(event["device"])
    return sorted(ever), sorted(name for name, on in last.items() if on)


# ---------------------------------------------------------------------------- first screen


def terminal_first_screen(tmp: Path) -> dict[str, float]:
    """``therapyctl ui --sim ...`` on a pty: seconds from spawn to what the user sees."""
    db = tmp / "first-screen.sqlite3"
    argv = [str(THERAPYCTL), "ui", *sim_args(), "--db", str(db)]
    t0 = time.monotonic()
    with on_terminal(argv) as term:
        painted = term.wait_for(FIRST_SCREEN_MARK, 30)
        listed = term.wait_for(LISTED_MARK, 30) if painted is not None else None
        if painted is None or listed is None:
            raise RuntimeError(
                f"no {FIRST_SCREEN_MARK if painted is None else LISTED_MARK!r} on the terminal;"
                f" it showed: {term.text[-2000:]}"
            )
        quit_at = time.monotonic()
        os.write(term.master, b"q")
        exited = term.drain_until_exit(30)
    return {
        "painted": painted - t0,
        "listed": listed - t0,
        "quit": (exited - quit_at) if exited is not None else float("nan"),
    }


def headless_first_screen(tmp: Path) -> dict[str, float]:
    """A fresh interpreter running the app headless; its stamps relative to the spawn."""
    t0 = time.monotonic()
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", "first-screen"]
    argv += ["--db", str(tmp / "headless.sqlite3")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"first-screen child failed: {done.stderr[-2000:]}")
    stamps = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "interpreter": stamps["interpreter"] - t0,
        "imported": stamps["imported"] - t0,
        "create_to_paint": stamps["painted"] - stamps["created"],
        "painted": stamps["painted"] - t0,
        "ready": stamps["ready"] - t0,
    }


def child_first_screen(db: Path) -> None:
    """In the child: run the app headless, print monotonic stamps as one JSON line."""
    stamps = {"interpreter": T_START}
    from contextlib import asynccontextmanager

    from device.journal import JournalWriter
    from device.link import Radio
    from device.safety import DEFAULT_LIMITS
    from ui.tui.app import Backend, TherapyApp

    stamps["imported"] = time.monotonic()

    @asynccontextmanager
    async def open_backend() -> AsyncIterator[Backend]:
        import simulator  # as ``therapyctl ui --sim``: imported by the backend worker

        journal = await asyncio.to_thread(JournalWriter, db)
        try:
            world = simulator.SimulatorWorld(
                [simulator.DeviceSpec(kind, name) for kind, name in DEVICES]
            )
            async with world, await Radio.attach(world.controller()) as radio:
                yield Backend(radio, journal)
        finally:
            await asyncio.to_thread(journal.close)

    app = TherapyApp(open_backend, DEFAULT_LIMITS, db_path=db)
    stamps["created"] = time.monotonic()

    async def auto_pilot(_pilot: object) -> None:
        app.call_after_refresh(lambda: stamps.setdefault("painted", time.monotonic()))
        await app.ready()
        stamps["ready"] = time.monotonic()
        await app.action_quit()

    asyncio.run(app.run_async(headless=True, size=SIZE, auto_pilot=auto_pilot))
    print(json.dumps(stamps))


# ---------------------------------------------------------------------------- CPU


@dataclass(frozen=True, slots=True)
class Timing:
    """Wall seconds: streaming before the windows, then the chart-shown and hidden windows."""

    warmup_s: float
    shown_s: float
    hidden_s: float

    @property
    def total_s(self) -> float:
        return self.warmup_s + self.shown_s + self.hidden_s + 2.0

    def argv(self) -> list[str]:
        return [
            *("--warmup", str(self.warmup_s)),
            *("--window", str(self.shown_s)),
            *("--hidden-window", str(self.hidden_s)),
        ]


@dataclass
class Window:
    view: str
    wall_s: float
    cpu_s: float
    statuses: dict[str, int]  # device name -> Status notifications shown in the window
    chart_draws: int  # SessionChart.render calls (plotext), all panels
    chart_cpu_s: float  # their CPU time


@dataclass
class CpuResult:
    windows: list[Window] = field(default_factory=list)
    prompts_answered: int = 0
    ended_early: list[str] = field(default_factory=list)  # sessions not running at the end
    problem: str = ""


async def until(condition: Any, timeout_s: float, what: str) -> None:
    """Poll ``condition`` (setup and teardown only, never inside a measured window)."""
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                if condition():
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise TimeoutError(f"waited {timeout_s:g} s for: {what}") from None


async def drive(app: Any, timing: Timing) -> CpuResult:
    """Connect the 4 devices, start their sessions, measure, stop them, quit."""
    result = CpuResult()
    try:
        await measure(app, timing, result)
    finally:
        for panel in list(app.panels.values()):
            panel.stop()
        with contextlib.suppress(TimeoutError):
            await until(lambda: all(p.runner is None for p in app.panels.values()), 30, "stop")
        await app.action_quit()
    return result


async def measure(app: Any, timing: Timing, result: CpuResult) -> None:
    from textual.widgets import Input, Select

    await app.ready()
    await until(lambda: len(app.found) >= len(DEVICES), 30, "scan")
    names = {found.name: address for address, found in app.found.items()}
    addresses = [names[name] for _, name in DEVICES]
    for address in addresses:
        app.connect(address)
    await until(
        lambda: all(a in app.panels and app.panels[a].is_mounted for a in addresses), 60, "connect"
    )
    counts = dict.fromkeys(addresses, 0)
    draws = [0, 0.0]  # chart renders, their thread CPU seconds
    for (kind, _), address in zip(DEVICES, addresses, strict=True):
        panel = app.panels[address]
        shown = panel.session_status

        def counted(runner: Any, status: Any, shown: Any = shown, address: str = address) -> None:
            counts[address] += 1
            shown(runner, status)

        panel.session_status = counted  # the panel's listener calls it for each Status
        chart = panel.query_one("#chart")
        render = chart.render

        def timed(render: Any = render) -> Any:
            started = time.thread_time()
            try:
                return render()
            finally:
                draws[0] += 1
                draws[1] += time.thread_time() - started

        chart.render = timed
        light = kind.startswith("light-belt")
        panel.query_one("#mode", Select).value = "light" if light else "heat"
        panel.query_one("#target", Input).value = "L2" if light else ""
        panel.query_one("#minutes", Input).value = LIGHT_MINUTES if light else HEAT_MINUTES
        panel.start()
    panels = [app.panels[a] for a in addresses]
    try:
        await until(
            lambda: all(p.last_status is not None and p.last_status.output_on for p in panels),
            30,
            "output on",
        )
    except TimeoutError:
        result.problem = "not every output came on: " + ", ".join(
            f"{p.label}: {p.summaries[-1].end_reason.value if p.summaries else 'running'}"
            for p in panels
        )
        return
    await asyncio.sleep(timing.warmup_s)
    views = [
        (f"{panels[0].label} tab (chart shown)", str(panels[0].parent.id), timing.shown_s),
        ("device list (charts hidden)", "devices-tab", timing.hidden_s),
    ]
    for view, pane_id, window_s in views:
        if window_s <= 0:
            continue
        app.show_tab(pane_id)
        await asyncio.sleep(1.0)  # the switch's own repaint is not part of the window
        before, draws0 = dict(counts), list(draws)
        cpu0, t0 = time.process_time(), time.perf_counter()
        while (left := window_s - (time.perf_counter() - t0)) > 0:
            await asyncio.sleep(min(0.5, left))
            for panel in panels:
                if panel.prompt is not None and panel.runner is not None:
                    panel.runner.acknowledge()  # heat's attended check: "yes, awake"
                    result.prompts_answered += 1
        cpu1, t1 = time.process_time(), time.perf_counter()
        result.windows.append(
            Window(
                view,
                t1 - t0,
                cpu1 - cpu0,
                {
                    name: counts[a] - before[a]
                    for (_, name), a in zip(DEVICES, addresses, strict=True)
                },
                int(draws[0] - draws0[0]),
                draws[1] - draws0[1],
            )
        )
    result.ended_early = [p.label for p in panels if p.runner is None]


async def cpu_headless(radio_moniker: str, db: Path, timing: Timing) -> CpuResult:
    from contextlib import asynccontextmanager

    from device.journal import JournalWriter
    from device.link import Radio
    from device.safety import DEFAULT_LIMITS
    from ui.tui.app import Backend, TherapyApp

    journal = await asyncio.to_thread(JournalWriter, db)
    try:
        async with await Radio.open(radio_moniker) as radio:

            @asynccontextmanager
            async def open_backend() -> AsyncIterator[Backend]:
                yield Backend(radio, journal)

            app = TherapyApp(open_backend, DEFAULT_LIMITS, time_scale=TIME_SCALE, db_path=db)
            async with app.run_test(size=SIZE):
                result = await drive(app, timing)
    finally:
        await asyncio.to_thread(journal.close)
    return result


def child_cpu_terminal(radio_moniker: str, db: Path, out: Path, timing: Timing) -> None:
    """In the child, on a pty: the same run with Textual's terminal driver; JSON to ``out``."""
    from contextlib import asynccontextmanager

    from device.journal import JournalWriter
    from device.link import Radio
    from device.safety import DEFAULT_LIMITS
    from ui.tui.app import Backend, TherapyApp

    result = CpuResult(problem="did not finish")

    @asynccontextmanager
    async def open_backend() -> AsyncIterator[Backend]:
        journal = await asyncio.to_thread(JournalWriter, db)
        try:
            async with await Radio.open(radio_moniker) as radio:
                yield Backend(radio, journal)
        finally:
            await asyncio.to_thread(journal.close)

    app = TherapyApp(open_backend, DEFAULT_LIMITS, time_scale=TIME_SCALE, db_path=db)

    async def auto_pilot(_pilot: object) -> None:
        nonlocal result
        result = await drive(app, timing)

    asyncio.run(app.run_async(auto_pilot=auto_pilot))
    out.write_text(
        json.dumps(
            {
                "windows": [w.__dict__ for w in result.windows],
                "prompts_answered": result.prompts_answered,
                "ended_early": result.ended_early,
                "problem": result.problem,
            }
        )
    )


def cpu_terminal(radio_moniker: str, tmp: Path, timing: Timing) -> CpuResult:
    out = tmp / "cpu-terminal.json"
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", "cpu-terminal"]
    argv += ["--radio", radio_moniker, "--db", str(tmp / "cpu-terminal.sqlite3")]
    argv += ["--result", str(out), *timing.argv()]
    with on_terminal(argv) as term:
        finished = term.drain_until_exit(timing.total_s + 120)
    if finished is None:
        return CpuResult(problem="the terminal child did not finish")
    if not out.exists():
        return CpuResult(problem=f"the terminal child failed; it showed: {term.text[-2000:]}")
    data = json.loads(out.read_text())
    return CpuResult(
        [Window(**w) for w in data["windows"]],
        data["prompts_answered"],
        data["ended_early"],
        data["problem"],
    )


# ---------------------------------------------------------------------------- report


def first_screen_table(runs: int, terminal: bool) -> None:
    print(
        f"time to first screen (target < 1 s), {runs} fresh processes each, 4 simulated devices,"
        f" {SIZE[0]}x{SIZE[1]}"
    )
    print(f"  {'':<52} {'median':>8} {'max':>8}")
    rows: list[tuple[str, list[float]]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if terminal:
            figures = [terminal_first_screen(tmp) for _ in range(runs)]
            rows += [
                ("terminal: spawn -> first screen on the pty", [f["painted"] for f in figures]),
                ("terminal: spawn -> 4 devices listed", [f["listed"] for f in figures]),
                ("terminal: q -> process exit", [f["quit"] for f in figures]),
            ]
        figures = [headless_first_screen(tmp) for _ in range(runs)]
        rows += [
            ("headless: spawn -> interpreter up", [f["interpreter"] for f in figures]),
            ("headless: spawn -> imports done", [f["imported"] for f in figures]),
            (
                "headless: TherapyApp() -> first screen painted",
                [f["create_to_paint"] for f in figures],
            ),
            ("headless: spawn -> first screen painted", [f["painted"] for f in figures]),
            ("headless: spawn -> backend ready", [f["ready"] for f in figures]),
        ]
    for label, values in rows:
        print(f"  {label:<52} {statistics.median(values):>6.3f} s {max(values):>6.3f} s")


def cpu_table(timing: Timing, terminal: bool) -> None:
    names = " ".join(f"{name:>5}" for _, name in DEVICES)
    print(
        f"\nCPU with {len(DEVICES)} devices streaming (target < 30 % of one core): simulator in"
        f" its own process at {TIME_SCALE:g}x (Status every 100 ms of wall time), heat 40 °C"
        f" on p1 p2, light L2 on b1 b2; {timing.warmup_s:g} s warm-up; journal on"
    )
    print(
        f"  {'driver':<9} {'view':<28} {'window':>7} {'CPU':>7} {'chart draws':>12}"
        f" {'ms/draw':>8}   statuses/s: {names}"
    )
    for driver in ["headless"] + (["terminal"] if terminal else []):
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            with sim_serve(tmp) as radio:
                if driver == "headless":
                    db = tmp / "cpu-headless.sqlite3"
                    result = asyncio.run(cpu_headless(radio, db, timing))
                else:
                    result = cpu_terminal(radio, tmp, timing)
            were_on, left_on = outputs(tmp / "sim.jsonl")
        for w in result.windows:
            rates = " ".join(f"{w.statuses[name] / w.wall_s:>5.1f}" for _, name in DEVICES)
            per_draw = 1000 * w.chart_cpu_s / w.chart_draws if w.chart_draws else 0.0
            print(
                f"  {driver:<9} {w.view:<28} {w.wall_s:>5.1f} s {100 * w.cpu_s / w.wall_s:>5.1f} %"
                f" {w.chart_draws / w.wall_s:>8.1f} /s {per_draw:>8.1f}"
                f"               {rates}",
                flush=True,
            )
        notes = []
        if result.problem:
            notes.append(f"problem: {result.problem}")
        if result.prompts_answered:
            notes.append(f"{result.prompts_answered} attended prompts answered")
        if result.ended_early:
            notes.append(f"sessions that ended before the last window did: {result.ended_early}")
        notes.append(
            f"simulator log: output on in {' '.join(were_on) or 'none'};"
            + (f" LEFT ON at exit: {' '.join(left_on)}" if left_on else " all off at exit")
        )
        for note in notes:
            print(f"  {driver}: {note}", flush=True)


def timing(args: argparse.Namespace) -> Timing:
    return Timing(args.warmup, args.window, args.hidden_window)


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per first-screen row")
    parser.add_argument(
        "--window",
        type=float,
        default=20.0,
        help="seconds of wall time measured with a device's chart shown",
    )
    parser.add_argument(
        "--hidden-window",
        type=float,
        default=10.0,
        help="seconds of wall time measured on the device list (charts hidden); 0: skip",
    )
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds streaming before the first window"
    )
    parser.add_argument(
        "--no-terminal",
        dest="terminal",
        action="store_false",
        help="headless only: skip the pseudo-terminal runs",
    )
    parser.add_argument("--skip-first-screen", action="store_true")
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--child", choices=["first-screen", "cpu-terminal"], help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--radio", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "first-screen":
        child_first_screen(args.db)
        return
    if args.child == "cpu-terminal":
        child_cpu_terminal(args.radio, args.db, args.result, timing(args))
        return
    if timing(args).total_s > SESSION_WALL_S - 10:
        parser.error(f"warm-up and windows must stay well inside {SESSION_WALL_S:g} s of heat")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{os.cpu_count()} CPUs, load average {load} (other work on the machine skews wall times)"
    )
    if not args.skip_first_screen:
        first_screen_table(args.runs, args.terminal)
    if not args.skip_cpu:
        cpu_table(timing(args), args.terminal)


if __name__ == "__main__":
    main()
