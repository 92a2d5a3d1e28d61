"""The simulator from the command line: ``therapyctl sim serve`` offers simulated devices on a
virtual radio that other processes reach through a bumble transport."""

from __future__ import annotations

import functools

import click

from ui.cli.common import positive, run_async


def simulator_catalogue() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The simulator's device kinds and fault kinds, for help texts (loads no bumble)."""
    import simulator

    return simulator.DEVICE_KINDS, simulator.FAULT_KINDS


@click.group("sim")
def sim_group() -> None:
    """The device simulator (bumble GATT servers on a virtual radio)."""


@sim_group.command("serve")
@click.option(
    "--device",
    "devices",
    multiple=True,
    required=True,
    metavar="KIND[:NAME]",
    help="A device to simulate: heat-pad, thermal-pad, light-belt-420/800/1000.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="FAULT:NAME@SECONDS",
    help="Inject a fault into device NAME, SECONDS (simulated) after its first session started.",
)
@click.option(
    "--time-scale",
    type=float,
    default=1.0,
    show_default=True,
    callback=positive,
    metavar="X",
    help="Simulated time runs X times faster than wall time.",
)
@click.option(
    "--hci",
    "hcis",
    multiple=True,
    required=True,
    metavar="TRANSPORT",
    help="Offer a controller on this radio through a bumble transport, "
    "e.g. tcp-server:127.0.0.1:9001 (repeatable).",
)
@click.option(
    "--pairing-window",
    "pairing_window_s",
    type=click.FloatRange(0, 24 * 3600),
    default=120.0,
    show_default=True,
    metavar="SECONDS",
    help="Accept new bonds this long after the start (a real device: its button held 3 s);"
    " SIGUSR1 opens the window again (for this long, or 120 s if 0).",
)
@click.option("--json", "as_json", is_flag=True, help="Log events as JSON lines on stdout.")
@click.option(
    "--firmware",
    is_flag=True,
    help="Run the reference firmware (firmware/, MicroPython + NimBLE) instead of the Python"
    " simulator, on the same virtual radio.",
)
@click.option(
    "--micropython",
    "micropython",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="PATH",
    help="MicroPython unix binary with Bluetooth for --firmware (default:"
    " $THERAPYCTL_MICROPYTHON, else ../shared/micropython/micropython).",
)
def sim_serve(
    devices: tuple[str, ...],
    faults: tuple[str, ...],
    time_scale: float,
    hcis: tuple[str, ...],
    pairing_window_s: float,
    as_json: bool,
    firmware: bool,
    micropython: str | None,
) -> None:
    """Run simulated devices on a virtual radio until interrupted.

    Only a bonded controller can turn a device's output on: pair with `therapyctl pair NAME
    --radio ...` while the pairing window is open.
    """
    import asyncio
    import contextlib
    import signal

    import simulator

    try:
        specs = [simulator.parse_device_spec(text) for text in devices]
        by_device: dict[str, list[simulator.ScheduledFault]] = {}
        for text in faults:
            name, fault = simulator.parse_device_fault(text)
            by_device.setdefault(name, []).append(fault)
        names = {spec.name for spec in specs}
        for name in by_device:
            if name not in names:
                raise simulator.SimulatorError(f"--fault names {name!r}, which no --device runs")
    except simulator.SimulatorError as exc:
        raise click.BadParameter(str(exc)) from exc
    binary = None
    if firmware:
        binary = simulator.find_micropython(micropython)
        if binary is None:
            raise click.BadParameter(
                "no MicroPython unix binary with Bluetooth: give --micropython PATH or set"
                " THERAPYCTL_MICROPYTHON",
                param_hint="--micropython",
            )

    async def main() -> None:
        log = simulator.EventLog() if as_json else None
        make = (
            simulator.SimulatorWorld
            if binary is None
            else functools.partial(simulator.FirmwareWorld, micropython=binary)
        )
        world = make(
            specs,
            faults=by_device,
            time_scale=time_scale,
            event_log=log,
            pairing_window_s=pairing_window_s,
        )

        # The button held: the window opens for its length (two minutes if that is zero).
        reopen_s = pairing_window_s or simulator.DEFAULT_PAIRING_WINDOW_S

        def reopen() -> None:
            world.open_pairing(reopen_s)
            if log is not None:
                log.write(event="pairing_window", open_s=reopen_s)
            else:
                click.echo(f"pairing window open for {reopen_s:g} s")

        async with world:
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, reopen)
            clients = [await world.offer_hci(moniker) for moniker in hcis]
            ready = {
                "event": "ready",
                "hci": list(hcis),
                "radio": clients,
                "time_scale": time_scale,
                "pairing_window_s": pairing_window_s,
                "devices": [
                    {"name": d.name, "kind": d.kind_name, "address": str(d.address).split("/")[0]}
                    # a FirmwareWorld's devices are its firmware processes
                    for d in (getattr(world, "firmware", None) or world.devices).values()
                ],
            }
            if log is not None:
                log.write(**ready)
            else:
                for d in ready["devices"]:  # type: ignore[attr-defined]
                    click.echo(f"simulating {d['kind']} {d['name']} at {d['address']}")
                click.echo(f"radio offered on {', '.join(hcis)} (time scale {time_scale:g}x)")
                click.echo(f"connect with: --radio {clients[0]}")
                click.echo(
                    f"pair within {pairing_window_s:g} s: therapyctl pair NAME --radio"
                    f" {clients[0]} (SIGUSR1 opens the window again)"
                )
                click.echo("press Ctrl-C to stop")
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()

    run_async(main)
