"""The README's commands, run as a newcomer would type them (issue #12, finding 11): every
``sh`` block, section by section, against the simulator.

The test adds what a test needs and the README must not say: a journal and a bond store of
each section's own (``private_journal``, ``private_bonds``), ``--time-scale`` where a
``--sim`` command gives none, a free port for the README's ``127.0.0.1:9001`` and a broker
of its own for ``mqtt://localhost``. ``sim serve`` and ``serve`` run until their section
ends; ``ui`` and ``monitor`` run in tmux until what they should show is on screen, then
``q``. A line ending ``# exit N`` must exit N, any other 0. A therapyctl line marked
``# not run here: WHY`` is skipped (only where it needs the system's Bluetooth adapter);
other commands are known setup lines (``SETUP_COMMANDS``), never run here."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.mosquitto import Broker, free_port, mosquitto
from tests.ui.tui.test_tmux import TMUX, Terminal
from ui.cli.helptext import RUN_SYNOPSIS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
THERAPYCTL = str(Path(sys.executable).with_name("therapyctl"))
COMMAND_NAMES = ("therapyctl", ".venv/bin/therapyctl")
FAST_TIME_SCALE = "300"  # for a --sim command that gives no --time-scale
README_PORT = "127.0.0.1:9001"
README_BROKER = "mqtt://localhost"
NOT_RUN = "not run here:"
# The lines that are not therapyctl commands: known, and not run here (why).
SETUP_COMMANDS = {
    ("bash", "scripts/setup.sh"): "it made the environment this test runs in",
    ("bash", "scripts/test.sh"): "it is the command that runs this test",
    ("export", "PATH=$PWD/.venv/bin:$PATH"): "the test runs the venv's therapyctl by its path",
    ("pipx", "install"): "scripts/smoke_wheel.sh installs the built wheel into a fresh venv",
    ("uv", "tool", "install"): "scripts/smoke_wheel.sh installs the built wheel into a fresh venv",
}
SERVER_READY = {"sim": "press Ctrl-C to stop", "serve": "serving "}
WAIT_S = 60.0


@dataclass(frozen=True)
class Block:
    section: str
    lang: str
    text: str
    line: int  # the README line of its first line


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    comment: str
    line: int

    @property
    def is_therapyctl(self) -> bool:
        return bool(self.argv) and self.argv[0] in COMMAND_NAMES

    @property
    def where(self) -> str:
        return f"README.md:{self.line}: {shlex.join(self.argv)}"


def read_blocks() -> list[Block]:
    """The fenced blocks, each with the ``## `` section it is in ("top" before the first)."""
    blocks: list[Block] = []
    section, fence, start, lines = "top", None, 0, []
    for number, line in enumerate(README.read_text(encoding="utf-8").splitlines(), 1):
        if fence is None:
            if line.startswith("## "):
                section = line[3:].strip()
            elif line.lstrip().startswith("```"):
                fence, start, lines = line.strip()[3:], number + 1, []
        elif line.strip() == "```":
            blocks.append(Block(section, fence, "\n".join(lines), start))
            fence = None
        else:
            lines.append(line)
    return blocks


def commands(block: Block) -> list[Command]:
    """A shell block's commands: continuation lines joined, comments kept, `&&` split."""
    found: list[Command] = []
    pending, first = "", 0
    for offset, raw in enumerate(block.text.splitlines()):
        if not pending:
            first = block.line + offset
        pending += raw.strip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        text, pending = pending, ""
        if not text or text.startswith("#"):
            continue
        comment = text.split(" #", 1)[1].strip() if " #" in text else ""
        tokens = shlex.split(text, comments=True)
        while "&&" in tokens:
            cut = tokens.index("&&")
            found.append(Command(tuple(tokens[:cut]), comment, first))
            tokens = tokens[cut + 1 :]
        found.append(Command(tuple(tokens), comment, first))
    return found


BLOCKS = read_blocks()
SHELL_BLOCKS = [b for b in BLOCKS if b.lang in ("sh", "bash", "shell", "console")]
SECTIONS = list(dict.fromkeys(b.section for b in SHELL_BLOCKS))


def setup_reason(command: Command) -> str | None:
    for prefix, reason in SETUP_COMMANDS.items():
        if command.argv[: len(prefix)] == prefix:
            return reason
    return None


