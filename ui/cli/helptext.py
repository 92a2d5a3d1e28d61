"""What ``--help`` shows beyond the options: the group's "start here" and shell completion,
each command's examples, and ``run``'s synopsis (the README's) with the simulator's device
kinds and faults. Attached when a command is resolved, so ``therapyctl --help`` imports
nothing more; ``tests/ui/cli/test_help.py`` parses every example here."""

from __future__ import annotations

import textwrap

import click

START_HERE = """\
\b
Start here (a simulated heating pad, no hardware needed):
  therapyctl run --sim heat-pad --mode heat --minutes 5 --time-scale 60
  therapyctl ui --sim heat-pad --time-scale 60
  therapyctl history
Every command has examples: therapyctl COMMAND --help.

\b
Shell completion (bash; zsh: zsh_source, fish: fish_source), e.g. in ~/.bashrc:
  eval "$(_THERAPYCTL_COMPLETE=bash_source therapyctl)"
"""

# The README's synopsis of `run` (tests/test_readme.py checks the README carries it).
RUN_SYNOPSIS = """\
therapyctl run (--device NAME|ADDRESS [--radio TRANSPORT]
                | --sim KIND [--fault FAULT@SECONDS] [--time-scale X])
               (--plan NAME|FILE
                | --mode heat|cold|light [--setpoint C | --level N | --power MW] --minutes M)
               [--site S] [--pain-before N] [--pain-after N] [--attended-ack]
               [--limits FILE] [--db PATH] [--mqtt URL] [--json]"""

# Each command's examples, by its path: complete commands that parse (a long one goes on
# over lines ending in a backslash, as in a shell), each with an optional "# comment".
EXAMPLES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("scan",): (
        "therapyctl scan                                      # the system's Bluetooth adapter",
        "therapyctl scan --radio tcp-client:127.0.0.1:9001    # the radio of a `sim serve`",
    ),
    ("pair",): ("therapyctl pair pad --radio tcp-client:127.0.0.1:9001",),
    ("unpair",): ("therapyctl unpair pad --radio tcp-client:127.0.0.1:9001",),
    ("sim",): (
        "therapyctl sim serve --device heat-pad:pad --hci tcp-server:127.0.0.1:9001"
        " --time-scale 60",
    ),
    ("sim", "serve"): (
        "therapyctl sim serve --device heat-pad:pad --hci tcp-server:127.0.0.1:9001"
        " --time-scale 60",
        "therapyctl sim serve --device heat-pad:pad1 --device light-belt-800:belt1 \\\n"
        "    --fault overheat:pad1@300 --hci tcp-server:127.0.0.1:9001",
    ),
    ("run",): (
        "therapyctl run --sim heat-pad --mode heat --minutes 5 --time-scale 60",
        "therapyctl run --sim thermal-pad --plan contrast --attended-ack --time-scale 300",
        "therapyctl run --sim light-belt-800 --mode light --minutes 10 --level 2 --time-scale 60",
        "therapyctl run --sim heat-pad --mode heat --minutes 15 --site lower-back --time-scale 60",
        "therapyctl run --sim heat-pad --mode heat --minutes 10 --fault overheat@60 \\\n"
        "    --time-scale 60                                  # a safety stop: exit 3",
        "therapyctl run --device pad --radio tcp-client:127.0.0.1:9001 --mode heat --minutes 5",
    ),
    ("serve",): (
        "therapyctl serve --sim heat-pad --mqtt mqtt://localhost --remote-control",
        "therapyctl serve --device pad --radio tcp-client:127.0.0.1:9001 --mqtt mqtt://localhost",
    ),
    ("ui",): (
        "therapyctl ui --sim heat-pad --sim light-belt-800:belt --time-scale 60",
        "therapyctl ui --radio tcp-client:127.0.0.1:9001 --mqtt mqtt://localhost",
        "therapyctl ui                                        # the system's Bluetooth adapter",
    ),
    ("monitor",): ("therapyctl monitor --mqtt mqtt://localhost",),
    ("history",): (
        "therapyctl history",
        "therapyctl history --device heat-pad --since 2026-01-01 --json",
    ),
    ("show",): (
        "therapyctl show last                                 # the newest session",
        "therapyctl show a26a                                 # any unique start of an id",
    ),
    ("export",): (
        "therapyctl export last --format csv -o session.csv",
        "therapyctl export --all --format json -o journal.json",
        "therapyctl export --format fhir -o journal.fhir.json  # FHIR R4 Bundle, for a clinician",
    ),
    ("plot",): ("therapyctl plot last -o session.png",),
    ("dose",): (
        "therapyctl dose                                      # every body site",
        "therapyctl dose --site lower-back --json",
        "therapyctl dose --days 7                             # and per calendar day",
    ),
    ("episode",): (
        'therapyctl episode start --site lower-back --at "10h ago"',
        "therapyctl episode show                              # open and recent episodes",
        "therapyctl episode end --site lower-back",
    ),
    ("episode", "show"): ("therapyctl episode show --json",),
    ("episode", "start"): (
        "therapyctl episode start --site lower-back           # began now",
        "therapyctl episode start --site neck --at 07:30 --kind strain --acute-hours 48",
        'therapyctl episode start --site lower-back --at "2d ago" --note "lifting a box"',
    ),
    ("episode", "end"): (
        "therapyctl episode end                               # the only open episode",
        'therapyctl episode end --site neck --at "1h ago"',
    ),
    ("next",): (
        "therapyctl next                                      # what is due, on which site",
        "therapyctl next --site lower-back --config therapyctl.toml --json",
    ),
    ("pain",): (
        "therapyctl pain 6 --site lower-back                  # a rating, 0-10",
        'therapyctl pain 3 --at "2h ago" --note "after the walk"',
        "therapyctl pain --days 14 --json                     # the recent ratings",
    ),
    ("report",): (
        "therapyctl report -o review.png                      # the last 14 days, every site",
        "therapyctl report --days 30 --site lower-back -o review.html",
        "therapyctl report --days 7 --json",
    ),
}


