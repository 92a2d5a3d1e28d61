"""``therapyctl ui``: the terminal app (its screens live in :mod:`ui.tui`)."""

from __future__ import annotations

import click

from ui.cli.common import (
    TIME_SCALE_WITHOUT_SIM,
    fail,
    run_async,
    site_value,
    time_scale_given,
)
from ui.cli.options import SessionOptions, session_options


@click.command("ui")
@click.option(
    "--sim",
    "sims",
    multiple=True,
    metavar="KIND[:NAME]",
    help="Simulate this device in-process (repeatable).",
)
@click.option(
    "--radio", metavar="TRANSPORT", help="A bumble HCI transport (default: the system adapter)."
)
@click.option(
    "--site",
    metavar="S",
    callback=site_value,
    help="The body site (lower-back, neck, ... or a short name of your own) of sessions on a"
    " device that has no remembered site (w in the UI sets a device's site).",
)
@session_options
def ui_command(
    sims: tuple[str, ...], radio: str | None, site: str | None, options: SessionOptions
) -> None:
    """The terminal app: find devices, run and watch sessions, answer safety prompts."""
    from ui.cli.compose import parse_sim_specs, tui_backend

    # Every option is checked before the app (textual) is loaded: a typo is one line, at once.
    if options.attended_ack:
        raise click.UsageError("the UI asks the attended-use question itself")
    if sims and radio:
        raise click.UsageError("give --sim or --radio, not both")
    if not sims and time_scale_given():
        raise click.UsageError(TIME_SCALE_WITHOUT_SIM)
    config_limits, settings = options.config()
    regimen = options.regimen()  # the Today tab's waking hours
    specs = parse_sim_specs(sims)
    limits = options.limits(config_limits)
    db_path = options.db_path
    time_scale = options.time_scale  # of the simulated devices; a device reports its own
    from ui.tui.app import TherapyApp

    keymap = _keymap(options.config_file)

    async def main() -> None:
        app = TherapyApp(
            lambda: tui_backend(specs, radio, time_scale, db_path, settings),
            limits,
            time_scale=time_scale if specs else None,
            db_path=db_path,
            keymap=keymap,
            default_site=site,
            regimen=regimen,
        )
        await app.run_async()
        if app.startup_error is not None:  # no radio, no journal: one line, exit 1 (run_async)
            raise app.startup_error

    run_async(main)


def _keymap(config_file: str | None) -> dict[str, str]:
    """The config file's ``[keys]`` (action name -> keys); a bad one is one line, exit 1."""
    if config_file is None:
        return {}
    from protocols import TherapyctlError
    from ui.cli.config import load_keys

    try:
        return load_keys(config_file)
    except TherapyctlError as exc:
        fail(exc)
