"""MQTT from the command line: ``serve`` (a device kept connected, reported and remotely
controlled) and ``monitor`` (every controller on a broker)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ui.cli.common import TIME_SCALE_WITHOUT_SIM, fail, run_async, site_value, time_scale_given
from ui.cli.options import SessionOptions, mqtt_settings, session_options

if TYPE_CHECKING:
    from device.mqtt import CommandResult, RemoteCommand, RemoteController


@click.command("serve")
@click.option("--device", "device_target", metavar="NAME|ADDRESS", help="A device to serve.")
@click.option("--radio", metavar="TRANSPORT", help="With --device: a bumble HCI transport.")
@click.option("--sim", "sim_kind", metavar="KIND", help="Serve an in-process simulated device.")
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="FAULT@SECONDS",
    help="With --sim: inject a fault into the first session.",
)
@click.option(
    "--site",
    metavar="S",
    callback=site_value,
    help=(
        "The body site of remote starts when the device has none remembered (lower-back,"
        ' neck, ... or a short name of your own); a start command\'s "site" comes first.'
        " The per-site limits hold for remote starts as for `run --site`."
    ),
)
@session_options
def serve(
    device_target: str | None,
    radio: str | None,
    sim_kind: str | None,
    faults: tuple[str, ...],
    site: str | None,
    options: SessionOptions,
) -> None:
    """Keep a device connected, report it over MQTT and take remote commands, until stopped.
    Each body site's dose, the next session due and the last pain rating are reported too."""
    import asyncio
    import contextlib

    from device.link import Clock, DeviceDriver
    from device.mqtt import CommandResult, MqttReporter, RemoteController
    from protocols import TherapyctlError
    from ui.cli.compose import open_journal, open_target, parse_target, start_bridge, start_days
    from ui.cli.config import load_regimen

    if (device_target is None) == (sim_kind is None):
        raise click.UsageError("give exactly one of --device or --sim")
    if sim_kind is None and time_scale_given():
        raise click.UsageError(TIME_SCALE_WITHOUT_SIM)
    config_limits, settings = options.config()
    if settings is None:
        raise click.UsageError("serve needs --mqtt URL (or [mqtt] url in --config)")
    target = parse_target(sim_kind, faults, device_target, radio)
    limits = options.limits(config_limits)
    time_scale = options.time_scale
    try:
        regimen = load_regimen(options.config_file)  # the waking hours of the next-due sensor
    except TherapyctlError as exc:
        fail(exc)

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            journal = await open_journal(stack, options.db_path)
            holder: list[RemoteController] = []

            async def handle(key: str, command: RemoteCommand) -> CommandResult:
                if not holder:
                    return CommandResult(False, "rejected", "the device is not connected yet")
                return await holder[0].handle(key, command)

            bridge = await start_bridge(
                stack, settings, handle, say=lambda text: click.echo(text, err=True)
            )
            assert bridge is not None
            # The journal's days (per-site dose, next due, last pain); stopped after the
            # device (a last refresh).
            days = await start_days(stack, bridge, journal, limits, regimen)
            radio_obj, address = await open_target(stack, target, time_scale)
            # --sim runs at --time-scale; a device's clock comes from its Feature.
            clock = Clock(time_scale) if target.sim_kind is not None else None
            driver = DeviceDriver(radio_obj, address, clock)
            await driver.connect()
            stack.push_async_callback(driver.close)
            assert driver.identity is not None
            reporter = MqttReporter(bridge, driver.identity.as_json())
            controller = RemoteController(
                driver,
                limits,
                reporter=reporter,
                journal=journal,
                attended_auto=options.attended_auto,
                site=site,
                days=days,
            )
            stack.push_async_callback(controller.close)
            holder.append(controller)
            click.echo(
                f"serving {driver.identity.name} ({driver.identity.kind}) on"
                f" {settings.host}:{settings.port} as {settings.prefix}/{settings.node_id};"
                f" remote control {'on' if settings.remote_control else 'off (stop only)'}"
                + (f"; remote starts on {site} unless the device has a site" if site else ""),
                err=True,
            )
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()

    run_async(main)


@click.command("monitor")
@click.option(
    "--mqtt",
    "mqtt_url",
    required=True,
    metavar="URL",
    help="The broker: mqtt://[user[:password]@]host[:port] or mqtts://...",
)
@click.option("--mqtt-ca", metavar="FILE", help="CA certificate for mqtts://.")
@click.option("--mqtt-cert", metavar="FILE", help="Client certificate for mqtts://.")
@click.option("--mqtt-key", metavar="FILE", help="Client key for mqtts://.")
@click.option("--mqtt-prefix", default="therapyctl", show_default=True, metavar="PREFIX")
def monitor(
    mqtt_url: str,
    mqtt_ca: str | None,
    mqtt_cert: str | None,
    mqtt_key: str | None,
    mqtt_prefix: str,
) -> None:
    """A live view of every controller and session reporting to one broker."""
    from ui.tui.monitor import MonitorApp

    settings = mqtt_settings(mqtt_url, mqtt_ca, mqtt_cert, mqtt_key, mqtt_prefix, "monitor", False)
    assert settings is not None
    error = MonitorApp(settings).run()
    if error:
        fail(error)
