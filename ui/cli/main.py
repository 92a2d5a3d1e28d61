"""The ``therapyctl`` group: its global options and every command, by family."""

from __future__ import annotations

import logging
from typing import Any

import click

from ui.cli.devices import pair_command, scan_command, unpair_command
from ui.cli.journal import export, history, plot, show
from ui.cli.mqtt import monitor, serve
from ui.cli.run import run_command
from ui.cli.sim import sim_group
from ui.cli.tui import ui_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """Controller for wearable therapy devices over Bluetooth LE."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbose < 2:
        logging.getLogger("bumble").setLevel(logging.CRITICAL)


for _command in (
    scan_command,
    pair_command,
    unpair_command,
    sim_group,
    run_command,
    serve,
    ui_command,
    monitor,
    history,
    show,
    export,
    plot,
):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="therapyctl")