def _block(title: str, lines: list[str]) -> str:
    return (
        "\b\n"
        + title
        + "\n"
        + "\n".join("  " + line for text in lines for line in text.splitlines())
    )


def _wrapped(title: str, words: tuple[str, ...]) -> str:
    text = textwrap.fill(
        ", ".join(words),
        width=86,
        initial_indent="  ",
        subsequent_indent="  ",
        break_on_hyphens=False,
    )
    return f"\b\n{title}\n{text}"


def epilog(path: tuple[str, ...]) -> str | None:
    """The text after the options in ``therapyctl PATH --help`` (None: nothing to add)."""
    blocks: list[str] = []
    if path == ("run",):
        blocks.append(_block("Synopsis:", RUN_SYNOPSIS.splitlines()))
    if path in EXAMPLES:
        blocks.append(_block("Examples:", list(EXAMPLES[path])))
    if path in {("run",), ("serve",), ("ui",), ("sim", "serve")}:
        from ui.cli.sim import simulator_catalogue  # the simulator's lists, without bumble

        kinds, faults = simulator_catalogue()
        blocks.append(_wrapped("Simulator kinds (--sim KIND, sim serve --device KIND):", kinds))
        blocks.append(_wrapped("Faults (--fault; simulated seconds into the session):", faults))
    return "\n\n".join(blocks) or None


_ATTACHED: set[int] = set()


def attach(command: click.Command, path: tuple[str, ...]) -> None:
    """Add their examples to ``command`` (and, for a group, its commands), once."""
    if id(command) not in _ATTACHED:
        _ATTACHED.add(id(command))
        text = epilog(path)
        if text is not None:
            own = command.epilog
            command.epilog = text if not own else f"{own}\n\n{text}"
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            attach(sub, (*path, name))
