"""The ``therapyctl`` command line.

This module is the composition root: it is the one place in ``ui`` allowed to start the
simulator (``sim serve``, ``demo``) and hand its virtual radio to the device layer; the rest
of ``ui`` only uses ``device``'s public API and ``protocols`` types.

Exit codes: 0 success; 1 an error (device, radio, simulator); 2 a usage error (bad option).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from device import Radio, TherapyLink, scan
from protocols import Mode, RenewLease, ResultCode, Start, State, Stop, TherapyctlError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2

_T = TypeVar("_T")


def _run(main: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine; a TherapyctlError becomes one line on stderr and exit code 1."""
    try:
        return asyncio.run(_with_signals(main))
    except TherapyctlError as exc:
        click.echo(f"therapyctl: error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        click.echo("therapyctl: interrupted", err=True)
        sys.exit(130)


async def _with_signals(main: Callable[[], Awaitable[_T]]) -> _T:
    """Run ``main`` as a task that SIGINT and SIGTERM cancel (so cleanup code runs)."""
    task = asyncio.ensure_future(main())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _positive(_ctx: click.Context, _param: click.Parameter, value: float) -> float:
    if not value > 0:
        raise click.BadParameter(f"must be greater than 0, got {value:g}")
    return value


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """Controller for wearable therapy devices over Bluetooth LE."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbose < 2:
        logging.getLogger("bumble").setLevel(logging.CRITICAL)


# ---------------------------------------------------------------------------- scan


@cli.command("scan")
@click.option(
    "--radio",
    metavar="TRANSPORT",
    help="A bumble HCI transport (e.g. tcp-client:127.0.0.1:9001); default: the system adapter.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=5.0,
    show_default=True,
    callback=_positive,
    metavar="S",
    help="Seconds to scan.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def scan_command(radio: str | None, timeout_s: float, as_json: bool) -> None:
    """List supported devices nearby: name, address, kind, signal."""

    async def main() -> None:
        async with await Radio.open(radio) as opened:
            found = await scan(opened, timeout_s)
        if as_json:
            click.echo(json.dumps([f.as_json() for f in found], indent=2))
            return
        if not found:
            click.echo(f"no supported devices found in {timeout_s:g} s")
            return
        click.echo(f"{'NAME':<24} {'ADDRESS':<18} {'KIND':<16} RSSI")
        for f in found:
            click.echo(f"{f.name:<24} {f.address:<18} {f.kind:<16} {f.rssi} dBm")

    _run(main)


# ---------------------------------------------------------------------------- sim


@cli.group("sim")
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
    callback=_positive,
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
@click.option("--json", "as_json", is_flag=True, help="Log events as JSON lines on stdout.")
def sim_serve(
    devices: tuple[str, ...],
    faults: tuple[str, ...],
    time_scale: float,
    hcis: tuple[str, ...],
    as_json: bool,
) -> None:
    """Run simulated devices on a virtual radio until interrupted."""
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

    async def main() -> None:
        log = simulator.EventLog() if as_json else None
        world = simulator.SimulatorWorld(
            specs, faults=by_device, time_scale=time_scale, event_log=log
        )
        async with world:
            clients = [await world.offer_hci(moniker) for moniker in hcis]
            ready = {
                "event": "ready",
                "hci": list(hcis),
                "radio": clients,
                "time_scale": time_scale,
                "devices": [
                    {"name": d.name, "kind": d.kind_name, "address": str(d.address).split("/")[0]}
                    for d in world.devices.values()
                ],
            }
            if log is not None:
                log.write(**ready)
            else:
                for d in ready["devices"]:  # type: ignore[attr-defined]
                    click.echo(f"simulating {d['kind']} {d['name']} at {d['address']}")
                click.echo(f"radio offered on {', '.join(hcis)} (time scale {time_scale:g}x)")
                click.echo(f"connect with: --radio {clients[0]}")
                click.echo("press Ctrl-C to stop")
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()

    _run(main)


# ---------------------------------------------------------------------------- demo


@cli.command("demo")
@click.option(
    "--kind",
    default="heat-pad",
    show_default=True,
    type=click.Choice(["heat-pad", "thermal-pad"]),
    help="The device to simulate.",
)
@click.option(
    "--minutes",
    type=float,
    default=10.0,
    show_default=True,
    callback=_positive,
    help="Session length (simulated minutes, at most 20).",
)
@click.option(
    "--setpoint",
    "setpoint_c",
    type=float,
    default=41.0,
    show_default=True,
    help="Pad setpoint in °C.",
)
@click.option(
    "--time-scale",
    type=float,
    default=60.0,
    show_default=True,
    callback=_positive,
    metavar="X",
    help="Simulated time runs X times faster than wall time.",
)
def demo(kind: str, minutes: float, setpoint_c: float, time_scale: float) -> None:
    """A short heat session against an in-process simulated pad, through the whole BLE path."""
    import simulator

    if minutes > 20:
        raise click.BadParameter("heat sessions are limited to 20 min", param_hint="--minutes")

    async def main() -> None:
        world = simulator.SimulatorWorld(
            [simulator.DeviceSpec(kind, "demo-pad")], time_scale=time_scale
        )
        async with world, await Radio.attach(world.controller()) as radio:
            found = await scan(radio, timeout_s=0.5)
            click.echo(f"found {', '.join(f'{f.name} ({f.kind})' for f in found)}")
            link = await TherapyLink.connect(radio, found[0])
            try:
                await _demo_session(link, minutes, setpoint_c, time_scale)
            finally:
                with contextlib.suppress(TherapyctlError):
                    await link.request(Stop())
                await link.disconnect()

    _run(main)


async def _demo_session(link: TherapyLink, minutes: float, setpoint_c: float, scale: float) -> None:
    info = await link.read_device_info()
    feature = await link.read_feature()
    click.echo(
        f"connected: {info.model} serial {info.serial} firmware {info.firmware}, "
        f"battery {await link.read_battery()} %, MTU {link.mtu}"
    )
    click.echo(
        f"device limits: heat {feature.heat_min_c:g}-{feature.heat_max_c:g} °C, "
        f"cut-out {feature.cutout_high_c:g} °C, max session {feature.max_session_s // 60} min"
    )
    lease_ms = min(feature.lease_max_ms, max(feature.lease_min_ms, 10_000))
    await link.set_lease(lease_ms)
    response = await link.request(Start(Mode.HEAT, 0, setpoint_c, round(minutes * 60)))
    if response.result != ResultCode.SUCCESS:
        raise TherapyctlError(f"the device refused the session: {response.result.name}")
    click.echo(f"heat session started: {setpoint_c:g} °C for {minutes:g} min ({scale:g}x time)")
    renew_every_s = lease_ms / 1000 / 3 / scale
    async with link.statuses() as statuses:
        loop = asyncio.get_running_loop()
        next_renew = loop.time() + renew_every_s
        last_line = -1
        while True:
            timeout = max(0.0, next_renew - loop.time())
            try:
                status = await asyncio.wait_for(statuses.get(), timeout)
            except TimeoutError:
                await link.request(RenewLease())
                next_renew = loop.time() + renew_every_s
                continue
            if status is None:
                raise TherapyctlError("the link to the device was lost")
            if status.elapsed_s // 30 != last_line or status.state != State.RUNNING:
                last_line = status.elapsed_s // 30
                temp = "--" if status.temperature_c is None else f"{status.temperature_c:.1f}"
                click.echo(
                    f"  t={status.elapsed_s // 60:02d}:{status.elapsed_s % 60:02d} "
                    f"{temp} °C  heater {status.power_mw / 1000:4.1f} W  "
                    f"remaining {status.remaining_s} s  battery {status.battery_pct} %"
                )
            if status.state != State.RUNNING:
                click.echo(f"session ended: {status.stop_cause.name.lower().replace('_', ' ')}")
                return


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="therapyctl")