def completion_command(command: Command) -> tuple[str, ...] | None:
    """``eval "$(VAR=... therapyctl)"``: the command inside, else None."""
    if command.argv[:1] == ("eval",) and len(command.argv) == 2:
        inner = re.fullmatch(r"\$\((.*)\)", command.argv[1])
        if inner:
            return tuple(shlex.split(inner[1]))
    return None


# ---------------------------------------------------------------------- what it says


def test_readme_starts_with_the_two_commands_that_work_on_a_fresh_machine() -> None:
    """The first block: setup and a simulated session, then the test command."""
    first = [c.argv for c in commands(BLOCKS[0])]
    assert first == [
        ("bash", "scripts/setup.sh"),
        (
            COMMAND_NAMES[1],
            *shlex.split("run --sim heat-pad --mode heat --minutes 5 --time-scale 60"),
        ),
        ("bash", "scripts/test.sh"),
    ]
    assert README.read_text(encoding="utf-8").index("```sh") < 20


def test_readme_says_therapyctl_one_way_after_the_setup_line() -> None:
    """Only the first block says `.venv/bin/therapyctl`; every later one `therapyctl`."""
    later = [c for b in SHELL_BLOCKS[1:] for c in commands(b) if c.argv[:1] == (COMMAND_NAMES[1],)]
    assert later == []


def test_readme_shell_blocks_hold_commands_not_synopses() -> None:
    """No `[--json]`, `A|B`, `(...)` or `...` in a block meant for copy and paste."""
    for block in SHELL_BLOCKS:
        for command in commands(block):
            for token in command.argv:
                bad = token.startswith(("[", "(")) or token in ("|", "...") or "|" in token
                assert not bad, f"{command.where}: {token!r} is synopsis, not a command"


def test_every_readme_command_is_therapyctl_or_a_known_setup_line() -> None:
    """A line is a therapyctl command, click's completion line, or a known setup line."""
    for block in SHELL_BLOCKS:
        for command in commands(block):
            known = command.is_therapyctl or setup_reason(command) or completion_command(command)
            assert known, f"{command.where}: unknown command; run it here or list it"


def test_the_not_run_here_list_is_tiny_and_says_why() -> None:
    """At most three therapyctl lines are not run: the system adapter's, with the reason."""
    skipped = [
        c for b in SHELL_BLOCKS for c in commands(b) if c.is_therapyctl and NOT_RUN in c.comment
    ]
    assert 0 < len(skipped) <= 3
    for command in skipped:
        assert "system's Bluetooth adapter" in command.comment, command.where


def test_readme_has_run_synopsis_tool_install_and_completion() -> None:
    """`run --help`'s synopsis, pipx / uv tool next to the setup, and shell completion."""
    text = README.read_text(encoding="utf-8")
    assert f"```text\n{RUN_SYNOPSIS}\n```" in text
    install = text.split("## Install", 1)[1].split("\n## ", 1)[0]
    for wanted in ("scripts/setup.sh", "pipx install", "uv tool install", "python -m therapyctl"):
        assert wanted in install, wanted
    assert 'eval "$(_THERAPYCTL_COMPLETE=bash_source therapyctl)"' in install


# ---------------------------------------------------------------------- running it


@dataclass
class Server:
    command: Command
    process: subprocess.Popen[bytes]
    out: Path
    err: Path


