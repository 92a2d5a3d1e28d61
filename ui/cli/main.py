"""The ``therapyctl`` group: its global options and every command, by family."""

from __future__ import annotations

import logging
from typing import Any

import click

from ui.cli.devices import pair_command, scan_command, unpair_command
from ui.cli.diary import episode_group, next_command, pain_command
from ui.cli.helptext import START_HERE, attach
from ui.cli.journal import dose, export, history, plot, show
from ui.cli.mqtt import monitor, serve
from ui.cli.report import report
from ui.cli.run import run_command
from ui.cli.sim import sim_group
from ui.cli.tui import ui_command

VERBOSE_HELP = "More log output (-vv for debug), before or after the command."
_VERBOSE = "therapyctl.verbose"  # the -v count so far, in the contexts' shared meta


def configure_logging(verbose: int) -> None:
    """Log warnings, or with -v info, with -vv debug (bumble's too)."""
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.WARNING - 10 * min(verbose, 2))
    logging.getLogger("bumble").setLevel(logging.CRITICAL if verbose < 2 else logging.NOTSET)


def _more_verbose(ctx: click.Context, _param: click.Parameter, count: int) -> None:
    """-v given after a command adds to any given before it."""
    if count:
        ctx.meta[_VERBOSE] = ctx.meta.get(_VERBOSE, 0) + count
        configure_logging(ctx.meta[_VERBOSE])


class TherapyctlGroup(click.Group):
    """The group; a command's examples are added to its help when it is resolved (so
    ``therapyctl --help`` loads nothing for them)."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name is not None and command is not None:
            attach(command, (name,))
        return name, command, rest


@click.group(
    cls=TherapyctlGroup,
    invoke_without_command=True,
    epilog=START_HERE,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(
    package_name="therapyctl", prog_name="therapyctl", message="%(prog)s %(version)s"
)
@click.option("-v", "--verbose", count=True, help=VERBOSE_HELP)
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """Controller for wearable therapy devices over Bluetooth LE."""
    ctx.meta[_VERBOSE] = verbose
    configure_logging(verbose)
    if ctx.invoked_subcommand is None:  # a bare `therapyctl`: the help, and success
        click.echo(ctx.get_help())
        ctx.exit(0)


def _leaves(command: click.Command) -> list[click.Command]:
    if isinstance(command, click.Group):
        return [leaf for sub in command.commands.values() for leaf in _leaves(sub)]
    return [command]


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
    dose,
    episode_group,
    next_command,
    pain_command,
    report,
):
    cli.add_command(_command)
    for _leaf in _leaves(_command):
        _leaf.params.append(
            click.Option(
                ["-v", "--verbose"],
                count=True,
                expose_value=False,
                callback=_more_verbose,
                help=VERBOSE_HELP,
            )
        )


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="therapyctl")
