"""The help a new user looks for (issue #12, finding 12): ``--version``, ``-v`` anywhere, a
bare ``therapyctl``, shell completion, an example per command, the simulator's kinds and
faults in ``run --help``, ``--attended-ack`` as a flag, ``python -m therapyctl``."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import simulator
from tests.simserve import THERAPYCTL
from ui.cli import cli
from ui.cli.helptext import EXAMPLES, RUN_SYNOPSIS


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))


COMMAND_PATHS = list(command_paths(cli))


def invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), prog_name="therapyctl")


def examples_in(help_text: str) -> list[str]:
    """The commands of a help text's "Examples:" block (continuation lines joined)."""
    lines = help_text.split("Examples:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    commands: list[str] = []
    pending = ""
    for line in (line.strip() for line in lines):
        pending += line
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        commands.append(pending)
        pending = ""
    return commands


def listed(help_text: str, title: str) -> list[str]:
    """The comma-separated names under a help text's ``title`` line."""
    block = help_text.split(f"\n  {title}", 1)[1].split("\n\n", 1)[0]
    return [name.strip() for name in " ".join(block.split("\n", 1)[1].split()).split(",")]


def parse(argv: list[str]) -> None:
    """Parse ``therapyctl ARGV`` down to its command, as click would, without running it."""
    command: click.Command = cli
    parent = cli.make_context("therapyctl", [], resilient_parsing=True)
    rest = argv
    while isinstance(command, click.Group):
        name, rest = rest[0], rest[1:]
        command = command.commands[name]
        if isinstance(command, click.Group):
            parent = command.make_context(name, [], parent=parent, resilient_parsing=True)
    command.make_context(command.name or "", rest, parent=parent)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The commands configure the root logger: put it back for the next test."""
    root, bumble = logging.getLogger(), logging.getLogger("bumble")
    levels = root.level, bumble.level
    yield
    root.setLevel(levels[0])
    bumble.setLevel(levels[1])


def test_version_is_the_installed_package_version() -> None:
    """--version prints "therapyctl X.Y.Z" from the package metadata and exits 0."""
    result = invoke("--version")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"therapyctl {version('therapyctl')}"


def test_bare_therapyctl_prints_the_help_with_a_start_here_and_exits_0() -> None:
    """No command: the help, a "Start here" with a simulated session, exit 0 (not 2)."""
    result = invoke()
    assert result.exit_code == 0, result.output
    assert "Usage: therapyctl" in result.output and "Commands:" in result.output
    assert "Start here" in result.output
    assert "therapyctl run --sim heat-pad --mode heat --minutes 5" in result.output


def test_verbose_is_accepted_after_the_command_too(tmp_path: Path, restore_logging) -> None:
    """`history -vv`: -v after the command raises the log level as it does before it."""
    result = invoke("history", "-vv", "--db", str(tmp_path / "none.db"))
    assert result.exit_code == 0, result.output
    assert logging.getLogger().level == logging.DEBUG
    result = invoke("-v", "history", "-v", "--db", str(tmp_path / "none.db"))
    assert result.exit_code == 0, result.output
    assert logging.getLogger().level == logging.DEBUG  # one before and one after add up


def test_help_documents_shell_completion_and_the_documented_line_works() -> None:
    """--help names click's completion line; that line prints a bash completion script."""
    assert "_THERAPYCTL_COMPLETE=bash_source therapyctl" in invoke("--help").output
    env = {**os.environ, "_THERAPYCTL_COMPLETE": "bash_source"}
    script = subprocess.run(
        [THERAPYCTL], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert script.returncode == 0, script.stderr
    assert "complete -o nosort -F" in script.stdout and "therapyctl" in script.stdout
    env = {**env, "_THERAPYCTL_COMPLETE": "bash_complete", "COMP_WORDS": "therapyctl hi"}
    env["COMP_CWORD"] = "1"
    done = subprocess.run(
        [THERAPYCTL], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.stdout.split() == ["plain,history"], done.stdout


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=" ".join)
def test_every_command_help_has_examples_that_parse(path: tuple[str, ...]) -> None:
    """`COMMAND --help` ends with an "Examples:" block; every example there parses."""
    result = invoke(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.output, result.output
    examples = examples_in(result.output)
    assert len(examples) == len(EXAMPLES[path])
    for example in examples:
        argv = shlex.split(example, comments=True)
        assert argv[0] == "therapyctl" and tuple(argv[1 : 1 + len(path)]) == path, example
        parse(argv[1:])


def test_run_help_has_the_synopsis_and_lists_the_simulator_kinds_and_faults() -> None:
    """run --help: the README's synopsis, every simulated device kind and every fault."""
    result = invoke("run", "--help")
    assert result.exit_code == 0, result.output
    assert "\n".join("    " + line for line in RUN_SYNOPSIS.splitlines()) in result.output
    assert listed(result.output, "Simulator kinds") == list(simulator.DEVICE_KINDS)
    assert listed(result.output, "Faults") == list(simulator.FAULT_KINDS)


def test_level_help_says_the_device_has_the_levels_not_1_to_255() -> None:
    """--level: the device's levels, 1..n, not a byte's range of 1..255."""
    result = invoke("run", "--help")
    assert "1<=x<=255" not in result.output
    assert "1..n" in result.output


@pytest.mark.parametrize("given", [["--attended-ack"], ["--attended-ack", "auto"]])
def test_attended_ack_is_a_flag_and_its_old_spelling_still_works(given: list[str]) -> None:
    """`--attended-ack` alone means auto; `--attended-ack auto` is still accepted."""
    command = cli.commands["run"]
    args = ["--sim", "heat-pad", "--mode", "heat", "--minutes", "11", *given, "--json"]
    ctx = command.make_context("run", args)
    assert ctx.params["attended_ack"] == "auto" and ctx.params["as_json"] is True
    assert "--attended-ack [auto]" not in invoke("run", "--help").output


def test_attended_ack_refuses_any_other_value() -> None:
    """`--attended-ack never` is a usage error (exit 2) in one line, no traceback."""
    result = invoke("run", "--sim", "heat-pad", "--attended-ack", "never")
    assert result.exit_code == 2
    assert "'never' is not 'auto'" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_python_m_therapyctl_is_the_command(tmp_path: Path) -> None:
    """`python -m therapyctl --version` works (from any directory) like `therapyctl`."""
    result = subprocess.run(
        [sys.executable, "-m", "therapyctl", "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"therapyctl {version('therapyctl')}"


def imported_by(*args: str) -> set[str]:
    """The modules loaded once `therapyctl ARGS` is done (in a fresh interpreter)."""
    code = (
        "import sys\n"
        "from ui.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    print(' '.join(sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return set(result.stderr.split())


@pytest.mark.slow
def test_help_loads_no_radio_stack_nor_the_ui() -> None:
    """--help stays fast: no bumble, bleak, textual or device; run --help only the specs."""
    heavy = ("bumble", "bleak", "textual", "device", "asyncio")
    top = imported_by("--help")
    assert not {m for m in top if m.split(".")[0] in heavy or m.startswith("simulator")}
    run = imported_by("run", "--help")
    assert "simulator.specs" in run
    assert not {m for m in run if m.split(".")[0] in heavy}


@pytest.mark.slow
def test_ui_checks_its_options_before_loading_the_app() -> None:
    """`ui --sim toaster` is a usage error (exit 2) before textual is even imported."""
    code = (
        "import sys\n"
        "from ui.cli import main\n"
        "try:\n"
        "    main(['ui', '--sim', 'toaster'])\n"
        "except SystemExit as exc:\n"
        "    print(exc.code, 'textual' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.split() == ["2", "False"], result.stdout + result.stderr
    assert "unknown device kind 'toaster'" in result.stderr
    assert "Traceback" not in result.stderr