@dataclass
class SectionRun:
    """One section's commands in order, in a directory (and journal) of their own."""

    directory: Path
    broker: Callable[[], Broker]
    port: int = field(default_factory=free_port)
    servers: list[Server] = field(default_factory=list)
    served_names: list[str] = field(default_factory=list)
    terminals: int = 0

    def argv(self, command: Command) -> list[str]:
        tokens = [THERAPYCTL]
        for given in command.argv[1:]:
            token = given.replace(README_PORT, f"127.0.0.1:{self.port}")
            if README_BROKER in token:
                token = token.replace(README_BROKER, self.broker().url)
            tokens.append(token)
        if "--sim" in tokens and "--time-scale" not in tokens:
            tokens += ["--time-scale", FAST_TIME_SCALE]
        return tokens

    def run(self, command: Command) -> None:
        if (inner := completion_command(command)) is not None:
            return self.completion(inner, command)
        if not command.is_therapyctl:
            assert setup_reason(command), command.where
            return None
        if NOT_RUN in command.comment:
            return None
        sub = command.argv[1]
        if sub in SERVER_READY:
            return self.serve(command, SERVER_READY[sub])
        if sub in ("ui", "monitor"):
            return self.in_tmux(command)
        wanted = re.search(r"\bexit (\d+)\b", command.comment)
        result = subprocess.run(
            self.argv(command),
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        expected = int(wanted[1]) if wanted else 0
        assert result.returncode == expected, (
            f"{command.where}: exit {result.returncode}, not {expected}\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
        return None

    def completion(self, inner: tuple[str, ...], command: Command) -> None:
        assignments = dict(t.split("=", 1) for t in inner if "=" in t and not t.startswith("-"))
        argv = [t for t in inner if t not in {f"{k}={v}" for k, v in assignments.items()}]
        assert argv == ["therapyctl"], command.where
        env = {**os.environ, **assignments}
        result = subprocess.run(
            [THERAPYCTL], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0 and "complete " in result.stdout, command.where

    def serve(self, command: Command, ready: str) -> None:
        """Start a server; it runs until the section ends (`stop`)."""
        index = len(self.servers)
        out, err = self.directory / f"server-{index}.out", self.directory / f"server-{index}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                self.argv(command), cwd=self.directory, stdout=stdout, stderr=stderr
            )
        server = Server(command, process, out, err)
        self.servers.append(server)
        deadline = time.monotonic() + WAIT_S
        while ready not in out.read_text() + err.read_text():
            assert process.poll() is None, f"{command.where}: exited\n{err.read_text()}"
            assert time.monotonic() < deadline, f"{command.where}: not ready\n{err.read_text()}"
            time.sleep(0.1)
        for flag, value in itertools.pairwise(command.argv):
            if flag == "--device" and command.argv[1] == "sim":
                kind, _, name = value.partition(":")
                self.served_names.append(name or kind)

    def in_tmux(self, command: Command) -> None:
        """A full-screen command in tmux: wait for what it should show, then q."""
        if TMUX is None:
            pytest.fail("tmux is not installed (scripts/setup.sh installs it)")
        argv = self.argv(command)
        if command.argv[1] == "monitor":
            wanted = ["therapyctl monitor"]
        elif "--sim" in argv:
            sims = [v for f, v in itertools.pairwise(argv) if f == "--sim"]
            wanted = [spec.partition(":")[2] or spec for spec in sims]
        else:
            wanted = list(self.served_names)
        assert wanted, f"{command.where}: nothing to wait for on screen"
        self.terminals += 1
        home = self.directory / f"tmux-{self.terminals}"
        home.mkdir()
        term = Terminal(home)
        env = {name: os.environ[name] for name in ("THERAPYCTL_DB", "THERAPYCTL_KEYS")}
        try:
            term.start(argv, env)
            term.wait_for(
                f"{', '.join(wanted)} on screen ({command.where})",
                lambda screen: all(w in screen for w in wanted) or None,
            )
            term.keys("q")
            assert term.wait_exit() == 0, f"{command.where}:\n{term}"
        finally:
            term.kill()

    def stop(self) -> None:
        """Stop the section's servers as Ctrl-C would; each exits cleanly."""
        for server in self.servers:
            if server.process.poll() is None:
                server.process.send_signal(signal.SIGINT)
        for server in self.servers:
            try:
                code = server.process.wait(20)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()
                raise AssertionError(f"{server.command.where}: did not stop on Ctrl-C") from None
            assert code in (0, 130), f"{server.command.where}: {code}\n{server.err.read_text()}"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], Broker]]:
    """A mosquitto of the test's own, started when a section first needs it."""
    with contextlib.ExitStack() as stack:
        started: list[Broker] = []

        def get() -> Broker:
            if not started:
                directory = tmp_path_factory.mktemp("broker")
                started.append(stack.enter_context(mosquitto(directory)))
            return started[0]

        yield get


@pytest.mark.slow
@pytest.mark.parametrize("section", SECTIONS)
def test_readme_section_runs_as_written(
    section: str, tmp_path: Path, broker: Callable[[], Broker]
) -> None:
    """Each command of the section, in order, exits as the README says (0 unless noted)."""
    run = SectionRun(tmp_path, broker)
    toml = [b for b in BLOCKS if b.section == section and b.lang == "toml"]
    for block in toml:  # a plan the section runs: its first line names the file
        name = re.fullmatch(r"# (\S+\.toml)", block.text.splitlines()[0])
        assert name is not None, f"README.md:{block.line}: name the file in its first line"
        (tmp_path / name[1]).write_text(block.text, encoding="utf-8")
    try:
        for block in (b for b in SHELL_BLOCKS if b.section == section):
            for command in commands(block):
                run.run(command)
    finally:
        run.stop()
