"""Devices nearby: ``therapyctl scan``, ``pair`` and ``unpair``."""

from __future__ import annotations

import json

import click

from ui.cli.common import positive, run_async


@click.command("scan")
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
    callback=positive,
    metavar="S",
    help="Seconds to scan.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def scan_command(radio: str | None, timeout_s: float, as_json: bool) -> None:
    """List supported devices nearby: name, address, kind, signal."""
    from device.link import Radio, scan

    async def main() -> None:
        async with await Radio.open(radio) as opened:
            found = await scan(opened, timeout_s)
        if as_json:
            click.echo(json.dumps([f.as_json() for f in found], indent=2))
            return
        if not found:
            click.echo(f"no supported devices found in {timeout_s:g} s")
            return
        click.echo(f"{'NAME':<24} {'ADDRESS':<18} {'KIND':<16} {'RSSI':<9} {'BATTERY':<8} BONDED")
        for f in found:
            battery = "--" if f.battery_pct is None else f"{f.battery_pct} %"
            rssi = f"{f.rssi} dBm"
            bonded = "--" if f.bonded is None else "yes" if f.bonded else "no"
            click.echo(f"{f.name:<24} {f.address:<18} {f.kind:<16} {rssi:<9} {battery:<8} {bonded}")

    run_async(main)


_RADIO_HELP = (
    "A bumble HCI transport (e.g. tcp-client:127.0.0.1:9001); default: the system adapter."
)


@click.command("pair")
@click.argument("target", metavar="NAME|ADDRESS")
@click.option("--radio", metavar="TRANSPORT", help=_RADIO_HELP)
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=10.0,
    show_default=True,
    callback=positive,
    metavar="S",
    help="Seconds to look for the device.",
)
def pair_command(target: str, radio: str | None, timeout_s: float) -> None:
    """Pair and bond with a device, so this controller may turn its output on.

    A device accepts a new bond only while its pairing window is open (hold its button; a
    `sim serve` device: the first minutes after it starts, or after SIGUSR1). The keys are
    kept in the user's data directory ($THERAPYCTL_KEYS), never in the repository.
    """
    from device.link import NotPairedError, Radio, TherapyLink, bonds_dir, find_device
    from protocols import RenewLease, ResultCode

    async def main() -> None:
        async with await Radio.open(radio) as opened:
            found = await find_device(opened, target, timeout_s)
            link = await TherapyLink.connect(opened, found)
            try:
                await link.pair()
                # Proof: a request only a bonded controller may make (Renew lease: nothing
                # changes while idle). A device whose stack cannot answer a write with an ATT
                # error (the reference firmware on NimBLE) answers Not Permitted instead, and
                # one that refused the bond drops the link (LinkLostError).
                if (await link.request(RenewLease())).result != ResultCode.SUCCESS:
                    raise NotPairedError(found.address, found.name, opened.transport)
            finally:
                await link.disconnect()
        where = f"; keys in {bonds_dir()}" if opened.bumble is not None else ""
        click.echo(f"paired with {found.name} ({found.address}){where}")

    run_async(main)


@click.command("unpair")
@click.argument("target", metavar="NAME|ADDRESS")
@click.option("--radio", metavar="TRANSPORT", help=_RADIO_HELP)
def unpair_command(target: str, radio: str | None) -> None:
    """Forget the bond with a device (pair again to use it)."""
    from device.link import Radio, TherapyLink, find_device

    async def main() -> None:
        async with await Radio.open(radio) as opened:
            found = await find_device(opened, target, 10.0)
            link = await TherapyLink.connect(opened, found)
            try:
                await link.unpair()
            finally:
                await link.disconnect()
        click.echo(f"forgot the bond with {found.name} ({found.address})")

    run_async(main)
